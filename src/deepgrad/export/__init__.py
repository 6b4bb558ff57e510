"""Getting models out of (and into) deepgrad: ONNX files and the NumPy-only runtime's artifacts.

``to_onnx(model, example_input, path)`` and ``to_runtime(model, path)`` trace one forward pass
into a graph of ONNX operators (``trace``); ``from_onnx(path)`` turns an ONNX file into a
``GraphModule`` that runs, and trains, on deepgrad's own ops; ``quantize(model, calibration)``
makes a post-training int8 model (per-channel int8 weights, calibrated uint8 inputs) that runs in
deepgrad and exports as ONNX QDQ or a 4x smaller runtime artifact. onnx itself is needed only to
read and write ONNX files (``pip install 'deepgrad[onnx]'``).
"""

from deepgrad.export.artifact import simplify, to_runtime
from deepgrad.export.graph_module import GraphModule
from deepgrad.export.onnx_export import graph_to_onnx, to_onnx
from deepgrad.export.onnx_import import from_onnx, read_onnx
from deepgrad.export.quantize import quantize
from deepgrad.export.quantized_layers import (
    QuantizedConv1d,
    QuantizedConv2d,
    QuantizedLinear,
    input_quantization,
    quantize_weight,
)
from deepgrad.export.trace import ExportError, trace

__all__ = ["ExportError", "GraphModule", "QuantizedConv1d", "QuantizedConv2d", "QuantizedLinear",
           "from_onnx", "graph_to_onnx", "input_quantization", "quantize", "quantize_weight",
           "read_onnx", "simplify", "to_onnx", "to_runtime", "trace"]
