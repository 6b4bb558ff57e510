"""DQN training speed on CartPole-v1: deepgrad against Stable-Baselines3 (when installed).

Usage::

    .venv/bin/python benchmarks/rl.py [--steps 20000] [--rounds 3] [--config default|sb3]

Both agents run the same algorithm settings (network, learning rate, batch, buffer, warm-up,
training frequency and gradient steps per training phase, target-network period, exploration,
Huber loss, gradient clipping at 10) for ``--steps`` environment steps, from a fresh agent,
in rounds interleaved deepgrad, SB3, deepgrad, SB3, ... so that drift hits both. The number is
environment steps per second of wall time for the whole ``learn`` call (acting, storing,
sampling, training). One BLAS / torch thread each (small networks run fastest on one). One
difference favours SB3: it computes plain DQN targets, while deepgrad's default double DQN runs
one more forward pass per gradient step. SB3's DummyVecEnv and Monitor wrappers are part of its
normal cost and stay in.

``--config default`` uses deepgrad's defaults (rl-zoo's tuned CartPole schedule of 128 gradient
steps every 256 env steps, 3-step returns, a 128-128 MLP; ``--hidden 256 256`` for rl-zoo's
network); ``--config sb3`` uses SB3's own defaults (64-64, one gradient step every 4 env
steps). Other processes' CPU use is printed for each round: on a busy machine the ratio is the
meaningful number, not the absolute rates.

This script is not a ``WORKLOADS`` module of ``run.py``: one DQN run is seconds long, and the
peer is SB3, not torch functions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad.bench import machine

SB3_DEFAULTS = {"hidden": [64, 64], "lr": 1e-4, "batch_size": 32, "buffer_size": 1_000_000,
                "learning_starts": 100, "train_freq": 4, "gradient_steps": 1,
                "target_update": 2_500, "gamma": 0.99, "exploration_fraction": 0.1,
                "exploration_final_eps": 0.05, "n_step": 1}
SHARED = ("lr", "batch_size", "buffer_size", "learning_starts", "train_freq", "gradient_steps",
          "target_update", "gamma", "exploration_fraction", "exploration_final_eps", "n_step")


def deepgrad_defaults() -> dict[str, Any]:
    """deepgrad's DQN defaults, with the default network's widths spelled out."""
    from deepgrad.rl.config import DEFAULTS
    from deepgrad.rl.networks import DEFAULT_MLP

    config = {key: DEFAULTS[key] for key in SHARED}
    config["hidden"] = list(DEFAULTS["hidden"] or DEFAULT_MLP)
    return config


def run_deepgrad(config: dict[str, Any], steps: int, seed: int) -> float:
    """Seconds for ``learn(steps)`` of a fresh deepgrad DQN."""
    from deepgrad.rl import DQN

    agent = DQN("CartPole-v1", seed=seed, **config)
    started = time.perf_counter()
    agent.learn(steps)
    return time.perf_counter() - started


def run_sb3(config: dict[str, Any], steps: int, seed: int) -> float:
    """Seconds for ``learn(steps)`` of a fresh SB3 DQN with the same settings."""
    from stable_baselines3 import DQN

    # SB3 counts the target period in env steps: gradient steps x (env steps per gradient step).
    target_period = config["target_update"] * config["train_freq"] // config["gradient_steps"]
    agent = DQN("MlpPolicy", "CartPole-v1", learning_rate=config["lr"], n_steps=config["n_step"],
                batch_size=config["batch_size"], buffer_size=config["buffer_size"],
                learning_starts=config["learning_starts"], gamma=config["gamma"],
                train_freq=config["train_freq"], gradient_steps=config["gradient_steps"],
                target_update_interval=target_period,
                exploration_fraction=config["exploration_fraction"],
                exploration_final_eps=config["exploration_final_eps"], max_grad_norm=10,
                policy_kwargs={"net_arch": config["hidden"]}, seed=seed, device="cpu",
                verbose=0)
    started = time.perf_counter()
    agent.learn(steps)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print steps/s of each side and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", choices=("default", "sb3"), default="default")
    parser.add_argument("--hidden", type=int, nargs="+", help="override the hidden widths")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    args = parser.parse_args(argv)
    try:
        import gymnasium  # noqa: F401
    except ImportError:
        print("benchmarks/rl.py needs gymnasium: pip install 'deepgrad[rl]'", file=sys.stderr)
        return 1
    dg.set_num_threads(args.threads)
    try:
        import stable_baselines3
        import torch

        torch.set_num_threads(args.threads)
        peer = f"Stable-Baselines3 {stable_baselines3.__version__} (torch {torch.__version__})"
    except ImportError:
        stable_baselines3 = None
        peer = "Stable-Baselines3 not installed (pip install torch==2.13.0 stable-baselines3)"
    blas = machine.blas_info()
    config = deepgrad_defaults() if args.config == "default" else dict(SB3_DEFAULTS)
    if args.hidden:
        config["hidden"] = args.hidden
    print(f"CPU: {machine.cpu_model()}; NumPy {np.__version__}, BLAS "
          f"{blas.get('internal_api') if blas else 'unknown'}; deepgrad with "
          f"{dg.get_num_threads()} thread(s); peer: {peer}")
    print(f"CartPole-v1, config {args.config!r}: {config}; {args.steps:,} env steps per run")
    sides = {"deepgrad": run_deepgrad} | ({"sb3": run_sb3} if stable_baselines3 else {})
    rates: dict[str, list[float]] = {name: [] for name in sides}
    for run in sides.values():  # warm-up: imports, first allocations
        run(config, 1_500, seed=0)
    for round_index in range(args.rounds):
        for side, run in sides.items():
            before = machine.cpu_snapshot()
            seconds = run(config, args.steps, seed=round_index)
            busy = machine.other_share(before, machine.cpu_snapshot())
            rates[side].append(args.steps / seconds)
            print(f"round {round_index + 1} {side:>8}: {args.steps / seconds:8,.0f} steps/s "
                  f"({seconds:.1f} s; other processes used {busy:.0%} of the CPU)", flush=True)
    medians = {side: statistics.median(values) for side, values in rates.items()}
    line = ", ".join(f"{side} {rate:,.0f} steps/s" for side, rate in medians.items())
    if "sb3" in medians:
        line += f"; deepgrad / SB3 = {medians['deepgrad'] / medians['sb3']:.2f}x"
    print(f"median of {args.rounds}: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
