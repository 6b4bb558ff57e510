"""``dg.distributions``: Normal, Categorical and Bernoulli against ``torch.distributions``
(log_prob, entropy, cdf, kl_divergence and their gradients), sampling statistics, errors."""

import numpy as np
import pytest
from helpers import gradcheck_of, parity_of

import deepgrad as dg
from deepgrad import distributions as D

RNG = np.random.default_rng(0)
LOC, SCALE = RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2.0, (3, 4))
LOC2, SCALE2 = RNG.standard_normal((3, 4)), RNG.uniform(0.5, 2.0, (1, 4))
VALUE = RNG.standard_normal((2, 3, 4))
LOGITS, LOGITS2 = RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))
PROBS = RNG.uniform(0.1, 1.0, (3, 5))
INDICES = RNG.integers(0, 5, (2, 3))
P01, LOGIT01 = RNG.uniform(0.05, 0.95, (3, 4)), RNG.standard_normal((3, 4))
BITS = (RNG.random((3, 4)) < 0.5).astype(np.float64)


CASES = {
    "normal log_prob": (lambda m, loc, scale: m.distributions.Normal(loc, scale).log_prob(
        m.tensor(VALUE)), [LOC, SCALE]),
    "normal entropy": (lambda m, loc, scale: m.distributions.Normal(loc, scale).entropy(),
                       [LOC, SCALE2]),
    "normal cdf": (lambda m, loc, scale: m.distributions.Normal(loc, scale).cdf(m.tensor(VALUE)),
                   [LOC, SCALE]),
    "normal moments": (lambda m, loc, scale: (m.distributions.Normal(loc, scale).mean,
                                              m.distributions.Normal(loc, scale).variance),
                       [LOC, SCALE2]),
    "normal kl": (lambda m, a, b, c, d: m.distributions.kl_divergence(
        m.distributions.Normal(a, b), m.distributions.Normal(c, d)), [LOC, SCALE, LOC2, SCALE2]),
    "categorical logits log_prob": (lambda m, lg: m.distributions.Categorical(logits=lg).log_prob(
        m.tensor(INDICES)), [LOGITS]),
    "categorical probs log_prob": (lambda m, p: m.distributions.Categorical(probs=p).log_prob(
        m.tensor(INDICES)), [PROBS]),
    "categorical entropy": (lambda m, lg: m.distributions.Categorical(logits=lg).entropy(),
                            [LOGITS]),
    "categorical probs entropy": (lambda m, p: m.distributions.Categorical(probs=p).entropy(),
                                  [PROBS]),
    "categorical kl": (lambda m, a, b: m.distributions.kl_divergence(
        m.distributions.Categorical(logits=a), m.distributions.Categorical(logits=b)),
        [LOGITS, LOGITS2]),
    "bernoulli probs log_prob": (lambda m, p: m.distributions.Bernoulli(probs=p).log_prob(
        m.tensor(BITS)), [P01]),
    "bernoulli logits log_prob": (lambda m, lg: m.distributions.Bernoulli(logits=lg).log_prob(
        m.tensor(BITS)), [LOGIT01]),
    "bernoulli entropy": (lambda m, p: m.distributions.Bernoulli(probs=p).entropy(), [P01]),
    "bernoulli kl": (lambda m, a, b: m.distributions.kl_divergence(
        m.distributions.Bernoulli(probs=a), m.distributions.Bernoulli(logits=b)), [P01, LOGIT01]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(torch, name):
    parity_of(torch, *CASES[name])


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    gradcheck_of(*CASES[name])


def test_samples_follow_the_distributions_and_the_seed():
    dg.manual_seed(0)
    normal = D.Normal(dg.tensor([1.0, -2.0]), dg.tensor([0.5, 2.0]))
    draws = normal.sample((20000,)).numpy()
    assert draws.shape == (20000, 2) and draws.dtype == np.float32
    np.testing.assert_allclose(draws.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(draws.std(0), [0.5, 2.0], rtol=0.03)
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]])
    counts = D.Categorical(probs=dg.tensor(probs)).sample((20000,)).numpy()
    assert counts.shape == (20000, 2) and counts.dtype == np.int64
    for row in range(2):
        freq = np.bincount(counts[:, row], minlength=3) / 20000
        np.testing.assert_allclose(freq, probs[row], atol=0.015)
    bits = D.Bernoulli(probs=dg.tensor([0.2, 0.9])).sample((20000,)).numpy()
    np.testing.assert_allclose(bits.mean(0), [0.2, 0.9], atol=0.015)
    dg.manual_seed(5)
    first = D.Categorical(logits=dg.zeros(4)).sample(10).numpy()
    dg.manual_seed(5)
    np.testing.assert_array_equal(D.Categorical(logits=dg.zeros(4)).sample(10).numpy(), first)


def test_rsample_carries_gradients_and_sample_does_not():
    loc = dg.tensor([0.5, 1.5], requires_grad=True)
    scale = dg.tensor([1.0, 2.0], requires_grad=True)
    normal = D.Normal(loc, scale)
    assert not normal.sample().requires_grad
    z = normal.rsample((1000,))
    z.mean().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [0.5, 0.5], rtol=1e-4)  # float32 sums
    assert scale.grad is not None


def test_a_reinforce_step_with_a_categorical_policy():
    dg.manual_seed(0)
    policy = dg.nn.Linear(4, 3)
    states = dg.randn(16, 4)
    actions_dist = D.Categorical(logits=policy(states))
    actions = actions_dist.sample()
    rewards = (actions == 1).float()
    loss = -(actions_dist.log_prob(actions) * rewards).mean() - 0.01 * actions_dist.entropy().mean()
    loss.backward()
    assert policy.weight.grad is not None and actions.shape == (16,)


def test_bad_parameters_and_values_are_named():
    with pytest.raises(ValueError, match="scale must be > 0"):
        D.Normal(0.0, dg.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="either probs or logits, not both"):
        D.Categorical(probs=dg.ones(3), logits=dg.ones(3))
    with pytest.raises(ValueError, match="either probs or logits"):
        D.Bernoulli()
    with pytest.raises(ValueError, match=r"probs must be in \[0, 1\]"):
        D.Bernoulli(probs=dg.tensor([1.5]))
    with pytest.raises(dg.ShapeError, match=r"value of shape \(3\) does not broadcast"):
        D.Normal(dg.zeros(2), 1.0).log_prob(dg.zeros(3))
    with pytest.raises(ValueError, match=r"indices must be in \[0, 3\)"):
        D.Categorical(logits=dg.zeros(3)).log_prob(dg.tensor([3]))
    with pytest.raises(TypeError, match="integer category indices"):
        D.Categorical(logits=dg.zeros(3)).log_prob(dg.tensor([1.0]))
    with pytest.raises(NotImplementedError, match="got Normal and Bernoulli"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Bernoulli(probs=0.5))
