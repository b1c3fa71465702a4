"""PPO training throughput (env steps per second of wall time, optimisation included) for each
policy type on five bundled dow29 symbols; prints JSON.

    .venv/bin/python benchmarks/train_throughput.py [--timesteps 8192]
"""

from __future__ import annotations

import argparse
import json
import time

import torch as th

from stockbot.config import DataConfig, EnvConfig, PPOConfig, TrainConfig
from stockbot.data import load_bars
from stockbot.envs import build_market
from stockbot.train.trainer import build_model, make_vec_env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timesteps", type=int, default=8192)
    args = ap.parse_args()
    th.set_num_threads(1)
    out: dict[str, object] = {"timesteps": args.timesteps, "n_envs": 4, "torch_threads": 1}
    for policy, observation in (("mlp", "window"), ("cnn", "window"), ("lstm", "flat")):
        cfg = TrainConfig(
            data=DataConfig(symbols=["AAPL", "JPM", "KO", "MSFT", "XOM"], start="2013-03-01"),
            env=EnvConfig(observation=observation, window=32),
            ppo=PPOConfig(policy=policy, n_envs=4, n_steps=512, batch_size=256, n_epochs=10),
        )
        bars = load_bars(cfg.data, warmup_bars=cfg.warmup_bars())
        market, _ = build_market(cfg, bars)
        vec = make_vec_env(cfg, market)
        model = build_model(cfg, vec)
        t0 = time.perf_counter()
        model.learn(args.timesteps)
        elapsed = time.perf_counter() - t0
        out[policy] = {
            "observation": observation,
            "seconds": round(elapsed, 2),
            "steps_per_s": round(args.timesteps / elapsed),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
