"""Trainer.fit's ``steps_per_epoch`` and ``validation_steps`` (Keras'): epochs of a fixed number of
batches whose pass over the data continues across them, endless streams, exact resume, and
``evaluate(steps=...)``."""

import itertools

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral
from deepgrad.errors import CheckpointError

X, Y = make_spiral(128, noise=0.2, seed=0)  # 8 batches of 16 per pass


class Endless(dg.data.IterableDataset):
    """The spiral's examples over and over, counting how many were read."""

    def __init__(self):
        self.read = 0

    def __iter__(self):
        for x, y in itertools.cycle(zip(X, Y)):
            self.read += 1
            yield x, y


def _trainer(callbacks=(), **kwargs):
    dg.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 3))
    return dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2),
                      verbose=0, callbacks=callbacks, **kwargs)


def _same_weights(a, b):
    for key, value in a.model.state_dict().items():
        np.testing.assert_array_equal(b.model.state_dict()[key], value, err_msg=key)


def test_epochs_of_fewer_batches_continue_the_pass_over_the_data():
    # 4 epochs of 4 batches are the 2 passes of 8 batches that 2 whole epochs give, shuffled
    # the same way (the loader's order follows its pass, not the Trainer's epoch).
    short = _trainer()
    history = short.fit((X, Y), epochs=4, batch_size=16, seed=1, steps_per_epoch=4)
    whole = _trainer()
    whole.fit((X, Y), epochs=2, batch_size=16, seed=1)
    _same_weights(whole, short)
    assert len(history.history["loss"]) == 4 and short.batches_per_epoch == 4


def test_epochs_longer_than_a_pass_start_the_next_pass():
    # 12 batches per epoch: a pass and a half, so epoch 2 begins in the middle of a pass.
    long = _trainer()
    long.fit((X, Y), epochs=2, batch_size=16, seed=1, steps_per_epoch=12)
    whole = _trainer()
    whole.fit((X, Y), epochs=3, batch_size=16, seed=1)
    _same_weights(whole, long)


def test_an_endless_stream_trains_and_validates_in_fixed_steps():
    train, val = Endless(), Endless()
    trainer = _trainer()
    history = trainer.fit(train, epochs=3, batch_size=16, steps_per_epoch=5,
                          validation_data=val, validation_steps=2)
    assert len(history.history["val_loss"]) == 3
    # 15 batches of 16, and the loader reads one batch ahead (to know a pass's last batch);
    # validation: 2 batches of 256 (and one ahead) three times.
    assert 15 * 16 <= train.read <= 16 * 16
    assert 3 * 2 * 256 <= val.read <= 3 * 3 * 256


def test_accumulation_over_an_endless_stream_with_steps_per_epoch():
    trainer = _trainer(accumulate_grad_batches=2)
    history = trainer.fit(Endless(), epochs=2, batch_size=16, steps_per_epoch=3)
    assert len(history.history["loss"]) == 2


def test_validation_steps_evaluate_the_first_batches():
    trainer = _trainer()
    history = trainer.fit((X, Y), epochs=1, batch_size=16, validation_data=(X, Y),
                          validation_steps=1)  # validation batches are 256: all 128 anyway
    first = trainer.evaluate((X[:32], Y[:32]))
    assert trainer.evaluate((X, Y), batch_size=16, steps=2) == pytest.approx(first)
    assert history.history["val_loss"][0] == pytest.approx(trainer.evaluate((X, Y))["loss"])


@pytest.mark.parametrize("stop_epoch, stop_batch", [(1, 2), (2, 5)])
def test_a_mid_epoch_checkpoint_resumes_exactly(tmp_path, stop_epoch, stop_batch):
    # Epochs of 6 batches over passes of 8: the checkpoints fall at every place of a pass.
    path = tmp_path / "ckpt.safetensors"
    whole = _trainer()
    whole.fit((X, Y), epochs=4, batch_size=16, seed=2, steps_per_epoch=6)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == stop_epoch and batch == stop_batch:
                self.trainer.stop_training = True

    _trainer(callbacks=[dg.callbacks.ModelCheckpoint(path, every_n_batches=1), Stop()]).fit(
        (X, Y), epochs=4, batch_size=16, seed=2, steps_per_epoch=6)
    resumed = _trainer()
    resumed.fit((X, Y), epochs=4, batch_size=16, seed=2, steps_per_epoch=6, resume_from=path)
    _same_weights(whole, resumed)
    assert resumed.history.history["loss"] == whole.history.history["loss"]


def test_resuming_with_other_epochs_is_refused(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    _trainer(callbacks=[dg.callbacks.ModelCheckpoint(path)]).fit(
        (X, Y), epochs=1, batch_size=16, seed=2, steps_per_epoch=6)
    with pytest.raises(CheckpointError, match=r"epochs of 6 batches, this Trainer's one pass "
                                              r"over the data \(steps_per_epoch\)"):
        _trainer().fit((X, Y), epochs=2, batch_size=16, seed=2, resume_from=path)


@pytest.mark.parametrize("name", ["steps_per_epoch", "validation_steps"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_bad_step_counts(name, value):
    with pytest.raises(ValueError, match=f"fit: {name} must be an integer >= 1 or None; "
                                         f"got {value!r}"):
        _trainer().fit((X, Y), epochs=1, **{name: value})
    with pytest.raises(ValueError, match="evaluate: steps must be an integer >= 1 or None"):
        _trainer().evaluate((X, Y), steps=0)


def test_data_without_batches_is_an_error():
    class Empty(dg.data.IterableDataset):
        def __iter__(self):
            return iter(())

    with pytest.raises(ValueError, match="the training data gave no batch; steps_per_epoch "
                                         "needs at least one per pass"):
        _trainer().fit(Empty(), epochs=1, steps_per_epoch=3)
