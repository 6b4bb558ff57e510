"""Test helpers: compare deepgrad with PyTorch on the same inputs, outputs and gradients; models
with known places and non-trivial batch-norm statistics for the export tests."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np

import deepgrad as dg

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def assert_close(actual: Any, expected: Any, dtype: Any = np.float64, what: str = "") -> None:
    """Relative closeness at the project's parity tolerance for ``dtype``."""
    actual = np.asarray(actual.numpy() if hasattr(actual, "numpy") else actual)
    if hasattr(expected, "detach"):
        expected = expected.detach().numpy()
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tol = TOLERANCE[np.dtype(dtype).type]
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max())) if finite.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)


def check_parity(torch: Any, dg_fn: Callable[..., Any], torch_fn: Callable[..., Any],
                 arrays: Sequence[np.ndarray], requires_grad: Sequence[bool] | None = None,
                 seed: int = 0) -> None:
    """Run both functions on copies of ``arrays``; compare outputs and every input gradient.

    Float arrays require grad unless ``requires_grad`` says otherwise. Outputs may be a tensor or
    a tuple; the gradient flows from ``sum(out * g)`` with the same random ``g`` in both.
    """
    if requires_grad is None:
        requires_grad = [a.dtype.kind == "f" for a in arrays]
    dg_in = [dg.tensor(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]
    t_in = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, requires_grad)]
    dg_out, t_out = dg_fn(*dg_in), torch_fn(*t_in)
    dg_outs = dg_out if isinstance(dg_out, (tuple, list)) else (dg_out,)
    t_outs = t_out if isinstance(t_out, (tuple, list)) else (t_out,)
    assert len(dg_outs) == len(t_outs)
    dtype = next((a.dtype for a in arrays if a.dtype.kind == "f"), np.dtype(np.float64))
    rng = np.random.default_rng(seed)
    dg_loss, t_loss = None, None
    for i, (d, t) in enumerate(zip(dg_outs, t_outs)):
        assert_close(d, t, dtype, f"output {i}")
        if d.dtype.kind == "f" and d.requires_grad:
            g = rng.standard_normal(d.shape).astype(d.dtype)
            term_d, term_t = (d * dg.tensor(g)).sum(), (t * torch.tensor(g)).sum()
            dg_loss = term_d if dg_loss is None else dg_loss + term_d
            t_loss = term_t if t_loss is None else t_loss + term_t
    if dg_loss is None:
        return
    dg_loss.backward()
    t_loss.backward()
    for i, (d, t) in enumerate(zip(dg_in, t_in)):
        if not requires_grad[i]:
            continue
        if t.grad is None:
            assert d.grad is None or not np.any(d.grad.numpy()), f"input {i}: torch has no grad"
            continue
        assert d.grad is not None, f"input {i}: deepgrad gave no gradient"
        assert_close(d.grad, t.grad, dtype, f"gradient of input {i}")


def parity_of(torch: Any, fn: Callable[..., Any], arrays: Sequence[np.ndarray]) -> None:
    """:func:`check_parity` of ``fn(lib, *tensors)``, one function written for both libraries
    (``lib`` is ``dg`` or ``torch``)."""
    check_parity(torch, lambda *xs: fn(dg, *xs), lambda *xs: fn(torch, *xs), arrays)


def gradcheck_of(fn: Callable[..., Any], arrays: Sequence[np.ndarray]) -> None:
    """Finite-difference check of ``fn(dg, *tensors)`` (tuple outputs summed) at ``arrays``."""

    def summed(*xs: Any) -> Any:
        out = fn(dg, *xs)
        return sum(o.sum() for o in out) if isinstance(out, tuple) else out

    assert dg.gradcheck(summed, [dg.tensor(a, requires_grad=True) for a in arrays])


def check_module_parity(torch: Any, ours: Any, theirs: Any, x: np.ndarray, dtype: Any) -> None:
    """A deepgrad module and its torch twin (same weights already loaded) agree on the output,
    the input gradient and every parameter gradient for a random output gradient."""
    import deepgrad as dg

    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yd, yt = ours(xd), theirs(xt)
    assert_close(yd, yt, dtype, "output")
    g = np.random.default_rng(1).standard_normal(yd.shape).astype(dtype)
    yd.backward(g)
    yt.backward(torch.tensor(g))
    assert_close(xd.grad, xt.grad, dtype, "input gradient")
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        assert_close(p.grad, q.grad, dtype, f"gradient of {name}")


def with_statistics(model: Any, seed: int = 0, shift: float = 1.0) -> Any:
    """``model`` with random running statistics and affine parameters in every batch norm (fresh
    ones are the identity, which would hide a wrong conversion); ``shift`` scales the means and
    biases. Returns the model."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, (dg.nn.BatchNorm1d, dg.nn.BatchNorm2d)):
            c = module.num_features
            module.running_mean.data[:] = rng.standard_normal(c) * shift
            module.running_var.data[:] = rng.uniform(0.5, 2.0, c)
            if module.weight is not None:
                module.weight.data[:] = rng.uniform(0.5, 2.0, c)
                module.bias.data[:] = rng.standard_normal(c) * shift
    return model


class Head(dg.nn.Module):
    """Linear(6, 6) then ``fn``: a functional op at a known place in a model."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.linear = dg.nn.Linear(6, 6)

    def forward(self, x: Any) -> Any:
        return self.fn(self.linear(x))


class FakeWeb:
    """Stands in for urlopen: serves ``pages`` by URL, raises URLError for the others."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.pages, self.requests = pages, []

    def __call__(self, url: str, timeout: float) -> io.BytesIO:
        self.requests.append(url)
        if url not in self.pages:
            raise URLError("no route to host")
        return io.BytesIO(self.pages[url])


CIFAR_NAMES = [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]


def cifar_batch_bytes(index: int, count: int = 4) -> bytes:
    """``count`` records: label (index + k) % 10, every pixel of channel c equal to 10 * index +
    c, so that each record says which file and which channel it came from."""
    records = np.zeros((count, 1 + 3 * 32 * 32), np.uint8)
    records[:, 0] = (index + np.arange(count)) % 10
    for c in range(3):
        records[:, 1 + c * 1024:1 + (c + 1) * 1024] = 10 * index + c
    return records.tobytes()


def write_cifar_archive(path: Path, contents: dict[str, bytes] | None = None, count: int = 4,
                        folder: str = "cifar-10-batches-bin") -> Path:
    """A CIFAR-10 binary archive of small batch files (``cifar_batch_bytes``) at ``path``."""
    contents = contents or {name: cifar_batch_bytes(i, count)
                            for i, name in enumerate(CIFAR_NAMES)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
