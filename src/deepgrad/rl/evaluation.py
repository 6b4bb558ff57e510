"""Playing an agent's policy for whole episodes in an environment of its own (evaluation), and
the check that an environment fits an agent's network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import shape_str


def matching_env(env: Any, obs_shape: Sequence[int], num_actions: int, where: str,
                 hint: str = "") -> Any:
    """``env`` (an instance or id) made and checked to have observations of ``obs_shape`` and
    ``num_actions`` discrete actions; a ValueError naming ``where`` and both shapes if not."""
    from deepgrad.rl.wrappers import check_env, make_env

    made = make_env(env)
    shape, _, actions = check_env(made, where)
    if shape != tuple(obs_shape) or actions != num_actions:
        raise ValueError(f"{where}: the env has observations {shape_str(shape)} and {actions} "
                         f"actions; the agent was built for {shape_str(tuple(obs_shape))} and "
                         f"{num_actions}{hint}")
    return made


def play_episodes(act: Callable[[Any], Any], env: Any, episodes: int,
                  seed: int | None = None) -> Any:
    """The returns (a float64 array) of ``episodes`` full episodes of ``env`` with actions
    ``act(obs)``; the first reset takes ``seed``."""
    returns = xp.empty(episodes)
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns[episode] = total
        obs, _ = env.reset()
    return returns


__all__ = ["matching_env", "play_episodes"]
