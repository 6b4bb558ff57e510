"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, 2015).

Each 4x4 block of outputs is computed from the 6x6 block of inputs under it as

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with an elementwise product in the middle: 36 multiplies per input channel where the direct
sum takes 144. Over the channels the products are 36 GEMMs, one per position (a, b) of the 6x6
"Winograd domain": M[ab] (C_out, T) = U[ab] (C_out, C_in) @ V[ab] (C_in, T), T the tiles. So a
3x3 convolution costs 4x fewer multiply-adds than im2col's GEMM (where whole tiles fit), plus
the transforms, a few additions per value (compiled loops, :mod:`deepgrad.ops._compiled`).

The backward passes are the same three steps run as adjoints: gM = A gY A^T per tile; the
weight gradient gU[ab] = gM[ab] @ V[ab]^T, then gW = G^T gU G; the input gradient
gV[ab] = U[ab]^T @ gM[ab], then B gV B^T summed over the (overlapping) tiles.

deepgrad runs the samples in blocks whose transformed inputs and products stay in the cache,
the blocks shared out among its threads. F(2x2, 3x3) (16 GEMMs on 2.25x fewer multiply-adds)
came first; measured against it on this project's 2-core machine (BENCHMARKS.md), whole
training steps 2-10% faster (medians: ResNet-20 655 -> 618 ms, WRN-20-2 1,472 -> 1,418, the
flagship 124 -> 121). F(4x4)'s transform points 0, +-1, +-2 and 1/4, 1/6, 1/24 in G cost accuracy:
about 5e-6 relative in float32 against F(2x2)'s 1e-6 (im2col's rounding differs by about as
much), well inside what float32 training tolerates (cuDNN and oneDNN use the same transform).
"""

from __future__ import annotations

from typing import Any

from deepgrad.backend import xp
from deepgrad.ops._kernels import compiled
from deepgrad.parallel import in_blocks

MIN_SIZE = 4
"""Outputs smaller than this (height or width) stay on the im2col path: a 4x4 output is one
tile, a 3x3 one would waste 7 of its 16 outputs. (F(2x2) had gained at 4x4 and 6x6-8x8 and
measured level with im2col at 5x5, 128 channels, batch 128.)"""

MIN_CHANNELS = 8
"""Nor do convolutions with fewer input or output channels: their GEMMs are too thin to gain."""

MIN_OUTPUTS = 1500
"""Nor batches of fewer output positions per channel (samples x height x width): the weight
transform and the per-call costs outweigh the saved multiply-adds there (the forward of 32->64
channels at 14x14 on one thread: 259-310 against 219-249 us for im2col at batch 1, even at 2-4,
1.2x faster from 8 = 1,568 positions on)."""

_BLOCK_BYTES = 1 << 20
"""About this much transformed input and product per block of samples (of 0.5-8 MiB, 1-2 MiB
measured best at 14x14 and 28x28, within noise of each other)."""

# G (6, 3): the weight transform U = G g G^T.
_G = ((1 / 4, 0.0, 0.0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0.0, 0.0, 1.0))


def applies(x_shape: tuple, weight_shape: tuple, stride: tuple, dilation: tuple, groups: int,
            out_hw: tuple, dtype: Any) -> bool:
    """Whether a conv2d of these shapes runs here: a 3x3 kernel, stride 1, no dilation, one
    group, at least :data:`MIN_CHANNELS` channels in and out, an output of at least
    :data:`MIN_SIZE` each way that the tiles fit (:func:`_tiles_fit`) and
    :data:`MIN_OUTPUTS` positions over the batch, float32 or float64, and the compiled loops
    available."""
    c_out, c_in, kh, kw = weight_shape
    return (kh == kw == 3 and stride == (1, 1) and dilation == (1, 1) and groups == 1
            and min(c_in, c_out) >= MIN_CHANNELS and min(out_hw) >= MIN_SIZE
            and _tiles_fit(out_hw[0]) and _tiles_fit(out_hw[1])
            and x_shape[0] * out_hw[0] * out_hw[1] >= MIN_OUTPUTS
            and xp.dtype(dtype) in (xp.float32, xp.float64) and compiled() is not None)


def _tiles_fit(side: int) -> bool:
    """Whether the 4x4 tiles along an output side reach at most a third past it: not at 5
    (tiles over 8: measured 1.35x slower than im2col, 128 channels at batch 128), while 6 (over
    8 too) gains 1.2x."""
    return 3 * 4 * -(-side // 4) <= 4 * side


def _tiles(out_hw: tuple) -> tuple[int, int]:
    return (out_hw[0] + 3) // 4, (out_hw[1] + 3) // 4


def _transformed_size(n: int, tiles: int, c_in: int, c_out: int) -> int:
    """The values a convolution's transforms write (inputs and products): the measure of its
    work that decides whether it is shared out among the threads. (The output's size would
    keep 32 channels at 14x14 over a batch of 128 on one thread: fwd+bwd 36.8 against 23.7 ms
    median on two.)"""
    return 36 * n * tiles * (c_in + c_out)


def _blocks(n: int, tiles: int, c_in: int, c_out: int, itemsize: int) -> list[tuple[int, int]]:
    """Sample ranges [n0, n1) whose transforms (36 values per tile and channel) fit the block."""
    per_sample = 36 * tiles * (c_in + c_out) * itemsize
    step = max(1, _BLOCK_BYTES // per_sample)
    return [(start, min(start + step, n)) for start in range(0, n, step)]


def _planes(rows: int, cols: int, dtype: Any) -> Any:
    """An uninitialized (36, rows, cols) array whose planes start one cache line (64 bytes) past
    a multiple of each other's distance: the transforms read or write all 36 planes for every
    tile, and planes a multiple of 4 KiB apart (often: at 14x14 a sample has 16 tiles) fall
    into the same few cache sets and evict each other. Measured with F(2x2)'s 16 planes on one
    thread: the output gradient's transform over 16 samples of 32 channels at 28x28 8.5 -> 1.1
    ms; whole 7x7 layers (batch 128, forward and backward) went from 1.1-1.4x slower than
    im2col to 1.1-1.3x faster."""
    pad = 64 // xp.dtype(dtype).itemsize
    flat = xp.empty(36 * (rows * cols + pad), dtype).reshape(36, rows * cols + pad)
    return flat[:, :rows * cols].reshape(36, rows, cols)


def _kron(dtype: Any) -> Any:
    """G (x) G (36, 9): [6a + b, 3i + j] = G[a, i] G[b, j], the weight transform as one matrix
    (one GEMM over all the kernels, where an einsum or a batch of 3x3 products measured 10-50x
    slower for 128 x 64 kernels)."""
    g = xp.asarray(_G, dtype)
    return xp.kron(g, g)


def weight_transform(weight: Any) -> Any:
    """U (36, C_out, C_in) from the weight (C_out, C_in, 3, 3): U[6a + b] = (G g G^T)[a, b]."""
    c_out, c_in = weight.shape[:2]
    return (_kron(weight.dtype) @ weight.reshape(c_out * c_in, 9).T).reshape(36, c_out, c_in)


def _weight_grad(gu: Any) -> Any:
    """The adjoint of :func:`weight_transform`: gW (C_out, C_in, 3, 3) from gU."""
    c_out, c_in = gu.shape[1:]
    return (gu.reshape(36, c_out * c_in).T @ _kron(gu.dtype)).reshape(c_out, c_in, 3, 3)


def forward(xpad: Any, u: Any, bias: Any, out_hw: tuple) -> Any:
    """The convolution of the channel-major padded input xpad (C_in, N, Hp, Wp) with the
    transformed weight u, plus bias (or None): channel-major (C_out, N, Ho, Wo)."""
    kernels = compiled()
    c_in, n = xpad.shape[:2]
    c_out = u.shape[1]
    th, tw = _tiles(out_hw)
    y = xp.empty((c_out, n, *out_hw), xp.result_type(xpad, u))
    shift = xp.zeros(c_out, y.dtype) if bias is None else bias.astype(y.dtype, copy=False)
    blocks = _blocks(n, th * tw, c_in, c_out, y.itemsize)

    def run(part: slice) -> None:
        for n0, n1 in blocks[part]:
            tiles = (n1 - n0) * th * tw
            v = _planes(c_in, tiles, y.dtype)
            kernels.winograd_input(xpad, n0, n1, th, tw, v)
            m = xp.matmul(u, v, out=_planes(c_out, tiles, y.dtype))
            kernels.winograd_output(m, shift, n0, n1, th, tw, y)

    in_blocks(run, len(blocks), _transformed_size(n, th * tw, c_in, c_out), gemms=True)
    return y


def backward(gy: Any, xpad: Any, u: Any, padded: tuple,
             crop: tuple[int, int, int, int]) -> tuple[Any, Any]:
    """The weight gradient (C_out, C_in, 3, 3) and the input gradient from the channel-major
    output gradient gy (C_out, N, Ho, Wo): the first when the padded input ``xpad`` is given,
    the second when the transformed weight ``u`` is (else None): the window
    ``crop = (top, left, height, width)`` of the gradient of the padded input (of shape
    ``padded``, channel-major (C_in, N, Hp, Wp)), as contiguous channel-major memory."""
    kernels = compiled()
    need_w, need_x = xpad is not None, u is not None
    c_in, n = padded[:2]
    top, left, height, width = crop
    c_out = gy.shape[0]
    th, tw = _tiles(gy.shape[2:])
    blocks = _blocks(n, th * tw, c_in, c_out, gy.itemsize)
    gx = xp.empty((c_in, n, height, width), gy.dtype) if need_x else None
    ut = u.transpose(0, 2, 1) if need_x else None

    def run(part: slice) -> Any:
        gu = None
        for n0, n1 in blocks[part]:
            tiles = (n1 - n0) * th * tw
            gm = _planes(c_out, tiles, gy.dtype)
            kernels.winograd_output_grad(gy, n0, n1, th, tw, gm)
            if need_w:
                v = _planes(c_in, tiles, gy.dtype)
                kernels.winograd_input(xpad, n0, n1, th, tw, v)
                product = xp.matmul(gm, v.transpose(0, 2, 1))
                gu = product if gu is None else xp.add(gu, product, out=gu)
            if need_x:
                gv = xp.matmul(ut, gm, out=_planes(c_in, tiles, gy.dtype))
                kernels.winograd_input_grad(gv, n0, n1, th, tw, gx, top, left)
        return gu

    partials = in_blocks(run, len(blocks), _transformed_size(n, th * tw, c_in, c_out),
                         gemms=True)
    gw = None
    if need_w:
        gu = partials[0]
        for partial in partials[1:]:
            gu += partial
        gw = _weight_grad(gu)
    return gw, gx
