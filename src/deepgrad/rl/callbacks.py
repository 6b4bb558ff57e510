"""What ``agent.learn(steps, callbacks=[...])`` reports and keeps: progress lines with CSV/JSON
logs (``ProgressLogger``), periodic greedy evaluations that keep the best weights seen
(``EvalCallback``, like rl-zoo's), and the learning-curve PNG (``plot_learning_curve``).

A callback is any object with some of ``on_learn_start(agent)``, ``on_step(agent)`` (after
every env step; returning False stops learning), ``on_episode_end(agent)`` and
``on_learn_end(agent)``; :class:`Callback` has them all, doing nothing.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from deepgrad.backend import xp
from deepgrad.serialization import atomic_write

_WINDOW = 100  # episodes in the running mean, as in Gym's "solved" criteria


def _positive(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer; got {value!r}")
    return value


def recent_mean(values: list[float], window: int = _WINDOW) -> float:
    """The mean of the last ``window`` values (nan when there are none)."""
    return float(xp.mean(values[-window:])) if values else math.nan


class Callback:
    """The base of callbacks: every hook does nothing."""

    def on_learn_start(self, agent: Any) -> None:
        """Called once when ``learn`` starts."""

    def on_step(self, agent: Any) -> bool | None:
        """Called after every env step; return False to stop learning."""
        return None

    def on_episode_end(self, agent: Any) -> None:
        """Called after an episode ends (its return is ``agent.episode_returns[-1]``)."""

    def on_learn_end(self, agent: Any) -> None:
        """Called once when ``learn`` returns."""


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


class ProgressLogger(Callback):
    """Every ``interval`` steps, one row: steps, episodes, the mean return and length of the
    last 100 episodes, epsilon, the loss, steps per second since the last row, the latest
    evaluation and the elapsed time. Printed, and rewritten (atomically) to CSV and JSON files.

    Args:
        interval: env steps between rows.
        csv_path: a CSV file to keep the rows in, or None.
        json_path: a JSON file (a list of row objects), or None.
        verbose: print each row.
        file: where to print (stdout by default).
    """

    columns = ("step", "episodes", "mean_return", "mean_length", "epsilon", "loss",
               "steps_per_s", "eval_mean", "eval_std", "time_s")

    def __init__(self, interval: int = 5_000, csv_path: str | os.PathLike | None = None,
                 json_path: str | os.PathLike | None = None, verbose: bool = True,
                 file: TextIO | None = None) -> None:
        self.interval = _positive("ProgressLogger", "interval", interval)
        self.csv_path = None if csv_path is None else Path(csv_path)
        self.json_path = None if json_path is None else Path(json_path)
        self.verbose = verbose
        self.file = file
        self.rows: list[dict[str, float]] = []
        self._started = self._last_time = 0.0
        self._last_step = 0

    def on_learn_start(self, agent: Any) -> None:
        """Start the clocks."""
        self._started = self._last_time = time.perf_counter()
        self._last_step = agent.num_timesteps

    def on_step(self, agent: Any) -> None:
        """Log a row every ``interval`` steps."""
        if agent.num_timesteps % self.interval == 0:
            self.log(agent)

    def on_learn_end(self, agent: Any) -> None:
        """Log the last row (unless it was just logged)."""
        if not self.rows or self.rows[-1]["step"] != agent.num_timesteps:
            self.log(agent)

    def log(self, agent: Any) -> dict[str, float]:
        """Record, print and write one row now; returns it."""
        now = time.perf_counter()
        steps = agent.num_timesteps - self._last_step
        evaluation = agent.eval_history[-1] if agent.eval_history else (0, math.nan, math.nan)
        row = {"step": agent.num_timesteps, "episodes": len(agent.episode_returns),
               "mean_return": recent_mean(agent.episode_returns),
               "mean_length": recent_mean(agent.episode_lengths),
               "epsilon": agent.exploration_rate, "loss": agent.last_loss,
               "steps_per_s": steps / (now - self._last_time) if now > self._last_time else 0.0,
               "eval_mean": evaluation[1], "eval_std": evaluation[2],
               "time_s": now - self._started}
        self._last_time, self._last_step = now, agent.num_timesteps
        self.rows.append(row)
        if self.verbose:
            line = (f"step {row['step']:>8,}  episodes {row['episodes']:>5}  "
                    f"return(100) {row['mean_return']:8.2f}  eps {row['epsilon']:.3f}  "
                    f"loss {row['loss']:.4f}  {row['steps_per_s']:6,.0f} steps/s")
            if not math.isnan(row["eval_mean"]):
                line += f"  eval {row['eval_mean']:.1f} ± {row['eval_std']:.1f}"
            print(line, file=self.file or sys.stdout, flush=True)
        self.write()
        return row

    def write(self) -> None:
        """Rewrite the CSV and JSON files with every row so far."""
        if self.csv_path is not None:
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=self.columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            _write_text(self.csv_path, text.getvalue())
        if self.json_path is not None:
            # JSON has no nan: a missing value (no episode or evaluation yet) is null.
            rows = [{k: None if isinstance(v, float) and math.isnan(v) else v
                     for k, v in row.items()} for row in self.rows]
            _write_text(self.json_path, json.dumps(rows, indent=1) + "\n")


class EvalCallback(Callback):
    """Every ``eval_freq`` steps, play ``episodes`` greedy episodes in a separate env and
    record ``(step, mean, std)`` in ``agent.eval_history``. With ``keep_best`` the weights of
    the best evaluation are restored when learning ends, so the agent returned is the best one
    seen rather than the last (DQN's performance can drop late in training); ties go to the
    later evaluation, which has trained longer.

    Args:
        eval_env: the env to evaluate in (an instance or id); None makes one from the agent's.
        eval_freq: env steps between evaluations.
        episodes: episodes per evaluation.
        keep_best: restore the best weights at the end of ``learn``.
        save_path: save the agent there (``agent.save``) whenever it improves; None for never.
        stop_at: stop learning once an evaluation's mean return reaches this; None for never.
        seed: seeds the evaluation env's first reset; later evaluations continue its random
            stream, so each plays new episodes (and the best is not chosen on one fixed set).
        verbose: print each evaluation.
    """

    def __init__(self, eval_env: Any = None, eval_freq: int = 5_000, episodes: int = 10,
                 keep_best: bool = True, save_path: str | os.PathLike | None = None,
                 stop_at: float | None = None, seed: int | None = None,
                 verbose: bool = False) -> None:
        self.eval_env = eval_env
        self.eval_freq = _positive("EvalCallback", "eval_freq", eval_freq)
        self.episodes = _positive("EvalCallback", "episodes", episodes)
        self.keep_best = keep_best
        self.save_path = None if save_path is None else Path(save_path)
        self.stop_at = stop_at
        self.seed = seed
        self.verbose = verbose
        self.best_mean = -math.inf
        self.best_step = -1
        self.best_state: dict[str, Any] | None = None
        self._first = True

    def on_step(self, agent: Any) -> bool:
        """Evaluate every ``eval_freq`` steps; False once ``stop_at`` is reached."""
        if agent.num_timesteps % self.eval_freq:
            return True
        mean = self.evaluate(agent)
        return self.stop_at is None or mean < self.stop_at

    def evaluate(self, agent: Any) -> float:
        """Evaluate now, record the result and keep the weights if they are the best."""
        seed = self.seed if self._first else None
        self._first = False
        mean, std = agent.evaluate(self.episodes, env=self.eval_env, seed=seed)
        agent.eval_history.append((agent.num_timesteps, mean, std))
        if self.verbose:
            print(f"eval at step {agent.num_timesteps:,}: {mean:.2f} ± {std:.2f} over "
                  f"{self.episodes} episodes", flush=True)
        if mean >= self.best_mean:
            self.best_mean, self.best_step = mean, agent.num_timesteps
            self.best_state = agent.q_net.state_dict()
            if self.save_path is not None:
                agent.save(self.save_path)
        return mean

    def on_learn_end(self, agent: Any) -> None:
        """Restore the best weights (with ``keep_best``)."""
        if self.keep_best and self.best_state is not None:
            agent.q_net.load_state_dict(self.best_state)
            agent.sync_target()


def plot_learning_curve(agent: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """The returns of every episode against env steps, their running mean over 100 episodes,
    and the evaluations (mean ± std), as a PNG. Needs matplotlib (``deepgrad[plot]``).

    Args:
        agent: a trained agent (its ``episode_returns``, ``episode_end_steps`` and
            ``eval_history`` are drawn).
        path: the ``.png`` file to write.
        title: the plot's title (default: the env id).
    """
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ValueError(f"plot_learning_curve: writes PNG files; the path must end in .png, "
                         f"got {str(target)!r}")
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("plot_learning_curve needs matplotlib; install with pip install "
                          "'deepgrad[plot]'") from err
    figure = Figure(figsize=(7.5, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    steps = xp.asarray(agent.episode_end_steps, dtype=xp.float64)
    returns = xp.asarray(agent.episode_returns, dtype=xp.float64)
    if returns.size:
        ax.plot(steps, returns, ".", color="C0", alpha=0.25, markersize=3, label="episode")
        running = xp.cumsum(xp.concatenate([[0.0], returns]))
        counts = xp.minimum(xp.arange(1, returns.size + 1), _WINDOW)
        window_sums = running[1:] - running[xp.arange(1, returns.size + 1) - counts]
        ax.plot(steps, window_sums / counts, color="C0", label=f"mean of last {_WINDOW}")
    if agent.eval_history:
        at, means, stds = (xp.asarray(column, dtype=xp.float64)
                           for column in zip(*agent.eval_history))
        ax.errorbar(at, means, yerr=stds, fmt="o-", color="C3", markersize=3, capsize=2,
                    label="evaluation (greedy)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title or str(agent.spec.get("env_id") or "learning curve"))
    ax.grid(alpha=0.3)
    if returns.size or agent.eval_history:
        ax.legend(fontsize="small", loc="best")
    return atomic_write(target, lambda f: figure.savefig(f, format="png", dpi=110))


__all__ = ["Callback", "EvalCallback", "ProgressLogger", "plot_learning_curve", "recent_mean"]
