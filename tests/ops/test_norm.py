"""batch_norm, layer_norm, group_norm: gradcheck, parity with torch (outputs, gradients, running
statistics), modes and error messages."""

import numpy as np
import pytest
from helpers import assert_close, check_parity

import deepgrad as dg
from deepgrad.ops.norm import batch_norm, group_norm, layer_norm

BN_SHAPES = [(5, 3), (3, 2, 4), (2, 3, 2, 3)]
AFFINE = ["none", "weight", "bias", "both"]
KEYS = {"none": (), "weight": ("weight",), "bias": ("bias",), "both": ("weight", "bias")}


def _params(channels, affine, rng, dtype=np.float64):
    """(weight, bias) arrays, None where ``affine`` leaves them out."""
    weight = rng.standard_normal(channels).astype(dtype) if affine in ("weight", "both") else None
    bias = rng.standard_normal(channels).astype(dtype) if affine in ("bias", "both") else None
    return weight, bias


def _leaf(a):
    return None if a is None else dg.tensor(a, requires_grad=True)


def _running(channels, rng, dtype=np.float64):
    return rng.standard_normal(channels).astype(dtype), (rng.random(channels) + 0.5).astype(dtype)


# ------------------------------------------------------------------------------ batch norm
@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_gradcheck(shape, training, affine):
    rng = np.random.default_rng(0)
    x = dg.tensor(rng.standard_normal(shape), requires_grad=True)
    weight, bias = (_leaf(a) for a in _params(shape[1], affine, rng))
    mean, var = (dg.tensor(a) for a in _running(shape[1], rng))
    assert dg.gradcheck(lambda x, w, b: batch_norm(x, mean, var, w, b, training=training),
                        (x, weight, bias))


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_non_contiguous_input(training):
    rng = np.random.default_rng(1)
    x = dg.from_numpy(rng.standard_normal((3, 2, 4, 2)).transpose(3, 1, 2, 0)).requires_grad_()
    assert not x.numpy().flags.c_contiguous
    weight, bias = (_leaf(a) for a in _params(2, "both", rng))
    mean, var = (dg.tensor(a) for a in _running(2, rng))
    assert dg.gradcheck(lambda x, w, b: batch_norm(x, mean, var, w, b, training=training),
                        (x, weight, bias))


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_gradcheck_without_running_statistics():
    x = dg.randn(4, 3, 2, dtype=dg.float64, requires_grad=True)
    w = dg.randn(3, dtype=dg.float64, requires_grad=True)
    assert dg.gradcheck(lambda x, w: batch_norm(x, None, None, w, training=True), (x, w))


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize("seed", range(3))
def test_batch_norm_parity_with_torch(torch, seed, affine, training, dtype):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 9)), int(rng.integers(1, 6)),
             *(int(s) for s in rng.integers(1, 6, size=seed)))
    # An offset and spread per channel, so that the statistics matter.
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    weight, bias = _params(shape[1], affine, rng, dtype)
    mean, var = _running(shape[1], rng, dtype)
    dg_stats = [dg.tensor(mean), dg.tensor(var)]
    torch_stats = [torch.tensor(mean), torch.tensor(var)]
    keys = KEYS[affine]
    arrays = [x, *(a for a in (weight, bias) if a is not None)]
    check_parity(torch,
                 lambda x, *params: batch_norm(x, *dg_stats, **dict(zip(keys, params)),
                                               training=training, momentum=0.3),
                 lambda x, *params: torch.nn.functional.batch_norm(
                     x, *torch_stats, **dict(zip(keys, params)), training=training,
                     momentum=0.3),
                 arrays)
    assert_close(dg_stats[0], torch_stats[0], dtype, "running_mean")
    assert_close(dg_stats[1], torch_stats[1], dtype, "running_var")


@pytest.mark.parametrize("needs", [(False, True, True), (True, False, False),
                                   (False, False, True)])
@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradients_only_where_needed(torch, needs, training):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((4, 3, 5)), rng.standard_normal(3), rng.standard_normal(3)]
    mean, var = _running(3, rng)
    check_parity(torch,
                 lambda x, w, b: batch_norm(x, dg.tensor(mean), dg.tensor(var), w, b,
                                            training=training),
                 lambda x, w, b: torch.nn.functional.batch_norm(
                     x, torch.tensor(mean), torch.tensor(var), w, b, training=training),
                 arrays, requires_grad=needs)


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batch_norm_running_statistics_after_several_steps(torch, dtype):
    rng = np.random.default_rng(4)
    dg_stats = [dg.zeros(6, dtype=dtype), dg.ones(6, dtype=dtype)]
    torch_stats = [torch.zeros(6, dtype=getattr(torch, np.dtype(dtype).name)),
                   torch.ones(6, dtype=getattr(torch, np.dtype(dtype).name))]
    weight = rng.standard_normal(6).astype(dtype)
    for step in range(4):
        x = (rng.standard_normal((8, 6, 3, 3)) * (step + 1) + step).astype(dtype)
        y = batch_norm(dg.tensor(x), *dg_stats, dg.tensor(weight), training=True, momentum=0.2)
        ty = torch.nn.functional.batch_norm(torch.tensor(x), *torch_stats, torch.tensor(weight),
                                            training=True, momentum=0.2)
        assert_close(y, ty, dtype, f"output of step {step}")
    assert_close(dg_stats[0], torch_stats[0], dtype, "running_mean")
    assert_close(dg_stats[1], torch_stats[1], dtype, "running_var")
    x = rng.standard_normal((5, 6, 2, 2)).astype(dtype)
    assert_close(batch_norm(dg.tensor(x), *dg_stats, dg.tensor(weight)),
                 torch.nn.functional.batch_norm(torch.tensor(x), *torch_stats,
                                                torch.tensor(weight)), dtype, "eval output")


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_running_update_is_in_place_and_not_recorded():
    mean, var = dg.zeros(3), dg.ones(3)
    mean_array, var_array = mean.numpy(), var.numpy()
    x = dg.randn(16, 3, requires_grad=True)
    y = batch_norm(x, mean, var, training=True)
    assert mean.numpy() is mean_array and var.numpy() is var_array
    assert not mean.requires_grad and mean.grad_fn is None and mean._version == 1
    expected = 0.1 * x.numpy().mean(axis=0)
    np.testing.assert_allclose(mean.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(var.numpy(), 0.9 + 0.1 * x.numpy().var(axis=0, ddof=1),
                               rtol=1e-5)
    assert y.dtype == dg.float32 and y.grad_fn is not None


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_eval_leaves_running_statistics_alone():
    mean, var = dg.tensor([1.0, -1.0]), dg.tensor([4.0, 0.25])
    x = dg.tensor([[3.0, 0.0], [1.0, -1.5]])
    y = batch_norm(x, mean, var, eps=0.0)
    np.testing.assert_allclose(y.numpy(), [[1.0, 2.0], [0.0, -1.0]])
    np.testing.assert_array_equal(mean.numpy(), [1.0, -1.0])
    np.testing.assert_array_equal(var.numpy(), [4.0, 0.25])


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_float32_stays_float32_and_no_grad_runs():
    x = dg.randn(4, 3, 2, 2)
    with dg.no_grad():
        y = batch_norm(x, dg.zeros(3), dg.ones(3), dg.ones(3), dg.zeros(3), training=True)
    assert y.dtype == dg.float32 and y.grad_fn is None
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-6)


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_large_input_parity_with_torch(torch, training, dtype):
    # Above a million elements the passes run on worker threads and reuse pooled buffers.
    rng = np.random.default_rng(11)
    arrays = [(rng.standard_normal((6, 4, 210, 210)) * 2 + 3).astype(dtype),
              rng.standard_normal(4).astype(dtype), rng.standard_normal(4).astype(dtype)]
    mean, var = _running(4, rng, dtype)
    dg_stats, torch_stats = [dg.tensor(mean), dg.tensor(var)], [torch.tensor(mean),
                                                               torch.tensor(var)]
    check_parity(torch, lambda x, w, b: batch_norm(x, *dg_stats, w, b, training=training),
                 lambda x, w, b: torch.nn.functional.batch_norm(x, *torch_stats, w, b,
                                                                training=training),
                 arrays)
    assert_close(dg_stats[0], torch_stats[0], dtype, "running_mean")
    assert_close(dg_stats[1], torch_stats[1], dtype, "running_var")


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_pooled_buffers_never_alias_live_arrays(torch):
    rng = np.random.default_rng(12)
    shape = (4, 4, 256, 256)
    x_array = rng.standard_normal(shape).astype(np.float32)
    x, tx = dg.tensor(x_array, requires_grad=True), torch.tensor(x_array, requires_grad=True)
    outputs = []
    for step in range(3):
        g = rng.standard_normal(shape).astype(np.float32)
        y = batch_norm(x * float(step + 1), None, None, training=True)
        y.backward(dg.tensor(g))  # x.grad accumulates: the previous gradient stays alive
        ty = torch.nn.functional.batch_norm(tx * float(step + 1), None, None, training=True)
        ty.backward(torch.tensor(g))
        outputs.append((y, ty.detach().numpy()))
    for i, (y, expected) in enumerate(outputs):
        assert_close(y, expected, np.float32, f"output {i}")
        assert not np.shares_memory(y.numpy(), x.grad.numpy())
    assert not np.shares_memory(outputs[0][0].numpy(), outputs[1][0].numpy())
    assert_close(x.grad, tx.grad, np.float32, "accumulated gradient")


@pytest.mark.usefixtures("both_kernels")
def test_batch_norm_errors():
    x = dg.randn(4, 32, 2, 2)
    with pytest.raises(dg.ShapeError, match=r"batch_norm: running_mean has shape \(16\) but the "
                                            r"input \(4, 32, 2, 2\) has 32 channels"):
        batch_norm(x, dg.zeros(16), dg.ones(32))
    with pytest.raises(dg.ShapeError, match=r"batch_norm: weight has shape \(3\) but the input"):
        batch_norm(x, None, None, dg.ones(3), training=True)
    with pytest.raises(dg.ShapeError, match=r"batch_norm: expects input \(N, C\) or \(N, C, \*\); "
                                            r"got \(5\)"):
        batch_norm(dg.randn(5), None, None, training=True)
    with pytest.raises(ValueError, match="must be given in evaluation mode"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="give both running_mean and running_var, or neither"):
        batch_norm(x, dg.zeros(32), None, training=True)
    with pytest.raises(ValueError, match="momentum must be a number; got None"):
        batch_norm(x, dg.zeros(32), dg.ones(32), training=True, momentum=None)
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training; got "
                                         r"input \(1, 32\)"):
        batch_norm(dg.randn(1, 32), None, None, training=True)
    with pytest.raises(TypeError, match="batch_norm: bias has dtype float64 but the input has "
                                        "float32"):
        batch_norm(x, None, None, None, dg.zeros(32, dtype=dg.float64), training=True)


# ------------------------------------------------------------------------------ layer norm
LN_CASES = [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 2, 2, 3), (2, 3)), ((6,), [6])]


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize(("shape", "normalized_shape"), LN_CASES)
def test_layer_norm_gradcheck(shape, normalized_shape, affine):
    rng = np.random.default_rng(5)
    x = dg.tensor(rng.standard_normal(shape), requires_grad=True)
    trailing = np.atleast_1d(normalized_shape)
    weight = _leaf(rng.standard_normal(trailing)) if affine in ("weight", "both") else None
    bias = _leaf(rng.standard_normal(trailing)) if affine in ("bias", "both") else None
    assert dg.gradcheck(lambda x, w, b: layer_norm(x, normalized_shape, w, b), (x, weight, bias))


@pytest.mark.usefixtures("both_kernels")
def test_layer_norm_gradcheck_non_contiguous_input():
    rng = np.random.default_rng(6)
    x = dg.from_numpy(rng.standard_normal((5, 3, 4)).transpose(1, 2, 0)).requires_grad_()
    weight, bias = _leaf(rng.standard_normal((4, 5))), _leaf(rng.standard_normal((4, 5)))
    assert dg.gradcheck(lambda x, w, b: layer_norm(x, (4, 5), w, b), (x, weight, bias))


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("affine", AFFINE)
@pytest.mark.parametrize(("shape", "normalized_shape"), LN_CASES)
def test_layer_norm_parity_with_torch(torch, shape, normalized_shape, affine, dtype):
    rng = np.random.default_rng(7)
    trailing = tuple(np.atleast_1d(normalized_shape))
    arrays = [(rng.standard_normal(shape) * 2 - 1).astype(dtype)]
    keys = KEYS[affine]
    arrays += [rng.standard_normal(trailing).astype(dtype) for _ in keys]
    check_parity(torch,
                 lambda x, *params: layer_norm(x, normalized_shape, **dict(zip(keys, params))),
                 lambda x, *params: torch.nn.functional.layer_norm(x, trailing,
                                                                   **dict(zip(keys, params))),
                 arrays)


@pytest.mark.parametrize("grads", ["x", "weight", "bias", "none"])
def test_layer_norm_compiled_and_numpy_agree_in_thread_blocks(grads):
    """Rows split between two threads; each subset of gradients (x_hat kept or not)."""
    pytest.importorskip("numba", reason="numba is not installed: no compiled LayerNorm")
    from deepgrad import parallel
    from deepgrad.ops._kernels import use_compiled

    rng = np.random.default_rng(8)
    arrays = [(rng.standard_normal(s) * 3 + 1).astype(np.float32)
              for s in [(6, 40, 32), (32,), (32,), (6, 40, 32)]]
    results = []
    for enabled in (False, True):
        with (use_compiled(enabled), dg.limit_threads(2), pytest.MonkeyPatch.context() as mp):
            mp.setattr(parallel, "PARALLEL_ELEMENTS", 1)
            x, w, b = (dg.from_numpy(a.copy()).requires_grad_(grads == name)
                       for a, name in zip(arrays, ["x", "weight", "bias"], strict=False))
            y = layer_norm(x, 32, w, b)
            if grads != "none":
                y.backward(dg.from_numpy(arrays[3]))
            results.append([y.numpy()] + [t.grad.numpy() for t in (x, w, b) if t.grad is not None])
    assert len(results[1]) == (1 if grads == "none" else 2)
    for got, want in zip(results[1], results[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_layer_norm_errors():
    x = dg.randn(2, 3, 5)
    with pytest.raises(dg.ShapeError, match=r"layer_norm: normalized_shape \(4, 5\) does not "
                                            r"match the last dimensions of the input "
                                            r"\(2, 3, 5\)"):
        layer_norm(x, (4, 5))
    with pytest.raises(dg.ShapeError, match=r"layer_norm: weight must have shape \(3, 5\) for "
                                            r"an input of shape \(2, 3, 5\); got \(5\)"):
        layer_norm(x, (3, 5), dg.ones(5))
    with pytest.raises(ValueError, match="layer_norm: normalized_shape must name at least one"):
        layer_norm(x, ())
    with pytest.raises(TypeError, match="layer_norm: expects a floating point input; got int64"):
        layer_norm(dg.tensor([[1, 2]]), 2)


# ------------------------------------------------------------------------------ group norm
GN_CASES = [((2, 4, 3), 2), ((2, 6, 2, 2), 3), ((2, 4, 5), 4), ((3, 8), 2), ((2, 3, 5), 1)]


@pytest.mark.parametrize("affine", ["none", "both"])
@pytest.mark.parametrize(("shape", "groups"), GN_CASES)
def test_group_norm_gradcheck(shape, groups, affine):
    rng = np.random.default_rng(8)
    x = dg.tensor(rng.standard_normal(shape), requires_grad=True)
    weight, bias = (_leaf(a) for a in _params(shape[1], affine, rng))
    assert dg.gradcheck(lambda x, w, b: group_norm(x, groups, w, b), (x, weight, bias))


def test_group_norm_gradcheck_non_contiguous_input():
    rng = np.random.default_rng(9)
    x = dg.from_numpy(rng.standard_normal((3, 4, 2)).transpose(2, 1, 0)).requires_grad_()
    weight, bias = (_leaf(a) for a in _params(4, "both", rng))
    assert dg.gradcheck(lambda x, w, b: group_norm(x, 2, w, b), (x, weight, bias))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "groups"), GN_CASES)
def test_group_norm_parity_with_torch(torch, shape, groups, dtype):
    rng = np.random.default_rng(10)
    arrays = [(rng.standard_normal(shape) * 3 + 1).astype(dtype),
              rng.standard_normal(shape[1]).astype(dtype),
              rng.standard_normal(shape[1]).astype(dtype)]
    check_parity(torch, lambda x, w, b: group_norm(x, groups, w, b),
                 lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b), arrays)
    check_parity(torch, lambda x: group_norm(x, groups),
                 lambda x: torch.nn.functional.group_norm(x, groups), arrays[:1])


def test_group_norm_errors():
    x = dg.randn(2, 6, 4)
    with pytest.raises(ValueError, match=r"group_norm: num_groups=4 must be a positive integer "
                                         r"dividing the 6 channels of the input \(2, 6, 4\)"):
        group_norm(x, 4)
    with pytest.raises(dg.ShapeError, match=r"group_norm: bias must have shape \(6\) for an "
                                            r"input of shape \(2, 6, 4\); got \(3\)"):
        group_norm(x, 3, dg.ones(6), dg.zeros(3))
    with pytest.raises(dg.ShapeError, match=r"group_norm: expects input \(N, C, \*\)"):
        group_norm(dg.randn(6), 3)


@pytest.mark.usefixtures("both_kernels")
@pytest.mark.parametrize("shape", [(5, 3, 4, 4), (16, 8, 96, 96)])  # the second in blocks
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_of_channel_major_input_parity_with_torch(torch, shape, training):
    # A convolution's output: an (N, C, H, W) view of (C, N, H, W) memory; permuted back after,
    # so that the gradient arriving in backward is channel-major too.
    rng = np.random.default_rng(12)
    n, c, h, w = shape
    arrays = [(rng.standard_normal((c, n, h, w)) * 2 + 3).astype(np.float32),
              rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32)]
    mean, var = _running(c, rng, np.float32)
    dg_stats, torch_stats = [dg.tensor(mean), dg.tensor(var)], [torch.tensor(mean),
                                                               torch.tensor(var)]
    check_parity(torch, lambda x, w, b: batch_norm(x.permute(1, 0, 2, 3), *dg_stats, w, b,
                                                   training=training).permute(1, 0, 2, 3),
                 lambda x, w, b: torch.nn.functional.batch_norm(
                     x.permute(1, 0, 2, 3), *torch_stats, w, b,
                     training=training).permute(1, 0, 2, 3),
                 arrays)
    assert_close(dg_stats[0], torch_stats[0], np.float32, "running_mean")
    assert_close(dg_stats[1], torch_stats[1], np.float32, "running_var")
