"""Anomaly detection: find the op (and the layer) where a NaN or an infinity first appeared.

Inside ``with dg.detect_anomaly():`` every recorded op remembers the layers it was called from
and whether it turned finite inputs into a non-finite output. Then backward raises at the first
problem, naming the op and the layer:

* starting from a non-finite loss, it names the first op of the forward pass that produced a
  non-finite value from finite inputs (``Log in layer 'head.1' produced inf``);
* otherwise, it names the first op whose backward produced a non-finite gradient.

It costs a check of every array, so it is off by default and meant for debugging.
"""

from __future__ import annotations

from typing import Any, ClassVar

from deepgrad.backend import xp
from deepgrad.errors import BackwardError


class _Anomaly:
    # Class attributes: read by every recorded op, so one cheap global lookup when it is off.
    enabled = False
    modules: ClassVar[list] = []  # the modules being called, outermost first (maintained by Module)
    recorded = 0  # ops recorded so far: orders the nodes as the forward pass ran them


class detect_anomaly:
    """Context manager: check every op's outputs and gradients for NaN/inf while it is active;
    backward then raises a :class:`BackwardError` naming the op and the layer at fault."""

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> detect_anomaly:
        self._previous.append(_Anomaly.enabled)
        _Anomaly.enabled = True
        return self

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled = self._previous.pop()


def is_anomaly_enabled() -> bool:
    """True inside ``dg.detect_anomaly()``."""
    return _Anomaly.enabled


def _finite(arrays: Any) -> bool:
    for a in arrays:
        if isinstance(a, xp.ndarray) and a.dtype.kind in "fc" and not xp.isfinite(a).all():
            return False
    return True


def note_forward(node: Any, inputs: list, outputs: tuple) -> None:
    """Remember where ``node`` was called from and whether it created a non-finite value."""
    _Anomaly.recorded += 1
    node._anomaly_order = _Anomaly.recorded
    node._anomaly_where = tuple(_Anomaly.modules)
    node._anomaly_created = (not _finite(o.data for o in outputs)) and _finite(inputs)


def where(node: Any) -> str:
    """``" in layer 'features.0' (Conv2d)"`` for the innermost module the op ran in, or ''."""
    stack = getattr(node, "_anomaly_where", ())
    if not stack:
        return ""
    inner = stack[-1]
    for path, module in stack[0].named_modules():
        if module is inner:
            name = f"'{path}' " if path else ""
            return f" in layer {name}({type(inner).__name__})"
    return f" in a {type(inner).__name__}"


def check_root(root: Any, order: list) -> None:
    """Raise when backward starts from a non-finite value, naming the op that first made one."""
    if _finite((root.data,)):
        return
    created = [n for n in order if getattr(n, "_anomaly_created", False)]
    if created:
        node = min(created, key=lambda n: n._anomaly_order)
        raise BackwardError(
                f"detect_anomaly: backward started from a non-finite value; the first op of the "
                f"forward pass that produced NaN or inf from finite inputs was "
                f"{type(node).__name__}{where(node)}")
    raise BackwardError("detect_anomaly: backward started from a non-finite value, which no "
                        "op recorded under detect_anomaly produced: an input was already NaN "
                        "or inf")


def check_gradients(node: Any, gxs: tuple) -> None:
    """Raise when ``node``'s backward returned a non-finite gradient from finite ones."""
    if not _finite(gxs):
        raise BackwardError(
            f"detect_anomaly: {type(node).__name__}{where(node)} returned a NaN or inf "
            f"gradient in backward")
