"""LBFGS: the same iterates as torch's (fixed steps and the strong Wolfe line search, a short
history), Rosenbrock solved, the state saved and resumed exactly, errors."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim

rng = np.random.default_rng(0)
X, Y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))


def _ours():
    dg.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _closure(model, optimizer, x, y, loss_fn):
    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    return closure


@pytest.mark.parametrize("options", [
    {}, {"line_search_fn": "strong_wolfe"}, {"history_size": 3, "max_iter": 7, "lr": 0.5},
    {"history_size": 2, "line_search_fn": "strong_wolfe", "max_eval": 9},
])
def test_iterates_match_torch(torch, options):
    ours = _ours()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 1)).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    # Few iterations: rounding differences (dot products summed in another order) grow by
    # about 10x every five iterations on this problem, from 1e-16.
    options = {"max_iter": 5, **options}
    opt = optim.LBFGS(ours.parameters(), **options)
    topt = torch.optim.LBFGS(theirs.parameters(), **options)
    step = _closure(ours, opt, dg.tensor(X), dg.tensor(Y), nn.MSELoss())
    tstep = _closure(theirs, topt, torch.tensor(X), torch.tensor(Y), torch.nn.MSELoss())
    for k in range(3):
        loss, tloss = opt.step(step), topt.step(tstep)
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10, err_msg=f"step {k}")
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-8, atol=1e-10,
                                       err_msg=f"step {k}: {name}")
    mine, other = opt.state_dict()["state"][0], topt.state_dict()["state"][0]
    assert sorted(mine) == sorted(other)
    assert (mine["func_evals"], mine["n_iter"]) == (other["func_evals"], other["n_iter"])


def test_solves_rosenbrock_with_the_line_search():
    xy = nn.Parameter(dg.tensor([-1.5, 2.0], dtype=dg.float64))
    opt = optim.LBFGS([xy], line_search_fn="strong_wolfe", max_iter=100)

    def closure():
        opt.zero_grad()
        x, y = xy[0], xy[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(xy.numpy(), [1.0, 1.0], atol=1e-5)


def test_state_dict_resumes_exactly():
    def run(resume):
        model = _ours()
        opt = optim.LBFGS(model.parameters(), history_size=4, max_iter=5)
        closure = _closure(model, opt, dg.tensor(X), dg.tensor(Y), nn.MSELoss())
        opt.step(closure)
        if resume:
            saved = opt.state_dict()
            opt = optim.LBFGS(model.parameters(), history_size=4, max_iter=5)
            opt.load_state_dict(saved)
            closure = _closure(model, opt, dg.tensor(X), dg.tensor(Y), nn.MSELoss())
        opt.step(closure)
        return [p.numpy().copy() for p in model.parameters()]

    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def test_errors():
    a, b = nn.Parameter(dg.zeros(2)), nn.Parameter(dg.zeros(2))
    with pytest.raises(ValueError, match="one parameter group only"):
        optim.LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        optim.LBFGS([a], line_search_fn="backtracking")
    with pytest.raises(ValueError, match="needs a closure"):
        optim.LBFGS([a]).step()
    with pytest.raises(ValueError, match="history_size must be >= 1"):
        optim.LBFGS([a], history_size=0)


def test_the_trainer_passes_lbfgs_a_closure():
    x = rng.standard_normal((64, 2))
    y = x @ np.array([[2.0], [-1.0]]) + 0.5
    model = nn.Linear(2, 1).double()
    trainer = dg.Trainer(model, "mse", optim.LBFGS(model.parameters(), max_iter=10,
                                                   line_search_fn="strong_wolfe"), verbose=0)
    history = trainer.fit((x, y), epochs=2, batch_size=64, shuffle=False)
    assert history.history["loss"][-1] < 1e-8  # the loss before its last step
    np.testing.assert_allclose(model.weight.numpy(), [[2.0, -1.0]], atol=1e-4)
