"""The losses' fused graph nodes: forward and backward of each loss on arrays.

The public, checked functions are in :mod:`deepgrad.nn.losses`; these trust their callers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from deepgrad.autograd import Function
from deepgrad.backend import xp


# ----------------------------------------------------------------------------- array helpers
def _reduce(losses: Any, reduction: str, count: Any) -> Any:
    """The losses, their sum, or their sum divided by ``count`` (nan when it is 0, as torch)."""
    if reduction == "none":
        return losses
    total = losses.sum()
    return total if reduction == "sum" else _divide(total, count)


def _divide(total: Any, count: Any) -> Any:
    if count:
        return total / count
    with xp.errstate(divide="ignore", invalid="ignore"):
        return total / xp.asarray(count, dtype=total.dtype)


def _scale(gy: Any, reduction: str, count: Any) -> Any:
    """d(reduced loss)/d(each loss), times gy: an array shaped like the losses, or a 0-d one."""
    return _divide(gy, count) if reduction == "mean" else gy


def _target_scale(gy: Any, reduction: str, targets: _Targets) -> Any:
    """``_scale`` for class-index targets; when every target is ignored, the mean is nan but
    the gradient is 0, as in PyTorch (not 0 * inf)."""
    s = _scale(gy, reduction, targets.total)
    if reduction == "mean" and not targets.total and targets.valid is not None:
        s = xp.where(targets.valid != 0, s, 0)
    return s


def _per_position(v: Any) -> Any:
    """A per-position value (N, ...) made to broadcast over the class axis 1 (scalars as is)."""
    return v[:, None] if xp.ndim(v) else v


def _class_axis(weight: Any, ndim: int) -> Any:
    """Class weights (C,) shaped to broadcast along axis 1 of an (N, C, ...) array."""
    return weight.reshape((-1,) + (1,) * (ndim - 2))


def _pick(a: Any, index: Any) -> Any:
    """``a[n, index[n, ...], ...]`` along the class axis 1: (N, C, ...), (N, ...) -> (N, ...)."""
    if a.ndim == 2:
        return a[xp.arange(a.shape[0]), index]
    return xp.take_along_axis(a, index[:, None], axis=1)[:, 0]


def _subtract_at(a: Any, index: Any, value: Any) -> None:
    """``a[n, index[n, ...], ...] -= value`` in place (one class per position: no repeats)."""
    if a.ndim == 2:
        a[xp.arange(a.shape[0]), index] -= value
        return
    at = index[:, None]
    xp.put_along_axis(a, at, xp.take_along_axis(a, at, axis=1) - _per_position(value), axis=1)


def _softmax(x: Any) -> tuple[Any, Any, Any]:
    """(x - max, exp of it, sum of the exps) along the class axis 1."""
    shifted = x - xp.maximum.reduce(x, axis=1, keepdims=True)
    exp = xp.exp(shifted)
    return shifted, exp, exp.sum(axis=1)


# ----------------------------------------------------------------------------- fused ops
class Pointwise(Function):
    """loss = w * f(x - t) elementwise, reduced: one node for mse, l1, huber and smooth_l1.

    f(d): mse d**2; l1 |d|; huber d**2 / 2 where |d| < delta, else delta * (|d| - delta / 2),
    which is c * (d - c / 2) with c = clip(d, -delta, delta) = f'(d); smooth_l1 huber(beta) / beta.
    gx = w * f'(d) * gy (/ numel, or / sum(w) for a weighted mse or l1, for the mean), gt = -gx.
    """

    @staticmethod
    def forward(ctx, x, t, weight, kind, param, reduction):
        d = x - t
        # PyTorch's weighted mean divides by sum(w) for mse and l1, by the count for huber
        count = weight.sum() if weight is not None and kind in ("mse", "l1") else d.size
        factor = 1 / param if kind == "smooth_l1" else 1
        slope = None
        if kind == "mse":
            factors = (d, d)
        elif kind == "l1":
            factors = None
        else:
            slope = xp.clip(d, -param, param)  # no masks: NumPy's masked selects are slow
            half = slope * -0.5
            half += d
            factors = (slope, half)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            ctx.save(d=d, slope=slope, factor=factor, weight=weight, kind=kind,
                     reduction=reduction, count=count, dtypes=(x.dtype, t.dtype))
        if factors is None:
            losses = xp.abs(d)
        elif weight is None and reduction != "none":
            # the sum of the products as one BLAS dot: no array of losses at all
            total = xp.dot(factors[0].reshape(-1), factors[1].reshape(-1)) * factor
            return total if reduction == "sum" else _divide(total, count)
        else:
            losses = factors[0] * factors[1]
            if factor != 1:
                losses *= factor
        if weight is not None:
            losses *= weight
        return _reduce(losses, reduction, count)

    @staticmethod
    def backward(ctx, gy):
        kind = ctx.kind
        s = _scale(gy, ctx.reduction, ctx.count)
        if ctx.weight is not None:
            s = ctx.weight * s
        if kind == "mse":
            g = ctx.d * (2 * s)
        elif kind == "l1":
            g = xp.sign(ctx.d)
            g *= s
        else:
            g = ctx.slope * (s * ctx.factor)
        x_dtype, t_dtype = ctx.dtypes
        gx = g.astype(x_dtype, copy=False) if ctx.needs_input_grad[0] else None
        gt = (-g).astype(t_dtype, copy=False) if ctx.needs_input_grad[1] else None
        return gx, gt


class BinaryCrossEntropy(Function):
    """loss = -w * (t * log(x) + (1 - t) * log(1 - x)), each log clamped to >= -100 (as torch).

    gx = w * (x - t) / max(x * (1 - x), 1e-12) * gy;  gt = w * (log(1 - x) - log(x)) * gy.
    """

    @staticmethod
    def forward(ctx, x, t, weight, reduction):
        with xp.errstate(divide="ignore"):  # log(0) = -inf, clamped below
            log_x, log_1mx = xp.log(x), xp.log1p(-x)
        xp.maximum(log_x, -100, out=log_x)
        xp.maximum(log_1mx, -100, out=log_1mx)
        losses = (t - 1) * log_1mx
        losses -= t * log_x
        if weight is not None:
            losses *= weight
        ctx.save(x=x, t=t, weight=weight, reduction=reduction)
        return _reduce(losses, reduction, losses.size)

    @staticmethod
    def backward(ctx, gy):
        x, t, weight = ctx.x, ctx.t, ctx.weight
        s = _scale(gy, ctx.reduction, x.size)
        gx = gt = None
        if ctx.needs_input_grad[0]:
            denominator = x * (1 - x)
            xp.maximum(denominator, 1e-12, out=denominator)
            gx = (x - t) / denominator
            gx *= s if weight is None else weight * s
            gx = gx.astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            with xp.errstate(divide="ignore"):
                gt = xp.log1p(-x) - xp.log(x)
            gt *= s if weight is None else weight * s
            gt = gt.astype(t.dtype, copy=False)
        return gx, gt


class BinaryCrossEntropyWithLogits(Function):
    """loss = w * ((1 - t) * x + (1 + (p - 1) * t) * softplus(-x)), p = pos_weight (1 if None);
    softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) is finite for any x.

    gx = w * ((1 + (p - 1) * t) * sigmoid(x) - p * t) * gy;  gt = w * ((p - 1) * softplus(-x) - x)
    * gy.  Written as PyTorch's: log(1 + exp(-|x|)) and 1 / (1 + exp(-x)).
    """

    @staticmethod
    def forward(ctx, x, t, weight, pos_weight, reduction):
        softplus = xp.abs(x)
        xp.negative(softplus, out=softplus)
        xp.exp(softplus, out=softplus)
        softplus += 1
        xp.log(softplus, out=softplus)
        softplus -= xp.minimum(x, 0)
        losses = (1 - t) * x
        losses += softplus if pos_weight is None else ((pos_weight - 1) * t + 1) * softplus
        if weight is not None:
            losses *= weight
        ctx.save(x=x, t=t, softplus=softplus, weight=weight, pos_weight=pos_weight,
                 reduction=reduction)
        return _reduce(losses, reduction, losses.size)

    @staticmethod
    def backward(ctx, gy):
        x, t, pos_weight = ctx.x, ctx.t, ctx.pos_weight
        s = _scale(gy, ctx.reduction, x.size)
        if ctx.weight is not None:
            s = ctx.weight * s
        gx = gt = None
        if ctx.needs_input_grad[0]:
            with xp.errstate(over="ignore"):  # exp(-x) = inf gives 1 / inf = 0: exact
                sigmoid = xp.exp(-x)
            sigmoid += 1
            xp.divide(1, sigmoid, out=sigmoid)
            if pos_weight is None:
                gx = sigmoid - t
            else:
                gx = ((pos_weight - 1) * t + 1) * sigmoid
                gx -= pos_weight * t
            gx *= s
            gx = gx.astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            gt = -x if pos_weight is None else (pos_weight - 1) * ctx.softplus - x
            gt = (gt * s).astype(t.dtype, copy=False)
        return gx, gt


class _Targets(NamedTuple):
    """Checked class-index targets: the indices (0 where ignored), each position's weight
    ``w[t]`` (0 where ignored; None when all are 1), 1/0 for not ignored/ignored (None when
    none is ignored), and the sum of the position weights (the mean's divisor)."""

    index: Any
    weight_at: Any
    valid: Any
    total: Any


class NLLLoss(Function):
    """loss_i = -w[t_i] * x[i, t_i] (0 where t_i is ignored), reduced;  gx[i, t_i] = -w[t_i] * gy_i.
    """

    @staticmethod
    def forward(ctx, x, targets, reduction):
        losses = -_pick(x, targets.index)
        if targets.weight_at is not None:
            losses *= targets.weight_at
        ctx.save(shape=x.shape, dtype=x.dtype, targets=targets, reduction=reduction)
        return _reduce(losses, reduction, targets.total)

    @staticmethod
    def backward(ctx, gy):
        targets = ctx.targets
        gx = xp.zeros(ctx.shape, ctx.dtype)
        s = _target_scale(gy, ctx.reduction, targets)
        _subtract_at(gx, targets.index, s if targets.weight_at is None else targets.weight_at * s)
        return gx


class CrossEntropy(Function):
    """loss_i = (1 - e) * r_i * (lse_i - x[i, t_i]) + e / C * v_i * sum_c w_c * (lse_i - x_ic).

    x: (N, C, ...) logits; t: (N, ...) class indices; lse_i = logsumexp of x_i over the classes;
    r_i = w[t_i] and v_i = 1, both 0 where t_i is ignored; e = label_smoothing. The mean divides
    by sum_i r_i. With no weight, ignored target or smoothing (the fast path) this is
    lse_i - x[i, t_i], with gx = (softmax(x_i) - one_hot(t_i)) * gy_i; in general
    gx = softmax(x_i) * a_i * gy_i - (1 - e) * r_i * one_hot(t_i) * gy_i - e / C * v_i * w * gy_i,
    a_i = (1 - e) * r_i + e / C * v_i * sum(w).
    """

    @staticmethod
    def forward(ctx, x, targets, weight, reduction, smoothing):
        shifted, exp, sums = _softmax(x)
        losses = xp.log(sums)
        if smoothing:
            smooth = (losses * x.shape[1] - shifted.sum(axis=1) if weight is None else
                      losses * weight.sum() - (shifted * _class_axis(weight, x.ndim)).sum(axis=1))
        losses -= _pick(shifted, targets.index)
        if targets.weight_at is not None:
            losses *= targets.weight_at
        if smoothing:
            if targets.valid is not None:
                smooth *= targets.valid
            losses *= 1 - smoothing
            losses += smooth * (smoothing / x.shape[1])
        if ctx.needs_input_grad[0]:
            exp /= sums[:, None]
            ctx.save(softmax=exp, x=x, targets=targets, weight=weight, reduction=reduction,
                     smoothing=smoothing)
        return _reduce(losses, reduction, targets.total)

    @staticmethod
    def backward(ctx, gy):
        gx = ctx.softmax
        if gx is None:  # a second backward through a retained graph: the first one consumed it
            _, gx, sums = _softmax(ctx.x)
            gx /= sums[:, None]
        else:
            ctx.softmax = None  # this node's own array: the gradient is built in it, in place
        targets, smoothing, weight = ctx.targets, ctx.smoothing, ctx.weight
        s = _target_scale(gy, ctx.reduction, targets)
        if targets.weight_at is None and not smoothing:
            _subtract_at(gx, targets.index, 1)
            gx *= _per_position(s)
            return gx
        classes = gx.shape[1]
        valid = 1 if targets.valid is None else targets.valid
        target_part = (1 - smoothing) * (1 if targets.weight_at is None else targets.weight_at)
        spread = smoothing / classes
        gx *= _per_position((target_part + spread * (classes if weight is None else weight.sum())
                             * valid) * s)
        _subtract_at(gx, targets.index, target_part * s)
        if smoothing:
            gx -= spread * (1 if weight is None else _class_axis(weight, gx.ndim)) * \
                _per_position(valid * s)
        return gx


class SoftCrossEntropy(Function):
    """Cross-entropy with class-probability targets t (the input's shape), q = w * ((1 - e) * t
    + e / C):  loss_i = -sum_c q_ic * log_softmax(x_i)_c;  the mean divides by N * d1 * ...

    gx = (softmax(x_i) * sum_c q_ic - q_i) * gy_i;  gt = -(1 - e) * w * log_softmax(x_i) * gy_i.
    """

    @staticmethod
    def forward(ctx, x, t, weight, reduction, smoothing):
        shifted, exp, sums = _softmax(x)  # in x's dtype; float64 targets promote q and the loss
        log_p = shifted
        log_p -= xp.log(sums)[:, None]
        q = t * (1 - smoothing) + smoothing / x.shape[1] if smoothing else t
        if weight is not None:
            q = q * _class_axis(weight, x.ndim)
        losses = (q * log_p).sum(axis=1)
        xp.negative(losses, out=losses)
        count = x.size // x.shape[1] if x.shape[1] else 0
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            exp /= sums[:, None]
            ctx.save(softmax=exp, q=q, log_p=log_p, weight=weight, reduction=reduction,
                     smoothing=smoothing, count=count, dtypes=(x.dtype, t.dtype))
        return _reduce(losses, reduction, count)

    @staticmethod
    def backward(ctx, gy):
        s = _per_position(_scale(gy, ctx.reduction, ctx.count))
        x_dtype, t_dtype = ctx.dtypes
        gx = gt = None
        if ctx.needs_input_grad[0]:
            q = ctx.q
            gx = ctx.softmax * q.sum(axis=1, keepdims=True)
            gx -= q
            gx *= s
            gx = gx.astype(x_dtype, copy=False)
        if ctx.needs_input_grad[1]:
            gt = ctx.log_p * -(1 - ctx.smoothing)
            if ctx.weight is not None:
                gt *= _class_axis(ctx.weight, gt.ndim)
            gt = (gt * s).astype(t_dtype, copy=False)
        return gx, gt


class KLDiv(Function):
    """loss = t * (log(t) - x) (0 where t = 0), or exp(t) * (t - x) with log_target; reduced.

    gx = -t * gy (or -exp(t) * gy);  gt = (log(t) + 1 - x) * gy (or exp(t) * (t - x + 1) * gy).
    """

    @staticmethod
    def forward(ctx, x, t, log_target, reduction, count):
        if log_target:
            p = xp.exp(t)
            losses = (t - x) * p
        else:
            with xp.errstate(invalid="ignore"):  # log(t) is nan for t < 0, as in PyTorch
                p = xp.log(t + (t == 0))  # log(1) where t = 0: t * (log(t) - x) is then 0
            losses = (p - x) * t
        ctx.save(x=x, t=t, p=p, log_target=log_target, reduction=reduction, count=count)
        return _reduce(losses, reduction, count)

    @staticmethod
    def backward(ctx, gy):
        x, t, p = ctx.x, ctx.t, ctx.p
        s = _scale(gy, ctx.reduction, ctx.count)
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = ((p if ctx.log_target else t) * -s).astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            if ctx.log_target:
                gt = (t - x + 1) * p
            else:
                with xp.errstate(divide="ignore", invalid="ignore"):
                    gt = xp.log(t) - x + 1  # -inf at t = 0: the derivative of t * log(t)
            gt = (gt * s).astype(t.dtype, copy=False)
        return gx, gt


# ----------------------------------------------------------------------------- checks
