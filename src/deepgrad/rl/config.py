"""A DQN agent's settings: their defaults and checks, and the two files a saved agent is.

A saved agent is a directory with ``config.json`` (the env's id and spaces, the settings, the
step count; readable, and never executed) and ``model.safetensors`` (the Q-network's weights).
Each is written atomically; neither uses pickle.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from deepgrad.errors import FileFormatError
from deepgrad.serialization import atomic_write, load_file, save_file

FORMAT = "deepgrad.rl.dqn"
WEIGHTS, CONFIG = "model.safetensors", "config.json"
_REQUIRED = ("env_id", "obs_shape", "obs_dtype", "num_actions", "custom_network", "settings")

# rl-zoo's tuned CartPole settings (phases of 128 gradient steps every 256 env steps against a
# target network copied before each phase, lr 2.3e-3, epsilon down to 0.04 over 16% of the
# steps) with double DQN and 3-step returns, on a 128-128 MLP (networks.DEFAULT_MLP): they
# solve CartPole-v1 on every seed of examples/dqn_cartpole.py. rl-zoo's 256-256 network solves
# it as well, at half the speed; 3-step returns made the greedy policy stay perfect for more of
# the evaluations than 1-step ones.
DEFAULTS: dict[str, Any] = {
    "double": True, "dueling": False, "n_step": 3, "gamma": 0.99, "lr": 2.3e-3,
    "buffer_size": 100_000, "batch_size": 64, "learning_starts": 1_000, "train_freq": 256,
    "gradient_steps": 128, "target_update": 128, "tau": None, "exploration_fraction": 0.16,
    "exploration_initial_eps": 1.0, "exploration_final_eps": 0.04, "loss": "huber",
    "max_grad_norm": 10.0, "prioritized": False, "prioritized_alpha": 0.6,
    "prioritized_beta": 0.4, "hidden": None,
}


def _number(settings: dict[str, Any], name: str, low: float, high: float = math.inf,
            integer: bool = False, low_open: bool = False) -> None:
    value = settings[name]
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not (
            (low < value if low_open else low <= value) and value <= high):
        bound = f"{'>' if low_open else '>='} {low:g}" + (
            f" and <= {high:g}" if high != math.inf else "")
        raise ValueError(f"DQN: {name} must be {'an integer' if integer else 'a number'} "
                         f"{bound}; got {value!r}")


def check_settings(settings: dict[str, Any]) -> None:
    """Raise a ValueError naming the first setting out of its range."""
    for name in ("n_step", "buffer_size", "batch_size", "train_freq", "gradient_steps",
                 "target_update"):
        _number(settings, name, 1, integer=True)
    _number(settings, "learning_starts", 0, integer=True)
    for name in ("gamma", "exploration_fraction", "exploration_initial_eps",
                 "exploration_final_eps", "prioritized_alpha", "prioritized_beta"):
        _number(settings, name, 0, 1)
    for name in ("lr", "max_grad_norm"):
        _number(settings, name, 0, low_open=True)
    if settings["tau"] is not None:
        _number(settings, "tau", 0, 1, low_open=True)
    if settings["loss"] not in ("huber", "mse"):
        raise ValueError(f"DQN: loss must be 'huber' or 'mse'; got {settings['loss']!r}")


def write_agent(path: str | os.PathLike, config: dict[str, Any],
                state: dict[str, Any]) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into the directory ``path``."""
    directory = Path(path)
    text = json.dumps({"format": FORMAT, "version": 1, **config}, indent=1) + "\n"
    atomic_write(directory / CONFIG, lambda f: f.write(text.encode()))
    save_file(state, directory / WEIGHTS, metadata={"format": FORMAT})
    return directory


def read_agent(path: str | os.PathLike) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """``(directory, config, weights)`` of a saved agent (``path`` is its directory or its
    model.safetensors); a clear error for a missing, foreign or damaged file."""
    directory = Path(path)
    if directory.name == WEIGHTS:
        directory = directory.parent
    if not (directory / CONFIG).is_file() or not (directory / WEIGHTS).is_file():
        raise FileNotFoundError(f"DQN.load: {directory} must hold {CONFIG} and {WEIGHTS} (as "
                                "written by agent.save)")
    try:
        config = json.loads((directory / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FileFormatError(f"{directory / CONFIG}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise FileFormatError(f"{directory / CONFIG}: not a DQN agent's config (format "
                              f"{found!r}, expected {FORMAT!r})")
    missing = [key for key in _REQUIRED if key not in config]
    if missing or not isinstance(config["settings"], dict):
        raise FileFormatError(f"{directory / CONFIG}: incomplete DQN config (missing "
                              f"{', '.join(missing) or 'a settings object'})")
    unknown = sorted(set(config["settings"]) - set(DEFAULTS))
    if unknown:
        raise FileFormatError(f"{directory / CONFIG}: unknown settings {unknown} (written by "
                              "a newer deepgrad?)")
    arrays, _ = load_file(directory / WEIGHTS)
    return directory, config, arrays


__all__ = ["DEFAULTS", "check_settings", "read_agent", "write_agent"]
