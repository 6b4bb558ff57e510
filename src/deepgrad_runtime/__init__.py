"""deepgrad's deployment runtime: runs exported models with NumPy and the standard library only.

Nothing here imports deepgrad itself, so a device needs only NumPy and this package.
"""

from deepgrad_runtime.safetensors import FileFormatError, load_file, save_file

__all__ = ["FileFormatError", "load_file", "save_file"]
