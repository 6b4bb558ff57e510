"""The Tensor: an array, the gradient it receives, and the graph node that produced it.

Operators and math methods (``+``, ``@``, ``.exp()``, ``.sum()``, ...) are attached to the class by
:mod:`deepgrad.ops`, next to the functions that implement them; this file holds what is specific
to the tensor object itself: construction, attributes, in-place updates, backward and printing.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from deepgrad.backend import DEVICE, cuda_device, xp
from deepgrad.errors import BackwardError, ShapeError, shape_str
from deepgrad.grad_mode import _State, _Trace

if TYPE_CHECKING:
    from deepgrad.autograd import Function

float32 = xp.dtype("float32")
float64 = xp.dtype("float64")
int64 = xp.dtype("int64")
int32 = xp.dtype("int32")
bool_ = xp.dtype("bool")
DEFAULT_FLOAT = float32

_ndarray = xp.ndarray


def as_array(value: Any) -> Any:
    """The array behind a Tensor, a torch tensor (``.detach().numpy()``), or anything NumPy
    converts: how state dicts from either framework are read."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().numpy()
    return xp.asarray(value)


def check_tensor(op: str, value: Any, name: str = "input") -> Tensor:
    """``value`` itself when it is a Tensor; otherwise a TypeError naming ``op`` and the argument
    (functions, like PyTorch's, take Tensors; layers also take NumPy arrays)."""
    if isinstance(value, Tensor):
        return value
    hint = ("; dg.tensor(x) makes one from a NumPy array, dg.from_numpy(x) shares its memory"
            if isinstance(value, _ndarray) else "")
    raise TypeError(f"{op}: {name} must be a Tensor; got {type(value).__name__}{hint}")


def to_array(data: Any, dtype: Any = None, copy: bool = False) -> Any:
    """Convert tensors, arrays, scalars and nested lists to an array with deepgrad's dtype rules.

    Python floats become float32 (PyTorch's default); Python ints become int64; NumPy arrays keep
    their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, _ndarray):
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data
    try:
        arr = xp.array(data, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise TypeError(f"cannot make a tensor from this {type(data).__name__}: {error} "
                        "(nested lists must be rectangular and hold numbers)") from None
    if dtype is not None:
        return arr
    if arr.dtype == float64 and not isinstance(data, xp.generic):
        return arr.astype(DEFAULT_FLOAT)
    if arr.dtype.kind in "iu" and arr.dtype != int64:
        return arr.astype(int64)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"cannot make a tensor from data of type {type(data).__name__} "
                        f"(array dtype {arr.dtype}); expected numbers, lists or arrays")
    return arr


class RemovableHandle:
    """Returned by :meth:`Tensor.register_hook`; ``handle.remove()`` unregisters the hook."""

    __slots__ = ("_hook", "_hooks")

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


class _KeepGrad:
    """The hook of ``Tensor.retain_grad``: stores each gradient that reaches the tensor in its
    ``.grad`` (a weak reference: the graph does not keep the tensor alive)."""

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = weakref.ref(tensor)

    def __call__(self, grad: Tensor) -> None:
        t = self.tensor()
        if t is not None:
            t.grad = Tensor._make(grad.data.copy() if t.grad is None else t.grad.data + grad.data)


class Tensor:
    """An n-dimensional array that can record the operations applied to it and backpropagate.

    Args:
        data: numbers, nested lists, a NumPy array (shared, not copied) or another Tensor.
        dtype: the array dtype (``dg.float32``, ``dg.float64``, ``dg.int64``, ...).
        requires_grad: record operations on this tensor so that ``backward`` fills ``.grad``.
    """

    # Unset until needed: _views, a WeakSet of the live views of this tensor that require grad;
    # _aliased, True once its memory may be shared (a view or detach of it, its array handed
    # out by numpy(), or memory that came from the user), which keeps ops.shape.view from
    # moving it to a contiguous array.
    __slots__ = ("__weakref__", "_aliased", "_base", "_hooks", "_node", "_out_index", "_version",
                 "_views", "data", "grad", "requires_grad")

    # Make NumPy hand binary operators with a Tensor on the right to the Tensor's reflected ones.
    __array_ufunc__ = None

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        self.data = to_array(data, dtype)
        if isinstance(data, Tensor) and self.data is data.data:
            data._aliased = True  # the two tensors share the memory: neither may move it
        if isinstance(data, (xp.ndarray, Tensor)):
            self._aliased = True
        self.grad: Tensor | None = None
        self._node: Function | None = None
        self._out_index = 0
        self._version = 0
        self._base: Tensor | None = None
        self._hooks: list | None = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: Any, requires_grad: bool = False, node: Function | None = None,
              out_index: int = 0) -> Tensor:
        """Wrap an ndarray without any conversion (the hot path used by every op)."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._node = node
        t._out_index = out_index
        t._version = 0
        t._base = None
        t._hooks = None
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self.data.ndim

    @property
    def dtype(self) -> Any:
        """The element type (a NumPy dtype such as ``dg.float32``)."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """Where the data is: ``"cpu"`` (deepgrad computes with NumPy)."""
        return DEVICE

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an operation that records a graph."""
        return self._node is None

    @property
    def grad_fn(self) -> Function | None:
        """The graph node that produced this tensor, or None for leaves."""
        return self._node

    @property
    def T(self) -> Tensor:
        """The tensor with its dimensions reversed (the transpose for a matrix)."""
        return self.permute(*range(self.ndim - 1, -1, -1))

    @property
    def mT(self) -> Tensor:
        """Each matrix of a stack transposed: the last two dimensions swapped (PyTorch's
        ``mT``; NumPy's ``matrix_transpose``)."""
        if self.ndim < 2:
            raise ValueError(f"mT needs a tensor of at least 2 dimensions; got shape "
                             f"{self.shape}")
        return self.transpose(-2, -1)

    def size(self, dim: int | None = None) -> Any:
        """The shape as a tuple, or the size of one dimension (PyTorch's ``size()``)."""
        if dim is None:
            return self.data.shape
        from deepgrad.ops._util import normalize_dim

        return self.data.shape[normalize_dim(dim, self.data.ndim, "size")]

    def numel(self) -> int:
        """The number of elements."""
        return int(self.data.size)

    def dim(self) -> int:
        """The number of dimensions (PyTorch's name for ``ndim``)."""
        return self.data.ndim

    def element_size(self) -> int:
        """The bytes of one element."""
        return int(self.data.itemsize)

    @property
    def nbytes(self) -> int:
        """The bytes of all elements."""
        return int(self.data.nbytes)

    def is_floating_point(self) -> bool:
        """Whether the dtype is a floating point type."""
        return self.data.dtype.kind == "f"

    def is_signed(self) -> bool:
        """Whether the dtype holds negative numbers (floats and signed integers)."""
        return self.data.dtype.kind in "fi"

    def is_complex(self) -> bool:
        """False: deepgrad has no complex dtypes."""
        return False

    @property
    def is_cuda(self) -> bool:
        """False: deepgrad computes on the CPU."""
        return False

    @property
    def is_cpu(self) -> bool:
        """True: deepgrad computes on the CPU."""
        return True

    def nelement(self) -> int:
        """The number of elements (``numel``)."""
        return int(self.data.size)

    def ndimension(self) -> int:
        """The number of dimensions (``dim``)."""
        return self.data.ndim

    def stride(self, dim: int | None = None) -> Any:
        """The steps between elements in memory, in elements, per dimension (a tuple), or
        along ``dim``."""
        strides = tuple(s // self.data.itemsize for s in self.data.strides)
        if dim is None:
            return strides
        from deepgrad.ops._util import normalize_dim

        return strides[normalize_dim(dim, self.data.ndim, "stride")]

    def is_contiguous(self) -> bool:
        """Whether the elements lie in memory in row-major order without gaps."""
        return bool(self.data.flags.c_contiguous)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> Any:
        """The underlying array (shared memory, no copy)."""
        self._aliased = True
        return self.data

    def cpu(self) -> Tensor:
        """This tensor (it is on the CPU already): ``x.cpu().numpy()`` as in PyTorch code."""
        return self

    def cuda(self, device: Any = None) -> Tensor:
        """PyTorch's ``x.cuda()``, which is ``x.to("cuda")``: refused, naming the device, on a
        machine where deepgrad computes on the CPU."""
        return self.to(cuda_device(device))

    def tolist(self) -> Any:
        """The values as (nested) Python lists."""
        return self.data.tolist()

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element; this one has shape "
                             f"{tuple(self.data.shape)} ({self.data.size} elements)")
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
        if dtype is not None:
            return self.data.astype(dtype)
        self._aliased = True  # np.asarray(x) shares the memory, as numpy() does
        return self.data

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only a one-element integer tensor can be used as an index")
        return int(self.data.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             "ambiguous; use .any() or .all()")
        return bool(self.data.item())

    __hash__ = object.__hash__

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's data, outside any graph."""
        t = Tensor._make(self.data)
        t._base = self._base if self._base is not None else self
        t._base._aliased = True
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only); returns self."""
        if not self.is_leaf:
            raise BackwardError("requires_grad_() can only change leaf tensors; this tensor was "
                                "produced by an operation (use .detach() first)")
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"only floating point tensors can require gradients; "
                            f"this one has dtype {self.data.dtype}")
        self.requires_grad = requires_grad
        return self

    # ----------------------------------------------------------------- autograd
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor, accumulating gradients into the leaves' ``.grad``.

        Args:
            grad: the gradient of some scalar with respect to this tensor; may be omitted only
                when this tensor has one element.
            retain_graph: keep the saved buffers so that backward can run through the graph again.
        """
        from deepgrad.autograd import run_backward

        run_backward(self, grad, retain_graph)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Returns a handle whose ``remove()`` unregisters the hook."""
        if not self.requires_grad:
            raise BackwardError("cannot register a hook on a tensor that does not require grad")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            hooks = self._node.output_hooks(self._out_index)
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep this tensor's gradient in ``.grad`` after ``backward`` also when an operation
        produced it (leaves keep theirs anyway), accumulated over backward calls as a leaf's
        is: to look at the gradient that reaches an intermediate result."""
        if not self.requires_grad:
            raise BackwardError("retain_grad: this tensor does not require grad, so no gradient "
                                "reaches it")
        if self._node is not None and not self.retains_grad:
            self.register_hook(_KeepGrad(self))

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad`` was called on this non-leaf tensor."""
        return self._node is not None and any(
            isinstance(h, _KeepGrad) for h in self._node.output_hooks(self._out_index))

    # ----------------------------------------------------------------- in-place updates
    def _prepare_inplace(self, other: Any = None) -> Any:
        """Check that an in-place update is allowed, bump the version, return ``other``'s data."""
        if self.requires_grad and (_State.enabled or self._node is not None):
            where = "a leaf that requires grad" if self._node is None else \
                "a tensor produced by an operation that records a graph"
            raise BackwardError(
                f"in-place operation on {where}: wrap parameter updates in `with dg.no_grad():`"
                + ("" if self._node is None else ", or use an out-of-place op (y = y + x)"))
        if not self.data.flags.writeable:
            raise ValueError("in-place operation on a read-only tensor (an expand or "
                             "broadcast_to view, whose elements share memory); use .clone() "
                             "first")
        if isinstance(other, Tensor):
            if other.requires_grad and _State.enabled:
                raise BackwardError("in-place operation with an operand that requires grad "
                                    "cannot be recorded; use an out-of-place op (y = y + x)")
            other = other.data
        self._version += 1
        if self._base is not None:
            self._base._version += 1
        return other

    def _update(self, ufunc: Any, other: Any) -> Tensor:
        """``self = ufunc(self, other)`` in place, with errors that say what did not fit;
        recorded in a graph as PyTorch's in-place ops are (``deepgrad.ops.inplace``)."""
        if self._records_in_place(other):
            from deepgrad.ops.inplace import graph_in_place  # ops import this module

            op = _IN_PLACE_OPS[ufunc]
            result = graph_in_place(self, lambda t: op(t, other), f"in-place {ufunc.__name__}",
                                    (other,), reads_input=ufunc in _READS_INPUT)
            if result is not None:
                return result
        other = self._prepare_inplace(other)
        try:
            ufunc(self.data, other, out=self.data, casting="same_kind")
        except ValueError:
            raise ShapeError(f"in-place {ufunc.__name__}: an operand of shape "
                             f"{shape_str(xp.shape(other))} cannot update a tensor of shape "
                             f"{shape_str(self.shape)} (the result must keep the tensor's "
                             "shape)") from None
        except TypeError:
            raise TypeError(f"in-place {ufunc.__name__}: the result has dtype "
                            f"{xp.result_type(self.data, other)}, which cannot be stored in "
                            f"this {self.dtype} tensor") from None
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._update(xp.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._update(xp.subtract, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._update(xp.multiply, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._update(xp.divide, other)

    def add_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """In place: ``self += alpha * other``."""
        return self._update(xp.add, other if alpha == 1.0 else alpha * other)

    def sub_(self, other: Any, alpha: float = 1.0) -> Tensor:
        """In place: ``self -= alpha * other``."""
        return self._update(xp.subtract, other if alpha == 1.0 else alpha * other)

    def mul_(self, other: Any) -> Tensor:
        """In place: ``self *= other``."""
        return self._update(xp.multiply, other)

    def div_(self, other: Any) -> Tensor:
        """In place: ``self /= other``."""
        return self._update(xp.divide, other)

    def copy_(self, src: Any) -> Tensor:
        """In place: copy ``src`` (broadcast to this shape) into this tensor; in a graph the
        gradient flows to ``src`` (summed over broadcast dims), as in PyTorch."""
        if self._records_in_place(src):
            try:
                fits = xp.broadcast_shapes(xp.shape(src), self.shape) == self.shape
            except ValueError:
                fits = False
            if not fits:
                raise ShapeError(f"copy_: a source of shape {shape_str(xp.shape(src))} does not "
                                 f"broadcast to this tensor's shape {shape_str(self.shape)}")
            result = self._overwrite_in_graph("copy_", src)
            if result is not None:
                return result
        src = self._prepare_inplace(src)
        try:
            xp.copyto(self.data, src, casting="same_kind")
        except ValueError:
            raise ShapeError(f"copy_: a source of shape {shape_str(xp.shape(src))} does not "
                             f"broadcast to this tensor's shape {shape_str(self.shape)}") from None
        return self

    def fill_(self, value: Any) -> Tensor:
        """In place: set every element to ``value`` (a number or a 0-d tensor, through which
        a graph's gradient flows)."""
        if isinstance(value, Tensor) and value.ndim != 0:
            raise ShapeError(f"fill_: value must be a number or a 0-d tensor; got a tensor of "
                             f"shape {shape_str(value.shape)}")
        if self._records_in_place(value):
            result = self._overwrite_in_graph("fill_", value)
            if result is not None:
                return result
        value = self._prepare_inplace(value)
        self.data.fill(value)
        return self

    def _records_in_place(self, other: Any) -> bool:
        """Whether an in-place update must be recorded in a graph or followed by an export
        trace (``deepgrad.ops.inplace.graph_in_place``) rather than written to memory."""
        return ((_State.enabled and (self.requires_grad or getattr(other, "requires_grad", False)))
                or _Trace.observer is not None)

    def _overwrite_in_graph(self, op: str, value: Any) -> Tensor | None:
        """``self = value`` (broadcast, cast to this dtype) recorded in a graph: the gradient
        flows to ``value``, and zero to the values overwritten, as PyTorch's copy_/fill_."""
        from deepgrad.ops.indexing import where  # ops import this module
        from deepgrad.ops.inplace import graph_in_place

        def overwrite(t: Tensor) -> Tensor:
            v = value.to(t.dtype) if isinstance(value, Tensor) else xp.asarray(value, t.dtype)
            return where(xp.zeros((), bool), t, v)

        return graph_in_place(self, overwrite, op, (value,), reads_input=False)

    def zero_(self) -> Tensor:
        """In place: set every element to zero."""
        return self.fill_(0)

    def __setitem__(self, index: Any, value: Any) -> None:
        from deepgrad.ops.indexing import normalize_index, setitem

        if _State.enabled and (self.requires_grad or getattr(value, "requires_grad", False)):
            from deepgrad.ops.inplace import graph_in_place  # ops import this module

            # Recorded as the out-of-place setitem, whose backward does not read x.
            graph_in_place(self, lambda t: setitem(t, index, value), "x[index] = value",
                           (value,), reads_input=False)
            return
        value = self._prepare_inplace(value)
        self.data[normalize_index(index)] = value

    # ----------------------------------------------------------------- printing
    def __repr__(self) -> str:
        extras = []
        if self.data.dtype not in (float32, int64, bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{type(self._node).__name__}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        body = xp.array2string(self.data, separator=", ", prefix="tensor(")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"



def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a deepgrad Tensor (PyTorch's ``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    """The number of elements of ``x``."""
    return x.numel()

# ``x += y`` and the like in a graph: the out-of-place op recorded for each in-place update, and
# the updates whose backward reads the tensor that they change (which is then copied first).
_IN_PLACE_OPS = {xp.add: lambda a, b: a + b, xp.subtract: lambda a, b: a - b,
                 xp.multiply: lambda a, b: a * b, xp.divide: lambda a, b: a / b}
_READS_INPUT = (xp.multiply, xp.divide)
