"""DQN on CartPole-v1, five seeds, one set of default hyperparameters.

    .venv/bin/python examples/dqn_cartpole.py [--seeds 0 1 2 3 4] [--steps 100000]

Each seed trains ``DQN("CartPole-v1", seed=s)`` with the library's defaults for 100,000
environment steps. Every 5,000 steps an ``EvalCallback`` plays 20 greedy episodes in a separate
env and keeps the weights of the best evaluation (as rl-zoo's EvalCallback does); those weights
are then judged on 100 fresh greedy episodes. The task counts as solved at a mean return of at
least 475 (the maximum is 500). The evaluation episodes are not counted in the 100,000 steps.

Writes ``runs/dqn_cartpole/results.json`` and, per seed, the agent and its learning curve.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

SOLVED = 475.0


def main(argv: list[str] | None = None) -> int:
    """Train and evaluate every seed; print the per-seed table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-freq", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--final-episodes", type=int, default=100)
    parser.add_argument("--out", default="runs/dqn_cartpole")
    args = parser.parse_args(argv)
    import deepgrad as dg
    from deepgrad.rl import DQN, EvalCallback, plot_learning_curve

    dg.set_num_threads(1)  # small networks run fastest on one thread

    out = Path(args.out)
    rows = []
    for seed in args.seeds:
        agent = DQN("CartPole-v1", seed=seed)
        evaluator = EvalCallback(eval_freq=args.eval_freq, episodes=args.eval_episodes,
                                 seed=1_000 + seed)
        started = time.perf_counter()
        agent.learn(args.steps, callbacks=[evaluator])
        seconds = time.perf_counter() - started
        mean, std = agent.evaluate(args.final_episodes, seed=100_000 + seed)
        agent.save(out / f"seed{seed}")
        try:
            plot_learning_curve(agent, out / f"seed{seed}" / "learning_curve.png",
                                title=f"DQN on CartPole-v1, seed {seed}")
        except ImportError:
            pass
        rows.append({"seed": seed, "mean": mean, "std": std, "solved": mean >= SOLVED,
                     "best_eval_step": evaluator.best_step, "best_eval_mean": evaluator.best_mean,
                     "train_seconds": round(seconds, 1), "steps": agent.num_timesteps})
        print(f"seed {seed}: {mean:6.1f} ± {std:5.1f} over {args.final_episodes} episodes "
              f"({'solved' if mean >= SOLVED else 'NOT solved'}); best evaluation at step "
              f"{evaluator.best_step:,}; {seconds:.0f} s for {agent.num_timesteps:,} steps "
              f"with evaluations", flush=True)
    means = np.array([row["mean"] for row in rows])
    solved = sum(row["solved"] for row in rows)
    summary = {"env": "CartPole-v1", "steps": args.steps, "seeds": rows,
               "solved": f"{solved}/{len(rows)}", "mean_of_means": float(means.mean()),
               "total_seconds": round(sum(row["train_seconds"] for row in rows), 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"solved on {solved} of {len(rows)} seeds; mean return {means.mean():.1f} "
          f"(per seed {', '.join(f'{m:.1f}' for m in means)}); wrote {out / 'results.json'}")
    return 0 if solved == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
