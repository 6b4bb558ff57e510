"""Deep reinforcement learning: DQN agents for Gymnasium environments.

    import deepgrad.rl as rl
    agent = rl.DQN("CartPole-v1", seed=0)
    agent.learn(100_000, callbacks=[rl.EvalCallback(), rl.ProgressLogger()])
    agent.evaluate(100)

gymnasium is the ``[rl]`` extra (``pip install 'deepgrad[rl]'``). It is imported only when an
environment is needed, so the replay buffers and networks work without it; the env helpers and
wrappers (``make_env``, ``check_env``, ``ImagePreprocess``, ``FrameStack``) are loaded from
:mod:`deepgrad.rl.wrappers` on first access.
"""

from typing import Any

from deepgrad.rl.buffers import Batch, PrioritizedReplayBuffer, ReplayBuffer, SumTree
from deepgrad.rl.callbacks import Callback, EvalCallback, ProgressLogger, plot_learning_curve
from deepgrad.rl.dqn import DQN, td_targets
from deepgrad.rl.networks import DuelingHead, build_q_network, conv_q_network, mlp_q_network

_FROM_WRAPPERS = ("FrameStack", "ImagePreprocess", "check_env", "make_env")


def __getattr__(name: str) -> Any:
    # The wrappers subclass gymnasium's classes, so they exist only once gymnasium is imported.
    if name in _FROM_WRAPPERS:
        from deepgrad.rl import wrappers

        return getattr(wrappers, name)
    raise AttributeError(f"module 'deepgrad.rl' has no attribute {name!r}")


__all__ = [
    "DQN",
    "Batch",
    "Callback",
    "DuelingHead",
    "EvalCallback",
    "FrameStack",
    "ImagePreprocess",
    "PrioritizedReplayBuffer",
    "ProgressLogger",
    "ReplayBuffer",
    "SumTree",
    "build_q_network",
    "check_env",
    "conv_q_network",
    "make_env",
    "mlp_q_network",
    "plot_learning_curve",
    "td_targets",
]
