"""DQN lands the LunarLander (LunarLander-v3, needs ``pip install 'deepgrad[box2d]'``).

    .venv/bin/python examples/dqn_lunarlander.py [--steps 500000] [--seed 0]

LunarLander rewards a soft landing between the flags (100-140 points, +10 per leg touching,
+100 for coming to rest) and charges for fuel and for crashing (-100); a mean return of 200
over 100 episodes counts as solved. rl-zoo's tuned DQN reaches 154 after 100,000 steps; here
the agent trains longer, with the pieces that help on this task: double DQN, a dueling head,
3-step returns and soft (Polyak) target updates. Every 10,000 steps an ``EvalCallback`` plays
10 greedy episodes and keeps the best weights, which are judged on 100 fresh episodes at the
end. Progress goes to the terminal and to ``runs/dqn_lunarlander/progress.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SOLVED = 200.0
SETTINGS = {"hidden": (256, 256), "dueling": True, "n_step": 3, "lr": 5e-4, "batch_size": 128,
            "buffer_size": 200_000, "learning_starts": 10_000, "train_freq": 4,
            "gradient_steps": 2, "tau": 0.005, "exploration_fraction": 0.1,
            "exploration_final_eps": 0.02, "gamma": 0.99}


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate on 100 episodes, save the agent, the log and the learning curve."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/dqn_lunarlander")
    args = parser.parse_args(argv)
    import deepgrad as dg
    from deepgrad.rl import DQN, EvalCallback, ProgressLogger, plot_learning_curve

    dg.set_num_threads(1)  # small networks run fastest on one thread

    out = Path(args.out)
    agent = DQN("LunarLander-v3", seed=args.seed, **SETTINGS)
    evaluator = EvalCallback(eval_freq=10_000, episodes=10, seed=1_000 + args.seed,
                             save_path=out / "best")
    logger = ProgressLogger(10_000, csv_path=out / "progress.csv",
                            json_path=out / "progress.json")
    started = time.perf_counter()
    agent.learn(args.steps, callbacks=[evaluator, logger])
    seconds = time.perf_counter() - started
    mean, std = agent.evaluate(100, seed=100_000 + args.seed)
    agent.save(out)
    try:
        plot_learning_curve(agent, out / "learning_curve.png", title="DQN on LunarLander-v3")
    except ImportError:
        pass
    results = {"env": "LunarLander-v3", "steps": agent.num_timesteps, "seed": args.seed,
               "settings": {k: list(v) if isinstance(v, tuple) else v
                            for k, v in SETTINGS.items()},
               "final_eval_episodes": 100, "final_eval_mean": mean, "final_eval_std": std,
               "solved": mean >= SOLVED, "best_eval_step": evaluator.best_step,
               "best_eval_mean": evaluator.best_mean, "train_seconds": round(seconds, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"LunarLander-v3: {mean:.1f} ± {std:.1f} over 100 greedy episodes "
          f"({'solved' if mean >= SOLVED else 'not solved'}) with the best evaluated weights "
          f"(step {evaluator.best_step:,}); {agent.num_timesteps:,} steps in "
          f"{seconds / 60:.1f} min")
    return 0 if mean >= SOLVED else 1


if __name__ == "__main__":
    sys.exit(main())
