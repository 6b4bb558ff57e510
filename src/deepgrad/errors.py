"""Errors that deepgrad raises at its public boundary, each saying what was wrong and where."""

from deepgrad_runtime.safetensors import FileFormatError

__all__ = ["BackwardError", "CheckpointError", "FileFormatError", "GradcheckError", "ShapeError",
           "StateDictError", "shape_str"]


class ShapeError(ValueError):
    """An operation got tensors whose shapes do not fit together."""


class GradcheckError(AssertionError):
    """Analytical and numerical gradients disagree (raised by :func:`deepgrad.gradcheck`)."""


class CheckpointError(ValueError):
    """A training checkpoint that does not fit the run resuming from it (another kind of file,
    another schedule, other data or batching)."""


class BackwardError(RuntimeError):
    """Backpropagation cannot run: freed graph, modified saved tensor, non-scalar output, ..."""


def shape_str(shape: tuple) -> str:
    """Format a shape like ``(64, 1, 28, 28)``, also for 1-element shapes."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


class StateDictError(KeyError):
    """A state dict does not fit a model: missing, unexpected or wrongly shaped keys."""

    def __str__(self) -> str:
        # KeyError's own str() is the repr of its message, which would show '\n' escapes.
        return str(self.args[0]) if self.args else ""

