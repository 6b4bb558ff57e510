"""Whether operations record a graph: ``no_grad``, ``enable_grad`` and the switch they share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    # One module-level flag, read by every op; a class attribute is the cheapest mutable global.
    enabled = True


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad record a graph."""
    return _State.enabled


class _GradSwitch:
    """Context manager and decorator that sets grad recording on entry and restores it on exit."""

    _mode = True

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_State.enabled)
        _State.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _State.enabled = self._prev.pop()

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _State.enabled
            _State.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _State.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradSwitch):
    """Disable graph recording: ``with dg.no_grad(): ...`` or ``@dg.no_grad()``."""

    _mode = False


class enable_grad(_GradSwitch):
    """Re-enable graph recording inside a ``no_grad`` block or function."""

    _mode = True
