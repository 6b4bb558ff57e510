"""Optimizers: 50 steps on the same model, weights and batches as torch.optim (parameters and
state equal), parameter groups, zero_grad, skipped parameters, state_dict round trips and
layout, in-place updates without per-step allocation, errors."""

import tracemalloc

import numpy as np
import pytest
from helpers import assert_close
from optimizer_harness import (
    TANH,
    batches,
    case_id,
    check_state_dict_layout,
    check_state_dict_round_trip,
    compare_with_torch,
    dg_loss,
    initial_weights,
    make_params,
    make_torch_params,
    run_with_torch,
    to_numpy,
    torch_loss,
)

import deepgrad as dg
import deepgrad.optim
from deepgrad import optim
from deepgrad.nn import Parameter

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.02, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.02, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1,
             "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1,
              "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.05}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.1,
                 "eps": 1e-8}),
    ("Adagrad", {"lr": 0.05, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fifty_steps_match_torch(torch, case, dtype):
    run_with_torch(torch, TANH, *case, dtype, scalars=False)


@pytest.mark.parametrize("name, options", [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("Adam", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
])
def test_parameter_groups_with_their_own_settings_match_torch(torch, name, options):
    extra = {"momentum": 0.3} if "momentum" in options else {"eps": 1e-4}

    def groups(p):
        return [{"params": p[:2], "lr": 0.003, **extra}, {"params": p[2:]}]

    ours, _, _ = run_with_torch(torch, TANH, name, options, groups=groups, scalars=False)
    assert ours.param_groups[0]["lr"] == 0.003 and ours.param_groups[1]["lr"] == options["lr"]


def test_add_param_group_takes_the_defaults_for_what_it_does_not_set(torch):
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours = optim.Adam(params[:2], lr=0.02, betas=(0.8, 0.9))
    theirs = torch.optim.Adam(torch_params[:2], lr=0.02, betas=(0.8, 0.9))
    ours.add_param_group({"params": params[2:], "lr": 0.01})
    theirs.add_param_group({"params": torch_params[2:], "lr": 0.01})
    assert ours.param_groups[1]["betas"] == (0.8, 0.9)
    TANH.train(params, ours, np.float64, 20)
    TANH.train_torch(torch, torch_params, theirs, np.float64, 20)
    compare_with_torch(ours, theirs, params, torch_params, np.float64)


def test_params_without_grad_are_skipped_like_torch(torch):
    weights = [*initial_weights(np.float64), np.ones(5)]  # the last one is never used
    ours, _, params = run_with_torch(torch, TANH, "Adam", {"lr": 0.01}, steps=10, weights=weights,
                                     scalars=False)
    assert params[4].grad is None and np.array_equal(params[4].data, np.ones(5))
    assert params[4] not in ours.state and 4 not in ours.state_dict()["state"]


def test_frozen_params_are_skipped_even_with_a_gradient():
    params = make_params(initial_weights(np.float64))
    sgd = optim.SGD(params, lr=0.1, momentum=0.9)
    dg_loss(params, *batches(np.float64)[0]).backward()
    params[1].requires_grad_(False)
    before = params[1].data.copy()
    sgd.step()
    assert params[1].grad is not None and np.array_equal(params[1].data, before)
    assert params[1] not in sgd.state and params[0] in sgd.state


def test_zero_grad_sets_to_none_or_zeros_in_place():
    params = make_params(initial_weights(np.float64))
    sgd = optim.SGD(params, lr=0.1)
    dg_loss(params, *batches(np.float64)[0]).backward()
    arrays = [p.grad.data for p in params]
    sgd.zero_grad(set_to_none=False)
    assert all(p.grad.data is a and not a.any() for p, a in zip(params, arrays))
    sgd.zero_grad()
    assert all(p.grad is None for p in params)


def test_step_with_closure_returns_its_loss_and_matches_torch(torch):
    weights = initial_weights(np.float64)
    params, torch_params = make_params(weights), make_torch_params(torch, weights)
    ours, theirs = optim.SGD(params, lr=0.1), torch.optim.SGD(torch_params, lr=0.1)
    x, y = batches(np.float64)[0]

    def closure():
        ours.zero_grad()
        loss = dg_loss(params, x, y)
        loss.backward()
        return loss

    def torch_closure():
        theirs.zero_grad()
        loss = torch_loss(torch, torch_params, x, y)
        loss.backward()
        return loss

    with dg.no_grad():  # the closure runs with grad enabled all the same
        losses = [ours.step(closure).item() for _ in range(5)]
    torch_losses = [theirs.step(torch_closure).item() for _ in range(5)]
    np.testing.assert_allclose(losses, torch_losses, rtol=1e-12)
    assert ours.step() is None


def test_lr_is_read_from_the_group_at_every_step():
    params = make_params(initial_weights(np.float64))
    sgd = optim.SGD(params, lr=0.1)
    dg_loss(params, *batches(np.float64)[0]).backward()
    sgd.param_groups[0]["lr"] = 0.0
    before = [p.data.copy() for p in params]
    sgd.step()
    assert all(np.array_equal(p.data, b) for p, b in zip(params, before))
    sgd.param_groups[0]["lr"] = 1.0
    sgd.step()
    np.testing.assert_allclose(params[0].data, before[0] - params[0].grad.data, rtol=1e-15)


def test_step_changes_the_parameter_version_so_a_stale_graph_fails():
    w = Parameter(np.ones(3))
    y = (w * w).sum()
    (w * 2.0).sum().backward()
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(dg.BackwardError, match="modified in place"):
        y.backward()


def test_updates_allocate_nothing_per_step():
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((200, 300)).astype(np.float32)),
              Parameter(rng.standard_normal(300).astype(np.float32))]
    for p in params:
        p.grad = dg.tensor(rng.standard_normal(p.shape).astype(np.float32))
    nbytes = params[0].data.nbytes
    for make in (lambda p: optim.Adam(p, amsgrad=True, weight_decay=0.1),
                 lambda p: optim.SGD(p, momentum=0.9, nesterov=True, weight_decay=0.1),
                 lambda p: optim.RMSprop(p, centered=True, momentum=0.9),
                 optim.Adagrad, optim.Adadelta):
        optimizer = make(params)
        # Two steps first: SGD's second is the first of its compiled loop, which numba compiles
        # (or loads from its cache) then, allocating.
        optimizer.step()
        optimizer.step()
        state_ids = {k: id(v) for k, v in optimizer.state[params[0]].items() if k != "step"}
        tracemalloc.start()
        optimizer.step()
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < nbytes // 10, f"{type(optimizer).__name__} allocated {peak} bytes"
        assert state_ids == {k: id(v) for k, v in optimizer.state[params[0]].items()
                             if k != "step"}


# ----------------------------------------------------------------------------- state dicts
ROUND_TRIP = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
    ("Adadelta", {"rho": 0.8}),
]


@pytest.mark.parametrize("name, options", ROUND_TRIP)
def test_state_dict_round_trip_mid_run_continues_identically(name, options):
    # Adadelta's case leaves lr at its default, 1.0.
    check_state_dict_round_trip(TANH, name, options, {"lr": options.get("lr", 1.0)})


@pytest.mark.parametrize("name, options", ROUND_TRIP)
def test_state_dict_layout_matches_torch(torch, name, options):
    check_state_dict_layout(torch, TANH, name, options)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loads_torchs_state_dict_converted_to_arrays(torch, dtype):
    weights = initial_weights(dtype)
    torch_params = make_torch_params(torch, weights)
    theirs = torch.optim.Adam(torch_params, lr=0.01, amsgrad=True)
    TANH.train_torch(torch, torch_params, theirs, dtype, 20)
    params = make_params([t.detach().numpy() for t in torch_params])
    ours = optim.Adam(params)
    ours.load_state_dict(to_numpy(torch, theirs.state_dict()))
    assert ours.state[params[0]]["step"] == 20
    assert ours.state[params[0]]["exp_avg"].dtype == dtype
    TANH.train(params, ours, dtype, 30, start=20)
    TANH.train_torch(torch, torch_params, theirs, dtype, 30, start=20)
    for p, t in zip(params, torch_params):
        assert_close(p.data, t, dtype)


def test_load_casts_arrays_to_the_parameter_dtype_and_copies_them():
    params = make_params(initial_weights(np.float32))
    adam = optim.Adam(params)
    TANH.train(params, adam, np.float32, 2)
    saved = adam.state_dict()
    saved["state"][0]["exp_avg"] = saved["state"][0]["exp_avg"].astype(np.float64)
    fresh = optim.Adam(params)
    fresh.load_state_dict(saved)
    loaded = fresh.state[params[0]]["exp_avg"]
    assert loaded.dtype == np.float32 and not np.shares_memory(loaded, saved["state"][0]["exp_avg"])


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, error, message", [
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "SGD: lr must be >= 0; got -0.1"),
    (lambda p: optim.SGD(p, lr="fast"), TypeError, "SGD: lr must be a number; got 'fast'"),
    (lambda p: optim.SGD(p, momentum=-1), ValueError, "SGD: momentum must be >= 0; got -1"),
    (lambda p: optim.SGD(p, nesterov=True), ValueError,
     "SGD: nesterov=True needs momentum > 0 and dampening = 0; got momentum=0.0, "
     "dampening=0.0"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening=0.1"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), ValueError,
     r"Adam: betas\[0\] must be in \[0, 1\); got 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), ValueError,
     r"AdamW: betas\[1\] must be in \[0, 1\); got -0.1"),
    (lambda p: optim.Adam(p, betas=0.9), TypeError, r"Adam: betas must be a pair"),
    (lambda p: optim.Adam(p, eps=-1e-8), ValueError, "Adam: eps must be >= 0"),
    (lambda p: optim.Adam([{"params": p[:2]}, {"params": p[2:], "lr": -1}]), ValueError,
     "Adam: lr of parameter group 1 must be >= 0; got -1"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), ValueError, "RMSprop: alpha must be >= 0"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), ValueError, "Adagrad: lr_decay must be >= 0"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), ValueError,
     "Adagrad: initial_accumulator_value must be >= 0"),
    (lambda p: optim.Adadelta(p, rho=1.5), ValueError,
     r"Adadelta: rho must be in \[0, 1\]; got 1.5"),
    (lambda p: optim.SGD(p[0]), TypeError,
     "SGD: params must be an iterable of Parameters or of dicts .* got a single Parameter"),
    (lambda p: optim.SGD([]), ValueError, "SGD: got an empty parameter list"),
    (lambda p: optim.SGD([p[0], 3.0]), TypeError,
     "SGD: parameter group 0, position 1: expected a Parameter \\(Tensor\\); got float"),
    (lambda p: optim.SGD([p[0] * 2]), ValueError, "position 0: cannot optimize a tensor "
     "produced by an operation"),
    (lambda p: optim.SGD([dg.tensor([1, 2])]), TypeError,
     "only floating point tensors can be optimized; this one has dtype int64"),
    (lambda p: optim.SGD([p[0], p[0]]), ValueError,
     "parameter group 0 holds the same parameter twice"),
    (lambda p: optim.SGD([{"params": p[:2]}, {"params": p[1:]}]), ValueError,
     "a parameter of group 1 is already in another parameter group"),
    (lambda p: optim.SGD([{"params": p}, p[0]]), TypeError,
     "parameter group 1 must be a dict with a 'params' entry"),
    (lambda p: optim.SGD([{"lr": 0.1}]), ValueError, "parameter group 0 has no 'params' entry"),
    (lambda p: optim.SGD([{"params": set(p)}]), TypeError, "are a set"),
])
def test_invalid_arguments_are_reported(make, error, message):
    with pytest.raises(error, match=message):
        make(make_params(initial_weights(np.float64)))


def test_a_gradient_of_the_wrong_shape_is_reported():
    w = Parameter(np.ones((2, 3)))
    w.grad = dg.tensor(np.ones(3))
    with pytest.raises(dg.ShapeError, match=r"SGD.step: a parameter of shape \(2, 3\) has a "
                                            r"gradient of shape \(3\)"):
        optim.SGD([w]).step()


@pytest.fixture
def saved_adam():
    params = make_params(initial_weights(np.float64))
    adam = optim.Adam([{"params": params[:2]}, {"params": params[2:]}])
    TANH.train(params, adam, np.float64, 2)
    return params, adam.state_dict()


def test_load_rejects_a_different_number_of_groups(saved_adam):
    params, saved = saved_adam
    with pytest.raises(ValueError, match=r"the state dict has 2 parameter group\(s\), but this "
                                         r"optimizer has 1"):
        optim.Adam(params).load_state_dict(saved)


def test_load_rejects_groups_of_different_sizes(saved_adam):
    params, saved = saved_adam
    with pytest.raises(ValueError, match="parameter group 0 has 2 parameters in the state dict, "
                                         "but 3 in this optimizer"):
        optim.Adam([{"params": params[:3]}, {"params": params[3:]}]).load_state_dict(saved)


def test_load_rejects_state_of_the_wrong_shape(saved_adam):
    params, saved = saved_adam
    saved["state"][1]["exp_avg"] = np.zeros(7)
    fresh = optim.Adam([{"params": params[:2]}, {"params": params[2:]}])
    with pytest.raises(dg.ShapeError, match=r"Adam.load_state_dict: 'exp_avg' of parameter 1 "
                                            r"has shape \(7\), but the parameter has shape "
                                            r"\(6\)"):
        fresh.load_state_dict(saved)
    assert fresh.state == {}  # nothing was loaded


def test_load_rejects_state_of_another_optimizer(saved_adam):
    params, saved = saved_adam
    with pytest.raises(KeyError, match=r"the state of parameter 0 \(shape \(6, 4\)\) has "
                                       r"unknown entries \['exp_avg', 'exp_avg_sq'\]; "
                                       r"missing entries \['square_avg'\]"):
        optim.RMSprop([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(saved)
    saved["param_groups"][0]["amsgrad"] = True  # the loaded settings decide what is expected
    with pytest.raises(KeyError, match=r"missing entries \['max_exp_avg_sq'\]"):
        optim.Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(saved)


def test_load_rejects_a_parameter_index_no_group_lists(saved_adam):
    params, saved = saved_adam
    saved["state"][9] = saved["state"][0]
    with pytest.raises(ValueError, match="state for parameter 9, which none of its parameter "
                                         "groups lists"):
        optim.Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(saved)


def test_load_rejects_what_is_not_a_state_dict(saved_adam):
    params, _ = saved_adam
    with pytest.raises(ValueError, match=r"expects a dict with the keys 'state' and "
                                         r"'param_groups'.*got \['state'\]"):
        optim.Adam(params).load_state_dict({"state": {}})


def test_load_checks_the_loaded_settings(saved_adam):
    params, saved = saved_adam
    saved["param_groups"][1]["lr"] = -0.5
    with pytest.raises(ValueError, match=r"Adam: lr of parameter group 1 must be >= 0; got -0\.5"):
        optim.Adam([{"params": params[:2]}, {"params": params[2:]}]).load_state_dict(saved)


def test_repr_lists_the_group_settings():
    text = repr(optim.SGD(make_params(initial_weights(np.float64)), lr=0.5, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.5\n" in text


def test_optim_is_importable_as_a_submodule():
    assert deepgrad.optim.SGD is optim.SGD and optim.lr_scheduler.StepLR


FUSED_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.02, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1,
             "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("blocks", [1, "many"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", FUSED_CASES, ids=case_id)
def test_compiled_steps_give_the_numpy_steps_bits(case, dtype, blocks):
    """SGD with momentum and Adam run one compiled pass per parameter when numba is there: the
    same operations in the same order as the NumPy passes, so the same bits (in one block, and
    split over the threads in many)."""
    from deepgrad import parallel
    from deepgrad.ops._kernels import compiled, use_compiled

    if compiled() is None:
        pytest.skip("numba is not installed: the compiled loops need "
                    "`pip install 'deepgrad[fast]'`")
    name, options = case
    results = []
    for enabled in (False, True):
        with use_compiled(enabled), pytest.MonkeyPatch.context() as mp, dg.limit_threads(2):
            if blocks == "many":
                mp.setattr(parallel, "PARALLEL_ELEMENTS", 1)
            params = make_params(initial_weights(dtype))
            optimizer = getattr(optim, name)(params, **options)
            TANH.train(params, optimizer, dtype, 6)
            results.append([p.numpy().copy() for p in params] + [
                np.asarray(value).copy() for state in optimizer.state.values()
                for value in state.values() if isinstance(value, np.ndarray)])
    for numpy_value, compiled_value in zip(*results, strict=True):
        np.testing.assert_array_equal(compiled_value, numpy_value)
