"""Loss functions (PyTorch's ``torch.nn.functional`` losses): how wrong an output is, as a number.

Each loss is one fused graph node, except the cosine embedding loss (written from Tensor ops):
cross-entropy (log-softmax, pick, reduce) and binary cross-entropy with logits are stable for
any logits, and the regression losses share one node, so that an RL step's ``mse_loss`` on 128
values costs one op instead of three.

Shapes are stricter than PyTorch's: where torch broadcasts an input and a target of different
shapes with a warning (``(N, 1)`` against ``(N,)`` gives an ``(N, N)`` loss, a classic silent
bug), these losses raise a ShapeError.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

from deepgrad.autograd import Function
from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import _State
from deepgrad.ops.activations import clamp
from deepgrad.ops.indexing import where
from deepgrad.tensor import Tensor, to_array

_REDUCTIONS = ("mean", "sum", "none")
_COSINE_EPS = 1e-12  # PyTorch's epsilon under the squared norms of cosine_embedding_loss


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
def check_reduction(op: str, reduction: Any, allowed: tuple = _REDUCTIONS) -> None:
    """Raise unless ``reduction`` is one of ``allowed``."""
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {', '.join(map(repr, allowed))}; got "
                         f"{reduction!r}")


def _check_input(op: str, input: Any, name: str = "input") -> Any:
    """The array of a floating point Tensor argument, or a TypeError."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor; got {type(input).__name__}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point; got {input.data.dtype}")
    return input.data


def _float_target(op: str, input: Tensor, target: Any) -> Tensor:
    """The target as a Tensor (keeping its graph) with the input's shape and a float dtype."""
    t = target if isinstance(target, Tensor) else Tensor._make(to_array(target))
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point like the input; got "
                        f"{t.data.dtype} (convert it with .float())")
    if t.shape != input.shape:
        try:
            hint = (f"; broadcasting them would give shape "
                    f"{shape_str(xp.broadcast_shapes(input.shape, t.shape))}, rarely what is meant")
        except ValueError:
            hint = ""
        raise ShapeError(f"{op}: target shape {shape_str(t.shape)} differs from input shape "
                         f"{shape_str(input.shape)}; losses here do not broadcast them{hint}")
    return t


def _constant(op: str, name: str, value: Any, dtype: Any, shape: tuple | None = None,
              broadcasts_to: tuple | None = None) -> Any:
    """A weight argument as an array of ``dtype``: it gets no gradient (raises if it needs one),
    and has ``shape`` or broadcasts to ``broadcasts_to``."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.requires_grad and _State.enabled:
            raise ValueError(f"{op}: {name} requires grad, but the loss is not differentiable "
                             f"with respect to {name} (as in PyTorch); pass {name}.detach()")
        value = value.data
    try:
        a = to_array(value)
    except TypeError:
        a = None
    if a is None or a.dtype.kind not in "fiu":
        raise TypeError(f"{op}: {name} must be a Tensor or an array of numbers; got "
                        f"{type(value).__name__}" + ("" if a is None else f" of dtype {a.dtype}"))
    if shape is not None and a.shape != shape:
        raise ShapeError(f"{op}: {name} must have shape {shape_str(shape)}; got "
                         f"{shape_str(a.shape)}")
    if broadcasts_to is not None:
        try:
            fits = xp.broadcast_shapes(a.shape, broadcasts_to) == broadcasts_to
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{op}: {name} of shape {shape_str(a.shape)} does not broadcast to "
                             f"the input's shape {shape_str(broadcasts_to)}")
    return a.astype(dtype, copy=False)


def _position(flat: int, shape: tuple) -> str:
    if len(shape) <= 1:
        return str(flat)
    return str(tuple(int(i) for i in xp.unravel_index(flat, shape)))


def _check_range(op: str, name: str, a: Any, low: float, high: float, hint: str = "") -> None:
    """Raise naming the first element of ``a`` outside [low, high] (one min and max pass)."""
    if a.size and (a.min() < low or a.max() > high):
        flat = int(xp.flatnonzero((a < low) | (a > high))[0])
        raise ValueError(f"{op}: {name} must be in [{low:g}, {high:g}]; got "
                         f"{a.flat[flat].item()!r} at position {_position(flat, a.shape)}{hint}")


def _class_index_target(op: str, x_shape: tuple, t: Any, probabilities: bool) -> bool:
    """Check a target of a classification loss; True when it holds class probabilities."""
    index_shape = x_shape[:1] + x_shape[2:] if len(x_shape) > 1 else ()
    if probabilities and t.shape == x_shape:
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: a target with the input's shape {shape_str(x_shape)} holds "
                            f"class probabilities, which must be floating point; got {t.dtype}")
        return True
    if t.shape != index_shape:
        alternative = f" (class indices) or {shape_str(x_shape)} (class probabilities)" \
            if probabilities else ""
        raise ShapeError(f"{op}: target must have shape {shape_str(index_shape)}{alternative} "
                         f"for input of shape {shape_str(x_shape)}; got {shape_str(t.shape)}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target of shape {shape_str(t.shape)} must hold integer class "
                        f"indices; got dtype {t.dtype}"
                        + (f" (class probabilities need the input's shape {shape_str(x_shape)})"
                           if probabilities else ""))
    return False


def _class_targets(op: str, x: Any, t: Any, weight: Any, ignore_index: int) -> _Targets:
    """Validate class indices (N, ...) for input (N, C, ...) against C, cheaply: one min and one
    max, and a full scan only when some index is ignored or out of range."""
    classes = x.shape[1]
    ignored = None
    if t.size:
        if t.min() < 0 or t.max() >= classes:
            bad = (t < 0) | (t >= classes)
            bad &= t != ignore_index
            if bad.any():
                flat = int(xp.flatnonzero(bad)[0])
                raise ValueError(
                    f"{op}: target has class index {int(t.flat[flat])} at position "
                    f"{_position(flat, t.shape)}, but input has {classes} classes (shape "
                    f"{shape_str(x.shape)}); expected 0 to {classes - 1} or ignore_index="
                    f"{ignore_index}")
            ignored = t == ignore_index
        elif 0 <= ignore_index < classes:
            ignored = t == ignore_index
            if not ignored.any():
                ignored = None
    if ignored is None and weight is None:
        return _Targets(t, None, None, t.size)
    valid = None
    if ignored is not None:
        valid = (~ignored).astype(x.dtype)
        t = xp.where(ignored, 0, t)
    weight_at = valid if weight is None else weight[t] if valid is None else weight[t] * valid
    return _Targets(t, weight_at, valid, weight_at.sum())


def check_number(op: str, name: str, value: Any, low: float, high: float = float("inf"),
                 low_open: bool = False) -> float:
    """``value`` as a float, or an error unless it is a number in [low, high] (> low if
    ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, xp.integer, xp.floating)):
        raise TypeError(f"{op}: {name} must be a number; got {type(value).__name__}")
    value = float(value)
    if not (low < value if low_open else low <= value) or value > high:
        bounds = f"> {low:g}" if low_open else \
            f">= {low:g}" if high == float("inf") else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{op}: {name} must be {bounds}; got {value:g}")
    return value


# ----------------------------------------------------------------------------- regression
def _pointwise(op: str, kind: str, input: Tensor, target: Any, reduction: str, param: float,
               weight: Any) -> Tensor:
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    w = _constant(op, "weight", weight, xp.result_type(x, t.data), shape=x.shape)
    return Pointwise.apply(input, t, weight=w, kind=kind, param=param, reduction=reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error ``(input - target)**2``, reduced (PyTorch's ``F.mse_loss``).

    Input and target must have the same shape: unlike PyTorch (which broadcasts with a warning,
    so that (N, 1) against (N,) silently gives an (N, N) loss), a mismatch raises a ShapeError.

    Args:
        input: the predictions, floating point.
        target: the values to match, floating point, of the same shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'`` (the elementwise losses).
        weight: optional per-element weights of the input's shape (not differentiated); the mean
            then divides by ``weight.sum()``, as in PyTorch.
    """
    return _pointwise("mse_loss", "mse", input, target, reduction, 0.0, weight)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean absolute error ``|input - target|`` (PyTorch's ``F.l1_loss``); see :func:`mse_loss`
    for the arguments and the strict shapes."""
    return _pointwise("l1_loss", "l1", input, target, reduction, 0.0, weight)


def huber_loss(input: Tensor, target: Any, reduction: str = "mean", delta: float = 1.0,
               weight: Any = None) -> Tensor:
    """Huber loss (PyTorch's ``F.huber_loss``): ``d**2 / 2`` where ``|d| < delta``, else
    ``delta * (|d| - delta / 2)``, with ``d = input - target`` and ``delta > 0``; see
    :func:`mse_loss` for the other arguments and the strict shapes (but with ``weight`` the mean
    divides by the number of elements, as PyTorch's does for this loss)."""
    delta = check_number("huber_loss", "delta", delta, 0.0, low_open=True)
    return _pointwise("huber_loss", "huber", input, target, reduction, delta, weight)


def smooth_l1_loss(input: Tensor, target: Any, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """Smooth L1 loss (PyTorch's ``F.smooth_l1_loss``): ``d**2 / (2 * beta)`` where
    ``|d| < beta``, else ``|d| - beta / 2``; ``beta = 0`` is the L1 loss. Input and target must
    have the same shape (see :func:`mse_loss`)."""
    beta = check_number("smooth_l1_loss", "beta", beta, 0.0)
    return _pointwise("smooth_l1_loss", "smooth_l1" if beta else "l1", input, target, reduction,
                      beta, None)


# ----------------------------------------------------------------------------- binary
def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities and targets in [0, 1] (PyTorch's
    ``F.binary_cross_entropy``); each log is clamped to >= -100, as in PyTorch.

    Args:
        input: probabilities in [0, 1] (for logits use the stable
            :func:`binary_cross_entropy_with_logits`).
        target: values in [0, 1] of the input's shape.
        weight: optional rescaling weights that broadcast to the input's shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "binary_cross_entropy"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    _check_range(op, "input", x, 0, 1, " (apply sigmoid first, or use "
                 "binary_cross_entropy_with_logits on the logits)")
    _check_range(op, "target", t.data, 0, 1)
    w = _constant(op, "weight", weight, xp.result_type(x, t.data), broadcasts_to=x.shape)
    return BinaryCrossEntropy.apply(input, t, weight=w, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Sigmoid and binary cross-entropy as one stable op (PyTorch's
    ``F.binary_cross_entropy_with_logits``): finite for any logits.

    Args:
        input: logits.
        target: values in [0, 1] (not checked, as in PyTorch) of the input's shape.
        weight: optional rescaling weights that broadcast to the input's shape.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
        pos_weight: optional weight of the positive term, broadcasting to the input's shape
            (usually one per class, along the last dim).
    """
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    dtype = xp.result_type(x, t.data)
    w = _constant(op, "weight", weight, dtype, broadcasts_to=x.shape)
    p = _constant(op, "pos_weight", pos_weight, dtype, broadcasts_to=x.shape)
    return BinaryCrossEntropyWithLogits.apply(input, t, weight=w, pos_weight=p,
                                              reduction=reduction)


# ----------------------------------------------------------------------------- classification
def _batched(input: Tensor, target: Any) -> tuple[Tensor, Any]:
    """One example (C,) as a batch of one, (1, C), with its target (a Tensor or an array)."""
    return input.reshape(1, -1), target.reshape((1, *target.shape))


def cross_entropy(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and class indices or class probabilities (PyTorch's
    ``F.cross_entropy``), as one fused op that is stable for any logits.

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,) for one example.
        target: class indices (N,), (N, d1, ...) or (), integer; or class probabilities of the
            input's shape, floating point (they may require grad).
        weight: optional weight per class, shape (C,) (not differentiated).
        ignore_index: a class index whose targets add nothing to the loss nor to the mean's
            divisor (class-index targets only).
        reduction: ``'mean'`` (default: divides by the summed weights of the targets not
            ignored; by N * d1 * ... for probabilities), ``'sum'`` or ``'none'``.
        label_smoothing: in [0, 1]: the target is mixed with the uniform distribution, with
            PyTorch's formula (class weights included).
    """
    op = "cross_entropy"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    if x.ndim == 0:
        raise ShapeError(f"{op}: expects input (N, C), (N, C, d1, ...) or (C,); got ()")
    t = target.data if isinstance(target, Tensor) else xp.asarray(target)
    probabilities = _class_index_target(op, x.shape, t, probabilities=True)
    if label_smoothing:
        label_smoothing = check_number(op, "label_smoothing", label_smoothing, 0.0, 1.0)
    if x.ndim == 1:
        one = target if isinstance(target, Tensor) else t
        loss = cross_entropy(*_batched(input, one), weight, ignore_index=ignore_index,
                             reduction=reduction, label_smoothing=label_smoothing)
        return loss.reshape(()) if reduction == "none" else loss
    w = _constant(op, "weight", weight, x.dtype, shape=x.shape[1:2])
    if probabilities:
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index={ignore_index} is not supported with class "
                             "probability targets (the target has the input's shape)")
        tt = target if isinstance(target, Tensor) else Tensor._make(t)
        return SoftCrossEntropy.apply(input, tt, weight=w, reduction=reduction,
                                      smoothing=label_smoothing)
    return CrossEntropy.apply(input, targets=_class_targets(op, x, t, w, ignore_index), weight=w,
                              reduction=reduction, smoothing=label_smoothing)


def nll_loss(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities (PyTorch's
    ``F.nll_loss``): ``-weight[t] * input[n, t]``.

    Args:
        input: log-probabilities (N, C), (N, C, d1, ...) or (C,) for one example.
        target: class indices (N,), (N, d1, ...) or (), integer.
        weight: optional weight per class, shape (C,) (not differentiated).
        ignore_index: a class index whose targets add nothing to the loss nor to the mean's
            divisor.
        reduction: ``'mean'`` (default: divides by the summed weights of the targets not
            ignored), ``'sum'`` or ``'none'``.
    """
    op = "nll_loss"
    check_reduction(op, reduction)
    x = _check_input(op, input)
    if x.ndim == 0:
        raise ShapeError(f"{op}: expects input (N, C), (N, C, d1, ...) or (C,); got ()")
    t = target.data if isinstance(target, Tensor) else xp.asarray(target)
    _class_index_target(op, x.shape, t, probabilities=False)
    if x.ndim == 1:
        loss = nll_loss(*_batched(input, t), weight, ignore_index=ignore_index,
                        reduction=reduction)
        return loss.reshape(()) if reduction == "none" else loss
    w = _constant(op, "weight", weight, x.dtype, shape=x.shape[1:2])
    return NLLLoss.apply(input, targets=_class_targets(op, x, t, w, ignore_index),
                         reduction=reduction)


# ----------------------------------------------------------------------------- distributions
def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from the distribution with log-probabilities
    ``input`` (PyTorch's ``F.kl_div``): ``target * (log(target) - input)`` elementwise.

    Args:
        input: log-probabilities.
        target: probabilities (log-probabilities with ``log_target``) of the input's shape.
        reduction: ``'mean'`` (default, over all elements: warns, as PyTorch), ``'batchmean'``
            (the sum divided by the batch size: the KL divergence per example), ``'sum'`` or
            ``'none'``.
        log_target: whether ``target`` holds log-probabilities.
    """
    op = "kl_div"
    check_reduction(op, reduction, ("mean", "batchmean", "sum", "none"))
    x = _check_input(op, input)
    t = _float_target(op, input, target)
    if reduction == "mean":
        warnings.warn("kl_div: reduction='mean' divides by the number of elements, not by the "
                      "batch size; reduction='batchmean' gives the KL divergence per example",
                      UserWarning, stacklevel=2)
    count = x.size if reduction == "mean" else x.shape[0] if x.ndim else 1
    return KLDiv.apply(input, t, log_target=bool(log_target), count=count,
                       reduction="mean" if reduction == "batchmean" else reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Any, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """Cosine embedding loss (PyTorch's ``F.cosine_embedding_loss``): ``1 - cos(x1, x2)`` where
    the target is 1, ``max(0, cos(x1, x2) - margin)`` where it is -1.

    Args:
        input1: (N, D) or (D,), floating point.
        input2: the same shape as ``input1``.
        target: 1 or -1 for each pair: shape (N,) (or () for one pair); other values raise
            (PyTorch would silently count them as 0).
        margin: a number; PyTorch suggests 0 to 0.5.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
    """
    op = "cosine_embedding_loss"
    check_reduction(op, reduction)
    a = _check_input(op, input1, "input1")
    b = _check_input(op, input2, "input2")
    if a.ndim not in (1, 2) or a.shape != b.shape:
        raise ShapeError(f"{op}: expects input1 and input2 of the same shape (N, D) or (D,); got "
                         f"{shape_str(a.shape)} and {shape_str(b.shape)}")
    t = to_array(target)
    if t.shape != a.shape[:-1]:
        raise ShapeError(f"{op}: target must have shape {shape_str(a.shape[:-1])} for inputs of "
                         f"shape {shape_str(a.shape)}; got {shape_str(t.shape)}")
    positive = t == 1
    wrong = ~(positive | (t == -1))
    if wrong.any():
        flat = int(xp.flatnonzero(wrong)[0])
        raise ValueError(f"{op}: target must hold 1 (similar) or -1 (dissimilar); got "
                         f"{t.flat[flat].item()!r} at position {_position(flat, t.shape)}")
    margin = check_number(op, "margin", margin, -float("inf"))
    dot = (input1 * input2).sum(dim=-1)
    norms = ((input1 * input1).sum(dim=-1) + _COSINE_EPS) * \
        ((input2 * input2).sum(dim=-1) + _COSINE_EPS)
    cos = dot / norms.sqrt()
    losses = where(positive, 1 - cos, clamp(cos - margin, min=0))
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]
