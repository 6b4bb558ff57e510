"""NAdam, RAdam and Adamax: 50 steps on the same model, weights and batches as torch.optim
(parameters and state equal), parameter groups with their own settings, lr schedules, skipped
parameters, state_dict round trips, layout and torch's state dicts, in-place updates without
per-step allocation, errors."""

import tracemalloc

import numpy as np
import pytest
from optimizer_harness import (
    STEPS,
    assert_plain,
    batches,
    case_id,
    compare_with_torch,
    initial_weights,
    make_params,
    make_torch_params,
    to_numpy,
    torch_loss,
    torch_scalars,
)

import deepgrad as dg
from deepgrad import optim
from deepgrad.nn import Parameter
from deepgrad.optim.lr_scheduler import OneCycleLR


def dg_loss(params, x, y):
    w1, b1, w2, b2 = params[:4]
    diff = (dg.tensor(x) @ w1.T + b1).tanh() @ w2.T + b2 - dg.tensor(y)
    return (diff * diff).mean()


def train(loss, params, optimizer, dtype, steps, start=0, scheduler=None):
    data = batches(dtype)
    for i in range(start, start + steps):
        optimizer.zero_grad()
        loss(params, *data[i % len(data)]).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


def train_torch(torch, params, optimizer, dtype, steps, start=0, scheduler=None):
    train(lambda *a: torch_loss(torch, *a), params, optimizer, dtype, steps, start, scheduler)


CASES = [
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "momentum_decay": 0.05,
               "maximize": True}),
    ("NAdam", {"lr": 0.01, "betas": (0.0, 0.9), "momentum_decay": 0.0}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "eps": 1e-6, "maximize": True}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.5)}),  # rho_inf = 3: never rectified
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "maximize": True}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fifty_steps_match_torch(torch, case, dtype):
    name, options = case
    weights = initial_weights(dtype)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = getattr(optim, name)(params, **options)
    with torch_scalars(torch, dtype):
        theirs = getattr(torch.optim, name)(torch_params, **options)
        train_torch(torch, torch_params, theirs, dtype, STEPS)
    train(dg_loss, params, ours, dtype, STEPS)
    compare_with_torch(ours, theirs, params, torch_params, dtype)


def test_nadam_is_close_to_torch_with_float32_scalar_state(torch):
    # torch's mu_product in float32 changes its steps by ~1e-7 relative: the weights by far less.
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours, theirs = optim.NAdam(params, lr=0.01), torch.optim.NAdam(torch_params, lr=0.01)
    with torch_scalars(torch, np.float32):
        train_torch(torch, torch_params, theirs, np.float64, STEPS)
    train(dg_loss, params, ours, np.float64, STEPS)
    for p, t in zip(params, torch_params):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-8, atol=1e-8)


GROUPS = [
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1},
     {"betas": (0.8, 0.9), "momentum_decay": 0.01, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "decoupled_weight_decay": True},
     {"betas": (0.5, 0.99), "weight_decay": 0.2, "maximize": True}),
    ("Adamax", {"lr": 0.01}, {"betas": (0.5, 0.9), "weight_decay": 0.1, "eps": 1e-4}),
]


@pytest.mark.parametrize("name, options, first", GROUPS, ids=[g[0] for g in GROUPS])
def test_parameter_groups_with_their_own_settings_match_torch(torch, name, options, first):
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)

    def groups(p):
        return [{"params": p[:1], "lr": 0.003, **first}, {"params": p[1:3]},
                {"params": p[3:], "lr": 0.05}]

    ours = getattr(optim, name)(groups(params), **options)
    assert ours.param_groups[0]["betas"] == first["betas"]
    assert ours.param_groups[1]["lr"] == options["lr"]
    with torch_scalars(torch, np.float64):
        theirs = getattr(torch.optim, name)(groups(torch_params), **options)
        train_torch(torch, torch_params, theirs, np.float64, STEPS)
    train(dg_loss, params, ours, np.float64, STEPS)
    compare_with_torch(ours, theirs, params, torch_params, np.float64)


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_one_cycle_schedule_of_lr_and_beta1_matches_torch(torch, name):
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = getattr(optim, name)(params)
    schedule = OneCycleLR(ours, max_lr=0.05, total_steps=30)
    with torch_scalars(torch, np.float64):
        theirs = getattr(torch.optim, name)(torch_params)
        torch_schedule = torch.optim.lr_scheduler.OneCycleLR(theirs, max_lr=0.05,
                                                             total_steps=30)
        train_torch(torch, torch_params, theirs, np.float64, 29, scheduler=torch_schedule)
    train(dg_loss, params, ours, np.float64, 29, scheduler=schedule)
    assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"])
    assert ours.param_groups[0]["betas"][0] == pytest.approx(theirs.param_groups[0]["betas"][0])
    compare_with_torch(ours, theirs, params, torch_params, np.float64)


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_params_without_grad_or_frozen_are_skipped_like_torch(torch, name):
    weights = [*initial_weights(np.float64), np.ones(5)]  # the last one is never used
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = getattr(optim, name)(params, lr=0.01, weight_decay=0.1)
    with torch_scalars(torch, np.float64):
        theirs = getattr(torch.optim, name)(torch_params, lr=0.01, weight_decay=0.1)
        train_torch(torch, torch_params, theirs, np.float64, 10)
    train(dg_loss, params, ours, np.float64, 10)
    assert params[4].grad is None and np.array_equal(params[4].data, np.ones(5))
    assert params[4] not in ours.state and 4 not in ours.state_dict()["state"]
    compare_with_torch(ours, theirs, params, torch_params, np.float64)

    dg_loss(params, *batches(np.float64)[0]).backward()
    params[1].requires_grad_(False)
    before = params[1].data.copy()
    ours.step()
    assert np.array_equal(params[1].data, before) and ours.state[params[1]]["step"] == 10


def test_updates_allocate_nothing_per_step():
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((200, 300)).astype(np.float32)),
              Parameter(rng.standard_normal(300).astype(np.float32))]
    for p in params:
        p.grad = dg.tensor(rng.standard_normal(p.shape).astype(np.float32))
    nbytes = params[0].data.nbytes
    for optimizer in (optim.NAdam(params, weight_decay=0.1, maximize=True),
                      optim.NAdam(params, weight_decay=0.1, decoupled_weight_decay=True),
                      optim.RAdam(params, weight_decay=0.1), optim.Adamax(params, maximize=True)):
        for _ in range(6):  # past RAdam's switch to the rectified step
            optimizer.step()
        arrays = {k: id(v) for k, v in optimizer.state[params[0]].items()
                  if isinstance(v, np.ndarray)}
        tracemalloc.start()
        optimizer.step()
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < nbytes // 10, f"{type(optimizer).__name__} allocated {peak} bytes"
        assert arrays == {k: id(v) for k, v in optimizer.state[params[0]].items()
                          if isinstance(v, np.ndarray)}


# ----------------------------------------------------------------------------- state dicts
ROUND_TRIP = [
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99)}),
]


@pytest.mark.parametrize("name, options", ROUND_TRIP, ids=[case_id(c) for c in ROUND_TRIP])
def test_state_dict_round_trip_mid_run_continues_identically(name, options):
    weights = initial_weights(np.float64)
    uninterrupted = make_params(weights)
    train(dg_loss, uninterrupted, getattr(optim, name)(uninterrupted, **options), np.float64,
          STEPS)

    params = make_params(weights)
    first = getattr(optim, name)(params, **options)
    train(dg_loss, params, first, np.float64, 20)
    saved = first.state_dict()
    weights_at_20 = [p.data.copy() for p in params]
    train(dg_loss, params, first, np.float64, 5)  # the saved arrays are copies
    assert_plain(saved)

    resumed_params = make_params(weights_at_20)
    resumed = getattr(optim, name)(resumed_params, lr=123.0)  # the settings come from the dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == options["lr"]
    assert resumed.param_groups[0]["betas"] == options.get("betas", (0.9, 0.999))
    train(dg_loss, resumed_params, resumed, np.float64, STEPS - 20, start=20)
    for p, q in zip(resumed_params, uninterrupted):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name, options", ROUND_TRIP, ids=[case_id(c) for c in ROUND_TRIP])
def test_state_dict_layout_matches_torch(torch, name, options):
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = getattr(optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": 0.001}],
                                **options)
    theirs = getattr(torch.optim, name)([{"params": torch_params[:2]},
                                         {"params": torch_params[2:], "lr": 0.001}], **options)
    train(dg_loss, params, ours, np.float64, 3)
    train_torch(torch, torch_params, theirs, np.float64, 3)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine["state"]) == sorted(reference["state"])
    for index, state in reference["state"].items():
        assert list(mine["state"][index]) == list(state)
    for group, torch_group in zip(mine["param_groups"], reference["param_groups"]):
        assert group["params"] == torch_group["params"]
        assert set(torch_group) - set(group) <= {"foreach", "fused", "differentiable",
                                                 "capturable"}
        for key, value in group.items():
            expected = torch_group[key]
            assert value == (list(expected) if isinstance(expected, tuple) else expected), key


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_loads_torchs_state_dict_converted_to_arrays(torch, name):
    weights = initial_weights(np.float64)
    torch_params = make_torch_params(torch, weights)
    with torch_scalars(torch, np.float64):
        theirs = getattr(torch.optim, name)(torch_params, lr=0.01, weight_decay=0.1)
        train_torch(torch, torch_params, theirs, np.float64, 20)
        params = make_params([t.detach().numpy() for t in torch_params])
        ours = getattr(optim, name)(params)
        ours.load_state_dict(to_numpy(torch, theirs.state_dict()))
        assert ours.state[params[0]]["step"] == 20 and ours.param_groups[0]["weight_decay"] == 0.1
        train_torch(torch, torch_params, theirs, np.float64, 30, start=20)
    if name == "NAdam":
        assert type(ours.state[params[0]]["mu_product"]) is float
    train(dg_loss, params, ours, np.float64, 30, start=20)
    compare_with_torch(ours, theirs, params, torch_params, np.float64)


def test_load_rejects_the_state_of_another_adam_variant():
    params = make_params(initial_weights(np.float64))
    radam = optim.RAdam(params)
    train(dg_loss, params, radam, np.float64, 2)
    with pytest.raises(KeyError, match=r"the state of parameter 0 \(shape \(6, 4\)\) has "
                                       r"missing entries \['mu_product'\]"):
        optim.NAdam(params).load_state_dict(radam.state_dict())
    with pytest.raises(KeyError, match=r"unknown entries \['exp_avg_sq'\]; missing entries "
                                       r"\['exp_inf'\]"):
        optim.Adamax(params).load_state_dict(radam.state_dict())


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, error, message", [
    (lambda p: optim.NAdam(p, lr=-0.1), ValueError, "NAdam: lr must be >= 0; got -0.1"),
    (lambda p: optim.RAdam(p, lr=-1), ValueError, "RAdam: lr must be >= 0; got -1"),
    (lambda p: optim.Adamax(p, lr=-1e-3), ValueError, "Adamax: lr must be >= 0; got -0.001"),
    (lambda p: optim.NAdam(p, lr="fast"), TypeError, "NAdam: lr must be a number; got 'fast'"),
    (lambda p: optim.NAdam(p, betas=(1.0, 0.999)), ValueError,
     r"NAdam: betas\[0\] must be in \[0, 1\); got 1.0"),
    (lambda p: optim.RAdam(p, betas=(0.9, -0.1)), ValueError,
     r"RAdam: betas\[1\] must be in \[0, 1\); got -0.1"),
    (lambda p: optim.Adamax(p, betas=(0.9, 1.5)), ValueError,
     r"Adamax: betas\[1\] must be in \[0, 1\); got 1.5"),
    (lambda p: optim.Adamax(p, betas=0.9), TypeError, "Adamax: betas must be a pair"),
    (lambda p: optim.NAdam(p, eps=-1e-8), ValueError, "NAdam: eps must be >= 0; got -1e-08"),
    (lambda p: optim.RAdam(p, eps=-1.0), ValueError, "RAdam: eps must be >= 0; got -1.0"),
    (lambda p: optim.Adamax(p, eps=-1.0), ValueError, "Adamax: eps must be >= 0; got -1.0"),
    (lambda p: optim.NAdam(p, momentum_decay=-0.004), ValueError,
     "NAdam: momentum_decay must be >= 0; got -0.004"),
    (lambda p: optim.RAdam(p, weight_decay=-0.1), ValueError,
     "RAdam: weight_decay must be >= 0; got -0.1"),
    (lambda p: optim.NAdam([{"params": p[:2]}, {"params": p[2:], "momentum_decay": -1}]),
     ValueError, "NAdam: momentum_decay of parameter group 1 must be >= 0; got -1"),
])
def test_invalid_arguments_are_reported(make, error, message):
    with pytest.raises(error, match=message):
        make(make_params(initial_weights(np.float64)))


def test_load_checks_the_loaded_settings():
    params = make_params(initial_weights(np.float64))
    saved = optim.NAdam(params).state_dict()
    saved["param_groups"][0]["betas"] = [0.9, 1.0]
    with pytest.raises(ValueError, match=r"NAdam: betas\[1\] must be in \[0, 1\); got 1.0"):
        optim.NAdam(params).load_state_dict(saved)


def test_new_optimizers_are_exported():
    assert {"NAdam", "RAdam", "Adamax"} <= set(optim.__all__)
    assert dg.optim.NAdam is optim.NAdam
