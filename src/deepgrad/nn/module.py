"""``Module``: a layer or a model, holding Parameters, buffers and sub-modules by attribute name.

Names matter: ``state_dict`` keys are attribute paths (``features.0.weight``), the same as
PyTorch's for the same architecture, so weights move between the two without conversion; and a
shape error raised inside a sub-module names it by its path in the model it was called from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from deepgrad.anomaly import _Anomaly
from deepgrad.autograd import Function, _Trace
from deepgrad.backend import cuda_device, parse_to, xp
from deepgrad.errors import ShapeError, StateDictError, shape_str
from deepgrad.grad_mode import _State, no_grad
from deepgrad.tensor import Tensor, _ndarray, as_array, to_array


class Parameter(Tensor):
    """A Tensor that a Module registers as one of its weights (``requires_grad`` by default)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        super().__init__(to_array(data.data if isinstance(data, Tensor) else data),
                         requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class LayerShapeError(ShapeError):
    """A ShapeError raised by a layer; the outermost module call fills in the layer's path."""

    def __init__(self, module: Module, message: str) -> None:
        super().__init__(message)
        self.module = module
        self.message = message

    def __str__(self) -> str:
        return self.message


def layer_error(module: Module, expected: str, got: tuple, hint: str = "") -> LayerShapeError:
    """The error a layer raises for a bad input: ``Conv2d expects input (N, 3, H, W); got
    (64, 1, 28, 28)``, later named by its path (``Conv2d 'features.0' expects ...``)."""
    message = f"{type(module).__name__} expects input {expected}; got {shape_str(got)}"
    return LayerShapeError(module, message + (f". {hint}" if hint else ""))


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class _HookHandle:
    """Returned by the ``register_*_hook`` methods; ``remove()`` unregisters the hook."""

    next_id = 0

    @classmethod
    def add(cls, hooks: dict, hook: Callable) -> _HookHandle:
        """Register ``hook`` in ``hooks`` (kept in the order of registration)."""
        if not callable(hook):
            raise TypeError(f"a hook must be callable; got {type(hook).__name__}")
        key = cls.next_id
        cls.next_id += 1
        hooks[key] = hook
        return cls(hooks, key)

    def __init__(self, hooks: dict, key: int) -> None:
        self._hooks = hooks
        self._key = key

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        self._hooks.pop(self._key, None)


class _GradientTap(Function):
    """The identity on tensors, whose backward hands their gradients to ``callback``, which
    may replace them: where a module's backward hooks see its inputs' and outputs' gradients.
    The outputs are copies, so that an in-place change of one does not reach the other."""

    @staticmethod
    def forward(ctx, *xs, callback):
        ctx.save(callback=callback)
        copies = tuple(x.copy() for x in xs)
        return copies if len(copies) > 1 else copies[0]

    @staticmethod
    def backward(ctx, *gys):
        grads = ctx.callback(tuple(None if g is None else Tensor._make(g) for g in gys))
        grads = tuple(g.data if isinstance(g, Tensor) else g for g in grads)
        return grads if len(grads) > 1 else grads[0]


class _BackwardWatch:
    """One call of a module with backward hooks: taps on its tensor inputs and outputs."""

    def __init__(self, module: Module, count: int) -> None:
        self.module, self.count = module, count
        self.tapped: list[int] = []          # the inputs that require grad
        self.output_tapped: list[int] = []   # the outputs that do
        self.output_count = 0
        self.zeros: dict[int, Any] = {}      # tensor inputs that do not require grad
        self.grad_output: tuple = ()

    @classmethod
    def inputs(cls, module: Module, args: tuple) -> tuple[tuple, _BackwardWatch]:
        """``args`` with the tensors that require grad passed through a tap."""
        watch = cls(module, len(args))
        tapped = watch.tapped = [i for i, a in enumerate(args)
                                 if isinstance(a, Tensor) and a.requires_grad]
        # As PyTorch's: zeros for the other tensor inputs once one requires grad, else None.
        watch.zeros = {i: a.data for i, a in enumerate(args)
                       if isinstance(a, Tensor) and not a.requires_grad} if tapped else {}
        if not tapped:
            return args, watch
        outs = _GradientTap.apply(*(args[i] for i in tapped), callback=watch._input_grads)
        outs = outs if isinstance(outs, tuple) else (outs,)
        args = list(args)
        for i, out in zip(tapped, outs):
            args[i] = out
        return tuple(args), watch

    def outputs(self, output: Any) -> Any:
        """``output`` (a tensor or a tuple) with its tensors that require grad tapped."""
        items = output if isinstance(output, tuple) else (output,)
        tapped = [i for i, o in enumerate(items) if isinstance(o, Tensor) and o.requires_grad]
        if not tapped:
            return output
        self.output_count = len(items)
        self.output_tapped = tapped
        outs = _GradientTap.apply(*(items[i] for i in tapped), callback=self._output_grads)
        outs = outs if isinstance(outs, tuple) else (outs,)
        items = list(items)
        for i, out in zip(tapped, outs):
            items[i] = out
        return tuple(items) if isinstance(output, tuple) else items[0]

    def _output_grads(self, grads: tuple) -> tuple:
        full: list = [None] * self.output_count
        for i, g in zip(self.output_tapped, grads):
            full[i] = g
        for hook in list(self.module._backward_pre_hooks.values()):
            result = hook(self.module, tuple(full))
            if result is not None:
                full = list(result)
        self.grad_output = tuple(full)
        if not self.tapped:  # no input requires grad: the hooks see None for all of them
            for hook in list(self.module._backward_hooks.values()):
                hook(self.module, (None,) * self.count, self.grad_output)
        return tuple(full[i] for i in self.output_tapped)

    def _input_grads(self, grads: tuple) -> tuple:
        full: list = [None] * self.count
        for i, g in zip(self.tapped, grads):
            full[i] = g
        for i, data in self.zeros.items():
            full[i] = Tensor._make(xp.zeros_like(data))
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, tuple(full), self.grad_output)
            if result is not None:
                full = list(result)
        return tuple(full[i] for i in self.tapped)


class _CallDepth:
    # Depth of nested module calls: the outermost call names the layer in a shape error.
    depth = 0


class Module:
    """Base class of layers and models: assign Parameters, Modules and buffers as attributes,
    define ``forward``, call the module like a function (NumPy array arguments become Tensors,
    floating ones in the dtype of the module's parameters)."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})
        object.__setattr__(self, "_forward_pre_hooks", {})
        object.__setattr__(self, "_backward_hooks", {})
        object.__setattr__(self, "_backward_pre_hooks", {})
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before "
                                 f"assigning attributes (while setting {name!r})")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            if name not in params:  # a replacement keeps its place in the registration order
                self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            if name not in modules:
                self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a Parameter; assign a "
                                f"Parameter or None, not {type(value).__name__}")
            params[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer; assign a Tensor or "
                                f"None, not {type(value).__name__}")
            buffers[name] = value
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}.{name} is a sub-module; assign a "
                                f"Module or None, not {type(value).__name__}")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: parameters, buffers and sub-modules.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, such as a disabled bias) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None; got "
                            f"{type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a weight (e.g. running statistics). Persistent
        buffers are part of ``state_dict``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None; got "
                            f"{type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module; got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module under ``name`` (PyTorch's other name for :meth:`add_module`)."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path ``target`` (``""``: this module), as PyTorch's."""
        module = self
        if target == "":
            return module
        walked = []
        for name in target.split("."):
            child = module._modules.get(name)
            if child is None:
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"get_submodule: {where} has no sub-module {name!r} (looking "
                                     f"for {target!r}; it has "
                                     f"{sorted(module._modules) or 'none'})")
            module = child
            walked.append(name)
        return module

    def get_parameter(self, target: str) -> Tensor:
        """The parameter at the dotted path ``target`` (``"layer.0.weight"``)."""
        return self._tensor_at(target, "parameter", "_parameters")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target`` (``"bn.running_mean"``)."""
        return self._tensor_at(target, "buffer", "_buffers")

    def _tensor_at(self, target: str, kind: str, registry: str) -> Tensor:
        owner, _, name = target.rpartition(".")
        module = self.get_submodule(owner)
        tensors = getattr(module, registry)
        if tensors.get(name) is None:
            raise AttributeError(f"get_{kind}: {type(module).__name__} at "
                                 f"{owner or 'the top'!r} has no {kind} {name!r}; it has "
                                 f"{sorted(tensors) or 'none'}")
        return tensors[name]

    # ----------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation of this module; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for a in args:
            if type(a) is _ndarray:
                args = self._tensors_of(args)
                break
        _CallDepth.depth += 1
        tracking = _Anomaly.enabled or _Trace.observer is not None  # both name the layers
        if tracking:
            _Anomaly.modules.append(self)
        try:
            if self._forward_pre_hooks:
                for hook in list(self._forward_pre_hooks.values()):
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
            watch = (self._backward_hooks or self._backward_pre_hooks) and _State.enabled
            if watch:
                args, watch = _BackwardWatch.inputs(self, args)
            output = self.forward(*args, **kwargs)
            if watch:
                output = watch.outputs(output)
            if self._forward_hooks:
                for hook in list(self._forward_hooks.values()):
                    result = hook(self, args, output)
                    if result is not None:
                        output = result
            return output
        except LayerShapeError as error:
            if _CallDepth.depth == 1:
                raise self._named(error) from None
            raise
        finally:
            _CallDepth.depth -= 1
            if tracking:
                _Anomaly.modules.pop()

    def _tensors_of(self, args: tuple) -> tuple:
        """``args`` with NumPy arrays as Tensors, floating ones in this module's floating dtype
        (Keras casts its inputs to the layer's dtype the same way; integers stay integers)."""
        dtype = next((t.data.dtype for t in itertools.chain(self.parameters(), self.buffers())
                      if t.data.dtype.kind == "f"), None)
        return tuple(
            a if type(a) is not _ndarray else
            Tensor._make(a.astype(dtype, copy=False) if dtype is not None and a.dtype.kind == "f"
                         else a)
            for a in args)

    def register_forward_hook(self, hook: Callable[[Module, tuple, Any], Any]) -> _HookHandle:
        """Call ``hook(module, inputs, output)`` after every forward of this module; a returned
        value replaces the output. Returns a handle whose ``remove()`` unregisters it."""
        return _HookHandle.add(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook: Callable[[Module, tuple], Any]) -> _HookHandle:
        """Call ``hook(module, inputs)`` before every forward of this module; a returned value
        (a tuple, or one value) replaces the inputs."""
        return _HookHandle.add(self._forward_pre_hooks, hook)

    def register_full_backward_hook(self, hook: Callable[[Module, tuple, tuple], Any]
                                    ) -> _HookHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to
        this module's tensor inputs have been computed (PyTorch's full backward hook: what
        Grad-CAM reads); a returned tuple replaces ``grad_input``. ``grad_input`` holds None
        for inputs that do not require grad (all None, and the hook called as soon as
        ``grad_output`` is known, when none does)."""
        return _HookHandle.add(self._backward_hooks, hook)

    def register_full_backward_pre_hook(self, hook: Callable[[Module, tuple], Any]
                                        ) -> _HookHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to this module's
        outputs are known, before they flow into it; a returned tuple replaces them."""
        return _HookHandle.add(self._backward_pre_hooks, hook)

    def _named(self, error: LayerShapeError) -> ShapeError:
        for path, module in self.named_modules():
            if module is error.module and path:
                name = type(module).__name__
                return ShapeError(error.message.replace(name, f"{name} {path!r}", 1))
        return ShapeError(error.message)

    # ----------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(path, module) for this module and every sub-module, each once, depth first."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child)
                        for name, child in module._modules.items() if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for path, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{path}.{name}" if path else name), value

    def named_parameters(self, prefix: str = "",
                         recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(path, parameter) for every parameter, each once even when shared."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "",
                      recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(path, buffer) for every buffer."""
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module and then on this one; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ----------------------------------------------------------------- modes and dtypes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active, batch norm updating its statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to None, or to zeros)."""
        for param in self.parameters():
            if set_to_none:
                param.grad = None
            elif param.grad is not None:
                param.grad.data.fill(0)

    def to(self, *args: Any, dtype: Any = None, device: Any = None,
           non_blocking: bool = False) -> Module:
        """Cast floating parameters, gradients and buffers to ``dtype`` in place; returns self.
        As in PyTorch, a device may be given too (``model.to("cpu")``); only the CPU is
        available, and ``non_blocking`` changes nothing there."""
        dtype = parse_to("Module.to", args, dtype, device)
        if dtype is None:
            return self
        dtype = xp.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Module.to: expects a floating dtype; got {dtype}")
        for tensor in [*self.parameters(), *self.buffers()]:
            if tensor.data.dtype.kind == "f" and tensor.data.dtype != dtype:
                tensor.data = tensor.data.astype(dtype)
                if tensor.grad is not None:
                    tensor.grad.data = tensor.grad.data.astype(dtype)
        return self

    def cpu(self) -> Module:
        """This module (its tensors are on the CPU already), as PyTorch's ``model.cpu()``."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """PyTorch's ``model.cuda()``, which is ``model.to("cuda")``: refused, naming the
        device, on a machine where deepgrad computes on the CPU."""
        return self.to(cuda_device(device))

    def double(self) -> Module:
        """Cast to float64 (how the tests compare with PyTorch to 1e-10)."""
        return self.to(xp.float64)

    def float(self) -> Module:
        """Cast to float32."""
        return self.to(xp.float32)

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Ordered ``name -> NumPy array`` (copies) of every parameter and persistent buffer,
        with PyTorch's key names for the same architecture."""
        state: dict[str, Any] = {}
        for path, module in self.named_modules():
            for name, param in module._parameters.items():
                if param is not None:
                    state[f"{path}.{name}" if path else name] = param.data.copy()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent:
                    state[f"{path}.{name}" if path else name] = buffer.data.copy()
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into the parameters and buffers of the same names, cast to
        each one's dtype. Every missing, unexpected or wrongly shaped key is reported in one
        error (missing and unexpected keys only when ``strict``)."""
        for path, module in list(self.named_modules()):
            # A lazy layer (LazyLinear) creates its parameters from the saved shapes first.
            materialize = getattr(module, "_materialize_from_state", None)
            if materialize is not None:
                materialize(state_dict, f"{path}." if path else "")
        targets: dict[str, Tensor] = {}
        for path, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, tensor in registry.items():
                    if tensor is not None and name not in module._non_persistent:
                        targets[f"{path}.{name}" if path else name] = tensor
        missing = [key for key in targets if key not in state_dict]
        unexpected = [key for key in state_dict if key not in targets]
        arrays = {key: as_array(value) for key, value in state_dict.items() if key in targets}
        mismatched = [f"{key}: expected shape {shape_str(targets[key].shape)}, got "
                      f"{shape_str(array.shape)}" for key, array in arrays.items()
                      if array.shape != targets[key].shape]
        problems = mismatched + ([f"missing key: {k}" for k in missing] +
                                 [f"unexpected key: {k}" for k in unexpected] if strict else [])
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: "
                           f"{len(problems)} problem{'s' if len(problems) > 1 else ''}:\n  "
                           + "\n  ".join(problems))
        with no_grad():
            for key, array in arrays.items():
                target = targets[key]
                target.copy_(array.astype(target.data.dtype, copy=False))
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The settings shown between the parentheses of this module's repr."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}({extra}" if extra else f"{type(self).__name__}("
        return head + "\n" + "\n".join(lines) + "\n)"


__all__ = ["IncompatibleKeys", "Module", "Parameter", "layer_error"]
