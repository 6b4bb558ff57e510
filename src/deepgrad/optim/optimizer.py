"""``Optimizer``: the base class that loops over parameter groups, keeps each parameter's state and
saves it in PyTorch's ``state_dict`` layout. An optimizer only says how one parameter's state
starts (``init_state``) and how one update goes (``update``).

Updates act on the raw arrays (``p.data`` with ``p.grad.data``) in place, so no graph is recorded:
state arrays are allocated once, and temporaries come from scratch buffers that the optimizer
reuses across parameters and steps instead of allocating tens of MiB per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from numbers import Real
from typing import Any

from deepgrad.backend import xp
from deepgrad.errors import ShapeError, shape_str
from deepgrad.grad_mode import enable_grad
from deepgrad.ops._kernels import compiled
from deepgrad.parallel import in_blocks
from deepgrad.tensor import Tensor, as_array

_ndarray = xp.ndarray
_FROM_GROUP = object()


class Optimizer:
    """Base class of the optimizers.

    Args:
        params: the Parameters to optimize (e.g. ``model.parameters()``), or parameter groups:
            dicts with a ``"params"`` entry and settings of their own, such as
            ``[{"params": body, "lr": 1e-4}, {"params": head}]``.
        defaults: the settings (``lr``, ...) of groups that do not set them.

    Subclasses define ``init_state`` and ``update``, list their array state in
    ``state_arrays`` and validate settings in ``check_group``.
    """

    # Names of state entries that are arrays shaped like the parameter; the others are numbers.
    state_arrays: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        self._scratch: dict[tuple, Any] = {}
        self._step_count = 0
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)):
            raise TypeError(f"{name}: params must be an iterable of Parameters or of dicts "
                            f"(parameter groups); got a single {type(params).__name__}, wrap it "
                            "in a list")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- what subclasses define
    def init_state(self, param: Any, group: dict[str, Any]) -> dict[str, Any]:
        """The state of one parameter before its first update (arrays shaped like ``param``)."""
        return {}

    def update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Update the array ``param`` in place from its gradient array ``grad``, its ``state``
        and the settings of its ``group``."""
        raise NotImplementedError(f"{type(self).__name__} does not define update()")

    def check_group(self, group: dict[str, Any], index: int) -> None:
        """Raise a clear error for an invalid setting of parameter group ``index``."""

    # ----------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own settings (the defaults fill in the rest)."""
        name = type(self).__name__
        index = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: parameter group {index} must be a dict with a 'params' "
                            f"entry; got {type(param_group).__name__} (params must be all "
                            "Parameters or all dicts)")
        if "params" not in param_group:
            raise ValueError(f"{name}: parameter group {index} has no 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: the params of parameter group {index} are a set, whose "
                            "order changes between runs; pass a list")
        else:
            params = list(params)
        for position, p in enumerate(params):
            where = f"{name}: parameter group {index}, position {position}"
            if not isinstance(p, Tensor):
                hint = " (pass model.parameters(), not named_parameters())" \
                    if isinstance(p, tuple) else ""
                raise TypeError(f"{where}: expected a Parameter (Tensor); got "
                                f"{type(p).__name__}{hint}")
            if not p.is_leaf:
                raise ValueError(f"{where}: cannot optimize a tensor produced by an operation "
                                 "(not a leaf); optimize the tensor it was computed from")
            if p.data.dtype.kind != "f":
                raise TypeError(f"{where}: only floating point tensors can be optimized; this "
                                f"one has dtype {p.data.dtype}")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: parameter group {index} holds the same parameter twice")
        if seen.intersection(ids):
            raise ValueError(f"{name}: a parameter of group {index} is already in another "
                             "parameter group; each parameter may appear in one group only")
        group = {"params": params, **self.defaults}
        group.update((k, v) for k, v in param_group.items() if k != "params")
        self.check_group(group, index)
        self.param_groups.append(group)

    def check_number(self, group: dict[str, Any], index: int, key: str, low: float | None = 0.0,
                     high: float | None = None, high_open: bool = False,
                     value: Any = _FROM_GROUP, label: str | None = None) -> None:
        """Raise unless ``group[key]`` (or ``value``) is a number in [low, high] (or [low, high)
        with ``high_open``; either bound may be None); ``label`` names it in the message
        (``betas[0]``)."""
        value = group[key] if value is _FROM_GROUP else value
        label = label or key
        where = f"{type(self).__name__}: {label}"
        if index:
            where += f" of parameter group {index}"
        if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
            raise TypeError(f"{where} must be a number; got {value!r}")
        too_low = low is not None and value < low
        too_high = high is not None and (value > high or (high_open and value == high))
        if too_low or too_high:
            if high is None:
                expected = f">= {low:g}"
            elif low is None:
                expected = f"<= {high:g}"
            else:
                expected = f"in [{low:g}, {high:g}{')' if high_open else ']'}"
            raise ValueError(f"{where} must be {expected}; got {value}")

    # ----------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (the default, which frees them), or to
        zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient and requires grad (others are skipped).

        Args:
            closure: a function that clears the gradients, recomputes the loss, calls
                ``backward`` and returns the loss; it is called first, with grad enabled.

        Returns:
            the closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None or not p.requires_grad:
                    continue
                param, g = p.data, grad.data
                if g.shape != param.shape:
                    raise ShapeError(f"{type(self).__name__}.step: a parameter of shape "
                                     f"{shape_str(param.shape)} has a gradient of shape "
                                     f"{shape_str(g.shape)}")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self.init_state(param, group)
                self.update(param, g, state, group)
                # Changed in place: a graph that saved this parameter must notice it.
                p._version += 1
                if p._base is not None:
                    p._base._version += 1
        self._step_count += 1
        return loss

    @staticmethod
    def fused(*arrays: Any) -> Any:
        """The compiled loops (:mod:`deepgrad.ops._kernels`) when they are available and every
        array is contiguous (so that its flat view is the array itself), else None."""
        kernels = compiled()
        if kernels is None or not all(a.flags.c_contiguous for a in arrays):
            return None
        return kernels

    @staticmethod
    def run_fused(kernel: Callable[..., None], arrays: tuple, scalars: tuple) -> None:
        """``kernel(*flat arrays, *scalars)`` over blocks of the flattened arrays, in parallel
        when they are large."""
        flat = [a.reshape(-1) for a in arrays]
        in_blocks(lambda part: kernel(*(a[part] for a in flat), *scalars), flat[0].size,
                  flat[0].size * len(flat))

    def scratch(self, like: Any, slot: int = 0) -> Any:
        """A temporary array shaped like ``like``: a view into a buffer of the optimizer, one per
        dtype and ``slot``, sized for its largest parameter and reused by every update."""
        key = (like.dtype, slot)
        buffer = self._scratch.get(key)
        size = like.size
        if buffer is None or buffer.size < size:
            largest = max((p.data.size for group in self.param_groups
                           for p in group["params"] if p.data.dtype == like.dtype), default=0)
            buffer = self._scratch[key] = xp.empty(max(size, largest), like.dtype)
        return buffer[:size].reshape(like.shape)

    def effective_grad(self, param: Any, grad: Any, weight_decay: float, maximize: bool) -> Any:
        """The gradient the update follows: ``grad + weight_decay * param``, negated first when
        ``maximize``; ``grad`` itself (no copy) when neither applies, else scratch slot 0."""
        if not weight_decay:
            return xp.negative(grad, out=self.scratch(param, 0)) if maximize else grad
        d = xp.multiply(param, weight_decay, out=self.scratch(param, 0))
        if maximize:
            d -= grad
        else:
            d += grad
        return d

    # ----------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """The state in PyTorch's layout, holding only arrays (copies), numbers, bools and lists:
        ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``,
        with parameters numbered in group order."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _plain(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                entries = self.state.get(p)
                if entries:
                    state[index[id(p)]] = {k: v.copy() if isinstance(v, _ndarray) else v
                                           for k, v in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by ``state_dict`` (or PyTorch's, converted to arrays) into this
        optimizer, which must hold the same groups of parameters of the same shapes. Arrays are
        copied and cast to their parameter's dtype; nothing changes when any check fails."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else \
                type(state_dict).__name__
            raise ValueError(f"{name}: expects a dict with the keys 'state' and 'param_groups' "
                             f"(as returned by state_dict()); got {got}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter "
                             f"group(s), but this optimizer has {len(self.param_groups)}")
        owners: dict[int, tuple[Tensor, dict, int]] = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            saved_params = list(saved.get("params", []))
            if len(saved_params) != len(group["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(saved_params)} "
                                 f"parameters in the state dict, but {len(group['params'])} in "
                                 "this optimizer")
            new = dict(group)
            for key, value in saved.items():
                if key != "params":
                    new[key] = tuple(value) if isinstance(group.get(key), tuple) else value
            self.check_group(new, i)
            new_groups.append(new)
            for saved_index, p in zip(saved_params, group["params"]):
                owners[int(saved_index)] = (p, new, i)
        new_state = {}
        for key, entries in state_dict["state"].items():
            saved_index = int(key)
            if saved_index not in owners:
                raise ValueError(f"{name}: the state dict has state for parameter "
                                 f"{saved_index}, which none of its parameter groups lists")
            p, group, _ = owners[saved_index]
            new_state[p] = self._loaded_state(p, dict(entries), group, saved_index)
        for group, new in zip(self.param_groups, new_groups):
            group.clear()
            group.update(new)
        self.state = new_state

    def _loaded_state(self, p: Tensor, entries: dict, group: dict, index: int) -> dict:
        """One parameter's saved state, checked against a fresh state and cast like ``p``."""
        name = f"{type(self).__name__}.load_state_dict"
        template = self.init_state(p.data, group)
        allowed = [*template, *(k for k in self.state_arrays if k not in template)]
        unknown = [k for k in entries if k not in allowed]
        missing = [k for k in template if k not in entries]
        if unknown or missing:
            problem = (f"unknown entries {unknown}" if unknown else "") + \
                      ("; " if unknown and missing else "") + \
                      (f"missing entries {missing}" if missing else "")
            raise KeyError(f"{name}: the state of parameter {index} (shape "
                           f"{shape_str(p.shape)}) has {problem}; a {type(self).__name__} "
                           f"state holds {allowed} with these settings")
        loaded = {}
        for key in [k for k in allowed if k in entries]:
            value = entries[key]
            if key in self.state_arrays:
                array = as_array(value)
                # Shaped like the parameter, or like the fresh state's array where that differs
                # (Adafactor's row and column statistics).
                expected = template[key].shape if key in template else p.data.shape
                if array.shape != expected:
                    needs = "" if expected == p.data.shape else \
                        f", which needs {shape_str(expected)}"
                    raise ShapeError(f"{name}: {key!r} of parameter {index} has shape "
                                     f"{shape_str(array.shape)}, but the parameter has shape "
                                     f"{shape_str(p.data.shape)}{needs}")
                loaded[key] = xp.array(array, dtype=p.data.dtype, copy=True)
            else:
                kind = type(template[key])
                loaded[key] = kind(float(as_array(value)))
        return loaded

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        return "\n".join(lines) + "\n)"


def _plain(value: Any) -> Any:
    """Tuples (``betas``) as lists and NumPy scalars as Python numbers, for a state dict."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, xp.generic):
        return value.item()
    return value


__all__ = ["Optimizer"]
