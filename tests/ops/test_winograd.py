"""3x3 convolutions on the Winograd path (deepgrad.ops.winograd): when it is taken, gradcheck,
parity with torch (odd sizes, asymmetric padding, each gradient alone) and in-place checks."""

import numpy as np
import pytest
from helpers import check_parity

import deepgrad as dg
from deepgrad.ops import winograd
from deepgrad.ops._kernels import compiled, use_compiled
from deepgrad.ops.conv import conv2d

pytestmark = pytest.mark.skipif(
    compiled() is None, reason="numba is not installed: the Winograd path runs on the compiled "
                               "loops of `pip install 'deepgrad[fast]'`")


@pytest.fixture
def any_size(monkeypatch):
    """The path for every size and channel count, so that small cases exercise it."""
    monkeypatch.setattr(winograd, "MIN_SIZE", 1)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_OUTPUTS", 1)
    monkeypatch.setattr(winograd, "_tiles_fit", lambda side: True)


@pytest.fixture
def small_batches(monkeypatch):
    """The path for batches of a few images, so that real layer sizes stay quick to test."""
    monkeypatch.setattr(winograd, "MIN_OUTPUTS", 1)


@pytest.fixture
def calls(monkeypatch):
    """How many convolutions ran on the Winograd path."""
    count = [0]
    forward = winograd.forward

    def counted(*args):
        count[0] += 1
        return forward(*args)

    monkeypatch.setattr(winograd, "forward", counted)
    return count


@pytest.mark.parametrize(("x_shape", "w_shape", "options", "taken"), [
    ((2, 16, 28, 28), (16, 16, 3, 3), {"padding": 1}, True),
    ((16, 8, 12, 13), (8, 8, 3, 3), {}, True),  # unpadded: output 10 x 11, odd width
    ((1, 64, 14, 14), (64, 64, 3, 3), {"padding": 1}, False),  # too few outputs: one image
    ((200, 16, 3, 3), (16, 16, 3, 3), {"padding": 1}, False),  # too small an output
    ((64, 16, 5, 6), (16, 16, 3, 3), {"padding": 1}, False),  # 5 rows: tiles over 8
    ((64, 16, 6, 9), (16, 16, 3, 3), {"padding": 1}, True),  # tiles over 8 and 12
    ((2, 4, 28, 28), (16, 4, 3, 3), {"padding": 1}, False),  # too few input channels
    ((2, 16, 28, 28), (16, 16, 3, 3), {"padding": 1, "stride": 2}, False),
    ((2, 16, 28, 28), (16, 16, 3, 3), {"padding": 2, "dilation": 2}, False),
    ((2, 16, 28, 28), (16, 8, 3, 3), {"padding": 1, "groups": 2}, False),
    ((2, 16, 28, 28), (16, 16, 5, 5), {"padding": 2}, False),
])
def test_which_convolutions_take_the_path(calls, x_shape, w_shape, options, taken):
    x, w = dg.randn(*x_shape), dg.randn(*w_shape)
    conv2d(x, w, **options)
    assert calls[0] == (1 if taken else 0)
    with use_compiled(False):
        conv2d(x, w, **options)  # without the compiled loops: im2col
    assert calls[0] == (1 if taken else 0)


@pytest.mark.parametrize(("x_shape", "padding", "bias"), [
    ((1, 2, 4, 4), 1, True),
    ((2, 3, 5, 6), 1, False),  # odd output height: the last row of tiles half outside
    ((1, 2, 6, 5), 0, True),  # unpadded, odd width
    ((1, 2, 3, 3), (2, 1), True),  # more padding than the kernel's reach in one dim
    ((1, 2, 1, 1), 1, True),  # one pixel
])
def test_gradcheck(any_size, calls, x_shape, padding, bias):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((3, x_shape[1], 3, 3))]
    if bias:
        arrays.append(rng.standard_normal(3))
    leaves = [dg.tensor(a, requires_grad=True) for a in arrays]
    assert dg.gradcheck(lambda x, w, b=None: conv2d(x, w, b, padding=padding), leaves)
    assert calls[0] > 0


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("x_shape", "c_out", "padding"), [
    ((3, 16, 28, 28), 16, 1),  # a ResNet's first stage
    ((4, 32, 14, 14), 64, 1),  # the flagship CNN's second convolution
    ((2, 8, 15, 13), 9, 1),  # odd sizes
    ((2, 9, 16, 12), 8, 0),
    ((2, 8, 13, 14), 8, (2, 1)),
])
@pytest.mark.parametrize("needs", ["both", "input", "weight"])
def test_parity(torch, calls, dtype, x_shape, c_out, padding, needs):
    rng = np.random.default_rng(sum(x_shape))
    arrays = [rng.standard_normal(x_shape).astype(dtype),
              rng.standard_normal((c_out, x_shape[1], 3, 3)).astype(dtype),
              rng.standard_normal(c_out).astype(dtype)]
    requires = {"both": [True, True, True], "input": [True, False, False],
                "weight": [False, True, True]}[needs]
    check_parity(torch, lambda x, w, b: conv2d(x, w, b, padding=padding),
                 lambda x, w, b: torch.nn.functional.conv2d(x, w, b, padding=padding), arrays,
                 requires_grad=requires)
    assert calls[0] == 1


@pytest.mark.usefixtures("small_batches")
def test_matches_the_im2col_path_in_float64():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 12, 14, 14))
    w = rng.standard_normal((10, 12, 3, 3))
    results = []
    for enabled in (True, False):
        with use_compiled(enabled):
            xt, wt = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True)
            y = conv2d(xt, wt, padding=1)
            (y * y).sum().backward()
            results.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("small_batches")
def test_changing_the_input_in_place_is_detected(calls):
    x = dg.randn(2, 8, 12, 12).permute(1, 0, 2, 3).detach()  # channel-major: no padding copy
    x = x.permute(1, 0, 2, 3).requires_grad_()
    w = dg.randn(8, 8, 3, 3, requires_grad=True)
    y = conv2d(x, w)
    assert calls[0] == 1
    with dg.no_grad():
        x += 1.0
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


@pytest.mark.usefixtures("any_size")
def test_blocks_on_two_threads_give_the_one_thread_results(monkeypatch, calls):
    from deepgrad import parallel

    monkeypatch.setattr(winograd, "_BLOCK_BYTES", 1)  # a block per sample
    monkeypatch.setattr(parallel, "PARALLEL_ELEMENTS", 1)  # every convolution shared out
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((5, 3, 6, 7)), rng.standard_normal((4, 3, 3, 3))
    g = rng.standard_normal((5, 4, 6, 7))
    results = []
    for threads in (1, 2):
        with dg.limit_threads(threads):
            xt, wt = dg.tensor(x, requires_grad=True), dg.tensor(w, requires_grad=True)
            y = conv2d(xt, wt, padding=1)
            y.backward(dg.tensor(g))
            results.append((y.numpy(), xt.grad.numpy(), wt.grad.numpy()))
    assert calls[0] == 2
    for ours, theirs in zip(*results):
        # The weight gradient's partial sums per thread are added in another order.
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
