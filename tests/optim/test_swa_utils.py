"""Averaged weights (optim.swa_utils): AveragedModel's SWA and EMA averages, update_bn and SWALR
against torch's, batch norm's cumulative average (momentum=None), frozen layers, errors."""

import numpy as np
import pytest
from schedule_harness import assert_same_schedule, both_optimizers

import deepgrad as dg
from deepgrad import nn
from deepgrad.optim import swa_utils


def _models(torch, seed=0):
    """The same small network with batch norm, in deepgrad and in torch (float64)."""
    dg.manual_seed(seed)
    ours = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _train_batch(torch, ours, theirs, rng):
    """New weights for both (as an optimizer step would give) and one train-mode batch, which
    moves batch norm's running statistics."""
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        value = p.numpy() + rng.normal(size=p.shape)
        p.data[...] = value
        q.data.copy_(torch.tensor(value))
    x = rng.normal(size=(8, 3))
    ours.train()(dg.tensor(x))
    theirs.train()(torch.tensor(x))


def _assert_same_state(ours, theirs):
    mine, other = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(other)
    for key in mine:
        np.testing.assert_allclose(mine[key], other[key].numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=key)


@pytest.mark.parametrize("average", ["swa", "ema", "ema_avg_fn", "swa_avg_fn"])
@pytest.mark.parametrize("use_buffers", [False, True])
def test_averaged_model_matches_torch(torch, average, use_buffers):
    swa_torch = torch.optim.swa_utils
    ours, theirs = _models(torch)
    options = {
        "swa": ({}, {}),
        "ema": ({"multi_avg_fn": swa_utils.get_ema_multi_avg_fn(0.9)},
                {"multi_avg_fn": swa_torch.get_ema_multi_avg_fn(0.9)}),
        "ema_avg_fn": ({"avg_fn": swa_utils.get_ema_avg_fn(0.9)},
                       {"avg_fn": swa_torch.get_ema_avg_fn(0.9)}),
        "swa_avg_fn": ({"avg_fn": swa_utils.get_swa_avg_fn()},
                       {"avg_fn": swa_torch.get_swa_avg_fn()}),
    }[average]
    averaged = swa_utils.AveragedModel(ours, use_buffers=use_buffers, **options[0])
    reference = swa_torch.AveragedModel(theirs, use_buffers=use_buffers, **options[1])
    rng = np.random.default_rng(0)
    for _ in range(4):
        _train_batch(torch, ours, theirs, rng)
        averaged.update_parameters(ours)
        reference.update_parameters(theirs)
    state = {k: v for k, v in reference.state_dict().items()
             if not (use_buffers and k.endswith("num_batches_tracked"))}  # see below
    mine = averaged.state_dict()
    assert list(mine) == list(reference.state_dict())
    for key, value in state.items():
        np.testing.assert_allclose(mine[key], value.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=key)
    # An integer count is copied from the model, not averaged (torch averages it as an int).
    assert int(mine["module.1.num_batches_tracked"]) == 4
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(averaged.eval()(dg.tensor(x)).numpy(),
                               reference.eval()(torch.tensor(x)).detach().numpy(), rtol=1e-12)


def test_the_first_update_copies_and_the_mean_follows():
    model = nn.Linear(2, 1, bias=False)
    averaged = swa_utils.AveragedModel(model)
    assert averaged.module is not model and averaged.module.weight is not model.weight
    for k, value in enumerate([1.0, 2.0, 6.0]):
        model.weight.data[...] = value
        averaged.update_parameters(model)
        assert int(averaged.n_averaged.numpy()) == k + 1
    np.testing.assert_allclose(averaged.module.weight.numpy(), 3.0)
    assert model.weight.numpy().tolist() == [[6.0, 6.0]]


def test_batch_norm_momentum_none_is_the_cumulative_average_as_torch(torch):
    ours, theirs = _models(torch)
    ours[1].momentum, theirs[1].momentum = None, None
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(size=(6, 3))
        ours.train()(dg.tensor(x))
        theirs.train()(torch.tensor(x))
    _assert_same_state(ours, theirs)


def test_update_bn_matches_torch_and_restores_mode_and_momentum(torch):
    ours, theirs = _models(torch)
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(8, 3)) for _ in range(5)]
    ours.eval()
    swa_utils.update_bn([(b, np.zeros(8)) for b in batches], ours)
    theirs.eval()
    torch.optim.swa_utils.update_bn([(torch.tensor(b), 0) for b in batches], theirs)
    _assert_same_state(ours, theirs)
    assert not ours.training and ours[1].momentum == 0.1
    swa_utils.update_bn([dg.tensor(b) for b in batches], ours)  # bare inputs too
    _assert_same_state(ours, theirs)


def test_update_bn_leaves_frozen_layers_alone():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 4), nn.BatchNorm1d(4))
    model[1].running_mean.data[...] = 5.0
    model[1].requires_grad_(False)  # frozen: runs in inference mode, keeps its statistics
    swa_utils.update_bn([np.ones((4, 3), np.float32)], model)
    assert model[1].running_mean.numpy().tolist() == [5.0] * 4
    assert int(model[3].num_batches_tracked.numpy()) == 1
    swa_utils.update_bn([np.ones((4, 3), np.float32)], nn.Linear(3, 1))  # no batch norm: a no-op


@pytest.mark.parametrize("options", [
    {"swa_lr": 0.05}, {"swa_lr": [0.01, 0.02], "anneal_epochs": 4, "anneal_strategy": "linear"},
    {"swa_lr": 0.2, "anneal_epochs": 0}, {"swa_lr": 0.05, "anneal_epochs": 1},
])
def test_swalr_matches_torch(torch, options):
    ours, theirs = both_optimizers(torch)
    schedules = [swa_utils.SWALR(ours, **options),
                 torch.optim.swa_utils.SWALR(theirs, **options)]
    lrs = [[], []]
    for _ in range(15):
        for opt, schedule, out in zip((ours, theirs), schedules, lrs):
            out.append([g["lr"] for g in opt.param_groups])
            opt.step()
            schedule.step()
    assert_same_schedule(*lrs)


def test_swalr_state_round_trips():
    ours = dg.optim.SGD([nn.Parameter(dg.zeros(2))], lr=0.1)
    schedule = swa_utils.SWALR(ours, swa_lr=0.01, anneal_epochs=5)
    for _ in range(2):
        ours.step()
        schedule.step()
    again = swa_utils.SWALR(dg.optim.SGD([nn.Parameter(dg.zeros(2))], lr=0.1), swa_lr=0.01)
    again.load_state_dict(schedule.state_dict())
    assert again.anneal_epochs == 5 and again.last_epoch == 2


def test_errors_say_what_is_wrong():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="not both"):
        swa_utils.AveragedModel(model, avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(TypeError, match=r"dg\.nn\.Module"):
        swa_utils.AveragedModel(lambda x: x)
    with pytest.raises(ValueError, match="do not match"):
        swa_utils.AveragedModel(model).update_parameters(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="decay"):
        swa_utils.get_ema_multi_avg_fn(1.5)
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        swa_utils.SWALR(opt, 0.01, anneal_strategy="cosine")
    with pytest.raises(ValueError, match="anneal_epochs"):
        swa_utils.SWALR(opt, 0.01, anneal_epochs=-1)
