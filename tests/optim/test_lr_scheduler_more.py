"""The schedules beyond the common ones (LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR,
CosineAnnealingWarmRestarts, CyclicLR, ChainedScheduler): lrs and cycled momenta equal to
torch's at every step, alone and inside SequentialLR / ChainedScheduler; fractional epochs;
state_dict round trips through a checkpoint file mid-cycle; the Trainer's stepping; errors."""

import pytest
from schedule_harness import (
    assert_same_schedule,
    both_optimizers,
    make_optimizer,
    momentum_of,
)

import deepgrad as dg
from deepgrad import optim
from deepgrad.datasets import make_spiral
from deepgrad.nn import Parameter
from deepgrad.optim import lr_scheduler
from deepgrad.serialization import load_tree, save_tree

STEPS = 100


def record(optimizer, scheduler, steps=STEPS):
    """(lrs, momenta) after each step; the optimizer steps first, as it should."""
    lrs, momenta = [], []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(list(scheduler.get_last_lr()))
        assert lrs[-1] == [group["lr"] for group in optimizer.param_groups]
        momenta.append([momentum_of(group) for group in optimizer.param_groups])
    return lrs, momenta


def halve_every_ten(step):
    return 0.5 ** (step // 10)


def slow_decay(step):
    return 0.99 if step % 3 else 0.95


SCHEDULES = {
    "LambdaLR": lambda m, o: m.LambdaLR(o, halve_every_ten),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(o, [halve_every_ten, lambda s: 1 / (1 + s)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, slow_decay),
    "MultiplicativeLR-per-group": lambda m, o: m.MultiplicativeLR(
        o, (slow_decay, lambda s: 1.01 if s < 20 else 0.97)),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=7),
    "ConstantLR-default": lambda m, o: m.ConstantLR(o),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=60, power=0.9),
    "PolynomialLR-square": lambda m, o: m.PolynomialLR(o, total_iters=30, power=2.0),
    "CosineAnnealingWarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10),
    "CosineAnnealingWarmRestarts-mult": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=7, T_mult=2, eta_min=0.001),
    "CyclicLR": lambda m, o: m.CyclicLR(o, base_lr=[0.01, 0.004], max_lr=[0.1, 0.05],
                                        step_size_up=7, step_size_down=13),
    "CyclicLR-triangular2": lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.2, 0.1],
                                                    step_size_up=6, mode="triangular2",
                                                    base_momentum=[0.8, 0.85],
                                                    max_momentum=0.95),
    "CyclicLR-exp_range": lambda m, o: m.CyclicLR(o, base_lr=0.001, max_lr=0.1, step_size_up=9,
                                                  mode="exp_range", gamma=0.98),
    "CyclicLR-sawtooth-scale_fn": lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=8, step_size_down=0,
        scale_fn=lambda x: 1 / (1 + 0.05 * x), scale_mode="iterations", cycle_momentum=False),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.1, total_iters=20), m.ExponentialLR(o, gamma=0.97)]),
    "ChainedScheduler-restarts-multiplicative": lambda m, o: m.ChainedScheduler(
        [m.CosineAnnealingWarmRestarts(o, T_0=15), m.MultiplicativeLR(o, slow_decay),
         m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=3),
                            m.ExponentialLR(o, gamma=0.99)], milestones=[10])], optimizer=o),
    "SequentialLR-constant-restarts": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.1, total_iters=5),
            m.CosineAnnealingWarmRestarts(o, T_0=12, T_mult=2)], milestones=[10]),
    "SequentialLR-linear-cyclic": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=10),
            m.CyclicLR(o, base_lr=0.02, max_lr=0.2, step_size_up=5)], milestones=[10]),
    "SequentialLR-polynomial-lambdas": lambda m, o: m.SequentialLR(
        o, [m.PolynomialLR(o, total_iters=20, power=1.5), m.LambdaLR(o, halve_every_ten),
            m.MultiplicativeLR(o, slow_decay)], milestones=[15, 60]),
    "SequentialLR-chain-first": lambda m, o: m.SequentialLR(
        o, [m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=3),
                                m.ExponentialLR(o, gamma=0.9)]), m.StepLR(o, 3)],
        milestones=[30]),
    "SequentialLR-nested-first": lambda m, o: m.SequentialLR(
        o, [m.SequentialLR(o, [m.LinearLR(o, start_factor=0.5, total_iters=2),
                               m.ExponentialLR(o, gamma=0.9)], milestones=[3]),
            m.ConstantLR(o, factor=0.5, total_iters=10)], milestones=[20]),
}


# A SequentialLR whose first schedule is made of others steps the inner ones as it is built,
# before any optimizer step, and warns so, as PyTorch does.
inner_steps_warn = pytest.mark.filterwarnings("ignore:.*before .?optimizer.step")


@inner_steps_warn
@pytest.mark.parametrize("name", SCHEDULES)
def test_lr_and_momentum_at_each_of_100_steps_match_torch(torch, name):
    ours, theirs = both_optimizers(torch, momentum=0.9)
    runs = [record(o, SCHEDULES[name](m, o))
            for m, o in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(runs[0][0], runs[1][0])
    assert_same_schedule(runs[0][1], runs[1][1])


@pytest.mark.parametrize("optimizer, options", [("SGD", {"momentum": 0.9}),
                                                ("SGD", {}),
                                                ("Adam", {"betas": (0.9, 0.99)}),
                                                ("RMSprop", {"momentum": 0.5})])
def test_cyclic_cycles_momentum_or_beta1_like_torch(torch, optimizer, options):
    ours, theirs = both_optimizers(torch, optimizer, **options)
    runs = [record(opt, module.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4,
                                        step_size_down=6, mode="triangular2",
                                        base_momentum=[0.7, 0.8], max_momentum=0.95))
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(runs[0][0], runs[1][0])
    assert_same_schedule(runs[0][1], runs[1][1])
    if optimizer == "Adam":
        assert ours.param_groups[0]["betas"][1] == 0.99
    assert len({m for step in runs[0][1] for m in step}) > 10  # it really cycles


def test_cyclic_without_momentum_cycling_works_with_any_optimizer(torch):
    ours, theirs = both_optimizers(torch, "Adagrad")
    runs = [record(opt, module.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=5,
                                        cycle_momentum=False))[0]
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(*runs)


def fractional_epochs(scheduler, optimizer, epochs=30, batches=4):
    """Step with ``epoch + i / batches`` as PyTorch's documentation shows, then plainly."""
    lrs = []
    for epoch in range(epochs):
        for i in range(batches):
            optimizer.step()
            scheduler.step(epoch + i / batches)
            lrs.append(list(scheduler.get_last_lr()))
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        lrs.append(list(scheduler.get_last_lr()))
    scheduler.step(3.5)  # back in time, as PyTorch allows
    lrs.append(list(scheduler.get_last_lr()))
    return lrs


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_at_fractional_epochs_match_torch(torch, T_mult):
    ours, theirs = both_optimizers(torch)
    runs = [fractional_epochs(module.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=T_mult,
                                                                 eta_min=0.002), opt)
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(*runs)


@pytest.mark.parametrize("make", [
    lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=2, last_epoch=9),
    lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, last_epoch=7),
    lambda m, o: m.PolynomialLR(o, total_iters=30, last_epoch=4),
    lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=8, last_epoch=3),
])
def test_resuming_with_last_epoch_matches_torch(torch, make):
    ours, theirs = both_optimizers(torch, momentum=0.9)
    for opt in (ours, theirs):
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
            group["lr"] *= 0.5
    runs = [record(opt, make(module, opt), steps=50)
            for module, opt in ((lr_scheduler, ours), (torch.optim.lr_scheduler, theirs))]
    assert_same_schedule(runs[0][0], runs[1][0])
    assert_same_schedule(runs[0][1], runs[1][1])


def assert_plain(value, where="state_dict"):
    """Only numbers, strings, bools, lists and dicts: no arrays, functions or other objects."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert type(value) in (int, float, bool, str), f"{where}: {type(value)}"


@inner_steps_warn
@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_through_a_checkpoint_mid_cycle_continues_identically(name, tmp_path):
    def build():
        opt = make_optimizer(optim, Parameter, momentum=0.9)
        return opt, SCHEDULES[name](lr_scheduler, opt)

    reference = record(*build())
    opt, scheduler = build()
    first = record(opt, scheduler, steps=37)
    assert_plain(scheduler.state_dict())
    save_tree({"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()},
              tmp_path / "checkpoint.safetensors")
    record(opt, scheduler, steps=5)  # the saved state is a copy

    opt, scheduler = build()
    saved = load_tree(tmp_path / "checkpoint.safetensors")
    opt.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    rest = record(opt, scheduler, steps=STEPS - 37)
    assert first[0] + rest[0] == reference[0]
    assert first[1] + rest[1] == reference[1]


def test_warm_restarts_resume_after_fractional_epochs():
    def build():
        opt = make_optimizer(optim, Parameter)
        return opt, lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)

    opt, scheduler = build()
    for step in range(9):
        opt.step()
        scheduler.step(step * 0.75)
    saved = scheduler.state_dict()
    assert isinstance(saved["T_cur"], float)
    reference = record(opt, scheduler, steps=20)[0]
    opt, scheduler = build()
    scheduler.load_state_dict(saved)
    assert record(opt, scheduler, steps=20)[0] == reference


def test_the_users_functions_are_not_in_the_state_dict():
    opt = make_optimizer(optim, Parameter, momentum=0.9)
    for scheduler in (lr_scheduler.LambdaLR(opt, halve_every_ten),
                      lr_scheduler.MultiplicativeLR(opt, slow_decay),
                      lr_scheduler.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0)):
        state = scheduler.state_dict()
        assert_plain(state)
        assert "lr_lambdas" not in state and "_scale_fn_custom" not in state


def test_cyclic_is_stepped_per_batch_and_warm_restarts_per_epoch_by_the_trainer():
    x, y = make_spiral(64, noise=0.2, seed=0)
    dg.manual_seed(0)
    model = dg.nn.Sequential(dg.nn.Linear(2, 8), dg.nn.ReLU(), dg.nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cyclic = lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=3)
    trainer = dg.Trainer(model, "cross_entropy", opt, scheduler=cyclic, verbose=0)
    assert trainer.scheduler_interval == "batch"
    trainer.fit((x, y), epochs=2, batch_size=16)  # 4 batches per epoch
    assert cyclic.last_epoch == 8

    opt = optim.SGD(model.parameters(), lr=0.1)
    restarts = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
    history = dg.Trainer(model, "cross_entropy", opt, scheduler=restarts, verbose=0).fit(
        (x, y), epochs=3, batch_size=16)
    assert restarts.last_epoch == 3
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1])


def test_chained_scheduler_needs_its_inner_schedules_to_come_first_in_sequential():
    opt = make_optimizer(optim, Parameter)
    chain = lr_scheduler.ChainedScheduler([lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    with pytest.raises(TypeError, match=r"SequentialLR: schedulers\[1\] is a ChainedScheduler, "
                                        "which can only come first"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2), chain], milestones=[3])


def other_optimizer():
    return make_optimizer(optim, Parameter)


@pytest.mark.parametrize("make, error, message", [
    (lambda o: lr_scheduler.LambdaLR(o, [halve_every_ten]), ValueError,
     "LambdaLR: lr_lambda has 1 functions, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, [slow_decay] * 3), ValueError,
     "MultiplicativeLR: lr_lambda has 3 functions, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError,
     "LambdaLR: lr_lambda must be a function of the step .* got float for group 0"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=0), ValueError,
     r"ConstantLR: factor must be in \(0, 1\]; got 0"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), ValueError,
     r"ConstantLR: factor must be in \(0, 1\]; got 1.5"),
    (lambda o: lr_scheduler.ConstantLR(o, total_iters=0), ValueError,
     "ConstantLR: total_iters must be a positive integer; got 0"),
    (lambda o: lr_scheduler.PolynomialLR(o, power=-1.0), ValueError,
     "PolynomialLR: power must be >= 0; got -1.0"),
    (lambda o: lr_scheduler.PolynomialLR(o, total_iters=2.5), ValueError,
     "PolynomialLR: total_iters must be a positive integer; got 2.5"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
     "CosineAnnealingWarmRestarts: T_0 must be a positive integer; got 0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), ValueError,
     "CosineAnnealingWarmRestarts: T_mult must be an integer >= 1; got 0"),
    (lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=1.5), ValueError,
     "CosineAnnealingWarmRestarts: T_mult must be an integer >= 1; got 1.5"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, mode="cosine"), ValueError,
     "CyclicLR: mode must be 'triangular', 'triangular2' or 'exp_range' .*got 'cosine'"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: 1.0, scale_mode="epoch"),
     ValueError, "CyclicLR: scale_mode must be 'cycle' or 'iterations'; got 'epoch'"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, scale_fn=2.0), TypeError,
     "CyclicLR: scale_fn must be a function; got float"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError,
     "CyclicLR: step_size_up must be a positive integer; got 0"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_down=-2), ValueError,
     "CyclicLR: step_size_down must be a non-negative integer; got -2"),
    (lambda o: lr_scheduler.CyclicLR(o, [0.01] * 3, 0.1), ValueError,
     "CyclicLR: base_lr has 3 values, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.CyclicLR(o, 0.01, 0.1, max_momentum=[0.9]), ValueError,
     "CyclicLR: max_momentum has 1 values, but the optimizer has 2 parameter groups"),
    (lambda o: lr_scheduler.CyclicLR("sgd", 0.01, 0.1), TypeError,
     "CyclicLR: expects a deepgrad Optimizer; got str"),
    (lambda o: lr_scheduler.ChainedScheduler([]), ValueError,
     "ChainedScheduler: expects at least one scheduler"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(o)]), TypeError,
     r"ChainedScheduler: schedulers\[0\] must be a schedule stepped without arguments; got "
     "ReduceLROnPlateau"),
    (lambda o: lr_scheduler.ChainedScheduler(
        [lr_scheduler.StepLR(o, 2), lr_scheduler.StepLR(other_optimizer(), 2)]), ValueError,
     r"ChainedScheduler: schedulers\[1\] \(StepLR\) belongs to another optimizer"),
    (lambda o: lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(o, 2)],
                                             optimizer=other_optimizer()), ValueError,
     r"ChainedScheduler: schedulers\[0\] \(StepLR\) belongs to another optimizer"),
])
def test_invalid_arguments_are_reported(make, error, message):
    with pytest.raises(error, match=message):
        make(make_optimizer(optim, Parameter, momentum=0.9))


def test_warm_restarts_refuse_a_negative_epoch():
    opt = make_optimizer(optim, Parameter)
    scheduler = lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=5)
    opt.step()
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: epoch must be >= 0; "
                                         "got -1"):
        scheduler.step(-1)


def test_cyclic_needs_momentum_to_cycle_it():
    opt = make_optimizer(optim, Parameter, "Adagrad")
    with pytest.raises(ValueError, match="CyclicLR: cycle_momentum=True needs an optimizer "
                                         "with momentum or betas; Adagrad has neither"):
        lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1)


def test_load_state_dict_of_another_chain_is_reported():
    opt = make_optimizer(optim, Parameter)
    saved = lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(opt, 3)]).state_dict()
    two = lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(opt, 3),
                                         lr_scheduler.ExponentialLR(opt, gamma=0.5)])
    with pytest.raises(KeyError, match=r"ChainedScheduler\.load_state_dict: expected the states "
                                       "of 2 schedulers under '_schedulers'"):
        two.load_state_dict(saved)
