"""LocalResponseNorm, MaxUnpool2d, AlphaDropout and gumbel_softmax: parity with torch (values
and gradients), gradcheck, their statistics and errors."""

import numpy as np
import pytest
from helpers import gradcheck_of, parity_of

import deepgrad as dg
import deepgrad.nn.functional as F
from deepgrad import nn

X = np.random.default_rng(0).standard_normal((2, 5, 4, 6))

LRN = {
    "4-D size 3": (lambda m, x: m.nn.functional.local_response_norm(x, 3), [X]),
    "4-D even size, own constants": (lambda m, x: m.nn.LocalResponseNorm(4, 0.01, 0.5, 2.0)(x),
                                     [X]),
    "3-D": (lambda m, x: m.nn.functional.local_response_norm(x, 2, 1e-2), [X[..., 0]]),
    "size larger than channels": (lambda m, x: m.nn.functional.local_response_norm(x, 7), [X]),
}


@pytest.mark.parametrize("name", list(LRN))
def test_local_response_norm_matches_torch_and_gradcheck(torch, name):
    fn, arrays = LRN[name]
    parity_of(torch, fn, arrays)
    gradcheck_of(fn, [a[:1, :, :2] for a in arrays])


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 3, 0), (2, 1, 0),
                                                     ((2, 3), (2, 3), 0)])
def test_max_unpool_inverts_max_pool_as_torch(torch, kernel, stride, padding):
    def fn(m, x):
        pooled, indices = m.nn.functional.max_pool2d(x, kernel, stride, padding,
                                                     return_indices=True)
        return m.nn.MaxUnpool2d(kernel, stride, padding)(pooled * 2.0, indices)

    parity_of(torch, fn, [X])
    if stride != 1:  # overlapping windows: a value put back twice gets both gradients (torch's)
        gradcheck_of(fn, [X[:1, :2]])


def test_max_unpool_output_size_and_errors(torch):
    x = dg.tensor(X)
    pooled, indices = F.max_pool2d(x, 2, return_indices=True)
    pooled_t, indices_t = torch.nn.functional.max_pool2d(torch.tensor(X), 2, return_indices=True)
    ours = F.max_unpool2d(pooled, indices, 2, output_size=(5, 7))
    theirs = torch.nn.functional.max_unpool2d(pooled_t, indices_t, 2, output_size=(5, 7))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(dg.ShapeError, match="indices must be integers of the input's shape"):
        F.max_unpool2d(pooled, indices[:, :1], 2)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 4\)"):
        F.max_unpool2d(pooled, indices, 2, output_size=(2, 2))


def test_alpha_dropout_keeps_standardized_activations_standardized():
    dg.manual_seed(0)
    layer = nn.AlphaDropout(0.2)
    x = dg.randn(200_000, dtype=dg.float64)
    y = layer(x).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    # Each output is the affine image of its input (kept) or of SELU's saturation (dropped).
    saturation = 1.0507009873554804 * 1.6732632423543772
    a = 1 / np.sqrt((saturation ** 2 * 0.2 + 1) * 0.8)
    kept = np.isclose(y, a * x.numpy() + saturation * a * 0.2)
    dropped = np.isclose(y, saturation * a * (0.2 - 1))
    assert (kept | dropped).all() and abs(dropped.mean() - 0.2) < 0.01
    layer.eval()
    assert layer(x) is x
    assert F.alpha_dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="p must be between 0 and 1"):
        nn.AlphaDropout(1.5)


def test_alpha_dropout_gradient_is_the_kept_scale():
    dg.manual_seed(1)
    x = dg.randn(1000, dtype=dg.float64, requires_grad=True)
    y = F.alpha_dropout(x, 0.3, training=True)
    y.sum().backward()
    a = 1 / np.sqrt((1.0507009873554804 ** 2 * 1.6732632423543772 ** 2 * 0.3 + 1) * 0.7)
    assert set(np.round(np.unique(x.grad.numpy()), 12)) <= {0.0, round(a, 12)}


def test_gumbel_softmax_samples_the_categories_and_passes_the_soft_gradient():
    dg.manual_seed(0)
    logits = dg.tensor(np.log([[0.2, 0.5, 0.3]]).repeat(20000, axis=0), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.detach().numpy().sum(1), 1.0, rtol=1e-5)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    counts = hard.detach().numpy().sum(0) / 20000
    np.testing.assert_allclose(counts, [0.2, 0.5, 0.3], atol=0.015)  # the Gumbel-max trick
    assert set(np.unique(hard.detach().numpy())) == {0.0, 1.0}
    (hard * dg.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert np.abs(logits.grad.numpy()).sum() > 0  # straight through, into the logits
    with pytest.raises(ValueError, match="tau must be > 0"):
        F.gumbel_softmax(logits, tau=0)
