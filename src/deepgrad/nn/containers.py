"""Containers: modules made of modules (``Sequential``, ``ModuleList``, ``ModuleDict``,
``Residual``) and of parameters (``ParameterList``, ``ParameterDict``)."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from deepgrad.nn.module import Module, Parameter
from deepgrad.tensor import Tensor


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Accepts modules as arguments (named ``0``, ``1``, ...) or one mapping of name to module.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)  # type: ignore[arg-type]

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees (a plain list would hide them)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[index]

    def __setitem__(self, index: int, module: Module) -> None:
        keys = list(self._modules)
        self.add_module(keys[index], module)
        self._renumber()

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add several modules at the end; returns self."""
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before position ``index``."""
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        self.extend(modules)

    def _renumber(self) -> None:
        modules = list(self._modules.values())
        self._modules.clear()
        self.extend(modules)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A ModuleList has no forward: iterate over it in the parent's forward."""
        raise NotImplementedError("ModuleList is a container: call its modules in a loop")


class ModuleDict(Module):
    """A dict of modules whose parameters the parent module sees."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        for name, module in (modules or {}).items():
            self.add_module(name, module)

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, module)

    def __delitem__(self, name: str) -> None:
        del self._modules[name]

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        """The names."""
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        """The modules."""
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """(name, module) pairs."""
        return self._modules.items()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A ModuleDict has no forward: pick its modules by name in the parent's forward."""
        raise NotImplementedError("ModuleDict is a container: call its modules by name")


class Residual(Module):
    """A residual connection: ``block(x) + shortcut(x)``, the shortcut being the identity when
    not given (then ``block`` must keep the shape of ``x``)."""

    def __init__(self, block: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        self.block = block
        self.shortcut = shortcut

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x) + (x if self.shortcut is None else self.shortcut(x))


def _as_parameter(container: str, value: Any) -> Parameter:
    """``value`` as a Parameter: a Tensor becomes one (sharing its data), as in PyTorch."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"{container}: expects Parameters (or Tensors, which become Parameters); "
                    f"got {type(value).__name__}")


def _parameters_repr(container: Module) -> str:
    """PyTorch's listing of a parameter container: one line per parameter with its dtype and
    size."""
    lines = [f"  ({name}): Parameter containing: [{p.dtype} of size "
             f"{'x'.join(map(str, p.shape))}]" for name, p in container._parameters.items()]
    name = type(container).__name__
    return f"{name}(\n" + "\n".join(lines) + "\n)" if lines else f"{name}()"


class ParameterList(Module):
    """A list of Parameters that the parent module sees (a plain list would hide them from
    ``parameters()``, optimizers and ``state_dict``), named ``0``, ``1``, ... as in PyTorch.
    Tensors added to it become Parameters."""

    def __init__(self, values: Iterable[Tensor] | None = None) -> None:
        super().__init__()
        self.extend(values or ())

    def _key(self, index: int) -> str:
        n = len(self._parameters)
        position = operator.index(index)
        if not -n <= position < n:
            raise IndexError(f"ParameterList: index {position} is out of range for a list of {n} "
                             "parameters")
        return str(position % n)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return ParameterList(list(self._parameters.values())[index])
        return self._parameters[self._key(index)]

    def __setitem__(self, index: int, value: Tensor) -> None:
        self._parameters[self._key(index)] = _as_parameter("ParameterList", value)

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __iadd__(self, values: Iterable[Tensor]) -> ParameterList:
        return self.extend(values)

    def append(self, value: Tensor) -> ParameterList:
        """Add a parameter at the end; returns self."""
        self._parameters[str(len(self._parameters))] = _as_parameter("ParameterList", value)
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        """Add several parameters at the end; returns self."""
        for value in values:
            self.append(value)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A ParameterList has no forward: use its parameters in the parent's forward."""
        raise NotImplementedError("ParameterList is a container: use its parameters in the "
                                  "parent module's forward")

    def __repr__(self) -> str:
        return _parameters_repr(self)


class ParameterDict(Module):
    """A dict of Parameters that the parent module sees, its keys being the ``state_dict``
    names. Tensors added to it become Parameters.

    As in PyTorch, a plain dict given to the constructor or to ``update`` is added in sorted
    key order (an OrderedDict, a ParameterDict or a sequence of pairs keeps its order), so that
    state dicts list the keys as PyTorch's do.
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Tensor) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ParameterDict: keys must be strings; got {type(key).__name__}")
        if not key or "." in key:
            raise KeyError(f"ParameterDict: keys must be non-empty and contain no '.' (they "
                           f"become state_dict names); got {key!r}")
        self._parameters[key] = _as_parameter("ParameterDict", value)

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def keys(self) -> Iterable[str]:
        """The names."""
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        """The parameters."""
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        """(name, parameter) pairs."""
        return self._parameters.items()

    def get(self, key: str, default: Any = None) -> Any:
        """The parameter named ``key``, or ``default``."""
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        """Remove the parameter named ``key`` and return it."""
        return self._parameters.pop(key)

    def update(self, parameters: Any) -> None:
        """Add or replace parameters from a mapping or an iterable of (name, parameter) pairs
        (a plain dict in sorted key order, as in PyTorch)."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            pairs: Iterable = parameters.items()
        elif isinstance(parameters, Mapping):
            pairs = sorted(parameters.items(), key=lambda pair: pair[0])
        else:
            pairs = parameters
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ParameterDict.update: element {i} must be a (name, parameter) "
                                f"pair; got {type(pair).__name__}")
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """A ParameterDict has no forward: use its parameters in the parent's forward."""
        raise NotImplementedError("ParameterDict is a container: use its parameters by name in "
                                  "the parent module's forward")

    def __repr__(self) -> str:
        return _parameters_repr(self)


__all__ = ["ModuleDict", "ModuleList", "ParameterDict", "ParameterList", "Residual",
           "Sequential"]
