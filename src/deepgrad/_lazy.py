"""Names of a package imported on first use (PEP 562), so that ``import deepgrad`` stays quick:
``dg.export``, ``dg.optim.LBFGS``, ``dg.datasets.CIFAR10`` load their modules when first read."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_names(namespace: dict[str, Any], table: dict[str, tuple[str, str | None]]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the module whose globals are ``namespace``:
    ``table`` maps a name to (the module that defines it, the attribute there, or None for the
    module itself). A name read once is kept in ``namespace``."""
    owner = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        module_name, attribute = table[name]
        module = importlib.import_module(module_name)
        value = module if attribute is None else getattr(module, attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *table])

    return __getattr__, __dir__


__all__ = ["lazy_names"]
