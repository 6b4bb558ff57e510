"""Trainer: fit / evaluate / predict, schedules, gradient clipping, overridable steps,
checkpoints and exact resume (including a run SIGKILLed mid-epoch)."""

import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.datasets import make_spiral


def _model(seed=0, dropout=0.0):
    dg.manual_seed(seed)
    layers = [nn.Linear(2, 64), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))


def _trainer(model, **kwargs):
    kwargs.setdefault("verbose", 0)
    return dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2),
                      **kwargs)


def test_fit_learns_the_spiral_within_seconds():
    x, y = make_spiral(900, noise=0.2, seed=0)
    xt, yt = make_spiral(300, noise=0.2, seed=1)
    trainer = _trainer(_model())
    history = trainer.fit((x, y), epochs=30, batch_size=32, validation_data=(xt, yt))
    assert history.history["val_accuracy"][-1] >= 0.97
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert history.epoch == list(range(30)) and len(history.times) == 30
    assert history.history["loss"][-1] < history.history["loss"][0]
    result = trainer.evaluate((xt, yt))
    assert set(result) == {"loss", "accuracy"}
    assert result["accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    assert trainer.predict(xt, batch_size=64).shape == (300, 3)
    assert not trainer.model.training


def test_each_fit_returns_a_history_of_its_own_epochs():
    # Keras: a second fit continues training from the current weights and reports only its
    # own epochs; the first call's History is left as it was.
    x, y = make_spiral(300, noise=0.2, seed=0)
    trainer = _trainer(_model())
    first = trainer.fit((x, y), epochs=2, seed=0)
    first_losses = list(first.history["loss"])
    second = trainer.fit((x, y), epochs=3, seed=0)
    assert second is not first and trainer.history is second
    assert first.epoch == [0, 1] and first.history["loss"] == first_losses
    assert second.epoch == [0, 1, 2] and len(second.history["loss"]) == 3
    assert second.history["loss"][0] < first_losses[0]  # it went on from the trained weights


def test_data_as_dataset_or_loader_gives_the_same_run():
    x, y = make_spiral(120, noise=0.2, seed=0)
    runs = []
    for data in ((x, y), dg.data.TensorDataset(x, y),
                 dg.data.DataLoader(dg.data.TensorDataset(x, y), batch_size=16, shuffle=True,
                                    seed=3)):
        trainer = _trainer(_model())
        trainer.fit(data, epochs=2, batch_size=16, seed=3)
        runs.append(trainer.model.state_dict())
    for other in runs[1:]:
        for key in runs[0]:
            np.testing.assert_array_equal(runs[0][key], other[key], err_msg=key)


def test_the_same_seed_gives_the_same_weights():
    x, y = make_spiral(120, noise=0.2, seed=0)
    weights = []
    for _ in range(2):
        dg.manual_seed(7)
        trainer = _trainer(_model(dropout=0.2))
        dg.manual_seed(7)
        trainer.fit((x, y), epochs=2, batch_size=16)
        weights.append(trainer.model[0].weight.numpy().copy())
    np.testing.assert_array_equal(*weights)


def test_schedules_step_per_epoch_or_per_batch_and_plateau_sees_val_loss():
    x, y = make_spiral(64, noise=0.2, seed=0)
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)
    trainer = dg.Trainer(model, "cross_entropy", opt, verbose=0,
                         scheduler=optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    history = trainer.fit((x, y), epochs=3, batch_size=32)
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.025])  # each epoch's own

    opt = optim.SGD(model.parameters(), lr=0.1)
    one_cycle = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=4)
    history = dg.Trainer(model, "cross_entropy", opt, scheduler=one_cycle, verbose=0).fit(
        (x, y), epochs=2, batch_size=32)  # 2 batches per epoch, stepped per batch
    assert one_cycle.last_epoch == 4
    rates = []  # the rate of each of the 4 batches
    again = optim.SGD(model.parameters(), lr=0.1)
    schedule = optim.lr_scheduler.OneCycleLR(again, max_lr=0.1, total_steps=4)
    for _ in range(4):
        rates.append(again.param_groups[0]["lr"])
        again.step()
        schedule.step()
    assert history.history["lr"] == pytest.approx([rates[1], rates[3]])  # each epoch's last

    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    seen = []
    plateau.step = lambda metric: seen.append(metric)
    history = dg.Trainer(model, "cross_entropy", opt, scheduler=plateau, verbose=0).fit(
        (x, y), epochs=2, batch_size=32, validation_data=(x, y))
    assert seen == history.history["val_loss"]


def test_grad_clip_bounds_the_update():
    x, y = make_spiral(32, noise=0.2, seed=0)
    model = _model()
    before = [p.numpy().copy() for p in model.parameters()]
    trainer = dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=1.0),
                         grad_clip=1e-3, verbose=0)
    trainer.fit((x, y), epochs=1, batch_size=96, shuffle=False)
    moved = np.sqrt(sum(((p.numpy() - b) ** 2).sum() for p, b in
                        zip(model.parameters(), before)))
    assert moved <= 1e-3 * (1 + 1e-5)


def test_train_step_can_be_overridden():
    class Counting(dg.Trainer):
        steps = 0

        def train_step(self, batch):
            Counting.steps += 1
            return super().train_step(batch)

    x, y = make_spiral(120, noise=0.2, seed=0)
    model = _model()
    Counting(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1), verbose=0).fit(
        (x, y), epochs=2, batch_size=50)
    assert Counting.steps == 6  # 120 examples, 3 batches per epoch


def test_bad_arguments_are_clear():
    model = _model()
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'"):
        dg.Trainer(model, "crossentropy", optim.SGD(model.parameters(), lr=0.1))
    trainer = _trainer(model)
    with pytest.raises(ValueError, match="train has 10 inputs but 9 targets"):
        trainer.fit((np.zeros((10, 2)), np.zeros(9, np.int64)), epochs=1)
    with pytest.raises(TypeError, match="must be a Dataset, a DataLoader or an"):
        trainer.fit([1, 2, 3], epochs=1)
    with pytest.raises(ValueError, match="unknown metric 'accu'"):  # when built, not in fit
        _trainer(model, metrics=("accu",))


@pytest.mark.parametrize(("call", "error", "message"), [
    # Keras' order, the arrays as two arguments: the error shows the pair.
    (lambda t, x, y: t.fit(x, y), TypeError,
     r"got ndarray; inputs and targets go in as one argument, the pair \(x, y\): Keras' "
     r"fit\(x, y, epochs=5\) is fit\(\(x, y\), epochs=5\) here"),
    (lambda t, x, y: t.evaluate(x, y), TypeError, r"evaluate data must be .* the pair \(x, y\)"),
    # ... with the next parameter by name: the same hint, not Python's "multiple values".
    (lambda t, x, y: t.fit(x, y, epochs=3), TypeError,
     r"Trainer.fit: got two arrays before epochs=; inputs and targets go in as one argument"),
    (lambda t, x, y: t.evaluate(x, y, batch_size=5), TypeError,
     r"Trainer.evaluate: got two arrays before batch_size=; .* the pair \(x, y\)"),
    (lambda t, x, y: t.fit((x, y), 2.5), ValueError,
     r"fit: epochs must be an integer >= 0; got 2.5"),
    (lambda t, x, y: t.fit((x, y), "3"), ValueError, "fit: epochs must be an integer >= 0"),
    (lambda t, x, y: t.fit((x, y), -1), ValueError, "fit: epochs must be an integer >= 0"),
    (lambda t, x, y: t.fit((x, y), y), ValueError,
     r"epochs must be an integer >= 0; got an array of shape \(10,\)"),
    (lambda t, x, y: t.fit((x, y), 1, batch_size=0), ValueError,
     "fit: batch_size must be an integer >= 1; got 0"),
    (lambda t, x, y: t.evaluate((x, y), batch_size=True), ValueError,
     "evaluate: batch_size must be an integer >= 1; got True"),
    (lambda t, x, y: t.predict(x, batch_size=0), ValueError,
     "predict: batch_size must be an integer >= 1; got 0"),
])
def test_wrong_arguments_say_which_and_what_was_given(call, error, message):
    x, y = make_spiral(10, noise=0.2, seed=0)
    with pytest.raises(error, match=message):
        call(_trainer(_model()), x, y)


def test_validation_split_validates_on_the_last_examples_as_keras():
    x, y = make_spiral(100, noise=0.2, seed=0)
    split = _trainer(_model())
    history = split.fit((x, y), epochs=2, batch_size=16, seed=3, validation_split=0.25)
    given = _trainer(_model())
    expected = given.fit((x[:75], y[:75]), epochs=2, batch_size=16, seed=3,
                         validation_data=(x[75:], y[75:]))
    assert history.history == expected.history
    for key, value in given.model.state_dict().items():
        np.testing.assert_array_equal(split.model.state_dict()[key], value, err_msg=key)
    dataset = dg.data.TensorDataset(x, y)  # a Dataset splits the same way
    assert _trainer(_model()).fit(dataset, epochs=2, batch_size=16, seed=3,
                                  validation_split=0.25).history == expected.history


@pytest.mark.parametrize(("data", "kwargs", "error", "message"), [
    ("pair", {"validation_split": 1.0}, ValueError, "must be between 0 and 1; got 1.0"),
    ("pair", {"validation_split": 0.001}, ValueError,
     "validation_split=0.001 of 100 examples leaves 100 to train on and 0 to validate on"),
    ("pair", {"validation_split": 0.2, "validation_data": "pair"}, ValueError,
     "give validation_data or validation_split, not both"),
    ("loader", {"validation_split": 0.2}, TypeError, "not a DataLoader; pass validation_data"),
])
def test_validation_split_errors(data, kwargs, error, message):
    x, y = make_spiral(100, noise=0.2, seed=0)
    pair = (x, y)
    data = pair if data == "pair" else dg.data.DataLoader(dg.data.TensorDataset(x, y))
    kwargs = {k: pair if v == "pair" else v for k, v in kwargs.items()}
    with pytest.raises(error, match=re.escape(message)):
        _trainer(_model()).fit(data, epochs=1, **kwargs)


def _run_to_the_end(x, y, checkpoint=None, resume=None, epochs=3):
    dg.manual_seed(11)
    model = _model(dropout=0.2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    callbacks = [] if checkpoint is None else [dg.callbacks.ModelCheckpoint(
        checkpoint, every_n_batches=2)]
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=callbacks,
                         scheduler=optim.lr_scheduler.StepLR(opt, 1, 0.7))
    dg.manual_seed(11)
    trainer.fit((x, y), epochs=epochs, batch_size=16, validation_data=(x, y),
                resume_from=resume)
    return trainer


def test_resume_from_a_mid_epoch_checkpoint_is_exact(tmp_path):
    x, y = make_spiral(128, noise=0.2, seed=0)  # 8 batches of 16 per epoch
    whole = _run_to_the_end(x, y)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 5:  # just after the checkpoint of batch 6
                self.trainer.stop_training = True

    dg.manual_seed(11)
    model = _model(dropout=0.2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    path = tmp_path / "ckpt.safetensors"
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0,
                         callbacks=[dg.callbacks.ModelCheckpoint(path, every_n_batches=2), Stop()],
                         scheduler=optim.lr_scheduler.StepLR(opt, 1, 0.7))
    dg.manual_seed(11)
    trainer.fit((x, y), epochs=3, batch_size=16, validation_data=(x, y))
    dg.manual_seed(999)  # the resumed run must not depend on the global seed
    resumed = _run_to_the_end(x, y, resume=path)
    for key, value in whole.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value, err_msg=key)
    assert resumed.history.history["loss"] == whole.history.history["loss"]
    assert resumed.history.history["val_accuracy"] == whole.history.history["val_accuracy"]


_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import deepgrad as dg
    from deepgrad import nn, optim
    from deepgrad.datasets import make_spiral

    path, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    x, y = make_spiral(128, noise=0.2, seed=0)  # 8 batches of 16 per epoch
    dg.manual_seed(11)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 3))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def maybe_die(batch, logs):
        if trainer.epoch * 8 + batch + 1 == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=[
        dg.callbacks.ModelCheckpoint(path, every_n_batches=3),
        dg.callbacks.LambdaCallback(on_batch_end=maybe_die)])
    trainer.fit((x, y), epochs=3, batch_size=16, seed=5,
                resume_from=path if resume else None)
    dg.save(model, path + ".final")
""")


def test_a_sigkilled_run_resumes_to_bit_identical_weights(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_KILLED_RUN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(path, kill_at, mode):
        return subprocess.run([sys.executable, str(script), str(path), str(kill_at), mode],
                              env=env, capture_output=True, text=True, timeout=120)

    whole = tmp_path / "whole.safetensors"
    assert run(whole, 0, "fresh").returncode == 0
    killed = tmp_path / "killed.safetensors"
    result = run(killed, 11, "fresh")  # dies in epoch 2, after the checkpoint of batch 9
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert killed.exists() and not (tmp_path / "killed.safetensors.final").exists()
    result = run(killed, 0, "resume")
    assert result.returncode == 0, result.stderr
    a, _ = dg.serialization.load_file(str(whole) + ".final")
    b, _ = dg.serialization.load_file(str(killed) + ".final")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_weights_file_is_not_a_checkpoint(tmp_path):
    model = _model()
    dg.save(model, tmp_path / "w.safetensors")
    x, y = make_spiral(10, noise=0.2, seed=0)
    with pytest.raises(dg.FileFormatError, match="not a deepgrad checkpoint"):
        _trainer(model).fit((x, y), epochs=1, resume_from=tmp_path / "w.safetensors")


def _one_cycle_trainer(epochs, batches, path=None):
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    callbacks = [] if path is None else [dg.callbacks.ModelCheckpoint(path)]
    return dg.Trainer(model, nn.CrossEntropyLoss(), opt, verbose=0, callbacks=callbacks,
                      scheduler=optim.lr_scheduler.OneCycleLR(opt, 0.1,
                                                              total_steps=epochs * batches))


@pytest.mark.parametrize(("epochs", "batch_size", "scheduler", "metrics", "message"), [
    (3, 30, True, 1, r"its schedule spans 8 steps, this Trainer's 12 \(were the epochs"),
    (2, 20, True, 1, r"its schedule spans 8 steps, this Trainer's 12 .*; its data loader had "
                     r"batch_size=30, but this loader has batch_size=20$"),
    (2, 30, False, 1, r"it was written with a scheduler, and this Trainer has none$"),
    (2, 30, True, 2, r"it has 1 metrics, this Trainer 2$"),
])
def test_resuming_another_run_is_refused_before_anything_is_loaded(tmp_path, epochs, batch_size,
                                                                   scheduler, metrics, message):
    x, y = make_spiral(120, noise=0.2, seed=0)  # 4 batches of 30
    path = tmp_path / "ckpt.safetensors"
    _one_cycle_trainer(2, 4, path).fit((x, y), epochs=2, batch_size=30)
    other = (_one_cycle_trainer(epochs, -(-120 // batch_size)) if scheduler
             else _trainer(_model()))
    other.metric_specs = ["accuracy", "f1"][:metrics]
    before = {k: v.copy() for k, v in other.model.state_dict().items()}
    with pytest.raises(dg.CheckpointError, match=r"ckpt\.safetensors: the run that wrote the "
                                                 r"checkpoint does not fit this one: " + message):
        other.fit((x, y), epochs=epochs, batch_size=batch_size, resume_from=path)
    for key, value in other.model.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


@pytest.mark.parametrize(("freq", "validated"), [(2, [2, 4]), ({1, 4}, [1, 4]), ([3], [3])])
def test_validation_freq_validates_only_the_chosen_epochs(freq, validated, tmp_path):
    x, y = make_spiral(90, noise=0.2, seed=0)
    best = dg.callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.safetensors",
                                        save_best_only=True)
    stop = dg.callbacks.EarlyStopping(patience=1)
    history = _trainer(_model(), callbacks=[best, stop]).fit(
        (x, y), epochs=4, batch_size=30, validation_data=(x, y), validation_freq=freq)
    values = history.history["val_loss"]
    assert len(values) == len(history.history["loss"]) == 4
    assert [e + 1 for e, v in enumerate(values) if not np.isnan(v)] == validated
    # Epochs without a validation value are skipped, not judged (nor an error).
    assert best.saved and all(int(p.rsplit("-", 1)[1].split(".")[0]) in validated
                              for p in best.saved)


@pytest.mark.parametrize("freq", [0, "2", [0, 1], 1.5])
def test_validation_freq_must_name_epochs(freq):
    x, y = make_spiral(30, seed=0)
    with pytest.raises(ValueError, match="validation_freq must be an integer >= 1"):
        _trainer(_model()).fit((x, y), epochs=1, validation_data=(x, y), validation_freq=freq)


def test_metrics_score_class_probability_targets_by_their_largest_class():
    x, y = make_spiral(90, noise=0.2, seed=0)
    soft = np.full((90, 3), 0.1, np.float32)
    soft[np.arange(90), y] = 0.8  # as MixUp, CutMix or smoothed labels give them
    model = _model()
    trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0),
                         verbose=0)  # lr 0: the weights stay, so the epoch's accuracy is known
    history = trainer.fit((x, soft), epochs=1, batch_size=30, validation_data=(x, soft))
    expected = trainer.evaluate((x, y))["accuracy"]
    assert history.history["accuracy"] == [pytest.approx(expected)]
    assert history.history["val_accuracy"] == [pytest.approx(expected)]


@pytest.mark.parametrize("loss, metrics", [
    ("cross_entropy", ["accuracy"]), (nn.NLLLoss(), ["accuracy"]),
    (nn.BCEWithLogitsLoss(), ["accuracy"]), (dg.nn.functional.cross_entropy, ["accuracy"]),
    ("mse", []), (nn.L1Loss(), []), (nn.BCELoss(), []), (lambda out, y: (out - y).abs().mean(), []),
])
def test_default_metrics_follow_the_loss(loss, metrics):
    # Accuracy of a regression is meaningless, and BCELoss's probabilities would be read as
    # logits (every output > 0 is class 1): by default only classifiers' losses get it.
    model = _model()
    trainer = dg.Trainer(model, loss, optim.SGD(model.parameters(), lr=0.1), verbose=0)
    assert trainer.metric_specs == metrics


def test_a_regression_fits_with_the_default_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 2)).astype(np.float32)
    model = nn.Linear(2, 1)
    history = dg.Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
                         verbose=0).fit((x, x[:, :1] - x[:, 1:]), epochs=2)
    assert sorted(history.history) == ["loss", "lr"]
