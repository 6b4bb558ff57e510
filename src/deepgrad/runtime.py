"""``deepgrad.runtime``: the NumPy-only deployment runtime under deepgrad's name.

It is the standalone package :mod:`deepgrad_runtime` (which never imports deepgrad), so a
device can install and import that alone: ``m = runtime.load(path)``; ``m.run(x)``.
"""

import deepgrad_runtime
from deepgrad_runtime import *  # noqa: F403 - the same names, whatever deepgrad_runtime exports

__all__ = list(deepgrad_runtime.__all__)
