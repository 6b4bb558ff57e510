"""Weights files and training checkpoints in the safetensors format.

The format's reader and writer (NumPy only) live in ``deepgrad_runtime.safetensors``, shared with
the deployment runtime; this module adds what needs a model: ``dg.save(model, path)``,
``dg.load(path)`` and ``dg.load_into(model, path)`` for weights, and ``save_tree``/``load_tree``
for checkpoints (nested structures of arrays, numbers and strings).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.errors import StateDictError
from deepgrad_runtime.safetensors import as_numpy, atomic_write, bad_file, load_file, save_file

__all__ = ["TREE_KEY", "atomic_write", "load", "load_file", "load_into", "load_tree", "save",
           "save_file", "save_tree"]


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Save to a safetensors file, atomically, PyTorch's ``torch.save`` without pickle: a model's
    weights (its ``state_dict``: parameters and persistent buffers) or a dict of arrays, as plain
    tensors that any safetensors reader loads; or a nested structure of dicts, lists, numbers,
    strings and arrays, such as ``{"model": model.state_dict(), "optimizer":
    optimizer.state_dict(), "epoch": 3}``, which :func:`load` gives back. Returns the path."""
    state = obj.state_dict() if hasattr(obj, "state_dict") else obj
    if isinstance(state, Mapping) and all(
            isinstance(k, str) and (isinstance(v, np.ndarray) or hasattr(v, "numpy"))
            for k, v in state.items()):
        return save_file(state, path, metadata={"format": "deepgrad"})
    return save_tree(state, path)


def load(path: str | os.PathLike, map_location: Any = None, weights_only: bool = True) -> Any:
    """Read what :func:`save` wrote (or any safetensors file), PyTorch's ``torch.load``: a dict
    of NumPy arrays for weights (what ``state_dict()`` gives and ``load_state_dict`` takes), or
    the saved structure. ``map_location`` may name the CPU; ``weights_only`` is accepted for
    PyTorch's code and changes nothing: these files hold data, never code."""
    from deepgrad.backend import check_device

    if not isinstance(weights_only, bool):
        raise TypeError(f"load: weights_only must be a bool; got {weights_only!r}")
    if map_location is not None and not isinstance(map_location, str):
        raise TypeError(f"load: map_location must be a device or its name (only the CPU is "
                        f"available); got {type(map_location).__name__}")
    check_device("load", map_location)
    path = Path(path)
    arrays, metadata = load_file(path)
    if TREE_KEY in metadata:
        return _read_tree(path, arrays, metadata)
    return arrays


def load_into(model: Any, path: str | os.PathLike, strict: bool = True) -> Any:
    """Load weights saved by :func:`save` (or any safetensors file with the model's keys, such
    as a torch ``state_dict`` saved by the ``safetensors`` package) into ``model``.

    Returns what ``model.load_state_dict`` returns: with ``strict=True``, any missing,
    unexpected or wrongly shaped key raises one error listing them all.
    """
    arrays, _ = load_file(path)
    try:
        return model.load_state_dict(arrays, strict=strict)
    except StateDictError as e:
        raise StateDictError(f"{path}: {e}") from None


# A checkpoint is a tree: dicts, lists, numbers, strings, None and arrays (a model's state_dict,
# an optimizer's, a loader's position and RNG state, the epoch). The arrays go into the file as
# tensors; the rest of the tree goes into the metadata as JSON, each array replaced by a reference
# to its tensor. JSON keeps Python's big integers (NumPy's bit generator states) exactly.
TREE_KEY = "deepgrad.tree"
_REF = "__tensor__"


def _split_tree(tree: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(tree, np.ndarray) or hasattr(tree, "numpy"):
        name, n = prefix, 1
        while name in arrays:  # keys holding dots can spell the same path twice
            name, n = f"{prefix}#{n}", n + 1
        arrays[name] = as_numpy(prefix, tree)
        return {_REF: name}
    if isinstance(tree, Mapping):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in tree):
            raise TypeError(f"save_tree: keys at {prefix or 'the top'} must be str or int")
        # JSON keys are strings: integer keys (an optimizer's parameter indices) are tagged.
        return {"__dict__": [[k, _split_tree(v, f"{prefix}.{k}" if prefix else str(k), arrays)]
                             for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        items = [_split_tree(v, f"{prefix}.{i}" if prefix else str(i), arrays)
                 for i, v in enumerate(tree)]
        return {"__tuple__": items} if isinstance(tree, tuple) else items
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"save_tree: cannot store {type(tree).__name__} at {prefix or 'the top'}; "
                    f"a checkpoint holds only arrays, numbers, strings, None, lists and dicts")


def _join_tree(node: Any, arrays: dict[str, np.ndarray], path: Path) -> Any:
    if isinstance(node, list):
        return [_join_tree(v, arrays, path) for v in node]
    if isinstance(node, dict):
        if _REF in node:
            if node[_REF] not in arrays:
                raise bad_file(path, f"the checkpoint refers to a tensor {node[_REF]!r} that the "
                                     f"file does not hold")
            return arrays[node[_REF]]
        if "__tuple__" in node:
            return tuple(_join_tree(v, arrays, path) for v in node["__tuple__"])
        if "__dict__" in node:
            return {k: _join_tree(v, arrays, path) for k, v in node["__dict__"]}
        raise bad_file(path, f"unexpected entry in the checkpoint's structure: {sorted(node)}")
    return node


def save_tree(tree: Any, path: str | os.PathLike) -> Path:
    """Write a nested structure of dicts, lists, tuples, numbers, strings, None and arrays to
    one safetensors file, atomically (the arrays as tensors, the rest as JSON metadata)."""
    arrays: dict[str, np.ndarray] = {}
    structure = _split_tree(tree, "", arrays)
    return save_file(arrays, path, metadata={TREE_KEY: json.dumps(structure)})


def load_tree(path: str | os.PathLike) -> Any:
    """Read a structure written by :func:`save_tree`."""
    path = Path(path)
    arrays, metadata = load_file(path)
    if TREE_KEY not in metadata:
        raise bad_file(path, f"a safetensors file, but not a deepgrad checkpoint (no "
                             f"{TREE_KEY!r} in its metadata): load plain weights with "
                             f"dg.load_into")
    return _read_tree(path, arrays, metadata)


def _read_tree(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> Any:
    try:
        structure = json.loads(metadata[TREE_KEY])
    except json.JSONDecodeError as e:
        raise bad_file(path, f"the checkpoint's structure is not valid JSON ({e})") from None
    return _join_tree(structure, arrays, path)
