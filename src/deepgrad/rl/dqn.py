"""DQN: a Q-network learns the value of each action from rewards alone (Mnih et al., 2015).

With the stabilizers that make it reliable: double DQN targets (van Hasselt et al., 2016), a
target network updated by hard copies or Polyak averaging, the Huber loss, gradient-norm
clipping, Adam, a linearly decaying epsilon-greedy exploration, a warm-up of random steps before
learning, and optionally n-step returns, dueling heads and prioritized replay (the pieces of
Rainbow that matter most on small problems).

    agent = DQN("CartPole-v1", seed=0)
    agent.learn(100_000, callbacks=[EvalCallback(), ProgressLogger()])
    agent.evaluate(100)           # (mean, std) of 100 greedy episodes
    agent.save("runs/dqn")        # weights (safetensors) + config (JSON)
    agent = DQN.load("runs/dqn")
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from deepgrad.backend import xp
from deepgrad.creation import manual_seed
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.nn.losses import huber_loss, mse_loss
from deepgrad.nn.module import Module
from deepgrad.nn.utils.clip_grad import clip_grad_norm_
from deepgrad.optim.adam import Adam
from deepgrad.rl.buffers import Batch, PrioritizedReplayBuffer, ReplayBuffer
from deepgrad.rl.config import DEFAULTS, check_settings, read_agent, write_agent
from deepgrad.rl.evaluation import matching_env, play_episodes
from deepgrad.rl.flat import FlatParameters
from deepgrad.rl.networks import build_q_network
from deepgrad.tensor import Tensor


def td_targets(rewards: Any, discounts: Any, next_q_target: Any,
               next_q_online: Any = None) -> Any:
    """The TD targets ``r + discount * Q_target(s', a')`` of a batch.

    Args:
        rewards: (B,) (n-step) rewards.
        discounts: (B,) ``gamma**k``, 0 where the episode terminated.
        next_q_target: (B, A) the target network's values of the next states.
        next_q_online: (B, A) the online network's values of the next states for double DQN
            (a' is the online network's best action, valued by the target network); None for
            plain DQN (a' is the target network's best action: ``max_a Q_target(s', a)``).
    """
    if next_q_online is None:
        best = next_q_target.max(axis=1)
    else:
        best = next_q_target[xp.arange(len(next_q_target)), next_q_online.argmax(axis=1)]
    return rewards + discounts * best


class DQN:
    """A DQN agent for a Gymnasium env with Box observations and Discrete actions.

    Args:
        env: a Gymnasium env, or an id such as ``"CartPole-v1"``.
        network: the Q-network, a Module mapping ``(N, *obs_shape)`` float32 observations to
            ``(N, num_actions)`` values; None builds an MLP (vectors) or a conv net (images
            ``(C, H, W)``). uint8 observations reach the network scaled to [0, 1].
        double: double DQN targets (the online network picks a', the target network values it).
        dueling: a dueling head on the default network.
        n_step: the number of rewards summed before bootstrapping.
        gamma: the discount factor.
        lr: Adam's learning rate.
        buffer_size: the replay buffer's capacity.
        batch_size: transitions per gradient step.
        learning_starts: env steps of uniformly random actions before the first update.
        train_freq: env steps between training phases.
        gradient_steps: gradient steps in each training phase.
        target_update: gradient steps between hard copies of the online weights into the target
            network (unused when ``tau`` is set).
        tau: Polyak averaging ``target += tau * (online - target)`` after every gradient step
            instead of hard copies; None for hard copies.
        exploration_fraction: the fraction of ``learn``'s steps over which epsilon decays
            linearly from ``exploration_initial_eps`` to ``exploration_final_eps``.
        exploration_initial_eps: epsilon at the start of ``learn``.
        exploration_final_eps: epsilon after the decay.
        loss: ``"huber"`` (the smooth L1 loss, robust to large TD errors) or ``"mse"``.
        max_grad_norm: gradients are rescaled to at most this total norm.
        prioritized: prioritized replay instead of uniform sampling.
        prioritized_alpha: how strongly priorities skew sampling.
        prioritized_beta: the importance-sampling exponent at the start; annealed to 1.
        hidden: the default network's hidden widths (None: (128, 128) for vectors, (512,) after
            the convolutions for images).
        seed: seeds the network's initialization (through ``dg.manual_seed``), exploration,
            replay sampling and the env's first reset.

    The defaults are rl-zoo's tuned CartPole settings with double DQN and 3-step returns (see
    :mod:`deepgrad.rl.config`). DQN's greedy policy can swing between perfect and poor late in
    training; an :class:`~deepgrad.rl.callbacks.EvalCallback` keeps the best weights seen.
    Small networks run fastest on one thread: call ``dg.set_num_threads(1)`` (the
    ``deepgrad rl`` commands do).
    """

    def __init__(self, env: Any, network: Module | None = None, *, double: bool = True,
                 dueling: bool = False, n_step: int = 3, gamma: float = 0.99, lr: float = 2.3e-3,
                 buffer_size: int = 100_000, batch_size: int = 64, learning_starts: int = 1_000,
                 train_freq: int = 256, gradient_steps: int = 128, target_update: int = 128,
                 tau: float | None = None, exploration_fraction: float = 0.16,
                 exploration_initial_eps: float = 1.0, exploration_final_eps: float = 0.04,
                 loss: str = "huber", max_grad_norm: float = 10.0, prioritized: bool = False,
                 prioritized_alpha: float = 0.6, prioritized_beta: float = 0.4,
                 hidden: Sequence[int] | None = None, seed: int | None = None) -> None:
        from deepgrad.rl.wrappers import check_env, env_id, make_env

        if env is None:
            raise ValueError("DQN: needs an environment (an env or an id such as "
                             "'CartPole-v1'); to use a saved agent without one, DQN.load(path)")
        env = make_env(env)
        obs_shape, obs_dtype, num_actions = check_env(env, "DQN")
        settings = {k: v for k, v in locals().items() if k in DEFAULTS}
        settings["hidden"] = None if hidden is None else [int(h) for h in hidden]
        spec = {"env_id": env_id(env), "obs_shape": list(obs_shape),
                "obs_dtype": str(xp.dtype(obs_dtype)), "num_actions": num_actions}
        self._setup(spec, settings, network, seed, seed_init=True)
        self.env = env

    # ----------------------------------------------------------------- construction
    def _setup(self, spec: dict[str, Any], settings: dict[str, Any], network: Module | None,
               seed: int | None, seed_init: bool) -> None:
        check_settings(settings)
        self.settings = settings
        self.spec = spec
        self.seed = seed
        self.obs_shape = tuple(spec["obs_shape"])
        self.obs_dtype = xp.dtype(spec["obs_dtype"])
        self.num_actions = int(spec["num_actions"])
        self.custom_network = network is not None
        if network is not None and settings["dueling"]:
            raise ValueError("DQN: dueling=True builds a dueling head on the default network; "
                             "with your own network, give it a dueling head yourself")
        if seed is not None and seed_init:
            manual_seed(seed)
        self.q_net = network if network is not None else build_q_network(
            self.obs_shape, self.num_actions, settings["hidden"], settings["dueling"])
        if not isinstance(self.q_net, Module):
            raise TypeError(f"DQN: network must be a deepgrad Module; got "
                            f"{type(self.q_net).__name__}")
        self.target_net = copy.deepcopy(self.q_net)
        self.target_net.requires_grad_(False)
        self._parameters = list(self.q_net.parameters())
        self._flat = FlatParameters(self._parameters)
        self._target_flat = FlatParameters(list(self.target_net.parameters()))
        self._buffer_pairs = list(zip(self.target_net.buffers(), self.q_net.buffers()))
        self._scratch = xp.empty_like(self._flat.flat.data)
        self.optimizer = Adam([self._flat.flat], lr=settings["lr"])
        self.rng = xp.random.default_rng(seed)
        self._scale = 1 / 255 if self.obs_dtype == xp.uint8 else None
        self._one = xp.zeros((1, *self.obs_shape), dtype=xp.float32)  # predict's input
        self._no_grad = no_grad()
        self.env: Any = None
        self.buffer: ReplayBuffer | None = None
        self.exploration_rate = settings["exploration_initial_eps"]
        self.num_timesteps = 0
        self.num_gradient_steps = 0
        self.last_loss = math.nan
        self.episode_returns: list[float] = []
        self.episode_lengths: list[int] = []
        self.episode_end_steps: list[int] = []
        self.eval_history: list[tuple[int, float, float]] = []  # (step, mean, std)
        self._obs: Any = None  # the observation the running episode is at
        self._episode_return = 0.0
        self._episode_length = 0
        self._eval_env: Any = None
        self._check_network()

    def _check_network(self) -> None:
        with self._no_grad:
            out = self.q_net(Tensor._make(self._one))
        if not isinstance(out, Tensor) or out.shape != (1, self.num_actions):
            got = shape_str(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ShapeError(f"DQN: the Q-network must map a batch (N, "
                             f"{', '.join(map(str, self.obs_shape))}) to (N, {self.num_actions})"
                             f" action values; for one observation it gave {got}")

    def _make_buffer(self) -> ReplayBuffer:
        s = self.settings
        kind = PrioritizedReplayBuffer if s["prioritized"] else ReplayBuffer
        extra = {"alpha": s["prioritized_alpha"], "beta": s["prioritized_beta"]} \
            if s["prioritized"] else {}
        return kind(s["buffer_size"], self.obs_shape, self.obs_dtype, n_step=s["n_step"],
                    gamma=s["gamma"], seed=None if self.seed is None else self.seed + 1, **extra)

    # ----------------------------------------------------------------- acting
    def _inputs(self, obs: Any) -> Any:
        """Observations as the network's float32 input (uint8 scaled to [0, 1])."""
        if self._scale is not None:
            return xp.multiply(obs, xp.float32(self._scale), dtype=xp.float32)
        return obs if obs.dtype == xp.float32 else obs.astype(xp.float32)

    def _greedy(self, obs: Any) -> int:
        x = self._one
        if self._scale is not None:
            xp.multiply(obs, xp.float32(self._scale), out=x[0], dtype=xp.float32)
        else:
            x[0] = obs
        with self._no_grad:
            q = self.q_net(Tensor._make(x)).data
        return int(q[0].argmax())

    def predict(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one observation (an int), or actions for a batch (an int64 array).

        Args:
            obs: one observation of the env's shape, or a batch ``(N, *obs_shape)``.
            deterministic: the greedy action; False explores with the current epsilon.
        """
        obs = xp.asarray(obs)
        if obs.shape == self.obs_shape:
            if not deterministic and self.rng.random() < self.exploration_rate:
                return int(self.rng.integers(self.num_actions))
            return self._greedy(obs)
        if obs.shape[1:] != self.obs_shape:
            raise ShapeError(f"DQN.predict: expected one observation of shape "
                             f"{shape_str(self.obs_shape)} or a batch (N, "
                             f"{', '.join(map(str, self.obs_shape))}); got {shape_str(obs.shape)}")
        with self._no_grad:
            actions = self.q_net(Tensor._make(self._inputs(obs))).data.argmax(axis=1)
        if not deterministic:
            explore = self.rng.random(len(actions)) < self.exploration_rate
            actions[explore] = self.rng.integers(self.num_actions, size=int(explore.sum()))
        return actions

    # ----------------------------------------------------------------- learning
    def compute_targets(self, batch: Batch) -> Any:
        """The TD targets of a batch with the current networks (:func:`td_targets`)."""
        next_obs = Tensor._make(self._inputs(batch.next_obs))
        with self._no_grad:
            next_target = self.target_net(next_obs).data
            next_online = self.q_net(next_obs).data if self.settings["double"] else None
        return td_targets(batch.rewards, batch.discounts, next_target, next_online)

    def train_step(self, batch: Batch) -> float:
        """One gradient step on a batch; returns the loss. The target network is updated as
        the settings say (every ``target_update`` steps, or by Polyak averaging)."""
        s = self.settings
        targets = self.compute_targets(batch)
        q = self.q_net(Tensor._make(self._inputs(batch.obs)))
        rows = xp.arange(len(targets))
        # The loss compares all of q with a target equal to q except at the actions taken,
        # weighted 0 elsewhere: one fused loss node instead of a gather and a loss.
        full_target = q.data.copy()
        full_target[rows, batch.actions] = targets
        weight = xp.zeros_like(full_target)
        per_sample = 1.0 if batch.weights is None else batch.weights
        if s["loss"] == "huber":  # a weighted mean over all B * A elements: scale by A
            weight[rows, batch.actions] = per_sample * full_target.shape[1]
            loss = huber_loss(q, Tensor._make(full_target), weight=weight)
        else:  # mse divides by the weights' sum: a plain mean, or rescaled to one
            weight[rows, batch.actions] = per_sample
            loss = mse_loss(q, Tensor._make(full_target), weight=weight)
            if batch.weights is not None:
                loss = loss * float(batch.weights.sum() / len(targets))
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(
                f"DQN: the loss became {value} at gradient step {self.num_gradient_steps} (env "
                f"step {self.num_timesteps}); the Q-values diverged: lower lr, or keep the "
                "Huber loss and gradient clipping")
        for p in self._parameters:
            p.grad = None
        loss.backward()
        clip_grad_norm_(self._flat.gather_grads(), s["max_grad_norm"])
        self.optimizer.step()
        self._flat.changed()
        if isinstance(self.buffer, PrioritizedReplayBuffer) and batch.weights is not None:
            self.buffer.update_priorities(batch.indices, q.data[rows, batch.actions] - targets)
        self.num_gradient_steps += 1
        if s["tau"] is not None:
            self._polyak(s["tau"])
        elif self.num_gradient_steps % s["target_update"] == 0:
            self.sync_target()
        self.last_loss = value
        return value

    def sync_target(self) -> None:
        """Copy the online network's weights (and buffers) into the target network."""
        self._flat.rebind()
        self._target_flat.rebind()
        xp.copyto(self._target_flat.flat.data, self._flat.flat.data)
        for target, online in self._buffer_pairs:
            xp.copyto(target.data, online.data)

    def _polyak(self, tau: float) -> None:
        self._target_flat.rebind()
        target = self._target_flat.flat.data
        target *= 1 - tau
        target += xp.multiply(self._flat.flat.data, tau, out=self._scratch)
        for target_buffer, online in self._buffer_pairs:
            xp.copyto(target_buffer.data, online.data)

    def learn(self, total_steps: int, callbacks: Iterable[Any] = ()) -> DQN:
        """Act in the env for ``total_steps`` steps, storing transitions and training.

        Calling it again continues where the last call stopped (same episode, same buffer);
        the exploration schedule restarts over the new call's steps.

        Args:
            total_steps: env steps to take.
            callbacks: objects with any of ``on_learn_start(agent)``, ``on_step(agent)``
                (returning False stops learning), ``on_episode_end(agent)`` and
                ``on_learn_end(agent)`` (see :mod:`deepgrad.rl.callbacks`).

        Returns:
            self.
        """
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 0:
            raise ValueError(f"DQN.learn: total_steps must be an integer >= 0; got "
                             f"{total_steps!r}")
        env = self._require_env("learn")
        s = self.settings
        if self.buffer is None:
            self.buffer = self._make_buffer()
        callbacks = list(callbacks)
        hooks = {name: [getattr(c, name) for c in callbacks if hasattr(c, name)]
                 for name in ("on_learn_start", "on_step", "on_episode_end", "on_learn_end")}
        step_hooks, episode_hooks = hooks["on_step"], hooks["on_episode_end"]
        if self._obs is None:
            self._obs, _ = env.reset(seed=self.seed)
            env.action_space.seed(self.seed)
        for hook in hooks["on_learn_start"]:
            hook(self)
        eps0, eps1 = s["exploration_initial_eps"], s["exploration_final_eps"]
        decay_steps = max(1.0, s["exploration_fraction"] * total_steps)
        beta0 = s["prioritized_beta"]
        prioritized = isinstance(self.buffer, PrioritizedReplayBuffer)
        buffer, rng, num_actions = self.buffer, self.rng, self.num_actions
        train_freq, gradient_steps = s["train_freq"], s["gradient_steps"]
        batch_size, learning_starts = s["batch_size"], s["learning_starts"]
        obs = self._obs
        for t in range(total_steps):
            eps = self.exploration_rate = eps0 + (eps1 - eps0) * min(1.0, t / decay_steps)
            if self.num_timesteps < learning_starts or rng.random() < eps:
                action = int(rng.integers(num_actions))
            else:
                action = self._greedy(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            self._episode_return += float(reward)
            self._episode_length += 1
            self.num_timesteps += 1
            if terminated or truncated:
                self.episode_returns.append(self._episode_return)
                self.episode_lengths.append(self._episode_length)
                self.episode_end_steps.append(self.num_timesteps)
                self._episode_return, self._episode_length = 0.0, 0
                obs, _ = env.reset()
                self._obs = obs
                for hook in episode_hooks:
                    hook(self)
            else:
                obs = self._obs = next_obs
            if self.num_timesteps >= learning_starts and self.num_timesteps % train_freq == 0:
                if prioritized:
                    buffer.beta = beta0 + (1.0 - beta0) * (t + 1) / total_steps
                for _ in range(gradient_steps):
                    self.train_step(buffer.sample(batch_size))
            if step_hooks and any(hook(self) is False for hook in step_hooks):
                break
        for hook in hooks["on_learn_end"]:
            hook(self)
        return self

    # ----------------------------------------------------------------- evaluation
    def _require_env(self, what: str) -> Any:
        if self.env is None:
            raise ValueError(f"DQN.{what}: this agent has no environment (it was loaded without "
                             "one); pass env= to DQN.load")
        return self.env

    def _evaluation_env(self, env: Any) -> Any:
        from deepgrad.rl.wrappers import env_spec

        if env is None and self._eval_env is not None:
            return self._eval_env
        if env is None:
            source = (None if self.env is None else env_spec(self.env)) or self.spec["env_id"]
            if source is None:
                raise ValueError("DQN.evaluate: the agent's env was not made from a registered "
                                 "id, so no separate evaluation env can be made: pass env=")
        hint = "" if env is not None else (
            f" (made from the id {getattr(source, 'id', source)}: if the training env is "
            "wrapped, pass an evaluation env with the same wrappers as env=)")
        made = matching_env(source if env is None else env, self.obs_shape, self.num_actions,
                            "DQN.evaluate", hint)
        if env is None:
            self._eval_env = made
        return made

    def episode_rollouts(self, episodes: int = 10, env: Any = None, deterministic: bool = True,
                         seed: int | None = None) -> Any:
        """The returns of ``episodes`` full episodes (a float64 array), played in a separate
        evaluation env (``env``, or one made from the training env's id)."""
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"DQN.evaluate: episodes must be a positive integer; got "
                             f"{episodes!r}")
        return play_episodes(lambda obs: self.predict(obs, deterministic),
                             self._evaluation_env(env), episodes, seed)

    def evaluate(self, episodes: int = 10, env: Any = None, deterministic: bool = True,
                 seed: int | None = None) -> tuple[float, float]:
        """``(mean, std)`` of the returns of ``episodes`` episodes (greedy by default); see
        :meth:`episode_rollouts`."""
        returns = self.episode_rollouts(episodes, env, deterministic, seed)
        return float(returns.mean()), float(returns.std())

    # ----------------------------------------------------------------- files
    def config(self) -> dict[str, Any]:
        """Everything ``load`` needs besides the weights, as JSON-ready values."""
        return {**self.spec, "custom_network": self.custom_network,
                "settings": dict(self.settings), "seed": self.seed,
                "num_timesteps": self.num_timesteps, "num_episodes": len(self.episode_returns)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/config.json`` and ``path/model.safetensors`` (the Q-network's weights),
        each atomically; returns the directory. The replay buffer and optimizer are not saved."""
        return write_agent(path, self.config(), self.q_net.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike, env: Any = None,
             network: Module | None = None) -> DQN:
        """An agent saved by :meth:`save`: ready to ``predict`` (and ``evaluate`` through an env
        made from the saved id); with ``env`` it can also ``learn`` more.

        Args:
            path: the directory written by ``save`` (or its model.safetensors).
            env: the env to act in (an instance or id); None for none.
            network: the same architecture, for an agent saved with a custom network.
        """
        directory, config, arrays = read_agent(path)
        if config["custom_network"] and network is None:
            raise ValueError(f"DQN.load: {directory} was saved with a custom network; pass the "
                             "same architecture as network=")
        agent = cls.__new__(cls)
        spec = {k: config[k] for k in ("env_id", "obs_shape", "obs_dtype", "num_actions")}
        agent._setup(spec, {**DEFAULTS, **config["settings"]}, network, config.get("seed"),
                     seed_init=False)
        agent.q_net.load_state_dict(arrays)
        agent.sync_target()
        agent.num_timesteps = int(config.get("num_timesteps", 0))
        if env is not None:
            agent.env = matching_env(env, agent.obs_shape, agent.num_actions, "DQN.load")
        return agent

    def __repr__(self) -> str:
        return (f"DQN(env={self.spec['env_id']!r}, obs={shape_str(self.obs_shape)}, "
                f"actions={self.num_actions}, steps={self.num_timesteps})")


__all__ = ["DQN", "td_targets"]
