"""Compiled loops (numba) for memory-bound passes; imported through :mod:`deepgrad.ops._kernels`.

Each loop reads and writes its arrays once, where the NumPy version of the op makes a sweep per
window position or per step of the formula. They release the GIL, so that deepgrad's threads run
them on blocks of channels or samples side by side, and accept arrays in any memory layout (an
NCHW view of channel-major memory, as convolutions return). They visit channels outermost: one
(N, C, H, W) plane after another, in memory order for channel-major arrays (measured 1.4-1.8x
faster there than samples outermost, and no slower for sample-major ones).
"""

from __future__ import annotations

import math

import numba
import numpy as np

# error_model="numpy": x / 0 gives inf or nan as in NumPy, where Python's semantics would check
# every division for zero (and keep the loop from vectorizing: 5.6x slower).
_jit = numba.njit(nogil=True, cache=True, error_model="numpy")


@_jit
def max_pool(x, y, arg, kh, kw, sh, sw, ph, pw, dh, dw):
    """y[n, c, i, j] = the max of x (N, C, H, W) over window (i, j); arg = its position
    a * kw + b in the window. The first max in row-major order wins, and NaN wins over numbers
    (a later NaN over an earlier one), as in PyTorch; positions in the padding are skipped.
    Each plane is pooled alone, so x may come as (C, N, H, W) too: axis 0 is looped outermost,
    and callers put first the axis along which memory runs."""
    ho, wo = y.shape[2], y.shape[3]
    # Only when every window lies inside x (ceil_mode's partial last windows of an odd-sized x do
    # not). NaN needs the general loop's ordered tests, which keep the loop from vectorizing.
    if (kh == kw == sh == sw == 2 and ph == pw == 0 and dh == dw == 1
            and 2 * ho <= x.shape[2] and 2 * wo <= x.shape[3] and not _max_pool_2x2(x, y, arg)):
        return
    n_, c_, h_, w_ = x.shape
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    best = x[n, c, 0, 0]
                    where = -1
                    for a in range(kh):
                        r = i * sh - ph + a * dh
                        if r < 0 or r >= h_:
                            continue
                        for b in range(kw):
                            q = j * sw - pw + b * dw
                            if q < 0 or q >= w_:
                                continue
                            v = x[n, c, r, q]
                            if where < 0 or v > best or v != v:
                                best, where = v, a * kw + b
                    y[n, c, i, j] = best
                    arg[n, c, i, j] = where


@_jit
def _max_pool_2x2(x, y, arg):
    """:func:`max_pool` for 2 x 2 windows of stride 2, vectorized: each row's first max, then
    the lower row's if greater (the row-major first max). Returns whether x held NaN, where the
    comparisons pick wrongly and the caller must pool again."""
    n_, c_ = x.shape[0], x.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    nan = False
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                r = 2 * i
                for j in range(wo):
                    q = 2 * j
                    a0, a1 = x[n, c, r, q], x[n, c, r, q + 1]
                    b0, b1 = x[n, c, r + 1, q], x[n, c, r + 1, q + 1]
                    # Selects rather than branches (random data defeats branch prediction).
                    take = a1 > a0
                    top = a1 if take else a0
                    top_at = np.uint8(1) if take else np.uint8(0)
                    take = b1 > b0
                    bottom = b1 if take else b0
                    bottom_at = np.uint8(3) if take else np.uint8(2)
                    take = bottom > top
                    y[n, c, i, j] = bottom if take else top
                    arg[n, c, i, j] = bottom_at if take else top_at
                    nan |= (a0 != a0) | (a1 != a1) | (b0 != b0) | (b1 != b1)
    return nan


@_jit
def max_pool_backward(gy, arg, gx, kw, sh, sw, ph, pw, dh, dw, tiled):
    """gx = each window's gradient at the position ``arg`` names. ``tiled``: 2 x 2 windows of
    stride 2 cover gx exactly (none overhangs it), so that gx may start uninitialized (each
    plane is zeroed here, where it is about to be written); otherwise gx holds zeros and the
    gradients are added. Axis 0 is looped outermost, as in :func:`max_pool`."""
    n_, c_, ho, wo = gy.shape
    if tiled:
        zero = gx.dtype.type(0)
        h_, w_ = gx.shape[2], gx.shape[3]
        for n in range(n_):
            for c in range(c_):
                # Zeros, then one store per window: 3-5x faster than selecting each of the
                # four values (a loop that does not vectorize).
                for r in range(h_):
                    for q in range(w_):
                        gx[n, c, r, q] = zero
                for i in range(ho):
                    for j in range(wo):
                        where = arg[n, c, i, j]
                        gx[n, c, 2 * i + (where >> 1), 2 * j + (where & 1)] = gy[n, c, i, j]
        return
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    a, b = divmod(arg[n, c, i, j], kw)
                    gx[n, c, i * sh - ph + a * dh, j * sw - pw + b * dw] += gy[n, c, i, j]


@_jit
def adaptive_max_pool(x, y, indices, row_starts, row_ends, col_starts, col_ends):
    """y[n, c, i, j] = the max of x (N, C, H, W) over rows [row_starts[i], row_ends[i]) and
    columns [col_starts[j], col_ends[j]); indices = its position r * W + q in the plane. The
    first max in row-major order wins, and NaN over numbers (a later NaN over an earlier one),
    as in PyTorch."""
    n_, c_, w_ = x.shape[0], x.shape[1], x.shape[3]
    ho, wo = y.shape[2], y.shape[3]
    for c in range(c_):
        for n in range(n_):
            for i in range(ho):
                r0, r1 = row_starts[i], row_ends[i]
                for j in range(wo):
                    q0, q1 = col_starts[j], col_ends[j]
                    best = x[n, c, r0, q0]
                    where = r0 * w_ + q0
                    for r in range(r0, r1):
                        for q in range(q0, q1):
                            v = x[n, c, r, q]
                            if v > best or v != v:
                                best, where = v, r * w_ + q
                    y[n, c, i, j] = best
                    indices[n, c, i, j] = where


@_jit
def adaptive_max_pool_backward(gy, indices, gx):
    """gx (zeros on entry) += each output's gradient at the position ``indices`` names (r * W + q
    in its plane), summed where windows overlap."""
    n_, c_, ho, wo = gy.shape
    w_ = gx.shape[3]
    for c in range(c_):
        for n in range(n_):
            for i in range(ho):
                for j in range(wo):
                    r, q = divmod(indices[n, c, i, j], w_)
                    gx[n, c, r, q] += gy[n, c, i, j]


# Sums may be reassociated (and so vectorized); the per-element arithmetic stays exact IEEE.
_sums = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc"})


@_sums
def channel_sums(a3, b3, a_center, b_center, out):
    """Per channel c of (N, C, S) arrays: out[c] = (sum of a - a_center[c], sum of
    (a - a_center[c]) * (b - b_center[c])), accumulated in float64 (out is (C, 2) float64).
    Batch norm's mean and variance (a = b = x, centered on a value near the mean, which keeps
    the sum of squares exact for data far from zero) and its gradient's sums (a = gy, centered
    on 0; b = x, on the mean)."""
    n_, c_, s_ = a3.shape
    for c in range(c_):
        ka, kb = a_center[c], b_center[c]
        total = 0.0
        products = 0.0
        for n in range(n_):
            a, b = a3[n, c], b3[n, c]
            for s in range(s_):
                d = np.float64(a[s] - ka)
                total += d
                products += d * np.float64(b[s] - kb)
        out[c, 0] = total
        out[c, 1] = products


@_jit
def channel_affine(x3, mean, scale, shift, y3):
    """y3 = (x3 - mean[c]) * scale[c] + shift[c] per channel c of (N, C, S)."""
    n_, c_, s_ = x3.shape
    for c in range(c_):
        m, a, b = mean[c], scale[c], shift[c]
        for n in range(n_):
            row, out = x3[n, c], y3[n, c]
            for s in range(s_):
                out[s] = (row[s] - m) * a + b


@_jit
def channel_grad_input(gy3, x3, mean, gy_scale, x_scale, shift, gx3):
    """gx3 = gy3 * gy_scale[c] + (x3 - mean[c]) * x_scale[c] + shift[c] per channel c: batch
    norm's input gradient, with the coefficients of its batch statistics."""
    n_, c_, s_ = x3.shape
    for c in range(c_):
        m, a, b, d = mean[c], gy_scale[c], x_scale[c], shift[c]
        for n in range(n_):
            g, row, out = gy3[n, c], x3[n, c], gx3[n, c]
            for s in range(s_):
                out[s] = g[s] * a + (row[s] - m) * b + d


@_sums
def _row_moments(row):
    """The mean and variance of a 1-D array, summed in float64."""
    m = row.shape[0]
    total = 0.0
    for j in range(m):
        total += np.float64(row[j])
    mean = total / m
    squares = 0.0
    for j in range(m):
        d = np.float64(row[j]) - mean
        squares += d * d
    return mean, squares / m


@_jit
def layer_norm(x2, weight, bias, eps, x_hat, inv_std, y):
    """Per row i of x2 (rows, M), in cache: inv_std[i, 0] = 1 / sqrt(variance + eps),
    x_hat = (x - mean) * inv_std (written when x_hat has rows: for backward) and
    y = x_hat * weight + bias (weight, bias: (M,), or empty for none)."""
    rows, m = x2.shape
    keep, scale, shift = x_hat.shape[0] > 0, weight.shape[0] > 0, bias.shape[0] > 0
    kind = y.dtype.type
    for i in range(rows):
        mean, var = _row_moments(x2[i])
        inv = kind(1.0 / np.sqrt(var + eps))
        centre = kind(mean)
        inv_std[i, 0] = inv
        for j in range(m):
            h = (x2[i, j] - centre) * inv
            if keep:
                x_hat[i, j] = h
            if scale:
                h *= weight[j]
            if shift:
                h += bias[j]
            y[i, j] = h


@_sums
def _row_dots(gy_row, h_row, weight, sums):
    """For LayerNorm's backward, one row: the sums of g and g * x_hat with g = gy * weight (gy
    if weight is empty), in float64; adds gy * x_hat and gy to sums[0] and sums[1]."""
    scale = weight.shape[0] > 0
    total = 0.0
    dot = 0.0
    for j in range(gy_row.shape[0]):
        gy, h = np.float64(gy_row[j]), np.float64(h_row[j])
        g = np.float64(gy_row[j] * weight[j]) if scale else gy
        total += g
        dot += g * h
        sums[0, j] += gy * h
        sums[1, j] += gy
    return total, dot


@_jit
def layer_norm_backward(gy2, x_hat, inv_std, weight, gx, sums):
    """LayerNorm's gradients per row (rows, M), in cache: gx = inv_std * (g - mean(g) -
    x_hat * mean(g * x_hat)) with g = gy * weight (written when gx has rows); sums[0] += gy *
    x_hat and sums[1] += gy over the rows (float64 (2, M): the weight's and bias's gradients)."""
    rows, m = gy2.shape
    need_x, scale = gx.shape[0] > 0, weight.shape[0] > 0
    kind = gy2.dtype.type
    for i in range(rows):
        total, dot = _row_dots(gy2[i], x_hat[i], weight, sums)
        if need_x:
            mean_g, mean_gh, inv = kind(total / m), kind(dot / m), inv_std[i, 0]
            for j in range(m):
                g = gy2[i, j] * weight[j] if scale else gy2[i, j]
                gx[i, j] = (g - mean_g - x_hat[i, j] * mean_gh) * inv


@_jit
def im2col(xpad, cols, sh, sw, dh, dw):
    """cols (C, kH, kW, N, Ho, Wo) = the channel-major padded input xpad (C, N, Hp, Wp) at each
    kernel offset's positions. NumPy's strided copy pays its loop overhead once per output row
    (Wo values: 7-28 here), 10x the copy itself for one image."""
    c_, kh, kw, n_, ho, wo = cols.shape
    for c in range(c_):
        for i in range(kh):
            for j in range(kw):
                for n in range(n_):
                    for r in range(ho):
                        dst = cols[c, i, j, n, r]
                        if sw == 1:  # a row slice: vectorizes
                            src = xpad[c, n, r * sh + i * dh, j * dw:j * dw + wo]
                            for q in range(wo):
                                dst[q] = src[q]
                        else:
                            src = xpad[c, n, r * sh + i * dh]
                            for q in range(wo):
                                dst[q] = src[q * sw + j * dw]


@_jit
def col2im(cols, out, top, left, sh, sw, dh, dw, plane):
    """The adjoint of im2col, cropped: the column entries (C, kH, kW, N, Ho, Wo) summed into each
    padded plane (the work array ``plane``, (Hp, Wp)), whose window at (top, left) becomes
    out[c, n] (channel-major (C, N, H, W), uninitialized). Each plane is summed while it is in
    cache, where NumPy adds one kernel offset at a time over them all; writing the window
    alone gives the gradient as contiguous channel-major memory, where a view of the padded
    array would make the next elementwise pass 1.5-5x slower (rows of 7-28 values)."""
    c_, kh, kw, n_, ho, wo = cols.shape
    h, w = out.shape[2], out.shape[3]
    zero = out.dtype.type(0)
    for c in range(c_):
        for n in range(n_):
            plane[:] = zero
            for i in range(kh):
                for j in range(kw):
                    for r in range(ho):
                        row = r * sh + i * dh
                        if sw == 1:  # unit stride: a loop over row slices, which vectorizes
                            # (indices computed from the offset kept it scalar: 1.4-1.5x slower)
                            dst = plane[row, j * dw:j * dw + wo]
                            src = cols[c, i, j, n, r]
                            for q in range(wo):
                                dst[q] += src[q]
                        else:
                            for q in range(wo):
                                plane[row, q * sw + j * dw] += cols[c, i, j, n, r, q]
            out[c, n] = plane[top:top + h, left:left + w]


# The depthwise loops run any stride and dilation on the input's phases (C, N, S, Hph + 1, Wph)
# (deepgrad.ops.depthwise): with stride (sh, sw), phase a * sw + b holds the padded input's rows
# a, a + sh, ... and columns b, b + sw, ..., so each kernel offset (i, j) reads one phase
# shifted by a whole number of its rows and columns (from ``starts[i, j]`` in the flattened
# phases), as a stride-1 convolution does; stride 1 has one phase, the padded input.
# Each offset is then one multiply-add over a long contiguous run: the phase plane flattened, as
# if the output were Wph wide (its extra columns are dropped in the forward, and are zeros in the
# gradients); each phase has one more zero row, which the last run reaches into. Plane rows
# (7-28 values) as the inner loop measured 2-3x slower, and 2-D indices computed from the
# offsets kept the loops scalar. They accumulate into a local plane: with the output array as
# the target, the compiler must assume that it may alias the input and keeps the loops scalar.
# Rows are copied out element by element: numba's slice assignment (a view and an overlap
# check per row) made the loops 1.3-1.7x slower in all.


@_jit
def _phase_range(size, before, step, phase, count):
    """Along one axis of a phase of ``count`` positions (position r: padded position
    step * r + phase): the positions [lo, hi) that hold input, and the input position at lo."""
    first = (phase - before) % step
    lo = (first + before - phase) // step
    hi = lo + max(0, (size - first + step - 1) // step)
    return lo, min(hi, count), first


@_jit
def phase_split(x, top, left, sh, sw, phases):
    """phases[c, n, a * sw + b] (C, N, sh * sw, Hph, Wph) = rows a, a + sh, ... and columns
    b, b + sw, ... of x[c, n] (x channel-major: (C, N, H, W), as convolutions return their
    outputs, so that its type is C-contiguous and the row copies vectorize) after ``top`` rows
    and ``left`` columns of zero padding, zeros past its edges: each value written once."""
    c_, n_, h_, w_ = x.shape
    hp, wp = phases.shape[3], phases.shape[4]
    zero = phases.dtype.type(0)
    for c in range(c_):
        for n in range(n_):
            for a in range(sh):
                r0, r1, h0 = _phase_range(h_, top, sh, a, hp)
                for b in range(sw):
                    q0, q1, w0 = _phase_range(w_, left, sw, b, wp)
                    p = a * sw + b
                    for r in range(hp):
                        if r < r0 or r >= r1:
                            for q in range(wp):
                                phases[c, n, p, r, q] = zero
                            continue
                        h = h0 + (r - r0) * sh
                        for q in range(q0):
                            phases[c, n, p, r, q] = zero
                        if sw == 1:  # a unit-stride copy, which the compiler vectorizes
                            for q in range(q0, q1):
                                phases[c, n, p, r, q] = x[c, n, h, w0 + q - q0]
                        else:
                            for q in range(q0, q1):
                                phases[c, n, p, r, q] = x[c, n, h, w0 + (q - q0) * sw]
                        for q in range(q1, wp):
                            phases[c, n, p, r, q] = zero


@_jit
def depthwise(phases, weight, bias, y, starts):
    """y[c, n] = bias[c] + the sum over kernel offsets (i, j) of weight[c, i, j] times channel c
    of the input's phases flattened, from ``starts[i, j]`` on (y: (C, N, Ho, Wo))."""
    c_, n_, ho, wo = y.shape
    kh, kw = weight.shape[1], weight.shape[2]
    wp = phases.shape[4]
    run = ho * wp
    acc = np.empty(run, y.dtype)
    for c in range(c_):
        for n in range(n_):
            acc[:] = bias[c]
            flat = phases[c, n].reshape(-1)
            for i in range(kh):
                for j in range(kw):
                    t = weight[c, i, j]
                    src = flat[starts[i, j]:starts[i, j] + run]
                    for k in range(run):
                        acc[k] += t * src[k]
            for r in range(ho):
                for q in range(wo):
                    y[c, n, r, q] = acc[r * wp + q]


@_jit
def _widened(plane, wide, wp):
    """The (Ho, Wo) plane into the first Wo columns of each Wp-long row of the flat ``wide``
    (whose other columns stay zero)."""
    wo = plane.shape[1]
    for r in range(plane.shape[0]):
        for q in range(wo):
            wide[r * wp + q] = plane[r, q]


@_jit
def depthwise_input_grad(gy, weight, top, left, sh, sw, starts, hp, wp, gx):
    """The adjoint of :func:`depthwise` in its input: gx[c, n] (C, N, H, W) = the sum of each
    output gradient of channel c times weight[c, i, j], at the position offset (i, j) read
    (summed in the gradient of channel c's phases (sh * sw, hp, wp), then taken out of them as
    :func:`phase_split` put the input in)."""
    c_, n_, ho = gy.shape[:3]
    h_, w_ = gx.shape[2], gx.shape[3]
    kh, kw = weight.shape[1], weight.shape[2]
    run = ho * wp
    acc = np.empty(sh * sw * hp * wp, gx.dtype)
    g = np.zeros(run, gy.dtype)
    for c in range(c_):
        for n in range(n_):
            acc[:] = 0
            _widened(gy[c, n], g, wp)
            for i in range(kh):
                for j in range(kw):
                    t = weight[c, i, j]
                    dst = acc[starts[i, j]:starts[i, j] + run]
                    for k in range(run):
                        dst[k] += t * g[k]
            for a in range(sh):
                r0, r1, h0 = _phase_range(h_, top, sh, a, hp)
                for b in range(sw):
                    q0, q1, w0 = _phase_range(w_, left, sw, b, wp)
                    base = (a * sw + b) * hp * wp
                    for r in range(r0, r1):
                        h = h0 + (r - r0) * sh
                        start = base + r * wp
                        if sw == 1:  # a unit-stride copy, which the compiler vectorizes
                            for q in range(q0, q1):
                                gx[c, n, h, w0 + q - q0] = acc[start + q]
                        else:
                            for q in range(q0, q1):
                                gx[c, n, h, w0 + (q - q0) * sw] = acc[start + q]


@_sums
def depthwise_weight_grad(gy, phases, gw, starts):
    """gw[c, i, j] = the sum over samples and output positions of gy[c] times the input that
    offset (i, j) read; per plane in the inputs' precision, over the planes in float64."""
    c_, n_, ho = gy.shape[:3]
    kh, kw = gw.shape[1], gw.shape[2]
    wp = phases.shape[4]
    run = ho * wp
    totals = np.empty((kh, kw))
    g = np.zeros(run, gy.dtype)
    for c in range(c_):
        totals[:] = 0.0
        for n in range(n_):
            _widened(gy[c, n], g, wp)
            flat = phases[c, n].reshape(-1)
            for i in range(kh):
                for j in range(kw):
                    src = flat[starts[i, j]:starts[i, j] + run]
                    s = gy.dtype.type(0)
                    for k in range(run):
                        s += g[k] * src[k]
                    totals[i, j] += s
        for i in range(kh):
            for j in range(kw):
                gw[c, i, j] = totals[i, j]


@_jit
def relu_grad(y, g, out):
    """out = g * (y > 0) over 1-D arrays: ReLU's input gradient in one pass (NumPy writes the
    mask, then multiplies by it in place). A multiply by the mask, not a select, so that the
    numbers (NaN in g, the sign of zeros) are NumPy's."""
    one, zero = out.dtype.type(1), out.dtype.type(0)
    for i in range(y.size):
        out[i] = g[i] * (one if y[i] > 0 else zero)


# Optimizer steps: one pass over a flat parameter and its state, the same float operations in
# the same order as the optimizer's NumPy passes (the scalars come in the arrays' dtype), so
# that both give the same bits.


@_jit
def _direction(g, w, weight_decay, maximize):
    """The gradient a step follows (Optimizer.effective_grad for one element): g, plus
    weight_decay * w, negated first when maximizing."""
    if weight_decay != 0:
        return w * weight_decay - g if maximize else w * weight_decay + g
    return -g if maximize else g


@_jit
def sgd_momentum(p, g, buffer, lr, momentum, keep, weight_decay, nesterov, maximize):
    """One SGD step with a momentum buffer (after its first step): d = g (+ weight_decay * p,
    negated when maximizing), buffer = buffer * momentum + d * keep (keep = 1 - dampening),
    p -= lr * (d + momentum * buffer if nesterov else buffer)."""
    for k in range(p.size):
        d = _direction(g[k], p[k], weight_decay, maximize)
        b = buffer[k] * momentum
        b = b + (d * keep if keep != 1 else d)
        buffer[k] = b
        p[k] -= (b * momentum + d if nesterov else b) * lr


@_jit
def adam(p, g, m, v, v_max, shrink, weight_decay, maximize, beta1, keep1, beta2, keep2, eps,
         step_size, amsgrad):
    """One Adam step: p *= shrink (decoupled weight decay; 1 for none), d = g (+ weight_decay *
    p, negated when maximizing), m = m * beta1 + d * keep1, v = v * beta2 + d * d * keep2 (keep
    = 1 - beta), p -= m / (sqrt(max(v_max, v) if amsgrad else v) + eps) * step_size, with eps
    and step_size the bias-corrected ones of :class:`deepgrad.optim.Adam`."""
    for k in range(p.size):
        w = p[k] * shrink
        d = _direction(g[k], w, weight_decay, maximize)
        a = m[k] * beta1 + d * keep1
        m[k] = a
        b = v[k] * beta2 + d * d * keep2
        v[k] = b
        if amsgrad:
            b = max(v_max[k], b)
            v_max[k] = b
        p[k] = w - a / (np.sqrt(b) + eps) * step_size


__all__ = ["adam", "channel_affine", "channel_grad_input", "channel_sums", "col2im", "depthwise",
           "depthwise_input_grad", "depthwise_weight_grad", "layer_norm", "layer_norm_backward",
           "max_pool", "max_pool_backward", "phase_split", "relu_grad", "sgd_momentum"]


@_jit
def erf(x, out):
    """out = erf(x) over flat arrays: the C library's erf, in float64 whatever the dtype (as the
    NumPy version computes), rounded once into ``out``."""
    for i in range(x.size):
        out[i] = math.erf(np.float64(x[i]))


@_jit
def gelu(x, y, cdf, inv_sqrt2, one, half):
    """cdf = (erf(x * inv_sqrt2) + one) * half and y = x * cdf over flat arrays: the NumPy
    version's passes in one, each step rounded to the arrays' dtype as there (the constants come
    in that dtype). The erf is the C library's, in float64: float32 results equal the NumPy
    version's; float64 ones differ where the two erfs differ in their last bit."""
    for i in range(x.size):
        v = x[i]
        cdf[i] = math.erf(np.float64(v * inv_sqrt2))
        c = (cdf[i] + one) * half
        cdf[i] = c
        y[i] = v * c


# Winograd F(4x4, 3x3) transforms (deepgrad.ops.winograd): tile t of a block of samples
# [n0, n1) is (n - n0) * th * tw + ty * tw + tx, and each works on 6x6 input tiles at rows and
# columns (4 ty, 4 tx) of the padded channel-major input; values past its edge count as zeros.
# The 1-D transforms below are inlined into the loops; their constants are made from ``one``
# (the arrays' dtype) so that float32 stays float32 (an integer literal promotes to float64).
_inline = numba.njit(inline="always", error_model="numpy")


@_inline
def _bt(d0, d1, d2, d3, d4, d5, one):
    """B^T d, B^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]."""
    two = one + one
    four = two + two
    five = four + one
    return (four * d0 - five * d2 + d4, d3 + d4 - four * (d1 + d2), four * (d1 - d2) + d4 - d3,
            two * (d3 - d1) + d4 - d2, two * (d1 - d3) + d4 - d2, four * d1 - five * d3 + d5)


@_inline
def _b(v0, v1, v2, v3, v4, v5, one):
    """B v: the adjoint of :func:`_bt`."""
    two = one + one
    four = two + two
    five = four + one
    return (four * v0, four * (v2 + v5 - v1) + two * (v4 - v3),
            -(five * v0) - four * (v1 + v2) - v3 - v4, v1 - v2 + two * (v3 - v4) - five * v5,
            v0 + v1 + v2 + v3 + v4, v5)


@_inline
def _at(m0, m1, m2, m3, m4, m5, one):
    """A^T m, A^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1]]."""
    two = one + one
    four = two + two
    eight = four + four
    p, q = m1 + m2, m1 - m2
    r, s = m3 + m4, m3 - m4
    return p + r + m0, q + two * s, p + four * r, q + eight * s + m5


@_inline
def _a(g0, g1, g2, g3, one):
    """A g: the adjoint of :func:`_at`."""
    two = one + one
    four = two + two
    eight = four + four
    even, odd = g0 + g2, g1 + g3
    even4, odd2 = g0 + four * g2, two * g1 + eight * g3
    return g0, even + odd, even - odd, even4 + odd2, even4 - odd2, g3


@_jit
def winograd_input(xpad, n0, n1, th, tw, v):
    """v[6a + b, c, t] = (B^T d B)[a, b] for the 6x6 tile d of channel c at tile t: first the
    row combinations over whole padded rows (contiguous loops), then the column ones per tile."""
    c_, _, hp, wp = xpad.shape
    rows = np.zeros((6, 4 * tw + 2), xpad.dtype)  # zeros past the padded width stay zeros
    zero = xpad.dtype.type(0)
    one = xpad.dtype.type(1)
    for c in range(c_):
        for n in range(n0, n1):
            base = (n - n0) * th * tw
            for ty in range(th):
                r = 4 * ty
                # the last row of tiles may reach up to three rows past the padded input
                in3, in4, in5 = r + 3 < hp, r + 4 < hp, r + 5 < hp
                for q in range(wp):
                    d3 = xpad[c, n, r + 3, q] if in3 else zero
                    d4 = xpad[c, n, r + 4, q] if in4 else zero
                    d5 = xpad[c, n, r + 5, q] if in5 else zero
                    e = _bt(xpad[c, n, r, q], xpad[c, n, r + 1, q], xpad[c, n, r + 2, q], d3, d4,
                            d5, one)
                    for a in range(6):
                        rows[a, q] = e[a]
                t = base + ty * tw
                for a in range(6):
                    for tx in range(tw):
                        q = 4 * tx
                        e = _bt(rows[a, q], rows[a, q + 1], rows[a, q + 2], rows[a, q + 3],
                                rows[a, q + 4], rows[a, q + 5], one)
                        for b in range(6):
                            v[6 * a + b, c, t + tx] = e[b]


@_jit
def winograd_output(m, bias, n0, n1, th, tw, y):
    """y[o, n] (channel-major (C_out, N, Ho, Wo)) tile by tile: A^T m A + bias[o], with
    m[a, b] = m[6a + b, o, t]; the last row and column of tiles write what lies inside."""
    co = m.shape[1]
    ho, wo = y.shape[2], y.shape[3]
    s = np.empty((4, 6), m.dtype)
    one = m.dtype.type(1)
    for o in range(co):
        shift = bias[o]
        for n in range(n0, n1):
            base = (n - n0) * th * tw
            for ty in range(th):
                r = 4 * ty
                for tx in range(tw):
                    q = 4 * tx
                    t = base + ty * tw + tx
                    for b in range(6):
                        e = _at(m[b, o, t], m[6 + b, o, t], m[12 + b, o, t], m[18 + b, o, t],
                                m[24 + b, o, t], m[30 + b, o, t], one)
                        for i in range(4):
                            s[i, b] = e[i]
                    for i in range(4):  # fixed trip counts (unrolled), with tests inside
                        if r + i < ho:
                            e = _at(s[i, 0], s[i, 1], s[i, 2], s[i, 3], s[i, 4], s[i, 5], one)
                            for j in range(4):
                                if q + j < wo:
                                    y[o, n, r + i, q + j] = e[j] + shift


@_jit
def winograd_output_grad(gy, n0, n1, th, tw, gm):
    """The adjoint of :func:`winograd_output` (without the bias): gm[6a + b, o, t] =
    (A g A^T)[a, b] for the 4x4 tile g of gy (channel-major (C_out, N, Ho, Wo), zeros past the
    edge)."""
    co, _, ho, wo = gy.shape
    g = np.zeros((4, 4), gy.dtype)
    f = np.empty((6, 4), gy.dtype)
    zero = gy.dtype.type(0)
    one = gy.dtype.type(1)
    for o in range(co):
        for n in range(n0, n1):
            base = (n - n0) * th * tw
            for ty in range(th):
                r = 4 * ty
                for tx in range(tw):
                    q = 4 * tx
                    t = base + ty * tw + tx
                    for i in range(4):
                        for j in range(4):
                            g[i, j] = gy[o, n, r + i, q + j] if r + i < ho and q + j < wo else zero
                    for j in range(4):
                        e = _a(g[0, j], g[1, j], g[2, j], g[3, j], one)
                        for a in range(6):
                            f[a, j] = e[a]
                    for a in range(6):
                        e = _a(f[a, 0], f[a, 1], f[a, 2], f[a, 3], one)
                        for b in range(6):
                            gm[6 * a + b, o, t] = e[b]


@_jit
def winograd_input_grad(gv, n0, n1, th, tw, gx, top, left):
    """The adjoint of :func:`winograd_input`, cropped: each padded plane of samples [n0, n1) =
    the sum over the tiles covering each position of (B gv B^T), summed in a work plane (as
    large as the tiles reach) whose window at (top, left) becomes gx[c, n] (channel-major
    (C, N, H, W), uninitialized; see col2im)."""
    c_ = gx.shape[0]
    h, w = gx.shape[2], gx.shape[3]
    f = np.empty((6, 6), gx.dtype)
    plane = np.empty((4 * th + 2, 4 * tw + 2), gx.dtype)
    zero = gx.dtype.type(0)
    one = gx.dtype.type(1)
    for c in range(c_):
        for n in range(n0, n1):
            plane[:] = zero
            base = (n - n0) * th * tw
            for ty in range(th):
                r = 4 * ty
                for tx in range(tw):
                    q = 4 * tx
                    t = base + ty * tw + tx
                    for b in range(6):
                        e = _b(gv[b, c, t], gv[6 + b, c, t], gv[12 + b, c, t], gv[18 + b, c, t],
                               gv[24 + b, c, t], gv[30 + b, c, t], one)
                        for a in range(6):
                            f[a, b] = e[a]
                    for a in range(6):
                        e = _b(f[a, 0], f[a, 1], f[a, 2], f[a, 3], f[a, 4], f[a, 5], one)
                        for b in range(6):
                            plane[r + a, q + b] += e[b]
            for i in range(h):
                for j in range(w):
                    gx[c, n, i, j] = plane[top + i, left + j]
