"""In-place updates in a graph (``x += y``, ``x.mul_(w)``, ``x.clamp_(0, 1)``, ...), recorded as
PyTorch records them: x then stands for the result, and the gradients are those of the
out-of-place ops (torch parity, gradcheck); accumulating into a plain tensor joins the graph;
leaves, views and overwritten saved values are refused; an export trace follows ``x += y``."""

import numpy as np
import pytest

import deepgrad as dg
import deepgrad_runtime
from deepgrad import nn
from deepgrad.export import ExportError, simplify, trace
from deepgrad_runtime.graph import save_artifact

A = np.random.default_rng(0).uniform(0.5, 2.0, (3, 4))
B = np.random.default_rng(1).uniform(0.5, 2.0, (3, 4))

# name: update(h, w), applied to h = x * 1.5 with x and w leaves that require grad
UPDATES = {
    "+=": lambda h, w: h.__iadd__(w),
    "-=": lambda h, w: h.__isub__(w),
    "*=": lambda h, w: h.__imul__(w),
    "/=": lambda h, w: h.__itruediv__(w),
    "add_ alpha": lambda h, w: h.add_(w, alpha=0.5),
    "sub_ alpha": lambda h, w: h.sub_(w, alpha=2.0),
    "mul_": lambda h, w: h.mul_(w),
    "pow_": lambda h, w: h.pow_(w),
    "clamp_": lambda h, w: h.clamp_(1.0, 2.5),
    "exp_": lambda h, w: h.exp_(),
    "+= number": lambda h, w: h.__iadd__(2.0),
    "copy_": lambda h, w: h.copy_(w),
    "copy_ broadcast": lambda h, w: h.copy_(w[1]),
    "fill_ 0-d tensor": lambda h, w: h.fill_(w.sum()),
    "fill_ number": lambda h, w: h.fill_(2.0),
    "zero_": lambda h, w: h.zero_(),
}


@pytest.mark.parametrize("name", list(UPDATES))
def test_recorded_updates_match_torch(torch, name):
    update = UPDATES[name]
    x, w = dg.tensor(A, requires_grad=True), dg.tensor(B, requires_grad=True)
    xt, wt = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    h, ht = x * 1.5, xt * 1.5
    assert update(h, w) is h and update(ht, wt) is ht
    np.testing.assert_allclose(h.numpy(), ht.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(2).standard_normal(A.shape)
    (h * dg.tensor(g)).sum().backward()
    (ht * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    if wt.grad is not None:
        np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)
    else:
        assert w.grad is None


@pytest.mark.parametrize("name", list(UPDATES))
def test_gradcheck(name):
    update = UPDATES[name]

    def f(x, w):
        h = x * 1.5
        update(h, w)
        return h

    leaves = [dg.tensor(A, requires_grad=True), dg.tensor(B, requires_grad=True)]
    assert dg.gradcheck(f, leaves)


def test_accumulating_into_a_plain_tensor_joins_the_graph():
    w = dg.tensor(B, requires_grad=True)
    total = dg.zeros(3, 4, dtype=dg.float64)
    for scale in (1.0, 2.0, 3.0):
        total += w * scale
    assert total.requires_grad
    total.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(B.shape, 6.0))


def test_copying_into_a_plain_buffer_joins_the_graph_and_bad_sources_are_named():
    w = dg.tensor(B, requires_grad=True)
    buffer = dg.zeros(2, 3, 4, dtype=dg.float64)
    buffer[0].copy_(dg.ones(3, 4))  # no graph yet: written through the view
    buffer.copy_(w * 2.0)
    assert buffer.requires_grad
    buffer.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full(B.shape, 4.0))
    h = dg.tensor(A, requires_grad=True) * 1.0
    with pytest.raises(dg.ShapeError, match=r"source of shape \(5\) does not broadcast"):
        h.copy_(dg.ones(5, requires_grad=True))
    with pytest.raises(dg.ShapeError, match="0-d tensor"):
        h.fill_(dg.ones(2))


def test_a_residual_block_written_with_plus_equals_trains_as_the_out_of_place_one():
    class Block(nn.Module):
        def __init__(self, in_place):
            super().__init__()
            self.fc1, self.fc2, self.in_place = nn.Linear(6, 6), nn.Linear(6, 6), in_place

        def forward(self, x):
            out = self.fc2(nn.functional.relu(self.fc1(x)))
            if self.in_place:
                out += x
                return nn.functional.relu(out, inplace=True)
            return nn.functional.relu(out + x)

    x = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    results = []
    for in_place in (False, True):
        dg.manual_seed(0)
        block = Block(in_place)
        block(dg.tensor(x)).sum().backward()
        results.append([p.grad.numpy() for p in block.parameters()])
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_what_cannot_be_recorded_says_so():
    w = dg.tensor(B, requires_grad=True)
    with pytest.raises(dg.BackwardError, match=r"in-place add: in-place operation on a leaf "
                                               r"that requires grad: wrap parameter updates"):
        w += 1.0
    h = w * 1.0
    with pytest.raises(dg.BackwardError, match="in-place operation on a view, in a graph"):
        h[0] += 1.0
    row = h[1]  # a view that the graph may go on to use
    with pytest.raises(dg.BackwardError, match="on a tensor whose views the graph uses"):
        h *= 2.0
    del row
    with pytest.raises(TypeError, match=r"does not fit this float64 tensor of shape \(3, 4\), "
                                        r"in a graph"):
        h += dg.ones(2, 3, 4, dtype=dg.float64)
    h += 1.0  # without the view, the update is recorded
    assert h._node is not None


def test_overwriting_a_saved_value_fails_at_backward():
    x = dg.tensor(A, requires_grad=True)
    h = x * 1.0
    y = h * h  # saves h
    h += 1.0
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.sum().backward()


def test_an_export_trace_follows_plus_equals(tmp_path):
    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            out = self.fc(x)
            out += x
            out *= 0.5
            return out

    dg.manual_seed(0)
    model = Residual()
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    runtime = deepgrad_runtime.load(save_artifact(simplify(trace(model, x)), tmp_path / "rt"))
    np.testing.assert_allclose(runtime.run(x), model(dg.tensor(x)).numpy(), rtol=1e-5,
                               atol=1e-6)

    class Discards(Residual):
        def forward(self, x):
            out = self.fc(x)
            out.add_(x)  # the result dropped: `out` stands for it
            return out * 2.0

    with pytest.raises(ExportError, match="reads a tensor after an in-place op"):
        trace(Discards(), x)


# index, value shape: x[index] = value on x of shape (3, 4)
SETITEMS = {
    "int": (1, (4,)),
    "slice, broadcast": ((slice(None), slice(1, 3)), (1, 2)),
    "mask": (np.array([True, False, True]), (2, 4)),
    "integer array": ((np.array([0, 2]), np.array([3, 1])), (2,)),
    "number": ((0, 0), None),
}


@pytest.mark.parametrize("name", list(SETITEMS))
def test_setitem_in_a_graph_matches_torch(torch, name):
    index, value_shape = SETITEMS[name]
    v = 7.5 if value_shape is None else np.random.default_rng(5).standard_normal(value_shape)
    x = dg.tensor(A, requires_grad=True)
    xt = torch.tensor(A, requires_grad=True)
    h, ht = x * 1.5, xt * 1.5
    if value_shape is None:
        h[index], ht[index] = v, v
    else:
        w, wt = dg.tensor(v, requires_grad=True), torch.tensor(v, requires_grad=True)
        h[index], ht[index] = w * 2.0, wt * 2.0
    np.testing.assert_allclose(h.numpy(), ht.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(6).standard_normal(A.shape)
    (h * dg.tensor(g)).sum().backward()
    (ht * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    if value_shape is not None:
        np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", [n for n in SETITEMS if SETITEMS[n][1] is not None])
def test_setitem_gradcheck(name):
    from deepgrad.ops.indexing import setitem

    index, value_shape = SETITEMS[name]
    v = np.random.default_rng(5).standard_normal(value_shape)
    leaves = [dg.tensor(A, requires_grad=True), dg.tensor(v, requires_grad=True)]
    assert dg.gradcheck(lambda x, w: setitem(x, index, w), leaves)


def test_rows_written_into_a_plain_tensor_join_the_graph():
    a = dg.tensor([1.0, 2.0], requires_grad=True)
    rows = dg.zeros(3, 2, dtype=dg.float64)
    for i in range(3):
        rows[i] = a * (i + 1)
    (rows * rows).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a.numpy() * (1 + 4 + 9))
    h = a * 1.0
    with pytest.raises(dg.BackwardError, match=r"x\[index\] = value: in-place operation on a "
                                               r"view, in a graph"):
        h[0:1][0] = 3.0
