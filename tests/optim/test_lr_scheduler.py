"""Learning-rate schedules: the lr (and cycled momentum) of every group at each of 100 steps
equal to torch's, resuming, state_dict round trips, the step-order warning, errors."""

import math
import warnings

import numpy as np
import pytest
from schedule_harness import (
    GROUP_LRS,
    assert_same_schedule,
    both_optimizers,
    make_optimizer,
    momentum_of,
)

import deepgrad as dg
from deepgrad import optim
from deepgrad.nn import Parameter
from deepgrad.optim import lr_scheduler

STEPS = 100


def record(optimizer, scheduler, steps=STEPS, metrics=None):
    """(lrs, momenta) after each step; the optimizer steps first, as it should."""
    lrs, momenta = [], []
    for i in range(steps):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
        lrs.append(list(scheduler.get_last_lr()))
        assert lrs[-1] == [group["lr"] for group in optimizer.param_groups]
        momenta.append([momentum_of(group) for group in optimizer.param_groups])
    return lrs, momenta


SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[60, 10, 30, 30], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR-wraps": lambda m, o: m.CosineAnnealingLR(o, T_max=30, eta_min=0.001),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=STEPS),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=20),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                              total_iters=30),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10),
            m.CosineAnnealingLR(o, T_max=90, eta_min=1e-4)], milestones=[10]),
    "SequentialLR-three": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9),
            m.StepLR(o, step_size=5, gamma=0.5)], milestones=[5, 40]),
    "OneCycleLR": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS),
    "OneCycleLR-linear-three-phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.8, epochs=10, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, base_momentum=0.8, max_momentum=[0.9, 0.95], div_factor=10,
        final_div_factor=100),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_lr_at_each_of_100_steps_matches_torch(torch, name):
    ours, theirs = both_optimizers(torch, momentum=0.9)
    assert_same_schedule(*(record(o, SCHEDULES[name](m, o))[0]
                           for m, o in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))))


@pytest.mark.parametrize("optimizer, options", [("SGD", {"momentum": 0.9}),
                                                ("SGD", {}),
                                                ("Adam", {"betas": (0.9, 0.99)}),
                                                ("RMSprop", {"momentum": 0.5})])
def test_one_cycle_cycles_momentum_or_beta1_like_torch(torch, optimizer, options):
    ours, theirs = both_optimizers(torch, optimizer, **options)
    runs = []
    for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs)):
        scheduler = module.OneCycleLR(opt, max_lr=0.5, total_steps=STEPS, pct_start=0.4)
        runs.append(record(opt, scheduler))
    assert_same_schedule(runs[0][0], runs[1][0])
    assert_same_schedule(runs[0][1], runs[1][1])
    if optimizer == "Adam":
        assert ours.param_groups[0]["betas"][1] == 0.99
    assert len({m for step in runs[0][1] for m in step}) > 10  # it really cycles


def test_one_cycle_without_momentum_cycling_works_with_any_optimizer(torch):
    ours, theirs = both_optimizers(torch, "Adagrad")
    runs = [record(opt, module.OneCycleLR(opt, max_lr=0.3, total_steps=STEPS,
                                          cycle_momentum=False))[0]
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(*runs)


METRICS = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 + 0.01 * np.sin(np.arange(40)),
                          np.linspace(0.5, 0.3, 10), np.full(30, 0.3)]).tolist()


@pytest.mark.parametrize("options", [
    {},
    {"patience": 3, "factor": 0.5},
    {"patience": 2, "threshold": 0.01, "threshold_mode": "abs", "cooldown": 3},
    {"patience": 1, "factor": 0.5, "min_lr": [0.01, 0.02], "eps": 1e-3},
    {"mode": "max", "patience": 4, "factor": 0.2, "cooldown": 2, "min_lr": 1e-3},
    {"mode": "max", "threshold_mode": "abs", "patience": 0},
])
def test_reduce_on_plateau_matches_torch_on_a_metric_sequence(torch, options):
    ours, theirs = both_optimizers(torch)
    metrics = [-m for m in METRICS] if options.get("mode") == "max" else METRICS
    runs = [record(opt, module.ReduceLROnPlateau(opt, **options), metrics=metrics)[0]
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(*runs)
    assert runs[0][-1] != runs[0][0]  # the sequence really reduces the lr


def test_reduce_on_plateau_takes_a_tensor_metric():
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    scheduler.step(dg.tensor(1.0))
    scheduler.step(dg.tensor(2.0))
    assert scheduler.get_last_lr() == pytest.approx([0.01, 0.004])


def test_resuming_with_last_epoch_matches_torch(torch):
    ours, theirs = both_optimizers(torch)
    for opt in (ours, theirs):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
            group["lr"] *= 0.5
    runs = [record(opt, module.CosineAnnealingLR(opt, T_max=40, last_epoch=10), steps=50)[0]
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(*runs)


def assert_plain(value, where="state_dict"):
    """Only numbers, strings, bools, lists and dicts: no arrays, tensors or other objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert type(value) in (int, float, bool, str), f"{where}: {type(value)}"


@pytest.mark.parametrize("name", [*SCHEDULES, "ReduceLROnPlateau"])
def test_state_dict_round_trip_mid_run_continues_identically(name):
    def build():
        opt = make_optimizer(optim, Parameter, momentum=0.9)
        if name == "ReduceLROnPlateau":
            return opt, lr_scheduler.ReduceLROnPlateau(opt, patience=2, cooldown=1,
                                                       min_lr=[0.001, 0.002])
        return opt, SCHEDULES[name](lr_scheduler, opt)

    metrics = METRICS if name == "ReduceLROnPlateau" else None
    reference = record(*build(), metrics=metrics)
    opt, scheduler = build()
    first = record(opt, scheduler, steps=40, metrics=metrics)
    saved_optimizer, saved_schedule = opt.state_dict(), scheduler.state_dict()
    assert_plain(saved_schedule)
    record(opt, scheduler, steps=5, metrics=metrics)  # the saved state is a copy

    opt, scheduler = build()
    opt.load_state_dict(saved_optimizer)
    scheduler.load_state_dict(saved_schedule)
    rest = record(opt, scheduler, steps=STEPS - 40, metrics=metrics and metrics[40:])
    assert first[0] + rest[0] == reference[0]
    assert first[1] + rest[1] == reference[1]


def test_stepping_the_schedule_before_the_optimizer_warns():
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"StepLR.step\(\) was called before "
                                         r"optimizer.step\(\)"):
        scheduler.step()
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        scheduler.step()


def test_get_last_lr_is_a_copy():
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    scheduler.get_last_lr().append(1.0)
    assert scheduler.get_last_lr() == list(GROUP_LRS)


def test_one_cycle_past_its_total_steps_is_an_error():
    opt = make_optimizer(optim, Parameter, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    record(opt, scheduler, steps=10)
    with pytest.raises(ValueError, match="OneCycleLR: stepped 11 times, but total_steps is 10"):
        scheduler.step()


@pytest.mark.parametrize("make, error, message", [
    (lambda o: lr_scheduler.StepLR(o, step_size=0), ValueError,
     "StepLR: step_size must be a positive integer; got 0"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=2.5), ValueError,
     "CosineAnnealingLR: T_max must be a positive integer; got 2.5"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError,
     r"LinearLR: start_factor must be in \(0, 1\]; got 0"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=1.5), ValueError,
     r"LinearLR: end_factor must be in \[0, 1\]; got 1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0), ValueError,
     "OneCycleLR: give total_steps, or both epochs and steps_per_epoch"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=-1), ValueError,
     "OneCycleLR: steps_per_epoch must be a positive integer; got -1"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5),
     ValueError, r"OneCycleLR: pct_start must be a number in \[0, 1\]; got 1.5"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"),
     ValueError, "OneCycleLR: anneal_strategy must be 'cos' or 'linear'; got 'exp'"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[1.0, 2.0, 3.0], total_steps=10), ValueError,
     "OneCycleLR: max_lr has 3 values, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError,
     r"ReduceLROnPlateau: factor must be in \[0, 1\); got 1.0"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), ValueError,
     "ReduceLROnPlateau: mode must be 'min' or 'max'; got 'lowest'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     "ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs'; got 'pct'"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, last_epoch=5), KeyError,
     "resuming with last_epoch=5 needs 'initial_lr' in parameter group 0"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.StepLR(o, 2)], milestones=[3]),
     ValueError, "SequentialLR: 1 schedulers need 0 milestones; got 1"),
    (lambda o: lr_scheduler.SequentialLR(o, [], milestones=[]), ValueError,
     "SequentialLR: expects at least one scheduler"),
    (lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.StepLR(o, 2), lr_scheduler.ReduceLROnPlateau(o)], milestones=[3]),
     TypeError, r"SequentialLR: schedulers\[1\] must be a schedule stepped without arguments; "
                "got ReduceLROnPlateau"),
    (lambda o: lr_scheduler.SequentialLR(
        o, [lr_scheduler.StepLR(make_optimizer(optim, Parameter), 2)], milestones=[]),
     ValueError, r"SequentialLR: schedulers\[0\] \(StepLR\) belongs to another optimizer"),
    (lambda o: lr_scheduler.StepLR("sgd", step_size=2), TypeError,
     "StepLR: expects a deepgrad Optimizer; got str"),
])
def test_invalid_arguments_are_reported(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer(optim, Parameter))


def test_one_cycle_needs_momentum_to_cycle_it():
    opt = make_optimizer(optim, Parameter, "Adagrad")
    with pytest.raises(ValueError, match="OneCycleLR: cycle_momentum=True needs an optimizer "
                                         "with momentum or betas; Adagrad has neither"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)


def test_load_state_dict_of_another_schedule_is_reported():
    opt = make_optimizer(optim, Parameter)
    saved = lr_scheduler.StepLR(opt, step_size=3).state_dict()
    with pytest.raises(KeyError, match=r"ExponentialLR.load_state_dict: the state dict does not "
                                       r"fit this schedule \(unexpected \['step_size'\]\)"):
        lr_scheduler.ExponentialLR(opt, gamma=0.5).load_state_dict(saved)


def test_reduce_on_plateau_with_a_group_added_later():
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=0.05)
    opt.add_param_group({"params": [Parameter(np.zeros(1))], "lr": 1.0})
    scheduler.step(1.0)
    scheduler.step(2.0)
    assert scheduler.get_last_lr() == pytest.approx([0.05, 0.04, 0.1])
    per_group = lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0, 0.0])
    opt.add_param_group({"params": [Parameter(np.zeros(1))]})
    per_group.step(1.0)
    with pytest.raises(ValueError, match="min_lr has 3 values, but the optimizer now has 4 "
                                         "parameter groups"):
        per_group.step(2.0)
    assert math.isfinite(per_group.best)
