"""Trainer(accumulate_grad_batches=k): one optimizer step per group of k batches on the mean of
their gradients, a shorter last group, per-batch schedules and weight averages following the
steps, exact resume from inside a group, and clear errors."""

import re

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral


def _model():
    dg.manual_seed(3)
    return nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 3)).double()


def _data(n=128):
    x, y = make_spiral(n, noise=0.2, seed=0)
    return x.astype(np.float64), y


def _fit(batch_size, k, epochs=2, callbacks=(), scheduler=None, model=None, **fit):
    model = _model() if model is None else model
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=callbacks,
                         scheduler=None if scheduler is None else scheduler(opt),
                         accumulate_grad_batches=k)
    trainer.fit(_data(), epochs=epochs, batch_size=batch_size, shuffle=False, **fit)
    return trainer


def _weights(trainer):
    return {k: np.array(v) for k, v in trainer.model.state_dict().items()}


def test_k_batches_step_as_one_batch_k_times_larger():
    big, accumulated = _weights(_fit(32, 1)), _weights(_fit(16, 2))
    for key, value in big.items():
        np.testing.assert_allclose(accumulated[key], value, rtol=1e-10, atol=1e-12, err_msg=key)


def test_the_epochs_last_group_is_shorter_and_steps_on_its_own_mean():
    # 8 batches of 16 in groups of 3: steps on 48, 48 and 32 examples.
    trainer = _fit(16, 3, epochs=1)
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    x, y = _data()
    for start, stop in ((0, 48), (48, 96), (96, 128)):
        opt.zero_grad()
        nn.functional.cross_entropy(model(dg.tensor(x[start:stop])),
                                    dg.tensor(y[start:stop])).backward()
        opt.step()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(_weights(trainer)[key], np.array(value), rtol=1e-10,
                                   atol=1e-12, err_msg=key)


def test_a_per_batch_schedule_and_weight_averages_follow_the_optimizer_steps():
    steps = []

    def schedule(opt):
        # 3 optimizer steps per epoch (groups of 3, 3 and 2 batches), 2 epochs
        return optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=6)

    averaging = dg.callbacks.WeightAveraging()
    log = dg.callbacks.LambdaCallback(
        on_batch_end=lambda batch, logs: steps.append(log.trainer.optimizer_stepped))
    trainer = _fit(16, 3, callbacks=[averaging, log], scheduler=schedule)
    assert trainer.scheduler.last_epoch == 6
    assert steps == [False, False, True, False, False, True, False, True] * 2
    assert int(averaging.averaged.n_averaged.data) == 6


def test_a_checkpoint_inside_a_group_resumes_to_identical_weights(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    whole = _fit(16, 3, epochs=2)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 3:  # after the checkpoint of batch 4
                self.trainer.stop_training = True

    _fit(16, 3, epochs=2, callbacks=[dg.callbacks.ModelCheckpoint(path, every_n_batches=2),
                                     Stop()])
    state = dg.serialization.load_tree(path)
    assert state["batch"] == 4 and any(g is not None for g in state["grads"])  # mid-group
    resumed = _fit(16, 3, epochs=2, resume_from=path)
    for key, value in _weights(whole).items():
        np.testing.assert_array_equal(_weights(resumed)[key], value, err_msg=key)
    with pytest.raises(dg.CheckpointError, match="it accumulated gradients over 3 batches, "
                                                 "this Trainer over 2"):
        _fit(16, 2, epochs=2, resume_from=path)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_accumulate_grad_batches_must_be_a_positive_integer(k):
    model = _model()
    with pytest.raises(ValueError, match=re.escape(f"accumulate_grad_batches must be an integer "
                                                   f">= 1; got {k!r}")):
        dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                   accumulate_grad_batches=k)


def test_lbfgs_cannot_accumulate_and_train_step_needs_fit():
    model = _model()
    with pytest.raises(ValueError, match="LBFGS evaluates the loss several times per step"):
        dg.Trainer(model, "cross_entropy", optim.LBFGS(model.parameters()),
                   accumulate_grad_batches=2)
    trainer = dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                         accumulate_grad_batches=2)
    with pytest.raises(RuntimeError, match="it runs inside fit"):
        trainer.train_step(_data(8))
