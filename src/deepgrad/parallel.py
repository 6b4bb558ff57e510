"""deepgrad's own threads: how one large op uses every core.

NumPy runs each pass over an array on one core, so deepgrad splits the memory-bound passes of
large ops (im2col and col2im, batch norm, max pooling, ReLU, depthwise convolution) into one
contiguous block of channels or samples per thread; NumPy releases the GIL inside copies, ufuncs,
reductions and GEMMs, so the blocks run at the same time.

GEMMs have two ways to use the cores, and deepgrad picks one as it goes (with threadpoolctl,
``pip install 'deepgrad[fast]'``; the ``rl``, ``bench`` and ``dev`` extras include it):

* BLAS's own threads, while GEMMs are the only parallel work (MLPs, recurrent networks). They
  wait for the next GEMM spinning, which makes a run of small GEMMs fast; a hand-off to one of
  deepgrad's threads costs a thread wake-up (measured 80 us on this project's virtual machine).
* deepgrad's threads, once deepgrad has recently (within :data:`RECENT` seconds) split a pass
  of its own: BLAS's spinning threads would take the cores from deepgrad's (measured: no gain at
  all from threading the passes of a CNN step beside them). BLAS then runs on one thread and a
  large GEMM is split into one block of output columns (or rows) per thread.

So deepgrad sets the thread count of NumPy's BLAS, process-wide, as it goes: NumPy code of the
user's own in the same process shares it. Without threadpoolctl, BLAS keeps its own threads and
GEMMs are never split.

The number of threads is :func:`get_num_threads`: ``DEEPGRAD_NUM_THREADS``, else
``OMP_NUM_THREADS``, else ``OPENBLAS_NUM_THREADS`` from the environment, else the cores this
process may use (at most 8); :func:`set_num_threads` changes it, :func:`limit_threads` for a block.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deepgrad.backend import xp

__all__ = ["get_num_threads", "limit_threads", "set_num_threads"]

PARALLEL_ELEMENTS = 1 << 20
"""Passes over fewer elements than this run in one block: a hand-off (a thread wake-up, tens of
microseconds) would cost more than it saves."""

PARALLEL_FLOPS = 1 << 23
"""GEMMs of fewer multiply-adds than this run unsplit, for the same reason."""

BLAS_ALONE = 1 << 18
"""GEMMs of at most this many multiply-adds go straight to BLAS, which runs them on one thread
anyway (OpenBLAS's own threshold): batch-1 inference pays no thread bookkeeping."""

RECENT = 0.25
"""Seconds after deepgrad's last split pass during which GEMMs run on deepgrad's threads (longer
than BLAS's threads spin, about 0.1 s, and than a training step of a model with large passes)."""

_ENVIRONMENT = ("DEEPGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _default_threads() -> int:
    for name in _ENVIRONMENT:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, 8)


class _State:
    threads = _default_threads()
    executor: ThreadPoolExecutor | None = None
    pid = 0  # the process that made the executor: a forked child inherits it without threads
    blas: list | None = None  # threadpoolctl's controllers of the BLAS libraries, once looked up
    last_split = -math.inf  # time.monotonic() of deepgrad's last split pass


def _blas() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (none without threadpoolctl)."""
    if _State.blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _State.blas = []
        else:
            _State.blas = [lib for lib in ThreadpoolController().lib_controllers
                           if lib.user_api == "blas"]
    return _State.blas


def _own_gemms() -> bool:
    """Whether GEMMs run on deepgrad's threads now (BLAS on one thread), else on BLAS's own;
    sets BLAS's thread count to match."""
    own = time.monotonic() - _State.last_split < RECENT
    wanted = 1 if own else _State.threads
    for lib in _blas():
        # Asked every time (about a microsecond): other code may have changed it meanwhile
        # (threadpoolctl's own contexts, say), and GEMMs split over BLAS's threads would fight.
        if lib.num_threads != wanted:
            lib.set_num_threads(wanted)
    return own and bool(_State.blas)


def get_num_threads() -> int:
    """The number of threads deepgrad computes with (PyTorch's ``torch.get_num_threads``)."""
    return _State.threads


def set_num_threads(threads: int) -> None:
    """Compute with ``threads`` threads from now on (PyTorch's ``torch.set_num_threads``); 1 runs
    everything on the calling thread, BLAS included."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: expects a positive int; got {threads!r}")
    _State.threads = threads


@contextlib.contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """A block that computes with ``threads`` threads; the number before it is restored after.
    Small networks (recurrent cells, RL's Q-networks) run fastest on one."""
    before = get_num_threads()
    set_num_threads(threads)
    try:
        yield
    finally:
        _State.threads = before


def in_blocks(work: Callable[[slice], Any], n: int, size: int, gemms: bool = False) -> list:
    """``work(block)`` for blocks (slices) covering ``range(n)``: one per thread when the work
    touches ``size`` elements or more (:data:`PARALLEL_ELEMENTS`), else one block; the results
    in order. ``gemms``: the work calls NumPy's matmul itself, which then gets BLAS on one
    thread (each block's GEMMs stay on its thread)."""
    parts = min(_State.threads, n) if size >= PARALLEL_ELEMENTS else 1
    if parts < 2:
        return [work(slice(0, n))]
    _State.last_split = time.monotonic()
    if gemms:
        _own_gemms()
    if _State.executor is None or _State.pid != os.getpid():
        _State.executor = ThreadPoolExecutor(8, thread_name_prefix="deepgrad")
        _State.pid = os.getpid()
    bounds = [n * i // parts for i in range(parts + 1)]
    blocks = [slice(bounds[i], bounds[i + 1]) for i in range(parts)]
    # The calling thread works on the last block itself: one hand-off fewer.
    futures = [_State.executor.submit(work, block) for block in blocks[:-1]]
    last = work(blocks[-1])
    return [future.result() for future in futures] + [last]


def matmul(a: Any, b: Any, out: Any = None) -> Any:
    """``a @ b`` (into ``out`` if given) for operands of at least two dimensions, as NumPy's
    ``matmul`` (stacks broadcast); split over deepgrad's threads when it is large and they have
    the GEMMs (module docstring), else on BLAS's threads.

    Blocks of output columns when there are many (each thread reads all of ``a``, usually the
    smaller operand, and writes whole columns), else of rows, else of the summed dimension, with
    the partial products added. Splitting a GEMM of few rows by rows measured
    20% slower than by columns.
    """
    m, k = a.shape[-2:]
    n = b.shape[-1]
    stack = max(a.size // (m * k) if m * k else 0, b.size // (k * n) if k * n else 0)
    if stack * m * n * k <= BLAS_ALONE:
        return xp.matmul(a, b, out=out)
    threads = _State.threads
    wide = 128 * threads
    if (not _own_gemms() or threads < 2 or stack * m * n * k < PARALLEL_FLOPS
            or b.shape[-2] != k or max(m, n, k) < wide):
        return xp.matmul(a, b, out=out)  # NumPy's matmul also says what does not fit
    if out is None:
        shape = (*xp.broadcast_shapes(a.shape[:-2], b.shape[:-2]), m, n)
        out = xp.empty(shape, xp.result_type(a, b))
    if n >= wide:
        in_blocks(lambda cols: xp.matmul(a, b[..., cols], out=out[..., cols]), n,
                  PARALLEL_ELEMENTS)
    elif m >= wide:
        in_blocks(lambda rows: xp.matmul(a[..., rows, :], b, out=out[..., rows, :]), m,
                  PARALLEL_ELEMENTS)
    else:
        partials = in_blocks(lambda inner: xp.matmul(a[..., inner], b[..., inner, :]), k,
                             PARALLEL_ELEMENTS)
        xp.copyto(out, partials.pop())
        for partial in partials:
            out += partial
    return out


def blockwise(work: Callable[..., Any], *arrays: Any) -> list:
    """``work(*blocks)`` for matching blocks of ``arrays`` (which share their first two axes),
    cut along the first array's outer axis, in parallel when it is large; the results in order.
    Small or 0-d arrays go to ``work`` whole."""
    first = arrays[0]
    if first.size < PARALLEL_ELEMENTS or _State.threads < 2 or first.ndim == 0:
        return [work(*arrays)]
    axis = outer_axis(first)
    return in_blocks(lambda part: work(*(block(a, axis, part) for a in arrays)),
                     first.shape[axis], first.size)


def outer_axis(a: Any) -> int:
    """Of the first two axes of ``a`` (at least 1-D), the one with the larger stride: blocks
    along it are contiguous runs of memory (axis 1 for an NCHW view of channel-major memory)."""
    return int(a.ndim > 1 and a.shape[1] > 1 and abs(a.strides[1]) > abs(a.strides[0]))


def in_layout(shape: tuple, dtype: Any, axis: int, make: Callable[..., Any] = xp.empty) -> Any:
    """A new (N, C, ...) array, from ``make(shape, dtype)``, whose memory runs along ``axis``
    outermost, as :func:`outer_axis` names it (1: channel-major, as a convolution's output)."""
    if axis == 0:
        return make(shape, dtype)
    return make((shape[1], shape[0], *shape[2:]), dtype).swapaxes(0, 1)


def block(a: Any, axis: int, part: slice) -> Any:
    """``a[part]`` along ``axis`` (0 or 1)."""
    return a[part] if axis == 0 else a[:, part]


def memory_order(a: Any, axis: int) -> Any:
    """The (N, C, ...) array ``a`` with ``axis`` (as :func:`outer_axis` names it) first: a
    contiguous array when ``a`` came from :func:`in_layout`, which compiled loops vectorize best
    (numba compiles one version per layout), visited in memory order by looping axis 0
    outermost."""
    return a.swapaxes(0, 1) if axis else a
