"""Trainer.fit's class_weight and sample weights, with Keras 3's semantics (its default reduction
"sum_over_batch_size"), which cannot be run here (no Keras) and so are written out and checked
against per-example losses computed by PyTorch in float64:

    loss = sum_i(w_i * l_i) / N,    w_i = sample_weight_i * class_weight.get(class_i, 1)

N counts the batch's examples (not the sum of the weights), less those whose target is the
loss's ignore_index; l_i is the loss with reduction="none" (an example's mean over its elements
for a regression). The metrics are not weighted."""

import copy
import re

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.datasets import make_spiral

N, C = 8, 3


def _logits(classes=C, seed=0):
    return np.random.default_rng(seed).normal(size=(N, classes))


def _step(loss, logits, targets, sample_weight=None, class_weight=None):
    """One SGD step (lr 1) of a model whose outputs are its weights (x is the identity): the
    logged loss and the step's gradient with respect to the outputs."""
    model = nn.Linear(N, logits.shape[1], bias=False).double()
    model.weight.data[...] = logits.T
    data = (np.eye(N), targets) if sample_weight is None else \
        (np.eye(N), targets, sample_weight)
    trainer = dg.Trainer(model, loss, optim.SGD(model.parameters(), lr=1.0), metrics=(),
                         verbose=0)
    history = trainer.fit(data, epochs=1, batch_size=N, shuffle=False, class_weight=class_weight)
    return history.history["loss"][0], logits - model.weight.data.T


def _oracle(torch, per_example, logits, weights, divisor):
    """sum(w * l) / divisor and its gradient, with torch's per-example losses ``l``."""
    outputs = torch.tensor(logits, requires_grad=True)
    losses = per_example(outputs)
    w = torch.tensor(np.asarray(weights, dtype=np.float64)).reshape(
        (-1,) + (1,) * (losses.ndim - 1))
    total = (losses * w).sum() / divisor
    total.backward()
    return total.item(), outputs.grad.numpy()


def _check(result, expected):
    np.testing.assert_allclose(result[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(result[1], expected[1], rtol=1e-10, atol=1e-14)


# ----------------------------------------------------------------------------- the formula
def test_class_weight_multiplies_each_loss_and_the_sum_is_divided_by_n(torch):
    logits, y = _logits(), np.array([0, 1, 2, 2, 1, 0, 2, 2])
    class_weight = {0: 3.0, 2: 0.25}  # class 1 is missing: weight 1, as in Keras
    expected = _oracle(torch, lambda o: torch.nn.functional.cross_entropy(
        o, torch.tensor(y), reduction="none"), logits, [3, 1, .25, .25, 1, 3, .25, .25], N)
    _check(_step(nn.CrossEntropyLoss(), logits, y, class_weight=class_weight), expected)
    _check(_step("cross_entropy", logits, y, class_weight=class_weight), expected)


def test_sample_weights_as_an_array_triple_multiply_with_class_weights(torch):
    logits, y = _logits(), np.array([0, 1, 2, 2, 1, 0, 2, 2])
    w = np.array([0.5, 2, 1, 0, 1, 3, 1, 1])

    def ce(outputs):
        return torch.nn.functional.cross_entropy(outputs, torch.tensor(y), reduction="none")

    _check(_step(nn.CrossEntropyLoss(), logits, y, w), _oracle(torch, ce, logits, w, N))
    both = w * np.where(y == 1, 4.0, 1.0)
    _check(_step(nn.CrossEntropyLoss(), logits, y, w, {1: 4.0}),
           _oracle(torch, ce, logits, both, N))


def test_weights_of_one_give_the_unweighted_loss():
    logits, y = _logits(), np.array([0, 1, -100, 2, 1, 0, -100, 2])
    for loss in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.2), "nll"):
        plain = _step(loss, logits, y)
        _check(_step(loss, logits, y, np.ones(N)), plain)
        _check(_step(loss, logits, y, class_weight={0: 1.0}), plain)


# ----------------------------------------------------------------------------- with each loss
def test_label_smoothing(torch):
    logits, y = _logits(), np.array([0, 1, 2, 2, 1, 0, 2, 2])
    w = np.linspace(0, 2, N)
    expected = _oracle(torch, lambda o: torch.nn.functional.cross_entropy(
        o, torch.tensor(y), reduction="none", label_smoothing=0.1), logits,
        w * np.where(y == 0, 2.0, 1.0), N)
    _check(_step(nn.CrossEntropyLoss(label_smoothing=0.1), logits, y, w, {0: 2.0}), expected)


def test_ignored_targets_have_no_loss_and_do_not_count_in_n(torch):
    logits, y = _logits(), np.array([0, 1, 7, 2, 1, 7, 2, 2])
    w = np.linspace(0.5, 2, N)

    def ce(outputs):
        return torch.nn.functional.cross_entropy(outputs, torch.tensor(y), reduction="none",
                                                 ignore_index=7)

    loss, gradient = _step(nn.CrossEntropyLoss(ignore_index=7), logits, y, w, {2: 3.0})
    _check((loss, gradient), _oracle(torch, ce, logits, w * np.where(y == 2, 3.0, 1.0), 6))
    assert not gradient[y == 7].any()
    # every target ignored: a loss of 0 (Keras' divide_no_nan) and no gradient, not nan
    loss, gradient = _step(nn.CrossEntropyLoss(ignore_index=7), logits, np.full(N, 7), w)
    assert loss == 0 and not gradient.any()


def test_cross_entropy_class_weight_argument_is_per_example_not_a_normalization(torch):
    # PyTorch's weight= multiplies each loss by w[t_i] and its mean divides by sum(w[t_i]);
    # with sample weights the sum is divided by N instead.
    logits, y = _logits(), np.array([0, 1, 2, 2, 1, 0, 2, 2])
    class_weights, w = np.array([1.0, 2.0, 0.5]), np.linspace(0.5, 2, N)
    expected = _oracle(torch, lambda o: torch.nn.functional.cross_entropy(
        o, torch.tensor(y), weight=torch.tensor(class_weights), reduction="none"), logits, w, N)
    _check(_step(nn.CrossEntropyLoss(weight=class_weights), logits, y, w), expected)


def test_class_probability_targets_take_the_class_they_weigh_most(torch):
    logits = _logits()
    targets = np.random.default_rng(1).dirichlet(np.ones(C), size=N)
    expected = _oracle(torch, lambda o: torch.nn.functional.cross_entropy(
        o, torch.tensor(targets), reduction="none"), logits,
        np.where(targets.argmax(1) == 1, 5.0, 1.0), N)
    _check(_step(nn.CrossEntropyLoss(), logits, targets, class_weight={1: 5.0}), expected)


@pytest.mark.parametrize("loss", [nn.BCEWithLogitsLoss(pos_weight=[1.5]), "bce_with_logits"])
def test_binary_targets_are_their_own_class(torch, loss):
    logits = _logits(classes=1)
    y = np.array([[0.0], [1], [1], [0], [0], [0], [1], [0]])
    pos_weight = torch.tensor([1.5 if isinstance(loss, nn.Module) else 1.0])
    w = np.linspace(0, 1, N)
    expected = _oracle(torch, lambda o: torch.nn.functional.binary_cross_entropy_with_logits(
        o, torch.tensor(y), pos_weight=pos_weight, reduction="none"), logits,
        w * np.where(y[:, 0] == 1, 4.0, 0.5), N)
    _check(_step(loss, logits, y, w, {0: 0.5, 1: 4.0}), expected)


def test_a_regression_weighs_each_examples_mean_loss(torch):
    logits, targets = _logits(classes=2), _logits(classes=2, seed=1)
    w = np.linspace(0, 2, N)
    # Keras' mse is the mean over an example's outputs: sum_i(w_i * mean_j(l_ij)) / N
    expected = _oracle(torch, lambda o: ((o - torch.tensor(targets)) ** 2).mean(1), logits, w, N)
    _check(_step(nn.MSELoss(), logits, targets, w), expected)
    _check(_step("mse", logits, targets, w), expected)
    # a sum reduction stays a sum, of the weighted losses
    expected = _oracle(torch, lambda o: ((o - torch.tensor(targets)) ** 2), logits, w, 1)
    _check(_step(nn.MSELoss(reduction="sum"), logits, targets, w), expected)


def test_the_users_loss_module_keeps_its_reduction():
    loss = nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0])
    _step(loss, _logits(), np.arange(N) % C, np.ones(N), {0: 2.0})
    assert loss.reduction == "mean" and repr(loss) == "CrossEntropyLoss()"


# ----------------------------------------------------------------------------- training
def _mlp(classes=C, seed=0):
    dg.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, classes)).double()


def _params(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


def _assert_same(a, b, rtol=1e-12):
    for key, value in a.items():
        np.testing.assert_allclose(b[key], value, rtol=rtol, atol=1e-14, err_msg=key)


def test_examples_of_weight_zero_do_not_move_the_weights():
    x, y = make_spiral(12, noise=0.2, seed=0)
    x = x.astype(np.float64)
    w = np.array([1.0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1])
    kept = w > 0

    def one_step(data, lr):
        model = _mlp()
        trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr),
                             verbose=0)
        trainer.fit(data, epochs=1, batch_size=12, shuffle=False)
        return _params(model)

    # the sum over the 8 kept examples is divided by 12: the 8 alone, with lr * 8 / 12
    _assert_same(one_step((x, y, w), 0.3), one_step((x[kept], y[kept]), 0.3 * 8 / 12))


def test_a_dataset_or_loader_of_triples_trains_as_the_arrays_triple():
    x, y = make_spiral(48, noise=0.2, seed=0)
    x, w = x.astype(np.float64), np.random.default_rng(0).uniform(0, 2, 48)

    def run(data):
        model = _mlp()
        dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.2),
                   verbose=0).fit(data, epochs=2, batch_size=16, shuffle=False,
                                  class_weight={0: 2.0})
        return _params(model)

    arrays = run((x, y, w))
    _assert_same(arrays, run(TensorDataset(x, y, w)))
    _assert_same(arrays, run(DataLoader(TensorDataset(x, y, w[:, None]), batch_size=16)))
    with pytest.raises(AssertionError):
        _assert_same(arrays, run((x, y)))


def test_class_weight_raises_the_recall_of_a_rare_class():
    rng = np.random.default_rng(0)
    y = (np.arange(2000) % 20 == 0).astype(np.int64)  # 5% of class 1
    x = rng.normal(size=(2000, 2)) + 1.5 * y[:, None]

    def minority_recall(class_weight):
        dg.manual_seed(0)
        model = nn.Linear(2, 2).double()
        trainer = dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.5),
                             verbose=0)
        trainer.fit((x, y), epochs=5, batch_size=100, seed=0, class_weight=class_weight)
        predicted = trainer.predict(x).argmax(1)
        return (predicted[y == 1] == 1).mean()

    plain, weighted = minority_recall(None), minority_recall({1: 19.0})
    assert plain < 0.4 and weighted > 0.75, (plain, weighted)


def test_validation_and_evaluate_weigh_the_loss_but_not_the_metrics():
    x, y = make_spiral(60, noise=0.2, seed=0)
    x, w = x.astype(np.float64), np.random.default_rng(0).uniform(0, 2, 60)
    model = _mlp()
    trainer = dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.1),
                         verbose=0)
    history = trainer.fit((x, y), epochs=1, validation_data=(x, y, w), class_weight={0: 9.0})
    weighted, plain = trainer.evaluate((x, y, w), batch_size=25), trainer.evaluate((x, y))
    assert history.history["val_loss"][0] == pytest.approx(weighted["loss"], rel=1e-12)
    assert weighted["accuracy"] == plain["accuracy"] == history.history["val_accuracy"][0]
    losses = nn.functional.cross_entropy(dg.tensor(trainer.predict(x)), dg.tensor(y),
                                         reduction="none").numpy()
    assert weighted["loss"] == pytest.approx((w * losses).sum() / 60, rel=1e-12)
    assert plain["loss"] == pytest.approx(losses.mean(), rel=1e-12)  # no class_weight here
    # validation_split takes the sample weights of its examples along
    history = trainer.fit((x, y, w), epochs=1, validation_split=0.25)
    assert history.history["val_loss"][0] == pytest.approx(
        trainer.evaluate((x[45:], y[45:], w[45:]))["loss"], rel=1e-12)


def test_accumulated_batches_step_on_the_mean_of_their_weighted_losses():
    x, y = make_spiral(32, noise=0.2, seed=0)
    x, w = x.astype(np.float64), np.random.default_rng(0).uniform(0, 2, 32)

    def run(batch_size, k):
        model = _mlp()
        dg.Trainer(model, "cross_entropy", optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
                   verbose=0, accumulate_grad_batches=k).fit(
            (x, y, w), epochs=2, batch_size=batch_size, shuffle=False, class_weight={2: 3.0})
        return _params(model)

    _assert_same(run(32, 1), run(8, 4), rtol=1e-10)


def test_lbfgs_minimizes_the_weighted_loss():
    x, y = make_spiral(24, noise=0.2, seed=0)
    x, w = x.astype(np.float64), np.random.default_rng(0).uniform(0, 2, 24)
    model = _mlp()
    by_hand = copy.deepcopy(model)
    dg.Trainer(model, "cross_entropy", optim.LBFGS(model.parameters(), max_iter=5),
               verbose=0).fit((x, y, w), epochs=1, batch_size=24, class_weight={1: 2.0})
    weights = dg.tensor(w * np.where(y == 1, 2.0, 1.0))
    opt = optim.LBFGS(by_hand.parameters(), max_iter=5)

    def closure():
        opt.zero_grad()
        losses = nn.functional.cross_entropy(by_hand(dg.tensor(x)), dg.tensor(y),
                                             reduction="none")
        loss = (losses * weights).sum() / 24
        loss.backward()
        return loss

    opt.step(closure)
    _assert_same(_params(by_hand), _params(model), rtol=1e-9)


def test_a_weighted_run_resumes_exactly(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    x, y = make_spiral(64, noise=0.2, seed=0)
    x, w = x.astype(np.float64), np.random.default_rng(0).uniform(0, 2, 64)

    def run(callbacks=(), seed=0, **fit):
        model = _mlp(seed=seed)
        trainer = dg.Trainer(model, "cross_entropy", optim.Adam(model.parameters(), lr=0.01),
                             verbose=0, callbacks=callbacks)
        trainer.fit((x, y, w), epochs=3, batch_size=16, seed=1, class_weight={0: 2.0}, **fit)
        return _params(model)

    class Stop(dg.callbacks.Callback):
        def on_batch_end(self, batch, logs):
            if self.trainer.epoch == 1 and batch == 2:
                self.trainer.stop_training = True

    whole = run()
    run(callbacks=[dg.callbacks.ModelCheckpoint(path, every_n_batches=1), Stop()])
    state = dg.serialization.load_tree(path)
    assert (state["epoch"], state["batch"]) == (1, 3)
    resumed = run(seed=5, resume_from=path)  # other initial weights: the checkpoint's are loaded
    for key, value in whole.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_without_weights_a_custom_loss_trains_as_before():
    x, y = make_spiral(32, noise=0.2, seed=0)
    model = _mlp()

    def custom(outputs, targets):
        return nn.functional.cross_entropy(outputs, targets)

    history = dg.Trainer(model, custom, optim.SGD(model.parameters(), lr=0.1),
                         verbose=0).fit((x.astype(np.float64), y), epochs=1)
    assert np.isfinite(history.history["loss"][0])


# ----------------------------------------------------------------------------- errors
def _fit(data, loss="cross_entropy", classes=C, **fit):
    model = _mlp(classes)
    trainer = dg.Trainer(model, loss, optim.SGD(model.parameters(), lr=0.1), verbose=0)
    fit.setdefault("batch_size", 8)
    return trainer.fit(data, epochs=1, **fit)


def _spiral(n=16):
    x, y = make_spiral(n, noise=0.2, seed=0)
    return x.astype(np.float64), y


@pytest.mark.parametrize("class_weight, message", [
    ({"a": 1.0}, "class_weight's keys must be class indices (integers >= 0); got 'a'"),
    ({1.0: 1.0}, "class_weight's keys must be class indices (integers >= 0); got 1.0"),
    ({-1: 1.0}, "class_weight's keys must be class indices (integers >= 0); got -1"),
    ({True: 1.0}, "class_weight's keys must be class indices (integers >= 0); got True"),
    ({0: float("nan")}, "class_weight[0] must be a finite number >= 0; got nan"),
    ({1: float("inf")}, "class_weight[1] must be a finite number >= 0; got inf"),
    ({2: -0.5}, "class_weight[2] must be a finite number >= 0; got -0.5"),
    ({2: "1"}, "class_weight[2] must be a finite number >= 0; got '1'"),
    ({np.int64(3): 1.0}, "class_weight has class 3, but the model's outputs (16, 3) have "
                         "classes 0 to 2"),
])
def test_bad_class_weights(class_weight, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit(_spiral(), class_weight=class_weight, batch_size=16)


def test_class_weight_must_be_a_dict_and_needs_class_targets():
    with pytest.raises(TypeError, match=re.escape("class_weight must be a dict {class index: "
                                                  "weight}; got list")):
        _fit(_spiral(), class_weight=[1.0, 2.0])
    x, _ = _spiral()
    with pytest.raises(ValueError, match=re.escape(
            "class_weight needs class targets (class indices, class probabilities shaped as "
            "the outputs, or the 0/1 targets of a binary cross-entropy); got float64 targets "
            "of shape (8, 1) for outputs (8, 1)")):
        _fit((x, x[:, :1]), loss="mse", classes=1, class_weight={0: 2.0})
    with pytest.raises(ValueError, match=re.escape("class_weight has class 2, but a binary "
                                                   "cross-entropy has classes 0, 1")):
        _fit((x, np.ones((16, 3))), loss=nn.BCEWithLogitsLoss(), class_weight={2: 2.0})


@pytest.mark.parametrize("loss", [lambda o, t: nn.functional.cross_entropy(o, t),
                                  nn.Sequential()])
def test_a_loss_without_a_reduction_cannot_be_weighed(loss):
    message = "class_weight and sample weights need a loss with a `reduction` argument"
    x, y = _spiral()
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit((x, y), loss=loss, class_weight={0: 2.0})
    with pytest.raises(ValueError, match=re.escape(message)):
        _fit((x, y, np.ones(16)), loss=loss)
    with pytest.raises(ValueError, match=re.escape(message)):  # known at the first batch
        _fit(TensorDataset(x, y, np.ones(16)), loss=loss)


def test_sample_weights_of_the_wrong_length_or_value():
    x, y = _spiral()
    with pytest.raises(ValueError, match=re.escape("train has 16 inputs but 15 sample weights; "
                                                   "give one per example")):
        _fit((x, y, np.ones(15)))
    with pytest.raises(ValueError, match=re.escape("validation_data has 16 inputs but 1 sample "
                                                   "weights")):
        _fit((x, y), validation_data=(x, y, np.float64(1.0)))
    with pytest.raises(dg.ShapeError, match=re.escape("sample weights must be one number per "
                                                      "example: shape (8,) for a batch of 8; "
                                                      "got (8, 2)")):
        _fit(TensorDataset(x, y, np.ones((16, 2))))
    w = np.ones(16)
    w[3] = np.nan
    with pytest.raises(ValueError, match=re.escape("sample weights must be finite numbers >= 0; "
                                                   "got nan for example 3 of a batch")):
        _fit((x, y, w), shuffle=False)
    with pytest.raises(TypeError, match="sample weights must be numbers; got dtype <U1"):
        _fit((x, y, np.array(list("abcdefghijklmnop"))))
