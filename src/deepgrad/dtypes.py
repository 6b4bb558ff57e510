"""The element types under NumPy's names (``dg.float32``, ``dg.int64``, ``dg.uint8``, ...) and
PyTorch's (``dg.float``, ``dg.double``, ``dg.long``, ``dg.int``, ``dg.bool``), so that
``dtype=torch.long`` ports as ``dtype=dg.long``. Each is a NumPy dtype."""

from deepgrad.backend import xp
from deepgrad.tensor import bool_, float32, float64, int32, int64

uint8 = xp.dtype("uint8")
int8 = xp.dtype("int8")
int16 = xp.dtype("int16")
# PyTorch's names; they shadow the builtins in this module only, which has no code.
float = float32
double = float64
long = int64
int = int32
bool = bool_

__all__ = ["bool", "bool_", "double", "float", "float32", "float64", "int", "int8", "int16",
           "int32", "int64", "long", "uint8"]
