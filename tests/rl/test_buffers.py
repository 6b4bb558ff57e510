"""Replay buffers: wrap-around, uniform and prioritized sampling, the sum-tree against a
brute-force reference, n-step returns on hand-made trajectories, and the errors."""

import numpy as np
import pytest

from deepgrad.errors import ShapeError
from deepgrad.rl import PrioritizedReplayBuffer, ReplayBuffer, SumTree


def fill(buffer, count, start=0):
    """Add ``count`` one-step transitions whose every field encodes their number i."""
    for i in range(start, start + count):
        buffer.add(np.full(2, i, np.float32), i % 3, float(i), np.full(2, i + 0.5, np.float32),
                   terminated=i % 4 == 3)


def test_capacity_wraps_around_and_overwrites_the_oldest():
    buffer = ReplayBuffer(5, (2,), gamma=0.9)
    fill(buffer, 8)
    assert len(buffer) == 5 and buffer.position == 3
    # Slots 0-2 hold transitions 5-7 (overwritten), slots 3-4 still hold 3-4.
    np.testing.assert_array_equal(buffer.obs[:, 0], [5, 6, 7, 3, 4])
    np.testing.assert_array_equal(buffer.next_obs[:, 0], [5.5, 6.5, 7.5, 3.5, 4.5])
    np.testing.assert_array_equal(buffer.actions, [2, 0, 1, 0, 1])
    np.testing.assert_array_equal(buffer.rewards, [5, 6, 7, 3, 4])
    # terminated for i % 4 == 3 (discount 0), else gamma
    np.testing.assert_allclose(buffer.discounts, [0.9, 0.9, 0, 0, 0.9])


def test_uniform_sampling_is_uniform_and_keeps_transitions_together():
    buffer = ReplayBuffer(10, (2,), seed=0)
    fill(buffer, 13)  # wrapped: any slot-based bias would show
    counts = np.zeros(13)
    for _ in range(200):
        batch = buffer.sample(500)
        np.add.at(counts, batch.obs[:, 0].astype(int), 1)
        i = batch.obs[:, 0]
        np.testing.assert_array_equal(batch.next_obs[:, 0], i + 0.5)
        np.testing.assert_array_equal(batch.rewards, i)
        np.testing.assert_array_equal(batch.actions, i.astype(int) % 3)
        assert batch.weights is None
    assert counts[:3].sum() == 0  # overwritten
    expected = 200 * 500 / 10
    assert np.abs(counts[3:] - expected).max() < 0.05 * expected  # 5 sigma is ~2.2%


def test_sample_returns_fresh_arrays_of_the_stored_dtypes():
    buffer = ReplayBuffer(4, (3, 3), obs_dtype=np.uint8)
    buffer.add(np.ones((3, 3), np.uint8), 1, 1.0, np.zeros((3, 3), np.uint8), False)
    batch = buffer.sample(2)
    assert batch.obs.dtype == np.uint8 and batch.obs.shape == (2, 3, 3)
    assert batch.actions.dtype == np.int64 and batch.rewards.dtype == np.float32
    batch.obs[:] = 7
    assert buffer.obs[0, 0, 0] == 1


def test_n_step_returns_on_a_terminated_trajectory():
    gamma = 0.5
    buffer = ReplayBuffer(10, (1,), n_step=3, gamma=gamma)
    states = [np.array([s], np.float32) for s in range(5)]
    rewards = [1.0, 2.0, 3.0, 4.0]
    for t in range(4):
        buffer.add(states[t], t, rewards[t], states[t + 1], terminated=t == 3)
        # the first transition waits for its 3 rewards
        assert len(buffer) == (0 if t < 2 else 1 if t == 2 else 4)
    # t=0: 1 + .5*2 + .25*3, bootstrapping from s3 with gamma**3
    # t=1: 2 + .5*3 + .25*4, t=2: 3 + .5*4, t=3: 4; all end in the terminal s4: discount 0
    np.testing.assert_allclose(buffer.rewards[:4], [2.75, 4.5, 5.0, 4.0])
    np.testing.assert_allclose(buffer.discounts[:4], [0.125, 0, 0, 0])
    np.testing.assert_array_equal(buffer.obs[:4, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(buffer.next_obs[:4, 0], [3, 4, 4, 4])
    np.testing.assert_array_equal(buffer.actions[:4], [0, 1, 2, 3])


def test_n_step_returns_bootstrap_after_a_truncation_and_restart_per_episode():
    gamma = 0.5
    buffer = ReplayBuffer(10, (1,), n_step=2, gamma=gamma)
    s = [np.array([v], np.float32) for v in range(10)]
    buffer.add(s[0], 0, 1.0, s[1], False)
    buffer.add(s[1], 1, 2.0, s[2], False, truncated=True)  # a time limit: s2 has a future
    # a new episode: its first transition must not see the old episode's rewards
    buffer.add(s[5], 0, 10.0, s[6], False)
    buffer.add(s[6], 1, 20.0, s[7], True)
    np.testing.assert_allclose(buffer.rewards[:4], [2.0, 2.0, 20.0, 20.0])
    np.testing.assert_allclose(buffer.discounts[:4], [0.25, 0.5, 0, 0])
    np.testing.assert_array_equal(buffer.obs[:4, 0], [0, 1, 5, 6])
    np.testing.assert_array_equal(buffer.next_obs[:4, 0], [2, 2, 7, 7])


def test_one_step_discounts_keep_gamma_on_truncation():
    buffer = ReplayBuffer(4, (1,), gamma=0.9)
    buffer.add([0.0], 0, 1.0, [1.0], terminated=False, truncated=True)
    buffer.add([1.0], 0, 1.0, [2.0], terminated=True)
    np.testing.assert_allclose(buffer.discounts[:2], [0.9, 0.0])


def test_sum_tree_matches_a_brute_force_reference():
    rng = np.random.default_rng(0)
    for capacity in (1, 2, 7, 64, 100):
        tree = SumTree(capacity)
        values = np.zeros(capacity)
        for _ in range(30):
            indices = rng.integers(0, capacity, rng.integers(1, 9))  # repeats included
            new = rng.random(indices.size) * 10
            tree.update(indices, new)
            for i, v in zip(indices, new):  # the last value of a repeated index wins
                values[i] = v
            np.testing.assert_allclose(tree.total, values.sum(), rtol=1e-12)
            assert tree.min == values[values > 0].min()  # never-set leaves do not count
            np.testing.assert_array_equal(tree[np.arange(capacity)], values)
            prefix = rng.random(50) * values.sum()
            expected = np.searchsorted(np.cumsum(values), prefix, side="right")
            np.testing.assert_array_equal(tree.find(prefix), np.minimum(expected, capacity - 1))


def test_sum_tree_minimum_follows_overwrites_and_single_updates():
    tree = SumTree(5)
    tree.update([0, 1, 2], [3.0, 1.0, 2.0])
    assert tree.min == 1.0
    tree.update(1, 5.0)  # the scalar path
    assert tree.min == 2.0 and tree.total == 10.0
    tree.update(np.array([2, 2]), np.array([9.0, 4.0]))
    assert tree.min == 3.0 and tree.total == 12.0


def test_sum_tree_find_never_returns_an_empty_leaf():
    tree = SumTree(5)  # 8 leaves, 3 of them never filled
    tree.update(np.arange(5), np.full(5, 0.1))
    found = tree.find(np.array([0.0, tree.total * (1 - 1e-16), tree.total]))
    assert found.max() <= 4


def test_prioritized_sampling_is_proportional_to_priority_to_the_alpha():
    alpha = 0.7
    buffer = PrioritizedReplayBuffer(8, (2,), alpha=alpha, seed=1, eps=1e-9)
    fill(buffer, 4)
    errors = np.array([1.0, 2.0, 3.0, 4.0])
    buffer.update_priorities(np.arange(4), errors)
    counts = np.zeros(4)
    for _ in range(100):
        batch = buffer.sample(400, beta=0.5)
        np.add.at(counts, batch.indices, 1)
    expected = errors ** alpha / (errors ** alpha).sum()
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.01)
    # weights (min P / P(i))**beta: 1 for the least likely transition, smaller for the others
    batch = buffer.sample(400, beta=0.5)
    probabilities = expected[batch.indices]
    np.testing.assert_allclose(batch.weights, (expected.min() / probabilities) ** 0.5, rtol=1e-5)
    np.testing.assert_array_equal(batch.obs[:, 0], batch.indices)


def test_prioritized_new_transitions_get_the_largest_priority_and_alpha_zero_is_uniform():
    buffer = PrioritizedReplayBuffer(8, (2,), alpha=1.0)
    fill(buffer, 2)
    buffer.update_priorities([0, 1], [5.0, 0.5])
    fill(buffer, 1, start=2)
    np.testing.assert_allclose(buffer.tree[[0, 1, 2]], [5.0, 0.5, 5.0], atol=1e-5)  # + eps
    uniform = PrioritizedReplayBuffer(8, (2,), alpha=0.0, seed=0)
    fill(uniform, 8)
    uniform.update_priorities(np.arange(8), np.arange(8) * 100.0)
    batch = uniform.sample(64)
    np.testing.assert_allclose(batch.weights, 1.0)
    assert len(np.unique(batch.indices)) == 8  # stratified: every slice of the total is hit


def test_buffer_errors_say_what_is_wrong():
    buffer = ReplayBuffer(4, (3,))
    with pytest.raises(ShapeError, match=r"obs has shape \(2\), but the buffer stores "
                                         r"observations of shape \(3\)"):
        buffer.add(np.zeros(2), 0, 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="the buffer is empty"):
        buffer.sample(2)
    with pytest.raises(ValueError, match="capacity must be a positive integer; got 0"):
        ReplayBuffer(0, (3,))
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\]; got 1.5"):
        ReplayBuffer(4, (3,), gamma=1.5)
    prioritized = PrioritizedReplayBuffer(4, (3,))
    prioritized.add(np.zeros(3), 0, 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="TD errors hold nan"):
        prioritized.update_priorities([0], [np.nan])
    with pytest.raises(ShapeError, match="1 indices but 2 TD errors"):
        prioritized.update_priorities([0], [1.0, 2.0])


def test_buffers_work_without_gymnasium_and_agents_say_how_to_get_it():
    import subprocess
    import sys

    code = """
import sys
sys.modules["gymnasium"] = None  # as if it were not installed
import numpy as np
import deepgrad.rl as rl
buffer = rl.ReplayBuffer(4, (2,))
buffer.add(np.zeros(2), 0, 1.0, np.ones(2), False)
print(len(buffer), buffer.sample(3).obs.shape)
try:
    rl.DQN("CartPole-v1")
except ImportError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "1 (3, 2)"
    assert lines[1] == ("deepgrad.rl needs gymnasium for environments; install with pip "
                        "install 'deepgrad[rl]'")
