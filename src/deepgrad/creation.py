"""Making tensors: from data, filled with constants, ranges, and random numbers from one seedable
generator that deepgrad owns (``dg.manual_seed``)."""

from __future__ import annotations

from typing import Any

from deepgrad.backend import check_device, xp
from deepgrad.tensor import DEFAULT_FLOAT, Tensor, int64, to_array


class _Random:
    # The one generator every random factory, initializer and dropout mask draws from, made on
    # first use: creating it at import would load numpy.random, a tenth of the import time.
    generator: Any = None


def manual_seed(seed: int) -> None:
    """Seed the generator behind every random factory, so results are reproducible."""
    _Random.generator = xp.random.default_rng(seed)


def generator() -> Any:
    """The NumPy ``Generator`` behind deepgrad's randomness (for code that draws its own)."""
    if _Random.generator is None:
        _Random.generator = xp.random.default_rng()
    return _Random.generator


class Generator(xp.random.Generator):
    """A random number generator to pass as ``generator=`` to the random factories,
    ``random_split``, the samplers and the DataLoader (PyTorch's ``torch.Generator``): a NumPy
    ``Generator`` (PCG64) with PyTorch's seeding methods, so code that seeds its own stream
    (``generator=dg.Generator().manual_seed(42)``) ports unchanged."""

    _DEFAULT_SEED = 67280421310721  # what a new torch.Generator starts from

    def __init__(self, device: Any = "cpu") -> None:
        check_device("Generator", device)
        super().__init__(xp.random.PCG64(self._DEFAULT_SEED))
        self._initial_seed = self._DEFAULT_SEED

    def manual_seed(self, seed: int) -> Generator:
        """Restart from ``seed`` (an int); returns this generator, as PyTorch's."""
        if isinstance(seed, bool) or not isinstance(seed, (int, xp.integer)):
            raise TypeError(f"Generator.manual_seed: expects an int; got {seed!r}")
        self._initial_seed = int(seed)
        self.bit_generator.state = xp.random.PCG64(int(seed) % 2**64).state
        return self

    def seed(self) -> int:
        """Restart from a seed drawn from the operating system's entropy; returns it."""
        seed = int(xp.random.SeedSequence().entropy % 2**63)
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed this generator last started from."""
        return self._initial_seed

    def get_state(self) -> dict:
        """The generator's state as a dict of plain values (``set_state`` restores it)."""
        return self.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore a state returned by :meth:`get_state`."""
        self.bit_generator.state = state


def rng_from(given: Any) -> Any:
    """The generator a random factory draws from: ``given``, else deepgrad's."""
    if given is None:
        return generator()
    if not isinstance(given, xp.random.Generator):
        raise TypeError(f"generator must be a dg.Generator (or a NumPy Generator) or None; got "
                        f"{type(given).__name__}")
    return given


def get_rng_state() -> dict:
    """The generator's state as a dict of plain values (for checkpoints)."""
    return generator().bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    generator().bit_generator.state = state


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(s, (int, xp.integer)) and not isinstance(s, bool) and s >= 0
               for s in size):
        raise ValueError(f"a size must be non-negative integers; got {size}")
    return tuple(int(s) for s in size)


def _finish(data: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype: Any) -> Any:
    return DEFAULT_FLOAT if dtype is None else xp.dtype(dtype)


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, *, device: Any = None
           ) -> Tensor:
    """A new tensor holding a copy of ``data`` (numbers, nested lists, arrays or tensors).

    Python floats become float32, Python ints int64; arrays keep their dtype unless ``dtype``.
    """
    check_device("tensor", device)
    return _finish(to_array(data, None if dtype is None else xp.dtype(dtype), copy=True),
                   requires_grad)


def from_numpy(array: Any) -> Tensor:
    """A tensor sharing memory with a NumPy array (no copy, dtype kept)."""
    if not isinstance(array, xp.ndarray):
        raise TypeError(f"from_numpy expects a NumPy array; got {type(array).__name__}")
    t = Tensor._make(array)
    t._aliased = True
    return t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
          ) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    check_device("zeros", device)
    return _finish(xp.zeros(_size(size), dtype=_float_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
         ) -> Tensor:
    """A tensor of ones."""
    check_device("ones", device)
    return _finish(xp.ones(_size(size), dtype=_float_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
          ) -> Tensor:
    """A tensor with uninitialized values (fill it before reading)."""
    check_device("empty", device)
    return _finish(xp.empty(_size(size), dtype=_float_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False, *,
         device: Any = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (float32, or int64 for an int)."""
    check_device("full", device)
    if dtype is None:
        dtype = int64 if isinstance(fill_value, (int, xp.integer)) and not isinstance(
            fill_value, bool) else DEFAULT_FLOAT
    return _finish(xp.full(_size((size,)), fill_value, dtype=dtype), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """Zeros with the shape (and dtype, unless given) of ``t``."""
    check_device("zeros_like", device)
    return _finish(xp.zeros(t.shape, dtype=t.dtype if dtype is None else dtype), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
              device: Any = None) -> Tensor:
    """Ones with the shape (and dtype, unless given) of ``t``."""
    check_device("ones_like", device)
    return _finish(xp.ones(t.shape, dtype=t.dtype if dtype is None else dtype), requires_grad)


def full_like(t: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False, *,
              device: Any = None) -> Tensor:
    """``fill_value`` in the shape (and dtype, unless given) of ``t``."""
    check_device("full_like", device)
    return _finish(xp.full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype),
                   requires_grad)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """An uninitialized tensor with the shape (and dtype, unless given) of ``t``."""
    check_device("empty_like", device)
    return _finish(xp.empty(t.shape, dtype=t.dtype if dtype is None else dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, *,
        device: Any = None) -> Tensor:
    """The identity matrix of shape (n, m or n)."""
    check_device("eye", device)
    n, m = _size((n, n if m is None else m))
    return _finish(xp.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; int64 unless an argument is a
    float (then float32)."""
    check_device("arange", device)
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, xp.integer)) for v in (start, end, step))
        dtype = int64 if is_int else DEFAULT_FLOAT
    if step == 0:
        raise ValueError("arange: step must not be zero")
    return _finish(xp.arange(start, end, step).astype(dtype), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None,
             requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    check_device("linspace", device)
    return _finish(xp.linspace(start, end, steps, dtype=_float_dtype(dtype)), requires_grad)


def _random_float(dtype: Any) -> Any:
    dtype = _float_dtype(dtype)
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):
        raise TypeError(f"random floats need dtype float32 or float64; got {dtype}")
    return dtype


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
          generator: Any = None) -> Tensor:
    """Samples from the standard normal distribution."""
    check_device("randn", device)
    dtype = _random_float(dtype)
    return _finish(rng_from(generator).standard_normal(_size(size), dtype=dtype), requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None,
         generator: Any = None) -> Tensor:
    """Samples from the uniform distribution on [0, 1)."""
    check_device("rand", device)
    dtype = _random_float(dtype)
    return _finish(rng_from(generator).random(_size(size), dtype=dtype), requires_grad)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """Standard normal samples in the shape (and float dtype, unless given) of ``t``."""
    check_device("randn_like", device)
    return randn(t.shape, dtype=t.dtype if dtype is None else dtype,
                 requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, *,
              device: Any = None) -> Tensor:
    """Uniform samples on [0, 1) in the shape (and float dtype, unless given) of ``t``."""
    check_device("rand_like", device)
    return rand(t.shape, dtype=t.dtype if dtype is None else dtype,
                requires_grad=requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), dtype: Any = None, *,
            device: Any = None, generator: Any = None) -> Tensor:
    """Random integers in ``[low, high)``; ``randint(high, size)`` starts at 0 (int64, or
    ``dtype``: floats hold the integers too, as in PyTorch)."""
    check_device("randint", device)
    if isinstance(high, (tuple, list)):  # PyTorch's randint(high, size)
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    data = rng_from(generator).integers(low, high, _size((size,)), dtype=int64)
    return Tensor._make(xp.asarray(data if dtype is None else data.astype(dtype)))


def randint_like(t: Tensor, low: int, high: int | None = None, dtype: Any = None, *,
                 device: Any = None) -> Tensor:
    """Random integers in ``[low, high)`` (``randint_like(t, high)`` starts at 0) in the shape
    (and dtype, unless given) of ``t``."""
    check_device("randint_like", device)
    return randint(low, high, t.shape, dtype=t.dtype if dtype is None else dtype)


def _probabilities(op: str, p: Any) -> Any:
    data = p.data if isinstance(p, Tensor) else xp.asarray(p)
    if data.dtype.kind != "f":
        raise TypeError(f"{op}: expects float probabilities; got dtype {data.dtype}")
    if data.size and (not xp.isfinite(data).all() or data.min() < 0):
        raise ValueError(f"{op}: probabilities must be finite and >= 0")
    return data


def bernoulli(p: Any, *, generator: Any = None) -> Tensor:
    """1.0 with probability ``p`` (elementwise, in [0, 1]), else 0.0, in p's dtype (no
    gradient)."""
    data = _probabilities("bernoulli", p)
    if data.size and data.max() > 1:
        raise ValueError("bernoulli: probabilities must be in [0, 1]")
    return Tensor._make((rng_from(generator).random(data.shape) < data).astype(data.dtype))


def multinomial(p: Any, num_samples: int, replacement: bool = False, *,
                generator: Any = None) -> Tensor:
    """``num_samples`` category indices drawn from the weights ``p`` (one row, or (N, K) rows,
    not necessarily normalized), without replacement unless ``replacement``: int64 (num_samples,)
    or (N, num_samples)."""
    data = _probabilities("multinomial", p)
    if data.ndim not in (1, 2) or data.shape[-1] == 0:
        raise ValueError(f"multinomial: expects weights of shape (K,) or (N, K); got "
                         f"{data.shape}")
    rows = data.reshape(-1, data.shape[-1]).astype(xp.float64)
    totals = rows.sum(axis=1)
    positive = (rows > 0).sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("multinomial: every row needs a positive total weight")
    if not replacement and num_samples > positive.min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         f"from a row with {positive.min()} categories of nonzero weight")
    rng = rng_from(generator)
    draws = [rng.choice(rows.shape[1], num_samples, replace=replacement, p=row / total)
             for row, total in zip(rows, totals)]
    out = xp.asarray(draws, dtype=int64).reshape((*data.shape[:-1], num_samples))
    return Tensor._make(out)


def randperm(n: int, *, device: Any = None, generator: Any = None) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64)."""
    check_device("randperm", device)
    (n,) = _size((n,))
    return Tensor._make(rng_from(generator).permutation(n).astype(int64))


def _new(fill: Any) -> Any:
    def method(self: Tensor, *size: Any, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
        check_device(f"new_{fill.__name__}", device)
        return _finish(fill(_size(size), self.data.dtype if dtype is None else xp.dtype(dtype)),
                       requires_grad)

    return method


new_zeros = _new(xp.zeros)
new_zeros.__doc__ = "Zeros of shape ``size`` in this tensor's dtype (unless ``dtype``)."
new_ones = _new(xp.ones)
new_ones.__doc__ = "Ones of shape ``size`` in this tensor's dtype (unless ``dtype``)."
new_empty = _new(xp.empty)
new_empty.__doc__ = "An uninitialized tensor of shape ``size`` in this tensor's dtype."


def new_full(self: Tensor, size: Any, fill_value: float, dtype: Any = None,
             requires_grad: bool = False, *, device: Any = None) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``, in this tensor's dtype (unless
    ``dtype``)."""
    check_device("new_full", device)
    return _finish(xp.full(_size((size,)), fill_value,
                           dtype=self.data.dtype if dtype is None else xp.dtype(dtype)),
                   requires_grad)


def new_tensor(self: Tensor, data: Any, dtype: Any = None, requires_grad: bool = False, *,
               device: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data``, in this tensor's dtype (unless ``dtype``)."""
    check_device("new_tensor", device)
    return tensor(data, self.data.dtype if dtype is None else dtype, requires_grad)


METHODS = {"new_zeros": new_zeros, "new_ones": new_ones, "new_empty": new_empty,
           "new_full": new_full, "new_tensor": new_tensor, "bernoulli": bernoulli,
           "multinomial": multinomial}
"""Tensor methods that make new tensors like this one (PyTorch's ``x.new_zeros(...)``...)."""

__all__ = ["Generator", "arange", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full",
           "full_like", "generator", "get_rng_state", "linspace", "manual_seed", "multinomial",
           "ones", "ones_like", "rand", "rand_like", "randint", "randint_like", "randn",
           "randn_like", "randperm", "set_rng_state", "tensor", "zeros", "zeros_like"]
