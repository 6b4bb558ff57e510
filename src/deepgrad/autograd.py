"""Reverse-mode automatic differentiation: ``Function`` (one graph node) and the backward pass.

A ``Function`` subclass says how to compute its outputs from arrays (``forward``) and how to turn
the gradient of its output into gradients of its inputs (``backward``). ``apply`` runs forward and,
when some input requires grad and recording is on, keeps the instance as a node of the graph:

* ``edges`` point from the node to where each input's gradient goes: ``(node, output_index)``
  for an input produced by another op, ``(leaf_tensor, -1)`` for a leaf, ``None`` when the input
  needs no gradient. The graph holds nodes, not intermediate tensors, so an intermediate array is
  freed as soon as nothing but an unused graph edge refers to it.
* ``ctx.save(name=array)`` keeps what backward needs; ``backward`` frees it afterwards.
"""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

from deepgrad import anomaly
from deepgrad.anomaly import _Anomaly
from deepgrad.backend import silent_float_errors, xp
from deepgrad.errors import BackwardError, shape_str
from deepgrad.grad_mode import _State, _Trace
from deepgrad.tensor import Tensor

_ndarray = xp.ndarray


class _NoInputNeedsGrad:
    """``needs_input_grad`` of a forward run that records nothing: False for every input."""

    def __getitem__(self, index: int) -> bool:
        return False


class _NullContext:
    """The context passed to ``forward`` when no graph is recorded: saving is a no-op."""

    needs_input_grad = _NoInputNeedsGrad()
    recording = False

    def save(self, **values: Any) -> None:
        """Discard: nothing will run backward."""

    def save_for_backward(self, *values: Any) -> None:
        """Discard: nothing will run backward."""


_NULL_CTX = _NullContext()


class Function:
    """Base class of every differentiable operation; subclass it to add your own.

    Subclasses define two static methods:

    * ``forward(ctx, *args, **options)`` gets the arrays of Tensor arguments (other arguments as
      given) and returns an array, or a tuple of arrays for several outputs. It may call
      ``ctx.save(name=value)`` and read ``ctx.needs_input_grad[i]`` to skip saving what no
      gradient needs.
    * ``backward(ctx, gy)`` (one ``gy`` per output) reads the saved values as ``ctx.name`` and
      returns the gradient for each positional argument of forward (an array or None), as a
      tuple or, with one argument, alone.

    Use ``MyOp.apply(*args, **options)``; it returns Tensors.

    Class attributes: ``non_differentiable_outputs`` lists output indices that carry no gradient
    (such as the indices of ``max``); ``is_view`` marks ops whose output shares the input's memory,
    so that an in-place change through the view is seen by the version check of the base.
    """

    non_differentiable_outputs: ClassVar[tuple[int, ...]] = ()
    is_view: ClassVar[bool] = False
    recording = True

    edges: tuple
    needs_input_grad: tuple
    _saved: dict | None
    _checked: tuple
    _hooks: dict | None
    num_outputs: int

    def save(self, **values: Any) -> None:
        """Keep values (arrays or anything else) for backward, readable as ``ctx.name``."""
        # Plain instance attributes, so that backward reads them at full attribute speed;
        # ``_saved`` remembers the names, to free them after backward.
        self.__dict__.update(values)
        self._saved.update(values)  # type: ignore[union-attr]

    def save_for_backward(self, *values: Any) -> None:
        """PyTorch's way of saving: the values come back as the tuple ``ctx.saved_tensors``
        (arrays here, as forward gets them)."""
        self.save(saved_tensors=values)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not set on the instance: saved values after they were freed.
        if name.startswith("_"):
            raise AttributeError(name)
        if self.__dict__.get("_saved") is None:
            raise _freed_error(self)
        raise AttributeError(f"{type(self).__name__} saved no value named {name!r}")

    def release(self) -> None:
        """Free the saved values (after backward, unless the graph is retained)."""
        saved = self._saved
        if saved:
            instance = self.__dict__
            for name in saved:
                instance.pop(name, None)
        self._saved = None

    def output_hooks(self, index: int) -> list:
        """The list of gradient hooks of this node's output ``index`` (created on first use)."""
        if self._hooks is None:
            self._hooks = {}
        return self._hooks.setdefault(index, [])

    @staticmethod
    def forward(ctx: Any, *args: Any, **options: Any) -> Any:
        """Compute the output array(s) from the input arrays."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        """Return the gradient of each input from the gradient of each output."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **options: Any) -> Any:
        """Run the operation on Tensors (and plain values), recording a node when needed."""
        if _State.enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return cls._record(args, options)
        out = cls.forward(_NULL_CTX, *[a.data if isinstance(a, Tensor) else a for a in args],
                          **options)
        if type(out) is tuple:
            outs = tuple(Tensor._make(_array(o)) for o in out)
        else:
            outs = Tensor._make(out if type(out) is _ndarray else xp.asarray(out))
        if cls.is_view:
            _link_views(outs, args[0])
        if _Trace.observer is not None:
            _Trace.observer(cls, args, options, outs)
        return outs

    @classmethod
    def _record(cls, args: tuple, options: dict) -> Any:
        ctx = object.__new__(cls)
        edges = []
        needs = []
        arrays = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                if a.requires_grad:
                    node = a._node
                    edges.append((a, -1) if node is None else (node, a._out_index))
                    needs.append(True)
                    continue
            else:
                arrays.append(a)
            edges.append(None)
            needs.append(False)
        ctx.edges = tuple(edges)
        ctx.needs_input_grad = tuple(needs)
        ctx._saved = {}
        ctx._hooks = None
        out = cls.forward(ctx, *arrays, **options)

        if type(out) is tuple:
            ctx.num_outputs = len(out)
            nondiff = cls.non_differentiable_outputs
            outs = tuple(
                Tensor._make(_array(o)) if i in nondiff else
                Tensor._make(_array(o), True, ctx, i) for i, o in enumerate(out))
        else:
            ctx.num_outputs = 1
            outs = Tensor._make(out if type(out) is _ndarray else xp.asarray(out), True, ctx, 0)
        if cls.is_view:
            _link_views(outs, args[0])
        ctx._checked = _versions_of_saved(ctx._saved, args, outs) if ctx._saved else ()
        if _Anomaly.enabled:
            anomaly.note_forward(ctx, arrays, outs if type(outs) is tuple else (outs,))
        if _Trace.observer is not None:
            _Trace.observer(cls, args, options, outs)
        return outs


class NoGradFunction:
    """Base class of the ops that have no gradient but compute from their inputs what a model
    goes on to use: comparisons, logic, argmax (bool and integer results).

    Subclasses define ``forward(*args, **options)`` on arrays, as a Function's without ``ctx``.
    ``apply`` returns a Tensor that never requires grad and records no graph node (gradients
    are those without the op), but an export's trace sees it as it sees every Function, so that
    a mask computed from the input exports. Callers on hot paths (comparisons, argmax) write
    ``apply`` out, without its generic argument handling.
    """

    @staticmethod
    def forward(*args: Any, **options: Any) -> Any:
        """Compute the output array from the input arrays."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **options: Any) -> Tensor:
        """Run the operation on Tensors (and plain values); the output needs no grad."""
        out = cls.forward(*[a.data if isinstance(a, Tensor) else a for a in args], **options)
        y = Tensor._make(out if type(out) is _ndarray else xp.asarray(out))
        if _Trace.observer is not None:
            _Trace.observer(cls, args, options, y)
        return y


def _freed_error(node: Function) -> BackwardError:
    return BackwardError(
        f"{type(node).__name__}: trying to backward through the graph a second time (its saved "
        "values were freed after the first backward); pass retain_graph=True to the first "
        "backward if you need to backward twice")


def _array(out: Any) -> Any:
    return out if type(out) is _ndarray else xp.asarray(out)


def _link_views(outs: Any, source: Any) -> None:
    """Point views at the tensor owning the memory, so that an in-place change through any of
    them bumps the version that the graph checks."""
    if not isinstance(source, Tensor):
        return
    base = source._base if source._base is not None else source
    base._aliased = True
    for out in outs if type(outs) is tuple else (outs,):
        out._base = base
        if out.requires_grad:  # a view in a graph: an in-place op on the base refuses
            views = getattr(base, "_views", None)
            if views is None:
                views = base._views = weakref.WeakSet()
            views.add(out)


def _versions_of_saved(saved: dict, args: tuple, outs: Any) -> tuple:
    """(weak reference, version) of each tensor whose array backward will read, inputs and
    outputs alike, to detect a later in-place change that would make the gradient silently
    wrong. Weak, because a tensor that is gone cannot be changed any more (its aliases keep it
    alive through ``_base``), and a strong reference from a node to its output would be a cycle."""
    checked = []
    for entry in saved.values():
        for value in entry if type(entry) is tuple else (entry,):
            if type(value) is not _ndarray:
                continue
            for t in args:
                if isinstance(t, Tensor) and t.data is value:
                    checked.append(_version_of(t))
            for t in outs if type(outs) is tuple else (outs,):
                if t.data is value:
                    checked.append(_version_of(t))
    return tuple(checked)


def _version_of(t: Tensor) -> tuple:
    root = t._base if t._base is not None else t
    return weakref.ref(root), root._version


def _initial_grad(root: Tensor, grad: Any, where: str, given: str) -> Any:
    """The gradient that backpropagation starts from at ``root``, checked (``where``: the call,
    ``given``: how the gradient was passed, for the messages)."""
    if not root.requires_grad:
        raise BackwardError(f"{where} called on a tensor that does not require grad and has no "
                            "graph (did an input have requires_grad=True? was it computed "
                            "under dg.no_grad()?)")
    if grad is None:
        if root.data.size != 1:
            raise BackwardError(
                f"{where} without a gradient needs a one-element output; this tensor has "
                f"shape {shape_str(root.shape)}. Reduce it (e.g. .sum() or .mean()) or pass "
                "a gradient of the same shape")
        return xp.ones_like(root.data)
    g = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=root.data.dtype)
    if g.shape != root.shape:
        raise BackwardError(f"{given} has shape {shape_str(g.shape)} but the tensor has shape "
                            f"{shape_str(root.shape)}")
    return g


@silent_float_errors
def run_backward(root: Tensor, grad: Any = None, retain_graph: bool = False) -> None:
    """Backpropagate from ``root`` through its graph into the leaves' ``.grad``.

    The order is an iterative depth-first topological sort (no recursion, so graphs of any depth
    work) and deterministic for a given graph.
    """
    g = _initial_grad(root, grad, "backward()", "backward(grad): grad")
    _finish_leaves(_propagate([(root, g)], retain_graph), user_array=g)


def _add(slots: list, index: int, g: Any) -> None:
    previous = slots[index]
    slots[index] = g if previous is None else previous + g


def _propagate(roots: list[tuple[Tensor, Any]], retain_graph: bool,
               captured: dict | None = None) -> dict[Tensor, Any]:
    """Backpropagate the gradients ``roots`` start from: the gradient reaching each leaf (by
    tensor). ``captured`` maps (node, output index) to None for each non-leaf tensor whose
    gradient the caller wants; it is filled in."""
    # Nodes and tensors are dict keys by identity (Function and Tensor hash by id).
    leaf_grads: dict[Tensor, Any] = {}
    pending: dict[Function, list] = {}
    for root, g in roots:
        if root._node is None:
            previous = leaf_grads.get(root)
            leaf_grads[root] = g if previous is None else previous + g
        else:
            slots = pending.setdefault(root._node, [None] * root._node.num_outputs)
            _add(slots, root._out_index, g)
    if not pending:
        return leaf_grads
    order = _topological_order(list(pending))
    checking = _Anomaly.enabled
    if checking:
        for root, _ in roots:
            anomaly.check_root(root, order)
    for node in order:
        gys = pending.pop(node, None)
        if gys is None:
            continue
        if node._hooks:
            gys = _run_output_hooks(node, gys)
        if captured:
            for index, gy in enumerate(gys):
                if (node, index) in captured:
                    captured[node, index] = gy
        if node._saved is None:
            raise _freed_error(node)
        for ref, version in node._checked:
            t = ref()
            if t is not None and t._version != version:
                raise BackwardError(
                    f"{type(node).__name__}: one of the tensors it saved for backward was "
                    f"modified in place after it was used (version {t._version}, expected "
                    f"{version}); use an out-of-place op or .clone() before modifying it")
        gxs = node.backward(node, *gys)
        if not retain_graph:
            node.release()
        edges = node.edges
        if type(gxs) is not tuple:
            gxs = (gxs,)
        if checking:
            anomaly.check_gradients(node, gxs)
        if len(gxs) != len(edges):
            raise BackwardError(f"{type(node).__name__}.backward returned {len(gxs)} gradients "
                                f"for {len(edges)} inputs; return one per positional "
                                "argument of forward (None where there is none)")
        for edge, gx in zip(edges, gxs):
            if edge is None or gx is None:
                continue
            if type(gx) is not _ndarray:
                gx = xp.asarray(gx)  # NumPy ops on 0-d arrays return scalars
            target, index = edge
            if index < 0:
                previous = leaf_grads.get(target)
                leaf_grads[target] = gx if previous is None else previous + gx
            else:
                slots = pending.get(target)
                if slots is None:
                    slots = pending[target] = [None] * target.num_outputs
                _add(slots, index, gx)
    return leaf_grads


@silent_float_errors
def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, PyTorch's
    ``torch.autograd.grad``: a tuple with one tensor per input (leaves or intermediate tensors),
    and no ``.grad`` written anywhere (a saliency map, a gradient penalty's value, a check).

    ``outputs`` is a tensor or a sequence of them, each with its gradient in ``grad_outputs``
    (None: ones, for one-element outputs); their gradients add up. The graph is freed unless
    ``retain_graph``. An input that the outputs do not depend on is an error unless
    ``allow_unused`` (then None; zeros with ``materialize_grads``). ``create_graph`` (a graph
    of the gradient itself, for higher derivatives) is refused: deepgrad's backward passes are
    NumPy code that records no graph.
    """
    if create_graph:
        raise NotImplementedError("autograd.grad(create_graph=True): deepgrad's backward passes "
                                  "are NumPy code and record no graph, so gradients of "
                                  "gradients are not available")
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    elif isinstance(grad_outputs, (Tensor, _ndarray)):
        grad_outputs = (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    for what, items in (("outputs", outputs), ("inputs", inputs)):
        if not items or not all(isinstance(t, Tensor) for t in items):
            raise TypeError(f"autograd.grad: {what} must be a Tensor or a non-empty sequence of "
                            f"Tensors")
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: {len(grad_outputs)} grad_outputs for {len(outputs)} "
                         f"outputs; give one per output (None for ones)")
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            raise BackwardError(f"autograd.grad: input {i} does not require grad")
    roots = [(out, _initial_grad(out, g, f"autograd.grad on output {i}",
                                 f"autograd.grad: grad_outputs[{i}]"))
             for i, (out, g) in enumerate(zip(outputs, grad_outputs))]
    captured = {(t._node, t._out_index): None for t in inputs if t._node is not None}
    leaf_grads = _propagate(roots, bool(retain_graph), captured)
    users = {id(_memory_owner(g)) for _, g in roots}
    results: list[Tensor | None] = []
    for i, t in enumerate(inputs):
        g = leaf_grads.get(t) if t._node is None else captured[t._node, t._out_index]
        if g is None:
            if not (allow_unused or materialize_grads):
                raise BackwardError(f"autograd.grad: input {i} is not used to compute the "
                                    f"outputs; pass allow_unused=True to get None for it")
            results.append(Tensor._make(xp.zeros_like(t.data)) if materialize_grads else None)
            continue
        if id(_memory_owner(g)) in users or g.shape != t.shape or not g.flags.writeable:
            g = xp.array(xp.broadcast_to(g, t.shape), dtype=t.dtype)  # the caller's own copy
        results.append(Tensor._make(g))
    return tuple(results)


def _topological_order(starts: list[Function]) -> list[Function]:
    """Nodes reachable from ``starts``, each after every node that consumes its output."""
    postorder: list[Function] = []
    visited: set[Function] = set()
    stack: list[tuple[Function, bool]] = [(start, False) for start in reversed(starts)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            postorder.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for edge in node.edges:
            if edge is not None and edge[1] >= 0 and edge[0] not in visited:
                stack.append((edge[0], False))
    postorder.reverse()
    return postorder


def _run_output_hooks(node: Function, gys: list) -> list:
    gys = list(gys)
    for index, hooks in node._hooks.items():  # type: ignore[union-attr]
        if gys[index] is None:
            continue
        for hook in list(hooks):
            result = hook(Tensor._make(gys[index]))
            if result is not None:
                gys[index] = result.data if isinstance(result, Tensor) else result
    return gys


def _finish_leaves(leaf_grads: dict, user_array: Any) -> None:
    # A gradient array may be shared (``add`` hands gy to both inputs, a reshape's gradient is a
    # view of its output's, the caller passed its own array) or be a broadcast view: a leaf
    # adopts an array as its .grad only when no other .grad or caller can see its memory, and
    # it is laid out like the leaf, so that in-place changes of one .grad (clipping, zeroing)
    # touch no other and updates of the leaf by its gradient run at memory speed.
    taken = {id(_memory_owner(user_array))}
    for leaf, g in leaf_grads.items():
        if leaf._hooks:
            for hook in list(leaf._hooks):
                result = hook(Tensor._make(g))
                if result is not None:
                    g = result.data if isinstance(result, Tensor) else result
        data = leaf.data
        if leaf.grad is None:
            owner = id(_memory_owner(g))
            if (owner in taken or g.dtype != data.dtype or g.shape != data.shape
                    or g.strides != data.strides or not g.flags.writeable):
                copy = xp.empty_like(data)
                xp.copyto(copy, g, casting="same_kind")
                g = copy
                owner = id(g)
            taken.add(owner)
            leaf.grad = Tensor._make(g)
        else:
            leaf.grad.data = leaf.grad.data + g


def _memory_owner(a: Any) -> Any:
    while isinstance(a, _ndarray) and a.base is not None:
        a = a.base
    return a
