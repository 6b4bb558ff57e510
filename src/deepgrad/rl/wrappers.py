"""Gymnasium environments for the agents: making one from an id, checking that an agent can act
in it, and the image wrappers of Atari-style observations (grayscale, resize, frame stacking).

gymnasium is the ``[rl]`` extra: :mod:`deepgrad.rl` imports this module only when an
environment is needed, so that the replay buffers (say) work without it.
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import shape_str

try:
    import gymnasium as gym
except ImportError as _error:
    raise ImportError("deepgrad.rl needs gymnasium for environments; install with pip install "
                      "'deepgrad[rl]'") from _error

_GRAY = xp.array([0.299, 0.587, 0.114], dtype=xp.float32)  # ITU-R 601 luma, as Atari papers use


def make_env(env: Any, render_mode: str | None = None) -> Any:
    """A Gymnasium env from an id string (``"CartPole-v1"``) or an ``EnvSpec``; an env instance
    is returned as it is. ``ALE/...`` ids register the Atari envs of ``ale-py`` first."""
    if isinstance(env, gym.Env):
        return env
    if isinstance(env, str) and env.startswith("ALE/"):
        try:
            import ale_py
        except ImportError as err:
            raise ImportError(f"{env} needs ale-py: pip install ale-py") from err
        gym.register_envs(ale_py)
    if not isinstance(env, (str, gym.envs.registration.EnvSpec)):
        raise TypeError(f"expected a Gymnasium env or an env id such as 'CartPole-v1'; got "
                        f"{type(env).__name__}")
    try:
        return gym.make(env, render_mode=render_mode)
    except gym.error.DependencyNotInstalled as err:
        hint = " (install with pip install 'deepgrad[box2d]')" if "box2d" in str(err).lower() \
            else ""
        raise ImportError(f"cannot make {_name(env)}: {err}{hint}") from err
    except gym.error.Error as err:
        raise ValueError(f"cannot make the environment {_name(env)}: {err}") from err


def _name(env: Any) -> str:
    return env if isinstance(env, str) else getattr(env, "id", repr(env))


def env_spec(env: Any) -> Any:
    """The ``EnvSpec`` that remakes ``env`` with its wrappers, or None (an env built by hand,
    or wrapped by a wrapper that does not record its arguments)."""
    try:
        spec = env.spec
    except (ValueError, gym.error.Error):
        return None
    wrappers = getattr(spec, "additional_wrappers", ())
    return None if spec is None or any(w.kwargs is None for w in wrappers) else spec


def env_id(env: Any) -> str | None:
    """The registered id an env was made from (None for an env built by hand)."""
    try:
        return env.unwrapped.spec.id
    except AttributeError:
        return None


def check_env(env: Any, owner: str = "DQN") -> tuple[tuple[int, ...], Any, int]:
    """``(obs_shape, obs_dtype, num_actions)`` of an env with a Box observation space and a
    Discrete action space; a clear error for any other."""
    spaces = gym.spaces
    name = env_id(env) or type(getattr(env, "unwrapped", env)).__name__
    if not isinstance(env, gym.Env):
        raise TypeError(f"{owner}: expected a Gymnasium env (or an id string); got "
                        f"{type(env).__name__}")
    actions = env.action_space
    if not isinstance(actions, spaces.Discrete):
        kind = "continuous actions" if isinstance(actions, spaces.Box) else "not Discrete"
        raise ValueError(f"{owner}: needs a Discrete action space (one of n actions); {name} has "
                         f"{actions} ({kind}). DQN picks the action of highest value among "
                         "finitely many: use a continuous-control algorithm, or discretize the "
                         "actions with a wrapper")
    if int(actions.start) != 0:
        raise ValueError(f"{owner}: the Discrete action space of {name} starts at "
                         f"{int(actions.start)}; DQN numbers actions from 0")
    observations = env.observation_space
    if not isinstance(observations, spaces.Box):
        raise ValueError(f"{owner}: needs a Box observation space (an array); {name} has "
                         f"{observations}. Flatten it first, e.g. with "
                         "gymnasium.wrappers.FlattenObservation")
    shape, dtype = tuple(observations.shape), observations.dtype
    if dtype == xp.uint8 and len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 4:
        raise ValueError(f"{owner}: {name} gives channels-last images of shape "
                         f"{shape_str(shape)}; the convolutional Q-network reads (C, H, W): wrap "
                         "the env with deepgrad.rl.wrappers.ImagePreprocess (and FrameStack)")
    return shape, dtype, int(actions.n)


class ImagePreprocess(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Images ``(H, W, 3)`` or ``(H, W)`` to ``(size, size)`` grayscale (or ``(3, size, size)``
    color, channels first), uint8, resized by nearest-neighbour sampling.

    Args:
        env: an env with uint8 image observations.
        size: the side of the output image (an int) or ``(height, width)``; None keeps the size.
        grayscale: convert to one channel (and drop the channel axis).
    """

    def __init__(self, env: Any, size: int | tuple[int, int] | None = 84,
                 grayscale: bool = True) -> None:
        # Recorded so that gymnasium.make(env.spec) rebuilds the wrapped env (for evaluation).
        gym.utils.RecordConstructorArgs.__init__(self, size=size, grayscale=grayscale)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        shape = tuple(space.shape)
        if space.dtype != xp.uint8 or len(shape) not in (2, 3) or (
                len(shape) == 3 and shape[-1] not in (1, 3)):
            raise ValueError(f"ImagePreprocess: expects uint8 images (H, W) or (H, W, 1|3); the "
                             f"env gives {space.dtype} of shape {shape_str(shape)}")
        height, width = shape[:2]
        out_h, out_w = (height, width) if size is None else (
            (size, size) if isinstance(size, int) else tuple(size))
        # Source rows and columns of each output pixel, at the centres of the output cells.
        self._rows = ((xp.arange(out_h) + 0.5) * height / out_h).astype(xp.intp)
        self._cols = ((xp.arange(out_w) + 0.5) * width / out_w).astype(xp.intp)
        self._grayscale = grayscale
        color = len(shape) == 3 and shape[-1] == 3
        out_shape = (out_h, out_w) if grayscale or not color else (3, out_h, out_w)
        self.observation_space = gym.spaces.Box(0, 255, out_shape, dtype=xp.uint8)

    def observation(self, observation: Any) -> Any:
        """The preprocessed image."""
        image = xp.asarray(observation)[self._rows[:, None], self._cols]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.ndim == 2:
            return image
        if self._grayscale:
            gray = image @ _GRAY
            return xp.clip(gray + 0.5, 0, 255).astype(xp.uint8)
        return xp.ascontiguousarray(image.transpose(2, 0, 1))


class FrameStack(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The last ``num_stack`` observations, oldest first, as one array: ``(H, W)`` frames
    become ``(num_stack, H, W)`` channels; ``(C, H, W)`` images ``(num_stack * C, H, W)``;
    vectors ``(d,)`` become ``(num_stack * d,)``. After a reset every slot holds the first
    observation, so that a single frame's motion is not mistaken for a jump.

    Args:
        env: the env to wrap.
        num_stack: how many observations to keep.
    """

    def __init__(self, env: Any, num_stack: int = 4) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, num_stack=num_stack)
        gym.ObservationWrapper.__init__(self, env)
        if isinstance(num_stack, bool) or not isinstance(num_stack, int) or num_stack < 1:
            raise ValueError(f"FrameStack: num_stack must be a positive int; got {num_stack!r}")
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 2, 3):
            raise ValueError(f"FrameStack: expects Box observations of 1 to 3 dimensions; got "
                             f"{space}")
        shape = tuple(space.shape)
        self.num_stack = num_stack
        self._frames = xp.zeros((num_stack, *shape), dtype=space.dtype)
        stacked = (num_stack, *shape) if len(shape) == 2 else (num_stack * shape[0], *shape[1:])
        self._shape = stacked
        low = xp.broadcast_to(space.low, shape)
        high = xp.broadcast_to(space.high, shape)
        self.observation_space = gym.spaces.Box(
            xp.stack([low] * num_stack).reshape(stacked),
            xp.stack([high] * num_stack).reshape(stacked), dtype=space.dtype)

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        """Reset the env and fill every slot with its first observation."""
        observation, info = self.env.reset(**kwargs)
        self._frames[:] = observation
        return self._frames.reshape(self._shape).copy(), info

    def observation(self, observation: Any) -> Any:
        """Drop the oldest frame, append this one; a copy of the stack."""
        frames = self._frames
        frames[:-1] = frames[1:]
        frames[-1] = observation
        return frames.reshape(self._shape).copy()


__all__ = ["FrameStack", "ImagePreprocess", "check_env", "env_id", "env_spec", "make_env"]
