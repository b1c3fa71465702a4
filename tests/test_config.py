from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockbot.config import (
    BacktestConfig,
    DataConfig,
    FeatureConfig,
    HMMConfig,
    TrainConfig,
    config_hash,
    dump_config,
    load_config,
    validate_config,
)
from stockbot.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


def test_defaults_make_a_sensible_run() -> None:
    cfg = HMMConfig()
    assert cfg.data.provider == "sample"
    assert cfg.regimes.enabled
    assert set(cfg.regimes.columns) <= set(cfg.features.columns())


def test_unknown_key_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(HMMConfig, {"data": {"provder": "csv"}})
    msg = str(e.value)
    assert "data.provder: unknown key" in msg
    assert "provider" in msg and "symbols" in msg and "on_invalid" in msg


def test_unknown_top_level_key() -> None:
    with pytest.raises(ConfigError, match="featurez: unknown key; valid keys here: data, features"):
        validate_config(HMMConfig, {"featurez": {}})


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"data": {"start": "2017-01-01", "end": "2016-01-01"}}, "end (2016-01-01) is before start"),
        ({"data": {"provider": "csv"}}, "needs 'path'"),
        ({"data": {"provider": "nasdaq"}}, "data.provider: Input should be 'sample', 'csv'"),
        ({"data": {"symbols": ["AAPL", "aapl"]}}, "symbols listed twice: AAPL"),
        ({"data": {"symbols": ["AA PL"]}}, "is not a ticker symbol"),
        ({"data": {"interval": "2d"}}, "data.interval"),
        ({"split": {"train_end": "2017-01-01", "val_end": "2016-01-01"}}, "must be after train_end"),
        ({"features": {"sma": [1]}}, "features.sma: moving-window windows must be from 2 to 1000"),
        ({"features": {"rsi": "fourteen"}}, "features.rsi"),
        ({"regimes": {"columns": ["rsi_99"]}}, "regimes.columns ['rsi_99'] are not produced"),
        ({"regimes": {"n_states": 1}}, "regimes.n_states"),
        ({"features": {"macd": {"fast": 30, "slow": 26}}}, "fast (30) must be shorter than slow"),
    ],
)
def test_bad_values_name_the_field(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(HMMConfig, raw)
    assert needle in str(e.value)


def test_yaml_overrides_snapshot_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "hmm.yaml"
    path.write_text("data:\n  symbols: [AAPL, MSFT]\nregimes:\n  enabled: true\n  n_states: 2\n")
    cfg = load_config(HMMConfig, path, ["regimes.n_states=4", "data.end=2017-06-30"])
    assert cfg.regimes.n_states == 4
    assert str(cfg.data.end) == "2017-06-30"
    snap = tmp_path / "config.yaml"
    snap.write_text(dump_config(cfg))
    again = load_config(HMMConfig, snap)
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert config_hash(cfg) != config_hash(
        cfg.model_copy(update={"regimes": cfg.regimes.model_copy(update={"n_states": 3})})
    )


def test_bad_override_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key\.path=value"):
        load_config(HMMConfig, None, ["regimes.n_states"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(HMMConfig, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(HMMConfig, tmp_path / "list.yaml")


def test_configs_are_frozen() -> None:
    cfg = DataConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.provider = "csv"  # type: ignore[misc]


def test_feature_switches_and_column_names() -> None:
    cfg = FeatureConfig(macd=False, stoch=False, atr=None, volume_z=None, rsi=None, sma=(), volatility=())
    assert cfg.columns() == ["ret_1", "ret_5", "ret_20"]
    assert cfg.warmup_bars() == 20
    full = FeatureConfig()
    assert "macd_hist" in full.columns() and "atr_pct_14" in full.columns() and "vol_20" in full.columns()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"ppo": {"n_envs": True}}, "ppo.n_envs"),
        ({"ppo": {"learning_rate": False}}, "ppo.learning_rate"),
        ({"ppo": {"net_arch": [True, 8]}}, "ppo.net_arch"),
        ({"env": {"window": True}}, "env.window"),
        ({"eval": {"patience": True}}, "eval.patience"),
        ({"initial_cash": True}, "initial_cash"),
        ({"features": {"returns": [1, True]}}, "features.returns"),
    ],
)
def test_booleans_are_not_numbers(raw: dict, field: str) -> None:
    """pydantic's lax mode reads true as 1: {"ppo": {"n_envs": true}} used to be one env."""
    with pytest.raises(ConfigError) as e:
        validate_config(TrainConfig, raw)
    assert [p["field"] for p in e.value.errors] == [field]
    assert "not true/false" in str(e.value)


def test_lax_types_that_are_choices_still_work() -> None:
    """Not a blanket strict mode: JSON dates and lists, integers for floats, feature switches."""
    cfg = validate_config(
        TrainConfig,
        {
            "data": {"symbols": ["AAPL", "KO"], "start": "2014-01-02"},
            "initial_cash": 5000,
            "env": {"short": False},
            "execution": {"fractional_shares": False},
            "features": {"rsi": False, "atr": True, "macd": False, "stoch": True},
        },
    )
    assert cfg.data.start == dt.date(2014, 1, 2) and cfg.data.symbols == ("AAPL", "KO")
    assert cfg.initial_cash == 5000.0 and cfg.execution.fractional_shares is False
    assert cfg.features.rsi is None and cfg.features.atr == 14 and cfg.features.macd is None


@pytest.mark.parametrize(
    ("kind", "raw", "field"),
    [
        (TrainConfig, {"initial_cash": 1e308}, "initial_cash"),
        (TrainConfig, {"initial_cash": 0.5}, "initial_cash"),
        (BacktestConfig, {"initial_cash": 1e13}, "initial_cash"),
        (TrainConfig, {"ppo": {"total_timesteps": 10**12}}, "ppo.total_timesteps"),
        (TrainConfig, {"ppo": {"net_arch": [10**6]}}, "ppo.net_arch"),
        (TrainConfig, {"ppo": {"net_arch": [8] * 9}}, "ppo.net_arch"),
        (TrainConfig, {"ppo": {"seed": 2**32}}, "ppo.seed"),
        (TrainConfig, {"features": {"sma": [10**5]}}, "features.sma"),
        (TrainConfig, {"env": {"episode_bars": 10**7}}, "env.episode_bars"),
        (TrainConfig, {"data": {"provider": "csv", "path": "bars.csv\x00.png"}}, "data.path"),
        (TrainConfig, {"regimes": {"seed": 2**40}}, "regimes.seed"),
        (TrainConfig, {"regimes": {"seed": -1}}, "regimes.seed"),
        (TrainConfig, {"env": {"turnover_penalty": 1e300}}, "env.turnover_penalty"),
    ],
)
def test_money_and_sizes_are_bounded(kind: type, raw: dict, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        validate_config(kind, raw)
    assert [p["field"] for p in e.value.errors] == [field], e.value.errors


def test_configs_written_before_the_execution_section_still_load(tmp_path: Path) -> None:
    """``env.rebalance_threshold`` and ``env.fractional_shares`` moved to ``execution``: a config of
    a run trained before the move (a committed golden run's, as that code wrote it) loads, migrated."""
    old = Path(__file__).parent / "golden" / "runs" / "single_whole_shares" / "config.yaml"
    assert "fractional_shares: false" in old.read_text() and "execution" not in old.read_text()
    cfg = load_config(TrainConfig, old)
    assert cfg.execution.fractional_shares is False and cfg.execution.rebalance_threshold == 0.02
    assert "fractional_shares" not in cfg.env.model_dump()
    # snapshotted again, it is in today's format and reads back the same
    again = tmp_path / "config.yaml"
    again.write_text(dump_config(cfg))
    assert "execution:" in again.read_text() and load_config(TrainConfig, again) == cfg
    # given in both places, the two must agree
    with pytest.raises(ConfigError, match="disagree"):
        validate_config(
            TrainConfig,
            {"env": {"fractional_shares": False}, "execution": {"fractional_shares": True}},
        )
    ok = validate_config(
        TrainConfig, {"env": {"rebalance_threshold": 0.1}, "execution": {"rebalance_threshold": 0.1}}
    )
    assert ok.execution.rebalance_threshold == 0.1


def test_execution_settings_are_checked() -> None:
    for bad, field in (
        ({"order_type": "stop"}, "execution.order_type"),
        ({"twap_slices": 0}, "execution.twap_slices"),
        ({"cash_buffer": 1.0}, "execution.cash_buffer"),
        ({"limit_offset_bps": 5000}, "execution.limit_offset_bps"),
        ({"twap_slices": True}, "execution.twap_slices"),
    ):
        with pytest.raises(ConfigError) as e:
            validate_config(BacktestConfig, {"execution": bad})
        assert [p["field"] for p in e.value.errors] == [field], bad
