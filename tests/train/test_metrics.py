"""Metrics: hand-computed values, scikit-learn definitions written out in NumPy, streaming over
uneven batches equal to the whole epoch, names, and error messages."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.errors import ShapeError
from deepgrad.train import metrics as M

BATCHES = [7, 1, 13, 0, 29, 2]  # uneven on purpose, one empty; 52 samples in all


# ------------------------------------------------------------------ scikit-learn, by hand
def ref_confusion(true, pred, classes):
    cm = np.zeros((classes, classes), dtype=np.int64)
    for t, p in zip(true, pred):
        cm[t, p] += 1
    return cm


def ref_prf(true, pred, average):
    """sklearn.metrics.precision_recall_fscore_support(zero_division=0, labels=None)."""
    labels = np.union1d(true, pred)
    per_class = []
    for c in labels:
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        per_class.append((p, r, f, np.sum(true == c)))
    table = np.array(per_class)
    if average == "macro":
        return tuple(table[:, :3].mean(axis=0))
    return tuple(table[:, :3].T @ table[:, 3] / table[:, 3].sum())


def ref_r2(true, pred):
    true, pred = true.reshape(len(true), -1), pred.reshape(len(pred), -1)
    scores = []
    for j in range(true.shape[1]):
        ss_res = np.sum((true[:, j] - pred[:, j]) ** 2)
        ss_tot = np.sum((true[:, j] - np.mean(true[:, j])) ** 2)
        scores.append(1 - ss_res / ss_tot)
    return np.mean(scores)


def classification_data(seed=0, n=52, classes=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, classes)), rng.integers(0, classes, n)


# ------------------------------------------------------------------ functional metrics
def test_accuracy_hand_values():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert M.accuracy(scores, [1, 0, 0, 0]) == 0.75
    assert M.accuracy(np.array([2, 0, 1]), np.array([2, 1, 1])) == pytest.approx(2 / 3)
    assert M.accuracy(np.array([[1.0, 1.0, 0.0]]), [0]) == 1.0  # ties go to the lower index


@pytest.mark.parametrize("shape", [(6,), (6, 1)])
def test_accuracy_binary_logits_and_float_targets(shape):
    logits = np.array([-2.0, 0.5, 0.0, 3.0, -0.1, 1.0]).reshape(shape)
    targets = np.array([0, 1, 1, 1, 0, 0])  # 0.0 counts as class 0: the threshold is > 0
    assert M.accuracy(logits, targets) == pytest.approx(4 / 6)
    assert M.accuracy(logits, targets.astype(np.float32).reshape(shape)) == pytest.approx(4 / 6)
    assert M.accuracy(logits > 0, targets.astype(bool)) == pytest.approx(4 / 6)


def test_accuracy_accepts_tensors_without_building_a_graph():
    scores, targets = classification_data()
    x = dg.tensor(scores, requires_grad=True)
    assert M.accuracy(x, dg.tensor(targets)) == M.accuracy(scores, targets)
    assert x.grad is None


def test_top_k_accuracy_hand_values():
    scores = np.array([[0.5, 0.2, 0.3], [0.1, 0.3, 0.6], [0.3, 0.3, 0.4], [0.2, 0.7, 0.1]])
    targets = [1, 1, 1, 0]
    assert M.top_k_accuracy(scores, targets, k=1) == 0.0
    # row 2: tied at 0.3 with class 0, which sorts first, so class 1 is third
    assert M.top_k_accuracy(scores, targets, k=2) == 0.5
    assert M.top_k_accuracy(scores, targets, k=3) == 1.0


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy_matches_a_stable_sort(k):
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 4, (200, 5)).astype(np.float64)  # many ties
    targets = rng.integers(0, 5, 200)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    expected = np.mean((order == targets[:, None]).any(axis=1))
    assert M.top_k_accuracy(scores, targets, k) == pytest.approx(expected)
    if k == 1:
        assert M.top_k_accuracy(scores, targets, 1) == M.accuracy(scores, targets)


def test_confusion_matrix_hand_values():
    cm = M.confusion_matrix(np.array([0, 2, 1, 0, 0, 1]), np.array([0, 1, 2, 0, 1, 2]))
    np.testing.assert_array_equal(cm, [[2, 0, 0], [1, 0, 1], [0, 2, 0]])
    assert cm.dtype == np.int64
    wide = M.confusion_matrix(np.array([1, 0]), np.array([1, 1]), num_classes=4)
    np.testing.assert_array_equal(wide, [[0, 0, 0, 0], [1, 1, 0, 0], [0] * 4, [0] * 4])
    binary = M.confusion_matrix(np.array([-1.0, 2.0, 0.5]), np.array([0, 0, 1]))
    np.testing.assert_array_equal(binary, [[1, 1], [0, 1]])


def test_confusion_matrix_matches_loop():
    scores, targets = classification_data(2, n=300, classes=7)
    expected = ref_confusion(targets, scores.argmax(1), 7)
    np.testing.assert_array_equal(M.confusion_matrix(scores, targets), expected)


def test_precision_recall_f1_hand_values():
    # scikit-learn's documentation example
    true, pred = np.array([0, 1, 2, 0, 1, 2]), np.array([0, 2, 1, 0, 0, 1])
    assert M.precision_recall_f1(pred, true) == pytest.approx((2 / 9, 1 / 3, 4 / 15))
    assert M.precision_recall_f1(pred, true, average="micro") == pytest.approx((1 / 3,) * 3)
    assert M.precision_recall_f1(pred, true, average="weighted") == pytest.approx(
        (2 / 9, 1 / 3, 4 / 15))
    p, r, f = M.precision_recall_f1(pred, true, average=None)
    np.testing.assert_allclose(p, [2 / 3, 0, 0])
    np.testing.assert_allclose(r, [1, 0, 0])
    np.testing.assert_allclose(f, [0.8, 0, 0])


def test_zero_division_gives_zero():
    # class 2 is never predicted (precision 0/0), class 3 never occurs (recall 0/0)
    p, r, f = M.precision_recall_f1(np.array([0, 3, 1, 1]), np.array([0, 2, 1, 2]), average=None)
    np.testing.assert_allclose(p, [1, 0.5, 0, 0])
    np.testing.assert_allclose(r, [1, 1, 0, 0])
    np.testing.assert_allclose(f, [1, 2 / 3, 0, 0])


def test_macro_skips_classes_absent_from_targets_and_predictions():
    pred, true = np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2])
    assert (M.precision_recall_f1(pred, true, num_classes=6)
            == pytest.approx(M.precision_recall_f1(pred, true)))
    assert M.precision_recall_f1(pred, true, num_classes=6, average=None)[0].shape == (6,)


@pytest.mark.parametrize("average", ["macro", "weighted"])
@pytest.mark.parametrize("seed", [3, 4])
def test_precision_recall_f1_match_sklearn_definitions(average, seed):
    rng = np.random.default_rng(seed)
    true, pred = rng.integers(0, 6, 80), rng.integers(0, 5, 80)  # class 5 never predicted
    assert M.precision_recall_f1(pred, true, average=average) == pytest.approx(
        ref_prf(true, pred, average), rel=1e-12)


def test_binary_average():
    logits, true = np.array([1.0, 2.0, -1.0, 0.5, -3.0]), np.array([1, 0, 1, 1, 0])
    # class 1: tp = 2, fp = 1, fn = 1
    assert M.precision_recall_f1(logits, true, average="binary") == pytest.approx(
        (2 / 3, 2 / 3, 2 / 3))
    assert M.precision_recall_f1(np.array([0, 0]), np.array([0, 0]),
                                 average="binary") == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"average='binary' needs 2 classes; got 3"):
        M.precision_recall_f1(np.array([0, 1, 2]), np.array([0, 1, 2]), average="binary")


def test_regression_hand_values():
    true, pred = np.array([3, -0.5, 2, 7]), np.array([2.5, 0.0, 2, 8])
    assert M.mean_absolute_error(pred, true) == 0.5
    assert M.r2_score(pred, true) == pytest.approx(0.9486081370449679, rel=1e-14)
    true2, pred2 = np.array([[0.5, 1], [-1, 1], [7, -6]]), np.array([[0, 2], [-1, 2], [8, -5]])
    assert M.mean_absolute_error(pred2, true2) == 0.75
    assert M.r2_score(pred2, true2) == pytest.approx(0.9368005266622779, rel=1e-14)
    assert M.mean_absolute_error(pred.reshape(4, 1), true) == 0.5  # (N, 1) against (N,)


def test_r2_edge_cases_as_sklearn():
    assert M.r2_score([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0  # constant target, exact
    assert M.r2_score([1.0, 1.0, 2.0], [1.0, 1.0, 1.0]) == 0.0  # constant target, missed
    assert np.isnan(M.r2_score([2.0], [1.0]))
    rng = np.random.default_rng(5)
    true, pred = rng.standard_normal((40, 3)), rng.standard_normal((40, 3))
    assert M.r2_score(pred, true) == pytest.approx(ref_r2(true, pred), rel=1e-12)


# ------------------------------------------------------------------ streaming == whole epoch
def batches(*arrays):
    start = 0
    for size in BATCHES:
        yield tuple(a[start:start + size] for a in arrays)
        start += size
    assert start == len(arrays[0])


STREAMING = [
    (M.Accuracy, lambda o, t: M.accuracy(o, t)),
    (lambda: M.TopKAccuracy(3), lambda o, t: M.top_k_accuracy(o, t, 3)),
    (M.ConfusionMatrix, M.confusion_matrix),
    (M.Precision, lambda o, t: M.precision_recall_f1(o, t)[0]),
    (lambda: M.Recall("weighted"), lambda o, t: M.precision_recall_f1(o, t, None, "weighted")[1]),
    (lambda: M.F1(None), lambda o, t: M.precision_recall_f1(o, t, None, None)[2]),
    (lambda: M.F1("micro"), lambda o, t: M.precision_recall_f1(o, t, None, "micro")[2]),
]


@pytest.mark.parametrize(("make", "whole"), STREAMING)
def test_streaming_classification_equals_whole_epoch(make, whole):
    scores, targets = classification_data(6)
    metric = make()
    for _ in range(2):  # a second epoch after reset gives the same
        metric.reset()
        for o, t in batches(scores, targets):
            metric.update(o, t)
        np.testing.assert_allclose(metric.result(), whole(scores, targets), rtol=1e-12)


def test_streaming_binary_logits():
    rng = np.random.default_rng(7)
    logits, targets = rng.standard_normal((52, 1)), rng.integers(0, 2, (52, 1)).astype(float)
    metric = M.F1("binary")
    for o, t in batches(logits, targets):
        metric.update(o, t)
    assert metric.result() == M.precision_recall_f1(logits, targets, average="binary")[2]


@pytest.mark.parametrize("columns", [None, 3])
@pytest.mark.parametrize(("make", "whole"), [(M.MeanAbsoluteError, M.mean_absolute_error),
                                             (M.R2Score, M.r2_score)])
def test_streaming_regression_equals_whole_epoch(make, whole, columns):
    rng = np.random.default_rng(8)
    shape = (52,) if columns is None else (52, columns)
    # a large offset: a naive sum(y**2) - sum(y)**2 / n would lose every digit of the variance
    targets = 1e6 + rng.standard_normal(shape)
    outputs = targets + 0.3 * rng.standard_normal(shape)
    metric = make()
    for o, t in batches(outputs, targets):
        metric.update(dg.tensor(o), t)
    assert metric.result() == pytest.approx(whole(outputs, targets), rel=1e-9)
    if make is M.R2Score:
        assert metric.result() == pytest.approx(ref_r2(targets, outputs), rel=1e-9)


def test_mean_is_weighted_by_batch_size():
    losses = [2.0, 1.0, 4.0]
    sizes = [10, 30, 5]
    metric = M.Mean("loss")
    for loss, size in zip(losses, sizes):
        metric.update(dg.tensor(loss), size)
    assert metric.result() == pytest.approx(np.dot(losses, sizes) / sum(sizes))
    assert metric.name == "loss"
    metric.reset()
    metric.update(np.float32(3.0))
    assert metric.result() == 3.0


def test_confusion_matrix_infers_and_grows():
    metric = M.ConfusionMatrix()
    metric.update(np.array([0, 1]), np.array([0, 1]))
    metric.update(np.array([3]), np.array([0]))  # labels only: the matrix grows to 4 classes
    metric.update(np.array([0]), np.array([1]))
    np.testing.assert_array_equal(metric.result(), [[1, 0, 0, 1], [1, 1, 0, 0],
                                                    [0] * 4, [0] * 4])
    scores_metric = M.ConfusionMatrix()
    scores_metric.update(np.zeros((3, 6)), [0, 1, 5])
    assert scores_metric.result().shape == (6, 6)
    with pytest.raises(ShapeError, match=r"confusion_matrix: earlier batches had 6 classes, but "
                                         r"outputs of shape \(2, 4\) have 4 classes"):
        scores_metric.update(np.zeros((2, 4)), [0, 1])
    scores_metric.reset()
    scores_metric.update(np.zeros((2, 4)), [0, 1])  # reset forgets the inferred class count
    assert scores_metric.result().shape == (4, 4)


def test_result_before_update_and_names():
    for metric in (M.Accuracy(), M.F1(), M.R2Score(), M.Mean(), M.ConfusionMatrix(3)):
        with pytest.raises(ValueError, match=rf"^{metric.name}: no samples yet; call update\(\)"):
            metric.result()
    assert [m.name for m in (M.Accuracy(), M.TopKAccuracy(3), M.Precision(), M.Recall(),
                             M.F1(), M.MeanAbsoluteError(), M.R2Score())] == [
        "accuracy", "top3_accuracy", "precision", "recall", "f1", "mae", "r2"]
    assert repr(M.F1(name="val_f1")) == "F1(name='val_f1')"


# ------------------------------------------------------------------ get_metric
@pytest.mark.parametrize(("name", "kind"), [
    ("accuracy", M.Accuracy), ("acc", M.Accuracy), ("precision", M.Precision),
    ("recall", M.Recall), ("f1", M.F1), ("mae", M.MeanAbsoluteError), ("r2", M.R2Score),
    ("confusion_matrix", M.ConfusionMatrix), ("Accuracy", M.Accuracy)])
def test_get_metric_names(name, kind):
    first, second = M.get_metric(name), M.get_metric(name)
    assert type(first) is kind and first is not second


def test_get_metric_top_k_instances_and_errors():
    assert M.get_metric("top5_accuracy").k == 5
    assert M.get_metric("top_k_accuracy").name == "top5_accuracy"
    assert M.get_metric("top3_accuracy").k == 3
    metric = M.F1("weighted")
    assert M.get_metric(metric) is metric
    assert isinstance(M.get_metric(M.Recall), M.Recall)
    with pytest.raises(ValueError, match=r"get_metric: unknown metric 'accurcy'; valid names: "
                                         r"acc, accuracy, confusion_matrix, f1, mae, .*top5"):
        M.get_metric("accurcy")
    with pytest.raises(TypeError, match="get_metric: expects a metric name or a Metric; got int"):
        M.get_metric(3)


# ------------------------------------------------------------------ errors
def test_length_mismatch():
    scores, targets = classification_data(n=128)
    with pytest.raises(ShapeError, match=r"^accuracy: outputs have 128 rows but targets have "
                                         r"127$"):
        M.accuracy(scores, targets[:127])
    with pytest.raises(ShapeError, match="f1: outputs have 128 rows but targets have 127"):
        M.F1().update(scores, targets[:127])
    with pytest.raises(ShapeError, match="mae: outputs have 128 rows but targets have 127"):
        M.MeanAbsoluteError().update(scores[:, 0], targets[:127])


def test_target_errors():
    scores = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"accuracy: targets must be integer class indices; got "
                                         r"0\.5 at position 2 \(dtype float64\)"):
        M.accuracy(scores, [0.0, 1.0, 0.5, 2.0])
    with pytest.raises(ValueError, match="got nan at position 0"):
        M.accuracy(scores, [np.nan, 1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match=r"accuracy: targets has class index 3 at position 1, "
                                         r"but outputs of shape \(4, 3\) have 3 classes"):
        M.accuracy(scores, [0, 3, 1, 1])
    with pytest.raises(ValueError, match=r"accuracy: targets has class index 2 at position 0, "
                                         r"but float outputs of shape \(4\) are binary logits"):
        M.accuracy(np.zeros(4), [2, 0, 1, 0])
    with pytest.raises(ShapeError, match=r"targets must be class indices of shape \(N,\); got "
                                         r"\(4, 3\) \(for one-hot targets pass targets.argmax"):
        M.accuracy(scores, np.eye(3)[[0, 1, 2, 0]])
    with pytest.raises(TypeError, match="accuracy: targets must be numeric; got dtype <U1"):
        M.accuracy(scores, ["a", "b", "c", "d"])


def test_output_errors():
    with pytest.raises(ShapeError, match=r"accuracy: outputs must be scores \(N, C\), binary "
                                         r"logits .* got \(2, 3, 4\)"):
        M.accuracy(np.zeros((2, 3, 4)), [0, 1])
    with pytest.raises(ValueError, match=r"top_k_accuracy: k=5 is larger than the number of "
                                         r"classes: outputs of shape \(2, 3\) have 3"):
        M.top_k_accuracy(np.zeros((2, 3)), [0, 1])
    with pytest.raises(ShapeError, match=r"top_k_accuracy: outputs must be scores of shape "
                                         r"\(N, C\) with C >= 2; got \(2\)"):
        M.top_k_accuracy(np.zeros(2), [0, 1], k=1)
    with pytest.raises(ValueError, match="TopKAccuracy: k must be a positive int; got 0"):
        M.TopKAccuracy(0)
    with pytest.raises(ValueError, match=r"confusion_matrix: num_classes is 4, but outputs of "
                                         r"shape \(2, 3\) have 3 classes"):
        M.confusion_matrix(np.zeros((2, 3)), [0, 1], num_classes=4)
    with pytest.raises(ValueError, match=r"confusion_matrix: outputs has class index 5 at "
                                         r"position 1, but num_classes is 4"):
        M.confusion_matrix(np.array([0, 5]), [0, 1], num_classes=4)
    with pytest.raises(ValueError, match=r"confusion_matrix: targets has class index -1 at "
                                         r"position 0, but class indices must be >= 0"):
        M.confusion_matrix(np.array([0, 1]), [-1, 1])
    with pytest.raises(ValueError, match=r"F1: average must be one of .*; got 'mean'"):
        M.F1("mean")
    with pytest.raises(ValueError, match="accuracy: got no samples"):
        M.accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int))


def test_regression_and_mean_errors():
    with pytest.raises(ShapeError, match=r"r2_score: outputs have shape \(5, 3\) but targets "
                                         r"have shape \(5, 2\)"):
        M.r2_score(np.zeros((5, 3)), np.zeros((5, 2)))
    metric = M.R2Score()
    metric.update(np.zeros((5, 3)), np.ones((5, 3)))
    with pytest.raises(ShapeError, match="r2: earlier batches had 3 output columns, this one "
                                         "has 2"):
        metric.update(np.zeros((5, 2)), np.ones((5, 2)))
    with pytest.raises(ShapeError, match=r"loss: value must be a single number; got shape "
                                         r"\(3\)"):
        M.Mean("loss").update(np.ones(3))
    with pytest.raises(ValueError, match="loss: weight must be >= 0; got -1"):
        M.Mean("loss").update(1.0, -1)


# ------------------------------------------------------------------ state_dict
@pytest.mark.parametrize("make", [M.Accuracy, lambda: M.TopKAccuracy(2), M.ConfusionMatrix,
                                  lambda: M.F1(None), M.MeanAbsoluteError, M.R2Score])
def test_state_dict_resumes_mid_epoch(tmp_path, make):
    from deepgrad.serialization import load_tree, save_tree

    scores, targets = classification_data(9)
    if make in (M.MeanAbsoluteError, M.R2Score):
        scores, targets = scores[:, 0], scores[:, 0] + 0.5 * scores[:, 1]
    whole, first = make(), make()
    for o, t in batches(scores, targets):
        whole.update(o, t)
    first.update(scores[:20], targets[:20])
    save_tree(first.state_dict(), tmp_path / "metric.safetensors")
    first.update(scores[:5], targets[:5])  # the saved state must be a copy
    resumed = make()
    resumed.load_state_dict(load_tree(tmp_path / "metric.safetensors"))
    resumed.update(scores[20:], targets[20:])
    np.testing.assert_allclose(resumed.result(), whole.result(), rtol=1e-12)


def test_state_dict_of_mean_and_key_errors():
    loss = M.Mean("loss")
    loss.update(2.0, 3)
    copy = M.Mean("loss")
    copy.load_state_dict(loss.state_dict())
    assert copy.result() == 2.0
    with pytest.raises(ValueError, match=r"accuracy: state_dict has keys \['total'\]; an? "
                                         r"Accuracy expects \['correct', 'total'\]"):
        M.Accuracy().load_state_dict({"total": 3})
