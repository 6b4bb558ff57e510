"""NumPy kernels for every operator of :data:`deepgrad_runtime.graph.OPS`, with ONNX opset-17
semantics, attributes and defaults.

``KERNELS[op](node, consts, workspace)`` checks a node and returns its kernel (see
:mod:`deepgrad_runtime.kernels.base`); ``IN_PLACE[op](node, consts)`` gives an activation's
in-place form, which the model applies to the fresh output of the node before it.
"""

from deepgrad_runtime.kernels import (  # noqa: F401 - importing a family registers its kernels
    conv,
    elementwise,
    linear,
    norm,
    pool,
    recurrent,
    resize,
    scan_sort,
    shape,
)
from deepgrad_runtime.kernels.base import IN_PLACE, KERNELS, Kernel, Workspace
from deepgrad_runtime.kernels.norm import batch_norm_affine

__all__ = ["IN_PLACE", "KERNELS", "Kernel", "Workspace", "batch_norm_affine"]
