"""``dg.autograd.grad``: gradients of outputs with respect to chosen tensors, PyTorch's
``torch.autograd.grad``, with no ``.grad`` written (parity with torch, errors, graph freeing)."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn

A = np.random.default_rng(0).standard_normal((3, 4))
W = np.random.default_rng(1).standard_normal((4, 2))


def _pair(torch, array):
    return dg.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def test_gradients_of_leaves_and_of_an_intermediate_match_torch_and_leave_grad_alone(torch):
    (x, xt), (w, wt) = _pair(torch, A), _pair(torch, W)
    h, ht = (x @ w).tanh(), (xt @ wt).tanh()
    y, yt = (h * h).sum(), (ht * ht).sum()
    ours = dg.autograd.grad(y, [x, h, w])
    theirs = torch.autograd.grad(yt, [xt, ht, wt])
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
    assert x.grad is None and w.grad is None
    assert not any(g.requires_grad for g in ours)


def test_several_outputs_with_their_gradients_add_up_as_in_torch(torch):
    (x, xt), (w, wt) = _pair(torch, A), _pair(torch, W)
    g = np.random.default_rng(2).standard_normal((3, 2))
    outs = [x @ w, (x * 2.0).sum()]
    outs_t = [xt @ wt, (xt * 2.0).sum()]
    ours = dg.autograd.grad(outs, (x, w), grad_outputs=[dg.tensor(g), None])
    theirs = torch.autograd.grad(outs_t, (xt, wt), grad_outputs=[torch.tensor(g), None])
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


def test_a_saliency_map_of_a_conv_net_matches_torch(torch):
    dg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3)).to(dg.float64)
    twin = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3)).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    image = np.random.default_rng(3).standard_normal((2, 1, 6, 6))
    x, xt = _pair(torch, image)
    (ours,) = dg.autograd.grad(model(x)[:, 1].sum(), x)
    (theirs,) = torch.autograd.grad(twin(xt)[:, 1].sum(), xt)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())


def test_unused_inputs_retain_graph_and_refusals():
    x, w = dg.tensor(A, requires_grad=True), dg.tensor(W, requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(dg.BackwardError, match="input 1 is not used"):
        dg.autograd.grad(y, [x, w], retain_graph=True)
    gx, gw = dg.autograd.grad(y, [x, w], allow_unused=True, retain_graph=True)
    np.testing.assert_allclose(gx.numpy(), 2 * A)
    assert gw is None
    _, zeros = dg.autograd.grad(y, [x, w], materialize_grads=True)
    np.testing.assert_array_equal(zeros.numpy(), np.zeros_like(W))
    with pytest.raises(dg.BackwardError, match="freed"):
        dg.autograd.grad(y, x)  # the call before freed the graph
    with pytest.raises(NotImplementedError, match="record no graph"):
        dg.autograd.grad((x * 2).sum(), x, create_graph=True)
    with pytest.raises(dg.BackwardError, match="input 0 does not require grad"):
        dg.autograd.grad((x * 2).sum(), dg.tensor(A))
    with pytest.raises(dg.BackwardError, match="without a gradient needs a one-element output"):
        dg.autograd.grad(x * 2, x)
    with pytest.raises(dg.BackwardError, match=r"grad_outputs\[0\] has shape \(2\)"):
        dg.autograd.grad(x * 2, x, grad_outputs=dg.ones(2))
    with pytest.raises(ValueError, match="2 grad_outputs for 1 outputs"):
        dg.autograd.grad(x * 2, x, grad_outputs=[None, None])
    with pytest.raises(TypeError, match="inputs must be a Tensor"):
        dg.autograd.grad((x * 2).sum(), [])


def test_an_output_that_is_an_input_gets_its_own_gradient_copy():
    x = dg.tensor(A, requires_grad=True)
    g = np.ones_like(A)
    (gx,) = dg.autograd.grad(x, x, grad_outputs=g)
    np.testing.assert_array_equal(gx.numpy(), g)
    assert not np.shares_memory(gx.numpy(), g)
