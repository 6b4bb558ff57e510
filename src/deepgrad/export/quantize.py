"""Post-training int8 quantization: ``q = quantize(model, calibration_data)``.

::

    q = dg.export.quantize(model, x_train[:1000])        # calibrate on 1000 examples
    dg.export.to_runtime(q, "model.int8.safetensors")    # int8 weights: ~4x smaller file
    dg.export.to_onnx(q, x[:1], "model.int8.onnx")       # standard QDQ ONNX

On a deep copy of the model (the model itself is never changed), in eval mode:

1. Every BatchNorm that alone reads the output of a Conv1d, Conv2d or Linear is folded into
   that layer (``W' = W * s``, ``b' = (b - mean) * s + beta``, ``s = gamma / sqrt(var + eps)``
   per output channel) and replaced by an Identity, so that the weights quantized are the ones
   inference multiplies by. Which layer feeds which norm is seen on one forward pass.
2. Calibration: the model runs on the calibration batches while an observer records the range
   of the inputs of every Conv1d, Conv2d and Linear: ``"minmax"``, the smallest and largest
   values seen, or ``"percentile"``, the ``100 - percentile`` and ``percentile`` percentiles of
   (a sample of) the values, which ignores rare outliers at the price of clipping them.
3. Each of those layers is replaced by its quantized counterpart (see
   :mod:`deepgrad.export.quantized_layers`): int8 weights, symmetric, per output channel (or per
   tensor), and asymmetric uint8 inputs.

The rest of the model (activations, pooling, the model's output) stays float32: the layers
between two quantized ones are cheap, and quantizing the logits would save nothing but could
tie the argmax.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from deepgrad.anomaly import _Anomaly
from deepgrad.autograd import _Trace
from deepgrad.export.quantized_layers import QUANTIZED
from deepgrad.grad_mode import no_grad
from deepgrad.nn.flatten import Identity
from deepgrad.nn.module import Module, Parameter
from deepgrad.nn.norm import BatchNorm1d, BatchNorm2d
from deepgrad.tensor import Tensor, to_array

OBSERVERS = ("minmax", "percentile")  # how quantize reads an input range off the calibration
_BATCH_SIZE = 256  # calibration batches cut from one array
_SAMPLE_SIZE = 1 << 18  # values per batch that the percentile observer keeps, at most


class _Observer:
    """The range of one layer's inputs over the calibration batches."""

    def __init__(self, kind: str, percentile: float, seed: int) -> None:
        self.kind, self.percentile = kind, percentile
        self.rng = np.random.default_rng(seed)
        self.low, self.high = np.inf, -np.inf
        self.samples: list[np.ndarray] = []

    def update(self, x: np.ndarray, layer: str) -> None:
        if not np.isfinite(x).all():
            raise ValueError(f"quantize: the input of layer '{layer}' holds NaN or inf values "
                             f"on the calibration data")
        if self.kind == "minmax":
            self.low, self.high = min(self.low, float(x.min())), max(self.high, float(x.max()))
            return
        values = x.reshape(-1)
        if values.size > _SAMPLE_SIZE:
            values = values[self.rng.integers(0, values.size, _SAMPLE_SIZE)]
        self.samples.append(values.astype(np.float64))

    def range(self) -> tuple[float, float]:
        if self.kind == "minmax":
            return self.low, self.high
        values = np.concatenate(self.samples)
        low, high = np.percentile(values, [100 - self.percentile, self.percentile])
        return float(low), float(high)


def _batches(data: Any, dtype: Any) -> Iterator[np.ndarray]:
    """The calibration batches as arrays: slices of one array, or the items of an iterable
    (batches, or ``(x, y)`` pairs whose ``x`` is used); floats are cast to the model's dtype."""
    if isinstance(data, (np.ndarray, Tensor)):
        array = to_array(data)
        items: Iterable = (array[start:start + _BATCH_SIZE]
                           for start in range(0, max(len(array), 1), _BATCH_SIZE))
    elif isinstance(data, (str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(f"quantize: calibration_data must be an array or an iterable of "
                        f"batches (or of (x, y) pairs); got {type(data).__name__}")
    else:
        items = data
    for k, item in enumerate(items):
        x = to_array(item[0] if isinstance(item, (tuple, list)) else item)
        if x.ndim == 0 or x.shape[0] == 0:
            raise ValueError(f"quantize: calibration batch {k} is empty (shape {x.shape}); "
                             f"expected a batch of examples")
        yield x.astype(dtype, copy=False) if x.dtype.kind == "f" and dtype is not None else x


def _float_dtype(model: Module) -> Any:
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dtype.kind == "f":
            return tensor.dtype
    return None


def _replace(model: Module, path: str, new: Module) -> None:
    """Put ``new`` where the sub-module at ``path`` is (keeping its place in the parent's order,
    which a Sequential runs in)."""
    parent_path, _, name = path.rpartition(".")
    setattr(dict(model.named_modules())[parent_path], name, new)


def _flat_outputs(output: Any) -> list[Tensor]:
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _flat_outputs(item)]
    return []


def _fold_pairs(model: Module, batch: np.ndarray) -> list[tuple[str, str]]:
    """(layer path, batch norm path) of every BatchNorm whose input is the output of a Conv1d,
    Conv2d or Linear that nothing else reads, each called once, seen on one forward pass."""
    paths = {id(m): p for p, m in model.named_modules()}
    produced: dict[int, int] = {}  # id of a layer's output -> id of the layer
    norm_input: dict[int, int] = {}  # id of a batch norm -> id of its input
    calls: Counter[int] = Counter()
    readers: defaultdict[int, set] = defaultdict(set)  # id of a tensor -> norms reading it
    keep: list[Any] = []  # the tensors whose ids are keys above stay alive

    def hook(module: Module, inputs: tuple, output: Any) -> None:
        calls[id(module)] += 1
        keep.append((inputs, output))
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            norm_input[id(module)] = id(inputs[0])
        else:
            produced[id(output)] = id(module)

    def observer(cls: type, args: tuple, options: dict, outputs: Any) -> None:
        # The batch norm on the module stack that this op runs in, if any.
        inside = next((id(m) for m in reversed(_Anomaly.modules)
                       if isinstance(m, (BatchNorm1d, BatchNorm2d))), None)
        for arg in args:  # only layer outputs: they are kept alive, so their ids stay theirs
            if isinstance(arg, Tensor) and id(arg) in produced:
                readers[id(arg)].add(inside)

    candidates = [m for m in model.modules() if type(m) in QUANTIZED or (
        isinstance(m, (BatchNorm1d, BatchNorm2d)) and m.track_running_stats)]
    handles = [m.register_forward_hook(hook) for m in candidates]
    previous = _Trace.observer
    _Trace.observer = observer
    try:
        with no_grad():
            output = model(Tensor(batch[:2]))  # a batch of two examples shows the wiring
    finally:
        _Trace.observer = previous
        for handle in handles:
            handle.remove()
    returned = {id(t) for t in _flat_outputs(output)}
    pairs = []
    for norm, source in norm_input.items():
        layer = produced.get(source)
        if (layer is not None and calls[layer] == 1 and calls[norm] == 1
                and readers[source] == {norm} and source not in returned):
            pairs.append((paths[layer], paths[norm]))
    return pairs


def _fold(model: Module, layer_path: str, norm_path: str) -> None:
    modules = dict(model.named_modules())
    layer, norm = modules[layer_path], modules[norm_path]
    mean = norm.running_mean.data.astype(np.float64)
    var = norm.running_var.data.astype(np.float64)
    gamma = norm.weight.data.astype(np.float64) if norm.weight is not None else 1.0
    beta = norm.bias.data.astype(np.float64) if norm.bias is not None else 0.0
    scale = gamma / np.sqrt(var + norm.eps)
    weight = layer.weight.data
    bias = layer.bias.data.astype(np.float64) if layer.bias is not None else 0.0
    layer.weight = Parameter((weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1)))
                             .astype(weight.dtype))
    layer.bias = Parameter(((bias - mean) * scale + beta).astype(weight.dtype))
    _replace(model, norm_path, Identity())


def _calibrate(model: Module, batches: Iterable[np.ndarray], observer: str,
               percentile: float) -> dict[str, tuple[float, float]]:
    """The input range of every quantizable layer (path -> (low, high)) over the batches."""
    layers = {path: m for path, m in model.named_modules() if type(m) in QUANTIZED}
    observers = {path: _Observer(observer, percentile, seed)
                 for seed, path in enumerate(layers)}

    def hook_for(path: str) -> Any:
        def hook(module: Module, inputs: tuple, output: Any) -> None:
            observers[path].update(to_array(inputs[0]), path)
        return hook

    handles = [m.register_forward_hook(hook_for(path)) for path, m in layers.items()]
    try:
        with no_grad():
            for x in batches:
                model(Tensor(x))
    finally:
        for handle in handles:
            handle.remove()
    unused = [path for path, obs in observers.items() if obs.low > obs.high and not obs.samples]
    if unused:
        raise ValueError(f"quantize: layer{'s' if len(unused) > 1 else ''} "
                         f"{', '.join(repr(p) for p in unused)} never ran on the calibration "
                         f"data, so {'their' if len(unused) > 1 else 'its'} input range is "
                         f"unknown")
    return {path: obs.range() for path, obs in observers.items()}


def quantize(model: Module, calibration_data: Any, *, per_channel: bool = True,
             observer: str = "minmax", percentile: float = 99.99) -> Module:
    """A post-training int8 copy of ``model`` that runs in deepgrad and exports to QDQ ONNX and
    to the runtime (see the module docstring for the steps).

    Args:
        model: a deepgrad Module taking one input; it is not changed.
        calibration_data: examples like those the model will see (a few hundred to a thousand
            suffice), preprocessed as for the model: an array or Tensor (cut into batches of
            256), or an iterable of batches or of ``(x, y)`` pairs (a DataLoader).
        per_channel: one weight scale per output channel (True) or per layer.
        observer: how an input range is read from the calibration data: ``"minmax"`` or
            ``"percentile"``.
        percentile: with ``observer="percentile"``, the upper percentile of the range (the
            lower one is ``100 - percentile``), in (50, 100].

    Returns:
        The quantized Module in eval mode: every Conv1d, Conv2d and Linear replaced by a
        QuantizedConv1d, QuantizedConv2d or QuantizedLinear, batch norms folded into them.

    Raises:
        ValueError: empty calibration data, NaN in it, a bad option, or a model without a layer
            to quantize or with one that the calibration data never reached.
        TypeError: calibration data that is neither an array nor an iterable.
    """
    if not isinstance(model, Module):
        raise TypeError(f"quantize: expects a deepgrad Module; got {type(model).__name__}")
    if observer not in OBSERVERS:
        raise ValueError(f"quantize: observer must be one of {', '.join(OBSERVERS)}; got "
                         f"{observer!r}")
    if not 50 < percentile <= 100:
        raise ValueError(f"quantize: percentile must be in (50, 100]; got {percentile}")
    if not any(type(m) in QUANTIZED for m in model.modules()):
        raise ValueError(f"quantize: {type(model).__name__} has no Conv1d, Conv2d or Linear "
                         f"layer to quantize")
    quantized = copy.deepcopy(model).eval()
    batches = _batches(calibration_data, _float_dtype(model))
    first = next(batches, None)
    if first is None:
        raise ValueError("quantize: calibration_data holds no batch")
    for layer_path, norm_path in _fold_pairs(quantized, first):
        _fold(quantized, layer_path, norm_path)
    ranges = _calibrate(quantized, _chain(first, batches), observer, percentile)
    modules = dict(quantized.named_modules())
    for path, input_range in ranges.items():
        layer = modules[path]
        new = QUANTIZED[type(layer)].from_float(layer, input_range, per_channel)
        if not path:  # the model is itself one layer
            return new.eval()
        _replace(quantized, path, new)
    return quantized.eval()


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


__all__ = ["OBSERVERS", "quantize"]
