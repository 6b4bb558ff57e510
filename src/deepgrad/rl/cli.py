"""The ``deepgrad rl`` commands: train a DQN agent on a Gymnasium env, evaluate it, render it.

    deepgrad rl train CartPole-v1 --steps 100000 --seed 0 --out runs/dqn
    deepgrad rl eval runs/dqn --episodes 100 --gif

``train`` writes to its ``--out`` directory the agent (``model.safetensors`` + ``config.json``,
the best weights of the periodic evaluations), the progress log (``progress.csv``,
``progress.json``), the learning curve (``learning_curve.png``, with matplotlib) and
``results.json`` (the final evaluation over ``--final-episodes`` episodes, time, steps/s).
``deepgrad.cli`` registers these commands with :func:`add_rl_parser`; errors print one line
and return status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deepgrad.cli import positive_int
from deepgrad.parallel import limit_threads

_ERRORS = (ValueError, TypeError, ImportError, OSError)
# Command-line option -> DQN argument, for the hyperparameters given explicitly.
_HYPERPARAMETERS = ("lr", "gamma", "batch_size", "buffer_size", "learning_starts", "train_freq",
                    "gradient_steps", "target_update", "tau", "exploration_fraction",
                    "exploration_final_eps", "n_step", "hidden", "loss", "max_grad_norm")


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {value}")
    return number


def _widths(value: str) -> list[int]:
    try:
        widths = [int(w) for w in value.split(",") if w.strip()]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive widths such as "
                                         f"256,256; got {value!r}")
    return widths


def _fail(command: str, error: BaseException) -> int:
    print(f"deepgrad rl {command}: error: {error}", file=sys.stderr)
    return 1


# ------------------------------------------------------------------------------ train
def _train(args: argparse.Namespace) -> int:
    try:
        with limit_threads(args.threads):
            return _run_train(args)
    except _ERRORS as error:
        return _fail("train", error)


def _run_train(args: argparse.Namespace) -> int:
    from deepgrad.rl.callbacks import EvalCallback, ProgressLogger, plot_learning_curve
    from deepgrad.rl.dqn import DQN

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {name: getattr(args, name) for name in _HYPERPARAMETERS
                if getattr(args, name) is not None}
    agent = DQN(args.env, seed=args.seed, double=not args.no_double, dueling=args.dueling,
                prioritized=args.prioritized, **settings)
    logger = ProgressLogger(args.log_interval, csv_path=out / "progress.csv",
                            json_path=out / "progress.json", verbose=not args.quiet)
    evaluator = EvalCallback(eval_freq=args.eval_freq, episodes=args.eval_episodes,
                             keep_best=not args.last, seed=args.seed + 10_000) \
        if args.eval_freq else None
    started = time.perf_counter()
    agent.learn(args.steps, callbacks=[c for c in (evaluator, logger) if c is not None])
    seconds = time.perf_counter() - started
    agent.save(out)
    mean, std = agent.evaluate(args.final_episodes, seed=args.seed + 20_000)
    written = [out / "model.safetensors", out / "config.json", out / "progress.csv",
               out / "progress.json"]
    try:
        written.append(plot_learning_curve(agent, out / "learning_curve.png"))
    except ImportError:
        print("(no learning curve: install matplotlib with pip install 'deepgrad[plot]')",
              file=sys.stderr)
    results = {"env": args.env, "steps": agent.num_timesteps, "seed": args.seed,
               "episodes": len(agent.episode_returns), "train_seconds": round(seconds, 1),
               "steps_per_s": round(agent.num_timesteps / seconds, 1) if seconds else None,
               "final_eval_episodes": args.final_episodes, "final_eval_mean": mean,
               "final_eval_std": std,
               "kept_best_of_evaluations": evaluator is not None and not args.last,
               "best_eval_step": evaluator.best_step if evaluator else None,
               "best_eval_mean": evaluator.best_mean if evaluator else None}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    which = (f"the best of the evaluations (step {evaluator.best_step:,})"
             if evaluator is not None and not args.last else "the last weights")
    print(f"{args.env}: {mean:.1f} ± {std:.1f} over {args.final_episodes} greedy episodes with "
          f"{which}; trained {agent.num_timesteps:,} steps in {seconds / 60:.1f} min "
          f"({results['steps_per_s']} steps/s)")
    print("wrote " + ", ".join(str(p) for p in [*written, out / "results.json"]))
    return 0


# ------------------------------------------------------------------------------ eval
def _eval(args: argparse.Namespace) -> int:
    try:
        with limit_threads(args.threads):
            return _run_eval(args)
    except _ERRORS as error:
        return _fail("eval", error)


def _run_eval(args: argparse.Namespace) -> int:
    from deepgrad.rl.dqn import DQN

    run = Path(args.run_dir)
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such directory (train an agent with 'deepgrad rl "
                                "train ENV --out DIR' first)")
    agent = DQN.load(run)
    env_name = agent.spec["env_id"]
    if env_name is None:
        raise ValueError(f"{run}: the agent was trained on an env without a registered id; "
                         "evaluate it in Python with agent.evaluate(env=...)")
    mean, std = agent.evaluate(args.episodes, seed=args.seed)
    print(f"{env_name}: {mean:.1f} ± {std:.1f} over {args.episodes} greedy episodes")
    if args.gif is not None:
        path = Path(args.gif) if args.gif else run / "agent.gif"
        frames = write_gif(agent, env_name, path, args.gif_episodes, args.seed)
        print(f"wrote {path} ({frames} frames)")
    return 0


def write_gif(agent: Any, env_name: str, path: Path, episodes: int = 1,
              seed: int | None = None) -> int:
    """Play ``episodes`` greedy episodes with ``rgb_array`` rendering and write them as an
    animated GIF (atomically); returns the number of frames."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError("--gif writes images with Pillow: pip install 'deepgrad[image]'") \
            from err
    from deepgrad.rl.wrappers import make_env
    from deepgrad.serialization import atomic_write

    if path.suffix.lower() != ".gif":
        raise ValueError(f"--gif: the path must end in .gif; got {str(path)!r}")
    env = make_env(env_name, render_mode="rgb_array")
    images = []
    try:
        obs, _ = env.reset(seed=seed)
        for _ in range(episodes):
            images.append(Image.fromarray(env.render()))
            done = False
            while not done:
                obs, _, terminated, truncated, _ = env.step(agent.predict(obs))
                images.append(Image.fromarray(env.render()))
                done = terminated or truncated
            obs, _ = env.reset()
    finally:
        env.close()
    fps = env.metadata.get("render_fps") or 30
    atomic_write(path, lambda f: images[0].save(f, format="GIF", save_all=True,
                                                append_images=images[1:],
                                                duration=round(1000 / fps), loop=0))
    return len(images)


# ------------------------------------------------------------------------------ parsing
def add_rl_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rl train`` and ``rl eval`` under ``subparsers`` (from
    ``parser.add_subparsers()``); returns the ``rl`` parser."""
    rl = subparsers.add_parser(
        "rl", help="reinforcement learning: train and evaluate DQN agents on Gymnasium envs",
        description="Deep Q-learning on Gymnasium environments with a Box observation and "
                    "Discrete actions (needs pip install 'deepgrad[rl]').")
    commands = rl.add_subparsers(dest="rl_command", required=True, parser_class=type(rl))

    train = commands.add_parser("train", help="train a DQN agent and evaluate it")
    train.add_argument("env", help="a Gymnasium env id, such as CartPole-v1")
    train.add_argument("--steps", type=positive_int, default=100_000, help="environment steps")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="runs/dqn", help="directory for the outputs")
    train.add_argument("--eval-freq", type=_count, default=5_000,
                       help="steps between greedy evaluations (0: none); the best weights "
                            "are kept unless --last")
    train.add_argument("--eval-episodes", type=positive_int, default=20)
    train.add_argument("--final-episodes", type=positive_int, default=100,
                       help="episodes of the final evaluation")
    train.add_argument("--last", action="store_true",
                       help="keep the last weights instead of the best evaluated ones")
    train.add_argument("--log-interval", type=positive_int, default=5_000)
    group = train.add_argument_group("hyperparameters (default: DQN's)")
    group.add_argument("--lr", type=float)
    group.add_argument("--gamma", type=float)
    group.add_argument("--batch-size", type=positive_int)
    group.add_argument("--buffer-size", type=positive_int)
    group.add_argument("--learning-starts", type=_count)
    group.add_argument("--train-freq", type=positive_int)
    group.add_argument("--gradient-steps", type=positive_int)
    group.add_argument("--target-update", type=positive_int,
                       help="gradient steps between target network copies")
    group.add_argument("--tau", type=float, help="Polyak averaging instead of copies")
    group.add_argument("--exploration-fraction", type=float)
    group.add_argument("--exploration-final-eps", type=float)
    group.add_argument("--n-step", type=positive_int)
    group.add_argument("--hidden", type=_widths, help="hidden widths, e.g. 256,256")
    group.add_argument("--loss", choices=("huber", "mse"))
    group.add_argument("--max-grad-norm", type=float)
    group.add_argument("--dueling", action="store_true")
    group.add_argument("--no-double", action="store_true", help="plain DQN targets")
    group.add_argument("--prioritized", action="store_true", help="prioritized replay")
    train.add_argument("--threads", type=positive_int, default=1,
                       help="threads to compute with (small networks run fastest on 1)")
    train.add_argument("--quiet", action="store_true", help="no progress lines")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("eval", help="evaluate a trained agent, optionally as a GIF")
    evaluate.add_argument("run_dir", metavar="RUN",
                          help="the --out directory of 'deepgrad rl train'")
    evaluate.add_argument("--episodes", type=positive_int, default=100)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--gif", nargs="?", const="", metavar="PATH",
                          help="render greedy episodes to an animated GIF (default RUN/agent.gif)")
    evaluate.add_argument("--gif-episodes", type=positive_int, default=1)
    evaluate.add_argument("--threads", type=positive_int, default=1)
    evaluate.set_defaults(run=_eval)
    return rl


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``deepgrad rl ...`` alone (``python -m deepgrad.rl.cli rl train ...``)."""
    top = argparse.ArgumentParser(prog="deepgrad")
    add_rl_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
