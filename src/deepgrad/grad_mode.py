"""Whether operations record a graph: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode`` and the switch they share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    # One module-level flag, read by every op; a class attribute is the cheapest mutable global.
    enabled = True


class _Trace:
    """While a graph is being traced (``deepgrad.export``), ``observer(cls, args, options,
    outputs)`` sees every op applied, with its Tensor and plain arguments and its outputs."""

    observer: Callable[[type, tuple, dict, Any], None] | None = None


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


class set_grad_enabled(_GradSwitch):
    """Set graph recording on or off: as a call (``dg.set_grad_enabled(False)``, in effect
    until changed), a context manager or a decorator (PyTorch's ``torch.set_grad_enabled``);
    ``with dg.set_grad_enabled(training):`` shares one loop between training and evaluation."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be True or False; got {mode!r}")
        super().__init__()
        self._mode = mode
        # As a plain call it takes effect at once; a with-block restores what was before.
        self._before = _State.enabled
        _State.enabled = mode

    def __enter__(self) -> None:
        self._prev.append(self._before)

    def __exit__(self, *exc: object) -> None:
        _State.enabled = self._prev.pop()

    def __call__(self, fn: F) -> F:
        _State.enabled = self._before  # as a decorator it only changes the calls of fn
        return super().__call__(fn)


class inference_mode(_GradSwitch):
    """Graph recording off (``mode=True``) or on, as PyTorch's ``torch.inference_mode``. In
    deepgrad it is ``no_grad`` under PyTorch's name: tensors made inside are ordinary tensors
    without a graph, usable in later graphs (PyTorch forbids that for its inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self._mode = not mode
