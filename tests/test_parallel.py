"""deepgrad's own threads: blocks cover the work, split GEMMs and threaded ops give the numbers
of one thread, BLAS runs on one thread, and the thread count is the user's to set."""

import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import parallel
from deepgrad.nn import functional as F


@pytest.fixture
def forced():
    """Two threads, every op large enough to be split (the thresholds at one element), and GEMMs
    on deepgrad's threads (where threadpoolctl can limit BLAS)."""
    with pytest.MonkeyPatch.context() as mp, dg.limit_threads(2):
        mp.setattr(parallel, "PARALLEL_ELEMENTS", 1)
        mp.setattr(parallel, "PARALLEL_FLOPS", 1)
        mp.setattr(parallel, "BLAS_ALONE", 0)
        mp.setattr(parallel, "RECENT", math.inf)
        yield


def test_blocks_cover_the_range_in_order_on_two_threads(forced):
    seen = []

    def work(part):
        seen.append(threading.get_ident())
        return part

    parts = parallel.in_blocks(work, 7, 7)
    assert [i for part in parts for i in range(7)[part]] == list(range(7))
    assert len(parts) == 2 and len(set(seen)) == 2


def test_small_work_stays_on_the_calling_thread():
    seen = []
    parts = parallel.in_blocks(lambda part: seen.append(threading.get_ident()) or part, 7, 7)
    assert parts == [slice(0, 7)] and seen == [threading.get_ident()]


def test_one_thread_means_one_block(forced):
    with dg.limit_threads(1):
        assert parallel.in_blocks(lambda part: part, 7, 7) == [slice(0, 7)]


@pytest.mark.parametrize("m, k, n", [(3, 5, 600), (600, 5, 3), (3, 600, 4), (5, 6, 7)])
@pytest.mark.parametrize("layout", ["c", "a transposed", "b transposed"])
@pytest.mark.parametrize("with_out", [False, True])
def test_split_matmul_equals_numpys(forced, m, k, n, layout, with_out):
    """Blocks of columns (n large), rows (m large), the summed dimension (k large), or none."""
    pytest.importorskip("threadpoolctl", reason="GEMMs are split only with threadpoolctl")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m)).T if layout == "a transposed" else rng.standard_normal((m, k))
    b = rng.standard_normal((n, k)).T if layout == "b transposed" else rng.standard_normal((k, n))
    out = np.full((m, n), np.nan) if with_out else None
    y = parallel.matmul(a, b, out=out)
    np.testing.assert_allclose(y, a @ b, rtol=1e-12, atol=1e-12)
    if with_out:
        assert y is out


@pytest.mark.parametrize("a_shape, b_shape", [
    ((4, 3, 5), (5, 600)), ((3, 5), (4, 5, 600)),
    ((4, 600, 5), (4, 5, 3)), ((2, 1, 3, 5), (4, 5, 600)),
    ((3, 600), (1, 600, 4)), ((2, 3, 600), (2, 600, 4))])  # the summed dimension split
def test_split_matmul_of_stacks_equals_numpys(forced, a_shape, b_shape):
    pytest.importorskip("threadpoolctl", reason="GEMMs are split only with threadpoolctl")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    np.testing.assert_allclose(parallel.matmul(a, b), np.matmul(a, b), rtol=1e-12, atol=1e-12)


def test_split_matmul_reports_numpys_shape_error(forced):
    with pytest.raises(ValueError, match="matmul"):
        parallel.matmul(np.ones((3, 600)), np.ones((599, 600)))


def _medium_gemm():
    """A GEMM big enough for BLAS to thread (more than parallel.BLAS_ALONE multiply-adds)."""
    return dg.tensor(np.ones((80, 80))) @ dg.tensor(np.ones((80, 80)))


def _blas_threads(threadpoolctl):
    return [info["num_threads"] for info in threadpoolctl.threadpool_info()
            if info["user_api"] == "blas"]


def test_blas_has_the_threads_until_deepgrad_splits_a_pass_of_its_own():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")
    with pytest.MonkeyPatch.context() as mp, dg.limit_threads(2):
        mp.setattr(parallel._State, "last_split", -math.inf)
        _medium_gemm()
        assert set(_blas_threads(threadpoolctl)) == {2}  # GEMMs alone: BLAS's own threads
        dg.relu(dg.tensor(np.ones((2, parallel.PARALLEL_ELEMENTS))))  # a split pass
        _medium_gemm()
        assert set(_blas_threads(threadpoolctl)) == {1}  # deepgrad's threads have the GEMMs
        mp.setattr(parallel, "RECENT", 0.0)  # long after the last split pass
        _medium_gemm()
        assert set(_blas_threads(threadpoolctl)) == {2}


def test_small_gemms_leave_blas_alone():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")
    with dg.limit_threads(1):
        _medium_gemm()
    with dg.limit_threads(2):
        dg.tensor(np.ones((4, 4))) @ dg.tensor(np.ones((4, 4)))
        assert set(_blas_threads(threadpoolctl)) == {1}  # as the last medium GEMM left it


def test_one_thread_holds_blas_to_one_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")
    with dg.limit_threads(1):
        _medium_gemm()
        assert set(_blas_threads(threadpoolctl)) == {1}


def test_set_num_threads_checks_its_argument_and_limit_threads_restores():
    before = dg.get_num_threads()
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads: expects a positive int"):
            dg.set_num_threads(bad)
    with dg.limit_threads(3):
        assert dg.get_num_threads() == 3
    assert dg.get_num_threads() == before


@pytest.mark.parametrize("env, expected", [
    ({"DEEPGRAD_NUM_THREADS": "3", "OMP_NUM_THREADS": "2"}, 3),
    ({"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}, 2),
    ({"OPENBLAS_NUM_THREADS": "1"}, 1),
    ({"DEEPGRAD_NUM_THREADS": "many", "OPENBLAS_NUM_THREADS": "1"}, 1),
])
def test_the_thread_count_comes_from_the_environment(env, expected):
    clean = {k: v for k, v in os.environ.items() if k not in parallel._ENVIRONMENT}
    code = "import deepgrad; print(deepgrad.get_num_threads())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**clean, **env}, check=True)
    assert int(result.stdout) == expected


# ------------------------------------------------------------------------------ threaded ops
def _run(fn, *arrays):
    """fn's output and the gradients of its inputs, for a fixed random output gradient."""
    # from_numpy keeps each array's memory layout (dg.tensor would copy it C-ordered).
    tensors = [dg.from_numpy(a).requires_grad_() for a in arrays]
    y = fn(*tensors)
    y = y[0] if isinstance(y, tuple) else y
    g = np.random.default_rng(1).standard_normal(y.shape)
    y.backward(dg.tensor(g))
    return [y.numpy()] + [t.grad.numpy() for t in tensors]


def _channel_major(x):
    """x (N, C, H, W) as an NCHW view of (C, N, H, W) memory, as a convolution returns it."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)


_RNG = np.random.default_rng(0)
_X = _RNG.standard_normal((4, 6, 9, 8))
_CASES = {
    "conv2d": (lambda x, w: F.conv2d(x, w, padding=1), _X, _RNG.standard_normal((5, 6, 3, 3))),
    "conv2d stride 2": (lambda x, w: F.conv2d(x, w, stride=2), _X,
                        _RNG.standard_normal((5, 6, 3, 3))),
    "depthwise": (lambda x, w: F.conv2d(x, w, padding=1, groups=6), _X,
                  _RNG.standard_normal((6, 1, 3, 3))),
    "depthwise stride 2, channel-major": (lambda x, w: F.conv2d(x, w, stride=2, padding=1,
                                                                groups=6),
                                          _channel_major(_X), _RNG.standard_normal((6, 1, 3, 3))),
    "depthwise stride (3, 2) dilated": (lambda x, w: F.conv2d(x, w, stride=(3, 2), padding=2,
                                                              dilation=2, groups=6),
                                        _X, _RNG.standard_normal((6, 1, 3, 2))),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), _X),
    "max_pool2d channel-major": (lambda x: F.max_pool2d(x, 2), _channel_major(_X)),
    "max_pool2d 3x3 stride 2 padded": (lambda x: F.max_pool2d(x, 3, 2, padding=1), _X),
    "max_pool2d with indices": (lambda x: F.max_pool2d(x, 2, return_indices=True), _X),
    "max_pool1d": (lambda x: F.max_pool1d(x, 3), _X[:, :, 0]),
    # Unbatched (C, H, W) with rows outermost in memory: only the channels may be split.
    "max_pool2d unbatched, rows outermost": (lambda x: F.max_pool2d(x, 2),
                                             np.ascontiguousarray(_X[0, :, :7].transpose(1, 0, 2))
                                             .transpose(1, 0, 2)),
    "adaptive_max_pool2d uneven, channel-major": (lambda x: F.adaptive_max_pool2d(x, (4, 3)),
                                                  _channel_major(_X)),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), _X),
    "relu": (F.relu, _channel_major(_X)),
    "linear 3-D": (F.linear, _X[:, :, 0], _RNG.standard_normal((7, 8))),
    "matmul": (lambda a, b: a @ b, _X[0, 0], _X[1, 1].T),
}


@pytest.mark.parametrize("case", list(_CASES))
def test_threaded_ops_give_the_one_thread_results(forced, both_kernels, case):
    fn, *arrays = _CASES[case]
    with dg.limit_threads(1):
        expected = _run(fn, *arrays)
    for got, want in zip(_run(fn, *arrays), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (1, 0)])
@pytest.mark.parametrize("threads", [1, 2])
def test_convolution_in_sample_blocks_gives_the_whole_batch_results(stride, padding, threads,
                                                                    both_kernels):
    """Few output channels and large column matrices run a block of samples at a time: forced
    here with 1 KiB blocks, against the whole-batch path."""
    from deepgrad.ops import conv

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))

    def fn(x, w):
        return F.conv2d(x, w, stride=stride, padding=padding)

    expected = _run(fn, x, w)
    with pytest.MonkeyPatch.context() as mp, dg.limit_threads(threads):
        mp.setattr(conv, "_BLOCK_BYTES", 1024)
        mp.setattr(parallel, "PARALLEL_ELEMENTS", 1)
        assert len(conv._sample_blocks(np.zeros((3, 5, 11, 10)), (3, 3), (9, 8), 4, 1)) > 1
        got = _run(fn, x, w)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


def test_max_pool_indices_are_the_one_thread_ones(forced, both_kernels):
    x = dg.tensor(_channel_major(_X))
    _, indices = F.max_pool2d(x, 2, return_indices=True)
    with dg.limit_threads(1):
        _, expected = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


def test_blas_changed_behind_deepgrads_back_is_set_again():
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is not installed")
    with pytest.MonkeyPatch.context() as mp, dg.limit_threads(2):
        mp.setattr(parallel, "RECENT", math.inf)
        mp.setattr(parallel._State, "last_split", 0.0)
        _medium_gemm()
        with threadpoolctl.threadpool_limits(2, user_api="blas"):
            _medium_gemm()
            assert set(_blas_threads(threadpoolctl)) == {1}
