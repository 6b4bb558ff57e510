"""NAdam, RAdam and Adamax: 50 steps on the same model, weights and batches as torch.optim
(parameters and state equal), parameter groups with their own settings, lr schedules, skipped
parameters, state_dict round trips, layout and torch's state dicts, in-place updates without
per-step allocation, errors."""

import tracemalloc

import numpy as np
import pytest
from optimizer_harness import (
    STEPS,
    TANH,
    batches,
    case_id,
    check_loads_torchs_state_dict,
    check_state_dict_layout,
    check_state_dict_round_trip,
    dg_loss,
    initial_weights,
    make_params,
    make_torch_params,
    run_with_torch,
    three_groups,
    torch_scalars,
)

import deepgrad as dg
from deepgrad import optim
from deepgrad.nn import Parameter

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
    run_with_torch(torch, TANH, *case, dtype)


def test_nadam_is_close_to_torch_with_float32_scalar_state(torch):
    # torch's mu_product in float32 changes its steps by ~1e-7 relative: the weights by far less.
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours, theirs = optim.NAdam(params, lr=0.01), torch.optim.NAdam(torch_params, lr=0.01)
    with torch_scalars(torch, np.float32):
        TANH.train_torch(torch, torch_params, theirs, np.float64, STEPS)
    TANH.train(params, ours, np.float64, STEPS)
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
    ours, _, _ = run_with_torch(torch, TANH, name, options, groups=three_groups(first, 0.05))
    assert ours.param_groups[0]["betas"] == first["betas"]
    assert ours.param_groups[1]["lr"] == options["lr"]


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_one_cycle_schedule_of_lr_and_beta1_matches_torch(torch, name):
    ours, theirs, _ = run_with_torch(
        torch, TANH, name, {}, steps=29,
        schedule=lambda module, opt: module.OneCycleLR(opt, max_lr=0.05, total_steps=30))
    assert ours.param_groups[0]["lr"] == pytest.approx(theirs.param_groups[0]["lr"])
    assert ours.param_groups[0]["betas"][0] == pytest.approx(theirs.param_groups[0]["betas"][0])


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_params_without_grad_or_frozen_are_skipped_like_torch(torch, name):
    weights = [*initial_weights(np.float64), np.ones(5)]  # the last one is never used
    ours, _, params = run_with_torch(torch, TANH, name, {"lr": 0.01, "weight_decay": 0.1},
                                     steps=10, weights=weights)
    assert params[4].grad is None and np.array_equal(params[4].data, np.ones(5))
    assert params[4] not in ours.state and 4 not in ours.state_dict()["state"]

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
    check_state_dict_round_trip(TANH, name, options, {
        "lr": options["lr"], "betas": options.get("betas", (0.9, 0.999))})


@pytest.mark.parametrize("name, options", ROUND_TRIP, ids=[case_id(c) for c in ROUND_TRIP])
def test_state_dict_layout_matches_torch(torch, name, options):
    check_state_dict_layout(torch, TANH, name, options)


@pytest.mark.parametrize("name", ["NAdam", "RAdam", "Adamax"])
def test_loads_torchs_state_dict_converted_to_arrays(torch, name):
    def after_load(ours, theirs, params):
        assert ours.param_groups[0]["weight_decay"] == 0.1
        if name == "NAdam":
            assert type(ours.state[params[0]]["mu_product"]) is float

    check_loads_torchs_state_dict(torch, TANH, name, {"lr": 0.01, "weight_decay": 0.1}, after_load)


def test_load_rejects_the_state_of_another_adam_variant():
    params = make_params(initial_weights(np.float64))
    radam = optim.RAdam(params)
    TANH.train(params, radam, np.float64, 2)
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
