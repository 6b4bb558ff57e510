"""deepgrad's deployment runtime: runs exported models with NumPy and the standard library only.

Nothing here imports deepgrad itself, so a device needs only NumPy and this package::

    import deepgrad_runtime
    model = deepgrad_runtime.load("model.runtime.safetensors")
    y = model.run(x)                                    # NumPy in, NumPy out
    model.predict_file("inputs.npy", "outputs.npy")     # any size, in chunks
"""

from deepgrad_runtime.model import Model, load
from deepgrad_runtime.safetensors import FileFormatError, load_file, save_file

__all__ = ["FileFormatError", "Model", "load", "load_file", "save_file"]
