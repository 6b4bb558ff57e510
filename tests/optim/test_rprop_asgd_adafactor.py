"""Rprop, ASGD and Adafactor: 50 steps on the same model, weights and batches as torch.optim
(parameters and state equal; 1-D, 2-D and 3-D parameters, so Adafactor's factored and unfactored
second moments), parameter groups, state_dict round trips, layout and torch's state dicts,
errors, and training with dg.Trainer, including an exact resume mid-epoch."""


import numpy as np
import pytest
from optimizer_harness import (
    TORCH_ONLY,
    Net,
    case_id,
    check_loads_torchs_state_dict,
    check_state_dict_layout,
    check_state_dict_round_trip,
    initial_weights,
    make_params,
    make_torch_params,
    run_with_torch,
    three_groups,
    torch_loss,
)

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral
from deepgrad.optim.lr_scheduler import StepLR

NAMES = ["Rprop", "ASGD", "Adafactor"]


def weights_with_3d(dtype):
    """The harness's 4-6-3 network and a 3-D weight (2, 4, 3) added to its output."""
    extra = 0.5 * np.random.default_rng(2).standard_normal((2, 4, 3))
    return [*initial_weights(dtype), extra.astype(dtype)]


def dg_loss(params, x, y):
    w1, b1, w2, b2, w3 = params[:5]
    x = dg.tensor(x)
    diff = (x @ w1.T + b1).tanh() @ w2.T + b2 + (x @ w3).mean(0) - dg.tensor(y)
    return (diff * diff).mean()


def torch_loss_3d(torch, params, x, y):
    extra = (torch.tensor(x) @ params[4]).mean(0)
    return torch_loss(torch, [params[0], params[1], params[2], params[3] + extra], x, y)


NET = Net(weights_with_3d, dg_loss, torch_loss_3d)


CASES = [
    ("Rprop", {}),
    ("Rprop", {"lr": 0.001, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.02)}),
    # Bounded steps: ascending with steps up to 50 saturates tanh units, whose gradients are
    # then 0 in one framework and 1e-16 in the other, of different signs for Rprop.
    ("Rprop", {"lr": 0.005, "step_sizes": (1e-6, 0.05), "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 10}),  # averages from step 11
    ("ASGD", {"lr": 0.02, "t0": 0, "weight_decay": 0.01, "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.05, "beta2_decay": -0.5, "eps": (1e-6, 1e-2), "d": 2.0}),
    ("Adafactor", {"lr": 0.5, "eps": (None, 0.1)}),  # rho = 1/sqrt(t) from step 5
    ("Adafactor", {"lr": 0.01, "weight_decay": 0.05, "maximize": True}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_fifty_steps_match_torch(torch, case, dtype):
    run_with_torch(torch, NET, *case, dtype)


def test_adafactor_factors_the_last_two_dimensions():
    weights = [*weights_with_3d(np.float64), np.float64(1.5)]  # and a 0-d parameter
    params = make_params(weights)
    adafactor = optim.Adafactor(params)
    NET.train(params, adafactor, np.float64, 1)
    params[5].grad = dg.tensor(np.float64(0.25))
    adafactor.step()
    shapes = {i: {k: v.shape for k, v in s.items() if k != "step"}
              for i, s in adafactor.state_dict()["state"].items()}
    assert shapes == {0: {"row_var": (6, 1), "col_var": (1, 4)}, 1: {"variance": (6,)},
                      2: {"row_var": (3, 1), "col_var": (1, 6)}, 3: {"variance": (3,)},
                      4: {"row_var": (2, 4, 1), "col_var": (2, 1, 3)}, 5: {"variance": ()}}


GROUPS = [
    ("Rprop", {"lr": 0.002}, {"etas": (0.4, 1.1), "step_sizes": (1e-5, 0.01), "maximize": True}),
    ("ASGD", {"lr": 0.05, "t0": 5}, {"lambd": 0.01, "weight_decay": 0.2, "alpha": 0.6}),
    ("Adafactor", {"lr": 0.05}, {"beta2_decay": -0.6, "weight_decay": 0.1, "d": 1.5,
                                 "eps": (1e-20, 1e-3)}),
]


@pytest.mark.parametrize("name, options, first", GROUPS, ids=[g[0] for g in GROUPS])
def test_parameter_groups_with_their_own_settings_match_torch(torch, name, options, first):
    ours, _, _ = run_with_torch(torch, NET, name, options, groups=three_groups(first, 0.02))
    assert ours.param_groups[1]["lr"] == options["lr"]


@pytest.mark.parametrize("name", NAMES)
def test_a_step_schedule_matches_torch(torch, name):
    # Rprop's step sizes start at the first lr only; ASGD's eta follows the group's lr.
    run_with_torch(torch, NET, name, {"lr": 0.05}, steps=30,
                   schedule=lambda module, opt: module.StepLR(opt, 7, 0.5))


@pytest.mark.parametrize("name", NAMES)
def test_foreach_is_accepted_and_changes_nothing(name):
    weights = weights_with_3d(np.float64)
    runs = []
    for foreach in (None, True, False):
        params = make_params(weights)
        NET.train(params, getattr(optim, name)(params, foreach=foreach), np.float64, 5)
        runs.append([p.data for p in params])
    for run in runs[1:]:
        for p, q in zip(run, runs[0]):
            np.testing.assert_array_equal(p, q)


# ----------------------------------------------------------------------------- state dicts
ROUND_TRIP = [
    ("Rprop", {"lr": 0.005, "etas": (0.4, 1.3), "maximize": True}),
    ("ASGD", {"lr": 0.05, "t0": 10, "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adafactor", {"lr": 0.05, "eps": (1e-8, 1e-2), "beta2_decay": -0.5}),
]


@pytest.mark.parametrize("name, options", ROUND_TRIP, ids=[case_id(c) for c in ROUND_TRIP])
def test_state_dict_round_trip_mid_run_continues_identically(name, options):
    # Adafactor's default eps1 is None, as in torch's state dict: not a plain value.
    check_state_dict_round_trip(NET, name, options, not_plain=("eps",))


@pytest.mark.parametrize("name, options", ROUND_TRIP, ids=[case_id(c) for c in ROUND_TRIP])
def test_state_dict_layout_matches_torch(torch, name, options):
    # torch's Rprop, ASGD and Adafactor have no "fused" setting to leave out.
    check_state_dict_layout(torch, NET, name, options, TORCH_ONLY - {"fused"})


@pytest.mark.parametrize("name", NAMES)
def test_loads_torchs_state_dict_converted_to_arrays(torch, name):
    options = {"Rprop": {"lr": 0.005, "step_sizes": (1e-6, 0.05), "maximize": True},
               "ASGD": {"lr": 0.05, "t0": 10, "weight_decay": 0.1},
               "Adafactor": {"lr": 0.05, "weight_decay": 0.1}}[name]

    def after_load(ours, theirs, params):
        assert ours.param_groups[0] == {**theirs.param_groups[0], "params": params}
        if name == "ASGD":
            assert type(ours.state[params[0]]["eta"]) is float
            assert type(ours.state[params[0]]["mu"]) is float

    check_loads_torchs_state_dict(torch, NET, name, options, after_load)


def test_load_rejects_adafactor_statistics_of_the_wrong_shape():
    params = make_params(weights_with_3d(np.float64))
    adafactor = optim.Adafactor(params)
    NET.train(params, adafactor, np.float64, 2)
    saved = adafactor.state_dict()
    saved["state"][4]["row_var"] = np.zeros((2, 4, 3))
    with pytest.raises(dg.ShapeError, match=r"Adafactor.load_state_dict: 'row_var' of parameter "
                                            r"4 has shape \(2, 4, 3\), but the parameter has "
                                            r"shape \(2, 4, 3\), which needs \(2, 4, 1\)"):
        optim.Adafactor(params).load_state_dict(saved)
    saved["state"][4]["variance"] = saved["state"][4].pop("row_var")
    with pytest.raises(KeyError, match=r"the state of parameter 4 \(shape \(2, 4, 3\)\) has "
                                       r"missing entries \['row_var'\]"):
        optim.Adafactor(params).load_state_dict(saved)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, error, message", [
    (lambda p: optim.Rprop(p, lr=-0.1), ValueError, "Rprop: lr must be >= 0; got -0.1"),
    (lambda p: optim.Rprop(p, etas=(1.0, 1.2)), ValueError,
     r"Rprop: etas must satisfy 0 < etas\[0\] < 1 < etas\[1\]; got \(1.0, 1.2\)"),
    (lambda p: optim.Rprop(p, etas=(0.5, 0.9)), ValueError,
     r"Rprop: etas must satisfy 0 < etas\[0\] < 1 < etas\[1\]; got \(0.5, 0.9\)"),
    (lambda p: optim.Rprop(p, etas=(0.0, 1.2)), ValueError, "etas must satisfy"),
    (lambda p: optim.Rprop(p, etas=0.5), TypeError, "Rprop: etas must be a pair; got 0.5"),
    (lambda p: optim.Rprop(p, etas=(0.5, "x")), TypeError,
     r"Rprop: etas\[1\] must be a number; got 'x'"),
    (lambda p: optim.Rprop(p, step_sizes=(-1e-6, 50)), ValueError,
     r"Rprop: step_sizes\[0\] must be >= 0; got -1e-06"),
    (lambda p: optim.Rprop(p, step_sizes=(1.0, 0.5)), ValueError,
     r"Rprop: step_sizes\[1\] must be >= 1; got 0.5"),
    (lambda p: optim.ASGD(p, lr=-0.01), ValueError, "ASGD: lr must be >= 0; got -0.01"),
    (lambda p: optim.ASGD(p, weight_decay=-1), ValueError,
     "ASGD: weight_decay must be >= 0; got -1"),
    (lambda p: optim.ASGD(p, t0="soon"), TypeError, "ASGD: t0 must be a number; got 'soon'"),
    (lambda p: optim.Adafactor(p, lr=-1.0), ValueError, "Adafactor: lr must be >= 0; got -1.0"),
    (lambda p: optim.Adafactor(p, beta2_decay=0.5), ValueError,
     "Adafactor: beta2_decay must be <= 0; got 0.5"),
    (lambda p: optim.Adafactor(p, eps=(-1e-30, 1e-3)), ValueError,
     r"Adafactor: eps\[0\] must be >= 0; got -1e-30"),
    (lambda p: optim.Adafactor(p, eps=(None, -1e-3)), ValueError,
     r"Adafactor: eps\[1\] must be >= 0; got -0.001"),
    (lambda p: optim.Adafactor(p, eps=1e-3), TypeError,
     r"Adafactor: eps must be a pair \(eps1 or None, eps2\); got 0.001"),
    (lambda p: optim.Adafactor(p, d=0.5), ValueError, "Adafactor: d must be >= 1; got 0.5"),
    (lambda p: optim.Adafactor(p, weight_decay=-0.1), ValueError,
     "Adafactor: weight_decay must be >= 0; got -0.1"),
    (lambda p: optim.Adafactor([{"params": p[:2]}, {"params": p[2:], "d": 0.0}]), ValueError,
     "Adafactor: d of parameter group 1 must be >= 1; got 0.0"),
])
def test_invalid_arguments_are_reported(make, error, message):
    with pytest.raises(error, match=message):
        make(make_params(initial_weights(np.float64)))


def test_torch_rejects_the_same_settings(torch):
    params = make_torch_params(torch, initial_weights(np.float64))
    for make in (lambda: torch.optim.Rprop(params, etas=(1.0, 1.2)),
                 lambda: torch.optim.ASGD(params, weight_decay=-1),
                 lambda: torch.optim.Adafactor(params, beta2_decay=0.5),
                 lambda: torch.optim.Adafactor(params, d=0.5)):
        with pytest.raises(ValueError):
            make()


def test_exported():
    assert {"Rprop", "ASGD", "Adafactor"} <= set(optim.__all__)
    assert dg.optim.Adafactor is optim.Adafactor


# ----------------------------------------------------------------------------- Trainer
OPTIMIZERS = {"Rprop": lambda p: optim.Rprop(p, lr=1e-3),
              "ASGD": lambda p: optim.ASGD(p, lr=0.1, t0=10),
              "Adafactor": lambda p: optim.Adafactor(p, lr=1e-2)}


def _model(seed=0):
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))


@pytest.mark.parametrize("name", NAMES)
def test_trainer_fit_decreases_the_loss(name):
    x, y = make_spiral(256, noise=0.2, seed=0)
    model = _model()
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), OPTIMIZERS[name](model.parameters()),
                         verbose=0)
    history = trainer.fit((x, y), epochs=8, batch_size=32)
    assert history.history["loss"][-1] < 0.9 * history.history["loss"][0]


def _fit(name, x, y, callbacks=(), resume=None):
    model = _model()
    opt = OPTIMIZERS[name](model.parameters())
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=list(callbacks),
                         scheduler=StepLR(opt, 1, 0.7))
    dg.manual_seed(11)
    trainer.fit((x, y), epochs=3, batch_size=16, resume_from=resume)
    return trainer


@pytest.mark.parametrize("name", NAMES)
def test_trainer_resumes_mid_epoch_to_bit_identical_weights(name, tmp_path):
    x, y = make_spiral(128, noise=0.2, seed=0)  # 8 batches of 16 per epoch
    whole = _fit(name, x, y)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 5:  # just after the checkpoint of batch 6
                self.trainer.stop_training = True

    path = tmp_path / "ckpt.safetensors"
    _fit(name, x, y, [dg.callbacks.ModelCheckpoint(path, every_n_batches=2), Stop()])
    dg.manual_seed(999)  # the resumed run must not depend on the global seed
    resumed = _fit(name, x, y, resume=path)
    for key, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)
    assert resumed.history.history["loss"] == whole.history.history["loss"]
