"""Callbacks: early stopping (restoring the best weights), checkpoints only on improvement,
CSV/JSON logs, learning-rate schedule functions, NaN termination, lambdas, weight averaging, the
progress line."""

import csv
import io
import json
import re

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral
from deepgrad.train.callbacks import (
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    TerminateOnNaN,
    WeightAveraging,
)


def _setup(lr=1e-2):
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3))
    return model, optim.Adam(model.parameters(), lr=lr)


class Scripted(dg.callbacks.Callback):
    """Replaces the epoch's validation loss by a scripted sequence (runs before the others)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, epoch, logs):
        logs["val_loss"] = self.values[epoch]


def _fit(callbacks, epochs, model_opt=None, **kwargs):
    model, opt = model_opt or _setup()
    x, y = make_spiral(60, noise=0.2, seed=0)
    trainer = dg.Trainer(model, "cross_entropy", opt, callbacks=callbacks, verbose=0)
    history = trainer.fit((x, y), epochs=epochs, batch_size=20, validation_data=(x, y), **kwargs)
    return trainer, history


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    weights = []
    record = LambdaCallback(on_epoch_end=lambda e, logs: weights.append(
        trainer_ref[0].model[0].weight.numpy().copy()))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best=True)
    trainer_ref = []
    model, opt = _setup()
    trainer = dg.Trainer(model, "cross_entropy", opt, verbose=0,
                         callbacks=[Scripted([5, 3, 4, 4, 1, 1]), record, stop])
    trainer_ref.append(trainer)
    x, y = make_spiral(60, noise=0.2, seed=0)
    history = trainer.fit((x, y), epochs=6, batch_size=20, validation_data=(x, y))
    assert len(history.epoch) == 4  # best at epoch 2 (index 1), then 2 epochs without progress
    assert stop.stopped_epoch == 3 and stop.best == 3 and stop.best_epoch == 1
    np.testing.assert_array_equal(model[0].weight.numpy(), weights[1])
    assert "did not improve for 2 epochs" in trainer.stop_reason


def test_early_stopping_mode_follows_the_metric_name():
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")


def test_monitoring_an_unknown_value_says_what_is_logged():
    with pytest.raises(KeyError, match="monitor='val_acc' is not among the logged values"):
        _fit([EarlyStopping(monitor="val_acc")], epochs=1)


def test_checkpoint_only_on_improvement(tmp_path):
    path = tmp_path / "best-{epoch}.safetensors"
    checkpoint = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, weights_only=True)
    _fit([Scripted([3, 2, 2.5, 1]), checkpoint], epochs=4)
    assert [p.rsplit("/", 1)[-1] for p in checkpoint.saved] == [
        "best-1.safetensors", "best-2.safetensors", "best-4.safetensors"]
    model, _ = _setup()
    dg.load_into(model, checkpoint.saved[-1])


def test_checkpoint_every_epoch_is_a_full_resumable_checkpoint(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "last.safetensors", save_best_only=False)
    _fit([checkpoint], epochs=2)
    state = dg.serialization.load_tree(tmp_path / "last.safetensors")
    assert state["epoch"] == 2 and state["batch"] == 0
    assert set(state) >= {"model", "optimizer", "loader", "rng", "history"}


def test_csv_and_json_logs(tmp_path):
    _, history = _fit([CSVLogger(tmp_path / "log.csv"), JSONLogger(tmp_path / "log.json")],
                      epochs=3)
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert float(rows[2]["val_accuracy"]) == pytest.approx(history.history["val_accuracy"][2])
    records = json.loads((tmp_path / "log.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert records[0]["loss"] == pytest.approx(history.history["loss"][0])


def test_a_checkpoint_listed_first_holds_the_other_callbacks_updates_of_its_epoch(tmp_path):
    """The checkpoint writer runs last: resuming from it loses no logger record and no early
    stopping count (it used to save the callbacks listed after it one epoch behind)."""
    path, log = tmp_path / "last.safetensors", tmp_path / "log.json"

    def callbacks():
        return [ModelCheckpoint(path), JSONLogger(log),
                EarlyStopping(monitor="val_loss", patience=50)]

    _fit(callbacks(), epochs=2)
    state = dg.serialization.load_tree(path)
    logger_state, stopping_state = state["callbacks"][1], state["callbacks"][2]
    assert [r["epoch"] for r in json.loads(logger_state["records"])] == [1, 2]
    assert stopping_state["best_epoch"] + 1 + stopping_state["wait"] == 2  # both epochs seen
    model, opt = _setup()
    _fit(callbacks(), epochs=3, model_opt=(model, opt), resume_from=path)
    assert [r["epoch"] for r in json.loads(log.read_text())] == [1, 2, 3]


def test_resumed_callbacks_find_their_state_by_class_whatever_else_changed(tmp_path, capsys):
    """A run started with a progress bar and resumed quiet (or the other way round) keeps its
    logger's records: the states go by class, not by position in the list."""
    path, log = tmp_path / "last.safetensors", tmp_path / "log.json"
    _fit([ModelCheckpoint(path), JSONLogger(log), ProgressBar(stream=io.StringIO())], epochs=2)
    model, opt = _setup()
    _fit([JSONLogger(log), ModelCheckpoint(path)], epochs=3, model_opt=(model, opt),
         resume_from=path)
    assert [r["epoch"] for r in json.loads(log.read_text())] == [1, 2, 3]
    assert capsys.readouterr().err == ""
    # Callbacks that differ: the new one starts afresh, the dropped one's state is not used;
    # both said.
    model, opt = _setup()
    stop = EarlyStopping(monitor="val_loss", patience=50)
    _fit([stop, ModelCheckpoint(path)], epochs=4, model_opt=(model, opt), resume_from=path)
    err = capsys.readouterr().err
    assert f"Trainer: {path}: no saved state for EarlyStopping: starting afresh" in err
    assert "the saved state of JSONLogger matches none of this Trainer's callbacks" in err
    assert stop.best_epoch == 3  # counted from the resumed epoch, not before


def test_checkpoints_without_callback_classes_restore_by_position(tmp_path, capsys):
    """Checkpoints written before the classes were kept pair states by position when the
    number of callbacks agrees, and otherwise say that they start afresh."""
    path, log = tmp_path / "last.safetensors", tmp_path / "log.json"
    _fit([ModelCheckpoint(path), JSONLogger(log)], epochs=2)
    state = dg.serialization.load_tree(path)
    del state["callback_types"]
    dg.serialization.save_tree(state, path)
    model, opt = _setup()
    _fit([ModelCheckpoint(tmp_path / "new.safetensors"), JSONLogger(log)], epochs=3,
         model_opt=(model, opt), resume_from=path)
    assert [r["epoch"] for r in json.loads(log.read_text())] == [1, 2, 3]
    model, opt = _setup()
    _fit([JSONLogger(log)], epochs=3, model_opt=(model, opt), resume_from=path)
    err = capsys.readouterr().err
    assert ("no saved state for JSONLogger: starting afresh; the saved state of callback 1 of 2, "
            "callback 2 of 2 matches none") in err
    assert [r["epoch"] for r in json.loads(log.read_text())] == [3]


def test_learning_rate_scheduler_function():
    _, history = _fit([LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))], epochs=3)
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_terminate_on_nan_names_epoch_and_batch():
    model, opt = _setup(lr=1e6)
    with dg.no_grad():
        model[0].weight.data[:] = np.nan
    trainer, history = _fit([TerminateOnNaN()], epochs=3, model_opt=(model, opt))
    assert trainer.stop_reason == "TerminateOnNaN: the loss was nan at epoch 1, batch 1"
    assert history.epoch == []


def test_progress_line_per_epoch_when_not_a_terminal():
    stream = io.StringIO()
    _fit([ProgressBar(stream=stream)], epochs=2)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2  loss ")
    assert "val_accuracy" in lines[1] and "samples/s" in lines[1]


def test_progress_line_keeps_small_values_readable():
    stream = io.StringIO()
    shrink = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(lr=4.2e-6, mse=0.0))
    _fit([shrink, ProgressBar(stream=stream)], epochs=1)
    line = stream.getvalue()
    assert "lr 4.200e-06" in line and "mse 0.0000" in line and re.search(r" loss \d\.\d{4} ", line)


def test_resuming_from_an_epoch_end_checkpoint_continues_with_the_next_epoch(tmp_path):
    path = tmp_path / "last.safetensors"
    _, whole = _fit([], epochs=3)
    _fit([ModelCheckpoint(path)], epochs=2)
    _, resumed = _fit([], epochs=3, resume_from=path)
    assert resumed.epoch == [0, 1, 2]
    assert resumed.history["loss"] == whole.history["loss"]


def _bn_setup():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_weight_averaging_per_epoch_is_the_mean_of_the_epochs_weights():
    snapshots = []
    record = LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(
        {k: v.copy() for k, v in model.state_dict().items()}))
    model, opt = _bn_setup()
    averaging = WeightAveraging(start_epoch=1, every="epoch")
    _fit([record, averaging], epochs=4, model_opt=(model, opt))
    assert int(averaging.averaged.n_averaged.numpy()) == 3
    for key, value in model.state_dict().items():  # the average is now the model's
        if value.dtype.kind == "f":  # weights and running statistics alike
            np.testing.assert_allclose(value, np.mean([s[key] for s in snapshots[1:]], axis=0),
                                       rtol=1e-5, atol=1e-6, err_msg=key)


def test_weight_averaging_ema_per_batch():
    model, opt = _setup()
    seen = []
    record = LambdaCallback(on_batch_end=lambda b, logs: seen.append(
        model[0].weight.numpy().copy()))
    _fit([record, WeightAveraging(decay=0.5)], epochs=2, model_opt=(model, opt))
    expected = seen[0]
    for weights in seen[1:]:
        expected = 0.5 * expected + 0.5 * weights
    np.testing.assert_allclose(model[0].weight.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_weight_averaging_can_measure_batch_norm_again():
    model, opt = _bn_setup()
    averaging = WeightAveraging(every="epoch", update_bn=True)
    trainer, _ = _fit([averaging], epochs=2, model_opt=(model, opt))
    running = model[1].running_mean.numpy().copy()
    check, _ = _bn_setup()
    check.load_state_dict(model.state_dict())
    dg.optim.swa_utils.update_bn(trainer._loader, check)
    np.testing.assert_allclose(running, check[1].running_mean.numpy(), rtol=1e-6)


def test_weight_averaging_resumes_exactly(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    model, opt = _bn_setup()
    _fit([WeightAveraging(decay=0.9), ModelCheckpoint(path)], epochs=2, model_opt=(model, opt))
    model, opt = _bn_setup()
    _fit([WeightAveraging(decay=0.9), ModelCheckpoint(path)], epochs=4, model_opt=(model, opt),
         resume_from=path)
    straight, opt = _bn_setup()
    _fit([WeightAveraging(decay=0.9), ModelCheckpoint(tmp_path / "b.safetensors")], epochs=4,
         model_opt=(straight, opt))
    for (key, a), b in zip(model.state_dict().items(), straight.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=key)


def test_weight_averaging_before_its_start_leaves_the_model_alone():
    model, opt = _setup()
    _fit([WeightAveraging(start_epoch=5, every="epoch")], epochs=2, model_opt=(model, opt))
    plain, opt = _setup()
    _fit([], epochs=2, model_opt=(plain, opt))
    np.testing.assert_array_equal(model[0].weight.numpy(), plain[0].weight.numpy())
    with pytest.raises(ValueError, match="every"):
        WeightAveraging(every="step")
    with pytest.raises(ValueError, match="start_epoch"):
        WeightAveraging(start_epoch=-1)
