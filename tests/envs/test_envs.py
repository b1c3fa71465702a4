from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from stable_baselines3.common.env_checker import check_env

from stockbot.config import CostConfig, DataConfig, EnvConfig, RiskConfig, TrainConfig, validate_config
from stockbot.envs import PortfolioEnv, StockTradingEnv, env_for, make_env
from stockbot.errors import ConfigError

pytestmark = pytest.mark.timeout(120)


def config(symbols: list[str], **env: object) -> TrainConfig:
    return TrainConfig(data=DataConfig(symbols=symbols), env=EnvConfig(**env))


@pytest.fixture(scope="module")
def bars3(dow29_bars: pd.DataFrame) -> pd.DataFrame:
    return dow29_bars[dow29_bars.index.get_level_values("symbol").isin(["AAPL", "KO", "XOM"])]


def _check(env: object) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unconventional shape.*")
        check_env(env)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("symbols", "env_kw", "cls"),
    [
        (["AAPL"], {"kind": "single", "action": "discrete"}, StockTradingEnv),
        (["AAPL"], {"kind": "single", "action": "discrete", "short": True}, StockTradingEnv),
        (["AAPL"], {"kind": "single", "action": "continuous", "observation": "flat"}, StockTradingEnv),
        (["AAPL", "KO", "XOM"], {"kind": "portfolio", "action": "weights"}, PortfolioEnv),
        (["AAPL", "KO", "XOM"], {"kind": "portfolio", "observation": "flat"}, PortfolioEnv),
    ],
)
def test_envs_pass_sb3_check_env(bars3: pd.DataFrame, symbols: list[str], env_kw: dict, cls: type) -> None:
    cfg = config(symbols, **env_kw)
    bars = bars3[bars3.index.get_level_values("symbol").isin(symbols)]
    env = make_env(cfg, bars)
    assert isinstance(env, cls)
    _check(env)
    obs, _ = env.reset(seed=1)
    n, f = len(symbols), len(env.market.columns)
    want = (cfg.env.window, n * f) if cfg.env.observation == "window" else (n * f,)
    assert obs["features"].shape == want and obs["account"].shape == (n + 3,)


def test_reward_is_the_log_return_from_close_to_next_close(bars3: pd.DataFrame) -> None:
    cfg = config(["AAPL"], kind="single", action="discrete", episode_bars=None)
    bars = bars3[bars3.index.get_level_values("symbol") == "AAPL"]
    env = make_env(cfg, bars)
    env.reset(seed=0)
    t = env.t
    o, c = env.market.open[:, 0], env.market.close[:, 0]
    _, r1, *_ = env.step(1)  # go long at t's close-sized qty, filled at t+1's open
    shares = 100_000 / c[t]
    price = o[t + 1] * (1 + 2e-4)
    if shares * price * (1 + 1e-4) > 100_000:  # clipped to the cash
        shares = 100_000 / (price * (1 + 1e-4))
    cash = 100_000 - shares * price * (1 + 1e-4)
    eq1 = cash + shares * c[t + 1]
    assert r1 == pytest.approx(math.log(eq1 / 100_000), rel=1e-9)
    _, r2, *_ = env.step(1)  # hold: no trade (same target weight drifts -> small rebalance)
    assert env.portfolio.equity > 0
    assert np.isfinite(r2)


def test_observation_at_t_holds_data_up_to_t_only(bars3: pd.DataFrame) -> None:
    cfg = config(["AAPL", "KO", "XOM"], episode_bars=None)
    env = make_env(cfg, bars3)
    obs, _ = env.reset(seed=0)
    t = env.t
    want = env.market.obs[t - cfg.env.window + 1 : t + 1].reshape(cfg.env.window, -1)
    np.testing.assert_array_equal(obs["features"], want)
    feats = env.pipeline.transform(bars3)  # type: ignore[attr-defined]
    row = feats.xs(env.market.timestamps[t], level="timestamp").to_numpy(np.float32).reshape(-1)
    np.testing.assert_array_equal(obs["features"][-1], row)


def test_random_starts_stay_inside_the_training_split(bars3: pd.DataFrame) -> None:
    cfg = config(["AAPL", "KO", "XOM"], episode_bars=50)
    env = make_env(cfg, bars3)
    train_end = pd.Timestamp(cfg.split.train_end, tz="UTC")
    starts = set()
    for seed in range(20):
        env.reset(seed=seed)
        starts.add(env.t)
        done, steps = False, 0
        while not done:
            _, _, term, trunc, _ = env.step(env.action_space.sample())
            done, steps = term or trunc, steps + 1
        assert steps == 50
        assert env.market.timestamps[env.t] <= train_end  # the last fill is inside the split
    assert len(starts) > 10


def test_validation_env_is_one_deterministic_pass(bars3: pd.DataFrame) -> None:
    cfg = config(["AAPL", "KO", "XOM"])
    env = make_env(cfg, bars3)
    val = env_for(cfg, env.market, "val")
    lo, hi = env.market.split_bounds(cfg.split)["val"]
    val.reset(seed=3)
    assert val.t == lo and not val.random_start
    steps, done = 0, False
    while not done:
        _, _, term, trunc, _ = val.step(val.action_space.sample())
        done, steps = term or trunc, steps + 1
    assert steps == hi - lo and val.t == hi


def test_drawdown_kill_ends_the_episode(bars3: pd.DataFrame) -> None:
    cfg = TrainConfig(
        data=DataConfig(symbols=["AAPL"]),
        env=EnvConfig(kind="single", action="discrete", short=True, episode_bars=None),
        risk=RiskConfig(max_drawdown=0.02),
        costs=CostConfig(commission_bps=50),
    )
    env = make_env(cfg, bars3[bars3.index.get_level_values("symbol") == "AAPL"])
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(500):
        _, _, term, _, _ = env.step(int(rng.integers(0, 3)))
        if term:
            break
    assert term and env.portfolio.drawdown <= -0.02
    assert not env.portfolio.qty.any(), "the kill switch flattens the positions"


def test_actions_change_positions(bars3: pd.DataFrame) -> None:
    cfg = config(["AAPL", "KO", "XOM"], episode_bars=None)
    env = make_env(cfg, bars3)
    env.reset(seed=0)
    seen = []
    for a in ([1, -1, -1, -1], [-1, 1, -1, -1], [-1, -1, -1, 1]):
        obs, *_ = env.step(np.array(a, dtype=np.float32))
        seen.append(obs["account"][:4].round(2))
    assert seen[0][0] > 0.9 and seen[1][1] > 0.9 and seen[2][3] > 0.9  # AAPL, then KO, then cash


def test_bad_env_configs() -> None:
    with pytest.raises(ConfigError, match="env: action 'weights' does not fit kind 'single'"):
        validate_config(
            TrainConfig, {"env": {"kind": "single", "action": "weights"}, "data": {"symbols": ["A"]}}
        )
    with pytest.raises(ConfigError, match="exactly one symbol"):
        validate_config(TrainConfig, {"env": {"kind": "single", "action": "discrete"}})
