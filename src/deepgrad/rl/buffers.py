"""Experience replay: a preallocated circular buffer of transitions, sampled uniformly
(``ReplayBuffer``) or in proportion to priorities kept in a sum-tree (``PrioritizedReplayBuffer``).

Both store n-step transitions: with ``n_step = n`` the buffer holds, for every step t,
``(s_t, a_t, R_t, s_{t+k}, discount)`` with ``R_t = r_t + gamma r_{t+1} + ... + gamma^(k-1)
r_{t+k-1}``, where ``k = n`` or fewer when the episode ended earlier, and ``discount = gamma^k``,
or 0 when the episode *terminated* within those steps. The TD target is then uniformly
``R + discount * Q(s', a')``. A *truncated* episode (a time limit) keeps its discount: its last
state still has a future, and bootstrapping from it is what keeps CartPole's value at 500 steps
from collapsing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str


class Batch(NamedTuple):
    """A sample of transitions; the arrays are fresh copies, of length ``batch_size``.

    Attributes:
        obs: (B, *obs_shape) observations, in the buffer's dtype.
        actions: (B,) int64 actions taken.
        rewards: (B,) float32 n-step discounted rewards.
        next_obs: (B, *obs_shape) observations n steps later (or at the episode's end).
        discounts: (B,) float32 ``gamma**k``, 0 where the episode terminated.
        indices: (B,) positions in the buffer (to update priorities).
        weights: (B,) float32 importance-sampling weights in (0, 1] (prioritized buffer), or None.
    """

    obs: Any
    actions: Any
    rewards: Any
    next_obs: Any
    discounts: Any
    indices: Any
    weights: Any = None


def _positive_int(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer; got {value!r}")
    return int(value)


def _fraction(owner: str, name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{owner}: {name} must be a number in [{low:g}, {high:g}]; got {value!r}")
    return float(value)


class ReplayBuffer:
    """Transitions in preallocated arrays; the oldest are overwritten once ``capacity`` is full.

    Args:
        capacity: the number of transitions kept.
        obs_shape: the shape of one observation.
        obs_dtype: the dtype observations are stored in (uint8 keeps images 4x smaller).
        n_step: the number of rewards summed into each transition (1: plain one-step TD).
        gamma: the discount factor used for the n-step sums and the stored discounts.
        seed: seeds the sampling generator.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any = xp.float32,
                 n_step: int = 1, gamma: float = 0.99, seed: int | None = None) -> None:
        name = type(self).__name__
        self.capacity = _positive_int(name, "capacity", capacity)
        self.n_step = _positive_int(name, "n_step", n_step)
        self.gamma = _fraction(name, "gamma", gamma, 0.0, 1.0)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.obs = xp.empty((self.capacity, *self.obs_shape), dtype=obs_dtype)
        self.next_obs = xp.empty_like(self.obs)
        self.actions = xp.empty(self.capacity, dtype=xp.int64)
        self.rewards = xp.empty(self.capacity, dtype=xp.float32)
        self.discounts = xp.empty(self.capacity, dtype=xp.float32)
        self.rng = xp.random.default_rng(seed)
        self.position = 0  # the slot the next transition goes to
        self.size = 0
        # The last n-1 steps of the running episode, waiting for their n-step return.
        self._pending_obs = xp.empty((self.n_step, *self.obs_shape), dtype=obs_dtype)
        self._pending_actions: list[int] = []
        self._pending_rewards: list[float] = []
        self._pending_start = 0  # ring index of the oldest pending step

    def __len__(self) -> int:
        return self.size

    def _check_obs(self, what: str, obs: Any) -> Any:
        obs = xp.asarray(obs)
        if obs.shape != self.obs_shape:
            raise ShapeError(f"{type(self).__name__}.add: {what} has shape {shape_str(obs.shape)}, "
                             f"but the buffer stores observations of shape "
                             f"{shape_str(self.obs_shape)}")
        return obs

    def add(self, obs: Any, action: int, reward: float, next_obs: Any, terminated: bool,
            truncated: bool = False) -> None:
        """Record one environment step (as returned by ``env.step``); with ``n_step > 1`` a
        transition is stored once its n rewards are known, or when the episode ends."""
        obs = self._check_obs("obs", obs)
        next_obs = self._check_obs("next_obs", next_obs)
        if self.n_step == 1:
            self._store(obs, action, reward, next_obs, 0.0 if terminated else self.gamma)
            return
        n = self.n_step
        count = len(self._pending_actions)
        self._pending_obs[(self._pending_start + count) % n] = obs
        self._pending_actions.append(int(action))
        self._pending_rewards.append(float(reward))
        if terminated or truncated:
            while self._pending_actions:
                self._emit(next_obs, terminated)
            self._pending_start = 0
        elif count + 1 == n:
            self._emit(next_obs, False)

    def _emit(self, next_obs: Any, terminated: bool) -> None:
        """Store the oldest pending step with the rewards that follow it, and drop it."""
        rewards = self._pending_rewards
        ret = 0.0
        for reward in reversed(rewards):
            ret = reward + self.gamma * ret
        discount = 0.0 if terminated else self.gamma ** len(rewards)
        self._store(self._pending_obs[self._pending_start], self._pending_actions[0], ret,
                    next_obs, discount)
        del self._pending_actions[0], rewards[0]
        self._pending_start = (self._pending_start + 1) % self.n_step

    def _store(self, obs: Any, action: int, reward: float, next_obs: Any,
               discount: float) -> int:
        i = self.position
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.actions[i] = action
        self.rewards[i] = reward
        self.discounts[i] = discount
        self.position = (i + 1) % self.capacity
        if self.size < self.capacity:
            self.size += 1
        return i

    def _check_sample(self, batch_size: int) -> None:
        if self.size == 0:
            raise ValueError(f"{type(self).__name__}.sample: the buffer is empty; add "
                             "transitions first")
        _positive_int(f"{type(self).__name__}.sample", "batch_size", batch_size)

    def _gather(self, indices: Any, weights: Any = None) -> Batch:
        return Batch(self.obs[indices], self.actions[indices], self.rewards[indices],
                     self.next_obs[indices], self.discounts[indices], indices, weights)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions drawn uniformly, with replacement."""
        self._check_sample(batch_size)
        return self._gather(self.rng.integers(0, self.size, batch_size))


class SumTree:
    """Non-negative values at ``capacity`` leaves, with their sum and minimum kept in binary
    trees, so that updating k values and drawing k leaves in proportion to their values both
    cost O(k log capacity) NumPy work.

    Args:
        capacity: the number of leaves.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = _positive_int("SumTree", "capacity", capacity)
        self._leaves = 1 << (self.capacity - 1).bit_length()  # a power of two >= capacity
        self._depth = self._leaves.bit_length() - 1
        self._sum = xp.zeros(2 * self._leaves)  # node i has children 2i and 2i+1; root is 1
        self._min = xp.full(2 * self._leaves, xp.inf)

    @property
    def total(self) -> float:
        """The sum of all values."""
        return float(self._sum[1])

    @property
    def min(self) -> float:
        """The smallest value set so far (inf before any)."""
        return float(self._min[1])

    def __getitem__(self, indices: Any) -> Any:
        return self._sum[xp.asarray(indices) + self._leaves]

    def update(self, indices: Any, values: Any) -> None:
        """Set the leaves ``indices`` to ``values`` (>= 0); a repeated index keeps its last
        value."""
        nodes = xp.asarray(indices, dtype=xp.intp).reshape(-1) + self._leaves
        values = xp.asarray(values, dtype=xp.float64).reshape(-1)
        if nodes.size == 0:
            return
        self._sum[nodes] = values
        self._min[nodes] = values
        total, low = self._sum, self._min
        if nodes.size == 1:  # one leaf (every add): a scalar walk up is cheaper than arrays
            node = int(nodes[0]) >> 1
            while node:
                left = node << 1
                total[node] = total[left] + total[left + 1]
                low[node] = min(low[left], low[left + 1])
                node >>= 1
            return
        nodes = xp.unique(nodes >> 1)
        for _ in range(self._depth):
            left = nodes << 1
            total[nodes] = total[left] + total[left + 1]
            low[nodes] = xp.minimum(low[left], low[left + 1])
            parents = nodes >> 1
            # nodes is sorted, so is parents: drop repeats without another sort.
            keep = xp.empty(parents.size, dtype=bool)
            keep[0] = True
            xp.not_equal(parents[1:], parents[:-1], out=keep[1:])
            nodes = parents[keep]

    def find(self, prefix_sums: Any) -> Any:
        """For each value v in [0, total), the leaf i where the running sum of the values first
        exceeds v: leaf i is found for a uniform v with probability value_i / total."""
        v = xp.array(prefix_sums, dtype=xp.float64).reshape(-1)
        nodes = xp.ones(v.shape, dtype=xp.intp)
        total = self._sum
        for _ in range(self._depth):
            nodes <<= 1
            left = total[nodes]
            right = v >= left
            v -= left * right
            nodes += right
        # Rounding can step past the last filled leaf into the empty ones: pull it back.
        return xp.minimum(nodes - self._leaves, self.capacity - 1)


class PrioritizedReplayBuffer(ReplayBuffer):
    """Prioritized experience replay (Schaul et al., 2016): transition i is drawn with
    probability ``p_i**alpha / sum_j p_j**alpha``, where ``p_i`` is its last absolute TD error
    (plus ``eps``); new transitions get the largest priority seen so far, so each is replayed
    at least once soon. The bias this introduces is corrected by the importance-sampling weights
    ``(min_j P(j) / P(i))**beta`` of each sample (``beta`` annealed towards 1 by the agent).

    Args:
        capacity, obs_shape, obs_dtype, n_step, gamma, seed: as :class:`ReplayBuffer`.
        alpha: how strongly priorities skew sampling (0: uniform).
        beta: the importance-sampling exponent used when ``sample`` is not given one.
        eps: added to every absolute TD error, so that no transition is never drawn.
    """

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: Any = xp.float32,
                 n_step: int = 1, gamma: float = 0.99, seed: int | None = None,
                 alpha: float = 0.6, beta: float = 0.4, eps: float = 1e-6) -> None:
        super().__init__(capacity, obs_shape, obs_dtype, n_step, gamma, seed)
        name = type(self).__name__
        self.alpha = _fraction(name, "alpha", alpha, 0.0, 1.0)
        self.beta = _fraction(name, "beta", beta, 0.0, 1.0)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"{name}: eps must be a number > 0; got {eps!r}")
        self.eps = float(eps)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0

    def _store(self, obs: Any, action: int, reward: float, next_obs: Any,
               discount: float) -> int:
        i = super()._store(obs, action, reward, next_obs, discount)
        self.tree.update(i, self.max_priority ** self.alpha)
        return i

    def sample(self, batch_size: int, beta: float | None = None) -> Batch:
        """``batch_size`` transitions drawn in proportion to their priorities (one from each of
        ``batch_size`` equal slices of the total, as in the paper), with their weights."""
        self._check_sample(batch_size)
        beta = self.beta if beta is None else _fraction(
            f"{type(self).__name__}.sample", "beta", beta, 0.0, 1.0)
        total = self.tree.total
        segment = total / batch_size
        points = (xp.arange(batch_size) + self.rng.random(batch_size)) * segment
        indices = self.tree.find(points)
        # The weight (N P(i))**-beta divided by the largest, (N min P)**-beta, is this ratio.
        weights = (self.tree.min / self.tree[indices]) ** beta
        return self._gather(indices, weights.astype(xp.float32))

    def update_priorities(self, indices: Any, td_errors: Any) -> None:
        """Set the priorities of the sampled ``indices`` from their new absolute TD errors."""
        errors = xp.abs(xp.asarray(td_errors, dtype=xp.float64)).reshape(-1)
        indices = xp.asarray(indices).reshape(-1)
        if errors.shape != indices.shape:
            raise ShapeError(f"{type(self).__name__}.update_priorities: {indices.size} indices "
                             f"but {errors.size} TD errors")
        if not xp.isfinite(errors).all():
            raise ValueError(f"{type(self).__name__}.update_priorities: the TD errors hold nan "
                             "or inf (the Q-network diverged)")
        priorities = errors + self.eps
        self.max_priority = max(self.max_priority, float(priorities.max(initial=0.0)))
        self.tree.update(indices, priorities ** self.alpha)


__all__ = ["Batch", "PrioritizedReplayBuffer", "ReplayBuffer", "SumTree"]
