"""Trainer.fit on an IterableDataset stream without a length: an epoch is one pass over it (as a
PyTorch loop over the loader), a mid-epoch checkpoint resumes to the same weights, and what
needs the epoch's length says so."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral

X, Y = make_spiral(96, noise=0.2, seed=0)


class Stream(dg.data.IterableDataset):
    """The spiral's examples in a fixed order, with no __len__."""

    def __iter__(self):
        yield from zip(X, Y)


def _fit(epochs=3, callbacks=(), **fit):
    dg.manual_seed(4)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 3))
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2),
                         verbose=0, callbacks=callbacks)
    trainer.fit(Stream(), epochs=epochs, batch_size=16, **fit)
    return trainer


def test_an_epoch_is_one_pass_over_the_stream():
    trainer = _fit()
    assert trainer.batches_per_epoch is None
    assert len(trainer.history.history["loss"]) == 3
    # The same batches in the same order as the arrays without shuffling.
    dg.manual_seed(4)
    model = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 3))
    same = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.2),
                      verbose=0)
    same.fit((X, Y), epochs=3, batch_size=16, shuffle=False)
    for key, value in same.model.state_dict().items():
        np.testing.assert_array_equal(trainer.model.state_dict()[key], value, err_msg=key)


def test_a_mid_epoch_checkpoint_of_a_stream_resumes_exactly(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    whole = _fit()

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 3:
                self.trainer.stop_training = True

    _fit(callbacks=[dg.callbacks.ModelCheckpoint(path, every_n_batches=2), Stop()])
    resumed = _fit(resume_from=path)
    for key, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)


def test_accumulation_over_a_stream_of_unknown_length_is_refused():
    model = nn.Linear(2, 3)
    trainer = dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                         verbose=0, accumulate_grad_batches=2)
    with pytest.raises(ValueError, match="this stream has no len\\(\\); give its "
                                         "IterableDataset a __len__"):
        trainer.fit(Stream(), epochs=1, batch_size=16)
