"""Transfer learning: freezing (weights bit-identical, grads None, BatchNorm in inference mode),
parameter groups' rates, replace_head, feature_extractor and embed, pretrained weights, the
``deepgrad pretrain`` command, and a small version of the experiment on real data."""

import argparse
import json
import os

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import nn, optim
from deepgrad.errors import StateDictError
from deepgrad.nn.utils.transfer import (
    PRETRAIN_KEY,
    FeatureExtractor,
    feature_extractor,
    load_pretrained,
    replace_head,
)
from deepgrad.serialization import load_file

FASHION = "/usr/share/datasets/fashion-mnist"
needs_data = pytest.mark.skipif(
    not os.path.isdir(FASHION) and "DEEPGRAD_DATA" not in os.environ,
    reason=f"Fashion-MNIST not found in {FASHION} (apt install dataset-fashion-mnist)")

SMALL = {"widths": (4, 8), "hidden": 16}  # a cnn small enough for fast tests


def small_cnn(num_classes=5, **kwargs):
    return dg.models.cnn(num_classes=num_classes, **SMALL, **kwargs)


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (dg.tensor(rng.standard_normal((n, 1, 28, 28)).astype(np.float32)),
            dg.tensor(rng.integers(0, 3, n)))


def train_steps(model, optimizer, steps=3):
    x, y = batch()
    model.train()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


# ------------------------------------------------------------------------------ freezing
@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-2),
    lambda params: optim.AdamW(params, lr=0.01, weight_decay=0.1),
])
def test_frozen_body_stays_bit_identical_and_gets_no_grads(make_optimizer):
    dg.manual_seed(0)
    model = small_cnn()
    model.requires_grad_(False)
    head = replace_head(model, 3)
    before = {k: v.copy() for k, v in model.state_dict().items()
              if not k.startswith("classifier.")}
    head_before = head[5].weight.data.copy()
    # The optimizer sees every parameter: frozen ones (no grad) must be skipped, weight decay too.
    optimizer = make_optimizer(model.parameters())
    train_steps(model, optimizer)
    after = model.state_dict()
    for key, value in before.items():     # weights and BatchNorm running statistics alike
        assert np.array_equal(after[key], value), key
    for name, p in model.named_parameters():
        if not name.startswith("classifier."):
            assert p.grad is None, name
    assert not np.array_equal(head[5].weight.data, head_before)
    assert all(p in optimizer.state for p in head.parameters())
    assert len(optimizer.state) == 4       # no state for the frozen parameters


def test_a_parameter_frozen_after_backward_is_not_updated():
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    loss = model(dg.randn(3, 4)).sum()
    loss.backward()
    model[0].requires_grad_(False)        # it has a gradient, but is now frozen
    before = model[0].weight.data.copy()
    optimizer.step()
    assert np.array_equal(model[0].weight.data, before)


# ------------------------------------------------------------------------------ parameter groups
def test_param_groups_give_the_body_a_lower_rate():
    dg.manual_seed(0)
    model = small_cnn()
    head = replace_head(model, 3)
    head_ids = {id(p) for p in head.parameters()}
    body = [p for p in model.parameters() if id(p) not in head_ids]
    optimizer = optim.SGD([{"params": body, "lr": 0.001}, {"params": head.parameters()}],
                          lr=0.1)
    x, y = batch()
    before = {id(p): p.data.copy() for p in model.parameters()}
    nn.functional.cross_entropy(model(x), y).backward()
    grads = {id(p): p.grad.data.copy() for p in model.parameters()}
    optimizer.step()
    for p in model.parameters():
        lr = 0.1 if id(p) in head_ids else 0.001
        np.testing.assert_allclose(p.data, before[id(p)] - lr * grads[id(p)], rtol=1e-6,
                                   atol=1e-9)


@pytest.mark.parametrize("make_scheduler", [
    lambda opt: optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    lambda opt: optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
    lambda opt: optim.lr_scheduler.OneCycleLR(opt, max_lr=[0.01, 0.1], total_steps=6),
])
def test_schedules_keep_the_ratio_of_the_groups_rates(make_scheduler):
    body, head = nn.Linear(3, 3), nn.Linear(3, 2)
    optimizer = optim.Adam([{"params": body.parameters(), "lr": 0.01},
                            {"params": head.parameters(), "lr": 0.1}])
    scheduler = make_scheduler(optimizer)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
        body_lr, head_lr = (group["lr"] for group in optimizer.param_groups)
        assert head_lr == pytest.approx(10 * body_lr)


# ------------------------------------------------------------------------------ BatchNorm
def bn_with_statistics(features=3):
    bn = nn.BatchNorm2d(features)
    bn.running_mean.data[:] = np.array([0.5, -1.0, 2.0][:features], np.float32)
    bn.running_var.data[:] = np.array([2.0, 0.5, 3.0][:features], np.float32)
    bn.weight.data[:] = 1.5
    return bn


def test_frozen_batch_norm_runs_in_inference_mode_while_training():
    bn = bn_with_statistics().requires_grad_(False)
    x = dg.randn(8, 3, 4, 4) * 3 + 1
    expected = bn.eval()(x).numpy()
    bn.train()
    assert bn.frozen and bn.training
    state = {k: v.copy() for k, v in bn.state_dict().items()}
    np.testing.assert_array_equal(bn(x).numpy(), expected)
    for key, value in bn.state_dict().items():  # running stats and the batch count unchanged
        assert np.array_equal(value, state[key]), key


def test_batch_norm_uses_batch_statistics_unless_all_its_parameters_are_frozen():
    x = dg.randn(8, 3, 4, 4) * 3 + 1
    bn = bn_with_statistics()
    bn.weight.requires_grad_(False)       # the bias still trains: not frozen
    assert not bn.frozen
    out = bn.train()(x).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.requires_grad_(False)
    bn.requires_grad_(True)               # unfrozen: back to batch statistics
    bn(x)
    assert int(bn.num_batches_tracked.item()) == 2
    assert not nn.BatchNorm2d(3, affine=False).frozen  # no parameters: cannot be frozen


def test_frozen_body_gives_the_same_features_in_train_and_eval_mode():
    dg.manual_seed(0)
    model = small_cnn()
    model.features.requires_grad_(False)
    x, _ = batch()
    np.testing.assert_array_equal(model.train().features(x).numpy(),
                                  model.eval().features(x).numpy())


# ------------------------------------------------------------------------------ replace_head
@pytest.mark.parametrize(("make", "head_path", "last"), [
    (lambda: small_cnn(), "classifier", "classifier.5"),
    (lambda: dg.models.resnet(depth=8, width=4), "head", "head.2"),
    (lambda: dg.models.mobilenet(width=0.25), "head", "head.2"),
    (lambda: dg.models.mlp((784, 32, 10)), "3", "3"),   # no head_name: the last Linear
])
def test_replace_head_gives_a_new_trainable_head(make, head_path, last):
    dg.manual_seed(0)
    model = make().double()
    old = dict(model.named_modules())[last]
    before = model.state_dict()
    model.requires_grad_(False)
    head = replace_head(model, 3)
    modules = dict(model.named_modules())
    assert modules[head_path] is head
    layer = modules[last]
    assert layer is not old and layer.in_features == old.in_features
    assert layer.out_features == 3 and layer.weight.dtype == dg.float64
    assert all(p.requires_grad for p in head.parameters())
    head_ids = {id(p) for p in head.parameters()}
    assert not any(p.requires_grad for p in model.parameters() if id(p) not in head_ids)
    after = model.state_dict()
    assert list(after) == list(before)                 # same names, same order
    for key, value in before.items():                  # only the head changed
        assert np.array_equal(after[key], value) != key.startswith(head_path + "."), key
    x, _ = batch(4)
    assert model(x.double()).shape == (4, 3)


def test_replace_head_reinitializes_the_whole_classifier_of_the_cnn():
    dg.manual_seed(0)
    model = small_cnn()
    hidden = model.classifier[2]
    weight = hidden.weight.data.copy()
    head = replace_head(model, 7)
    assert head is model.classifier and model.classifier[2] is hidden
    assert not np.array_equal(hidden.weight.data, weight)
    assert [type(m).__name__ for m in head] == ["Flatten", "Dropout", "Linear", "ReLU",
                                                 "Dropout", "Linear"]
    assert model.embed(batch(2)[0]).shape == (2, 16) and model(batch(2)[0]).shape == (2, 7)


def test_replace_head_errors():
    with pytest.raises(ValueError, match="num_classes must be a positive integer; got 0"):
        replace_head(small_cnn(), 0)
    with pytest.raises(ValueError, match="Sequential has no Linear sub-module"):
        replace_head(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), 2)

    class Headless(nn.Module):
        head_name = "top"

        def __init__(self):
            super().__init__()
            self.body = nn.Linear(2, 2)

    with pytest.raises(ValueError, match=r"Headless\.head_name is 'top', which is not one of"):
        replace_head(Headless(), 2)


# ------------------------------------------------------------------------------ features
@pytest.mark.parametrize(("make", "width"), [
    (lambda: small_cnn(), 16),
    (lambda: dg.models.resnet(depth=8, width=4), 16),
    (lambda: dg.models.mobilenet(width=0.25), 128),
])
def test_embed_is_the_input_of_the_last_linear_layer(make, width):
    dg.manual_seed(0)
    model = make().eval()
    x, _ = batch(4)
    features = model.embed(x)
    assert features.shape == (4, width)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    np.testing.assert_allclose(last(features).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_feature_extractor_shapes_and_early_stop():
    dg.manual_seed(0)
    model = small_cnn().eval()
    x, _ = batch(4)
    assert feature_extractor(model, "features")(x).shape == (4, 8, 7, 7)
    assert feature_extractor(model, "features.1")(x).shape == (4, 4, 28, 28)
    assert feature_extractor(model, "features.3")(x).shape == (4, 4, 14, 14)
    hidden = feature_extractor(model, "classifier.3")
    np.testing.assert_array_equal(hidden(x).numpy(), model.embed(x).numpy())
    calls = []
    model.classifier[5].register_forward_hook(lambda *args: calls.append(1))
    hidden(x)
    assert calls == []                                 # the layers after it did not run
    assert not model.classifier[3]._forward_hooks      # its hook is removed afterwards
    resnet = dg.models.resnet(depth=8, width=4).eval()
    assert feature_extractor(resnet, "stages")(x).shape == (4, 16, 7, 7)


def test_feature_extractor_passes_gradients_and_shares_parameters():
    dg.manual_seed(0)
    model = small_cnn()
    extractor = feature_extractor(model, "features")
    assert isinstance(extractor, FeatureExtractor)
    assert [id(p) for p in extractor.parameters()] == [id(p) for p in model.parameters()]
    x, _ = batch(4)
    extractor(x).sum().backward()
    assert model.features[0].weight.grad is not None and model.classifier[2].weight.grad is None


def test_feature_extractor_errors():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"CNN has no layer named 'classifer'; its layers are: "
                                         r"features, features\.0, "):
        feature_extractor(model, "classifer")
    with pytest.raises(ValueError, match="has no layer named ''"):
        feature_extractor(model, "")
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.spare = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    with pytest.raises(RuntimeError, match="layer 'spare' of Unused was not called"):
        feature_extractor(Unused(), "spare")(dg.randn(1, 2))


# ------------------------------------------------------------------------------ pretrained
@pytest.mark.parametrize("make", [
    lambda **kw: small_cnn(**kw),
    lambda **kw: dg.models.resnet(depth=8, width=4, num_classes=5, **kw),
    lambda **kw: dg.models.mobilenet(width=0.25, num_classes=5, **kw),
])
def test_pretrained_loads_the_weights_file(make, tmp_path):
    dg.manual_seed(0)
    trained = make()
    train_steps(trained, optim.SGD(trained.parameters(), lr=0.1), steps=1)  # stats move too
    path = dg.save(trained, tmp_path / "weights.safetensors")
    dg.manual_seed(1)
    loaded = make(pretrained=path)
    for key, value in trained.state_dict().items():
        assert np.array_equal(loaded.state_dict()[key], value), key


def test_pretrained_file_of_another_architecture_lists_the_keys(tmp_path):
    path = dg.save(small_cnn(), tmp_path / "cnn.safetensors")
    with pytest.raises(StateDictError) as error:
        dg.models.cnn(num_classes=10, **SMALL, pretrained=path)
    message = str(error.value)
    assert message.startswith(f"{path}: load_state_dict into CNN: 2 problems:")
    assert "classifier.5.weight: expected shape (10, 16), got (5, 16)" in message
    assert "classifier.5.bias: expected shape (10), got (5)" in message
    with pytest.raises(StateDictError, match=r"missing key: stem\.0\.weight(.|\n)*unexpected "
                                             r"key: features\.0\.weight"):
        dg.models.resnet(depth=8, width=4, pretrained=path)
    with pytest.raises(FileNotFoundError):
        small_cnn(pretrained=tmp_path / "missing.safetensors")


def test_pretrained_error_quotes_the_architecture_recorded_by_pretrain(tmp_path):
    from deepgrad.serialization import save_file

    config = {"model": "cnn", "num_classes": 5}
    path = save_file(small_cnn().state_dict(), tmp_path / "model.safetensors",
                     metadata={PRETRAIN_KEY: json.dumps(config)})
    with pytest.raises(StateDictError, match="the file holds a cnn with num_classes=5"):
        load_pretrained(dg.models.cnn(num_classes=3, **SMALL), path)


# ------------------------------------------------------------------------------ the command
def pretrain_parser():
    from deepgrad.pretrain_cli import add_pretrain_parser

    top = argparse.ArgumentParser(prog="deepgrad")
    add_pretrain_parser(top.add_subparsers(dest="command", required=True))
    return top


def test_pretrain_parser_rejects_bad_classes(capsys):
    for bad in ("3", "1,1", "a,b", "-1,2"):
        with pytest.raises(SystemExit):
            pretrain_parser().parse_args(["pretrain", f"--classes={bad}"])
        assert "at least two distinct class indices" in capsys.readouterr().err
    args = pretrain_parser().parse_args(["pretrain", "--classes", "1,3,5"])
    assert args.classes == [1, 3, 5] and args.model == "cnn"


@needs_data
def test_pretrain_command_writes_weights_that_pretrained_loads(tmp_path, capsys):
    args = pretrain_parser().parse_args(
        ["pretrain", "--classes", "0,2,4", "--limit", "256", "--epochs", "1", "--quiet",
         "--out", str(tmp_path)])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "on 256 fashion-mnist test images of classes 0,2,4" in out
    assert "dg.models.cnn(num_classes=3, pretrained=" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["classes"] == [0, 2, 4] and results["train_images"] == 256
    assert results["class_names"] == ["T-shirt/top", "Pullover", "Coat"]
    _, metadata = load_file(tmp_path / "model.safetensors")
    assert json.loads(metadata[PRETRAIN_KEY])["num_classes"] == 3
    model = dg.models.cnn(num_classes=3, pretrained=tmp_path / "model.safetensors")
    assert model(batch(2)[0]).shape == (2, 3)
    if results["plots"]:
        assert sorted(os.listdir(tmp_path)) == ["embedding.png", "filters.png",
                                                "model.safetensors", "results.json"]


@needs_data
def test_pretrain_rejects_classes_the_dataset_does_not_have(tmp_path):
    from deepgrad.cli import CLIError
    from deepgrad.pretrain_cli import pretrain

    with pytest.raises(CLIError, match=r"indices in 0 \.\. 9 \(fashion-mnist has 10 classes\); "
                                       r"got \[0, 12\]"):
        pretrain(classes=[0, 12], out=tmp_path)


@pytest.mark.parametrize(("name", "shape"), [("resnet", {"in_channels": 3}),
                                           ("cnn", {"in_channels": 3, "image_size": 32})])
def test_pretrain_on_cifar10_records_colour_images_for_pretrained(name, shape, tmp_path,
                                                                  monkeypatch, capsys):
    # Small CIFAR-10 files in its binary format (the real archive is not on this machine): five
    # training files of 16 images labeled (file + image) % 10, 26 of them of classes 2, 7, 4.
    from helpers import write_cifar_archive

    write_cifar_archive(tmp_path / "data" / "cifar-10" / "cifar-10-binary.tar.gz", count=16)
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    args = pretrain_parser().parse_args(
        ["pretrain", "--dataset", "cifar-10", "--model", name, "--classes", "2,7,4",
         "--epochs", "1", "--batch-size", "8", "--quiet", "--out", str(out)])
    assert args.run(args) == 0
    weights = out / "model.safetensors"
    shown = ", ".join(f"{key}={value}" for key, value in shape.items())
    assert (f"dg.models.{name}(num_classes=3, {shown}, pretrained={str(weights)!r})"
            in capsys.readouterr().out)
    results = json.loads((out / "results.json").read_text())
    assert results["class_names"] == ["bird", "horse", "deer"] and results["train_images"] == 26
    assert (results["in_channels"], results["image_size"]) == (3, 32)
    model = getattr(dg.models, name)(num_classes=3, **shape, pretrained=weights)
    assert model(dg.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(StateDictError, match=f"the file holds a {name} with num_classes=3, "
                                             f"{shown}$"):
        getattr(dg.models, name)(num_classes=3, pretrained=weights)  # one channel


# ------------------------------------------------------------------------------ the experiment
def fashion_subset(dataset, classes, limit=None, per_class=None, seed=0):
    """Images (N, 1, 28, 28) of ``classes``, labeled 0 .. k-1: the first ``limit``, or
    ``per_class`` random ones of each class."""
    if per_class is None:
        chosen = np.flatnonzero(np.isin(dataset.targets, classes))[:limit]
    else:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.choice(np.flatnonzero(dataset.targets == c), per_class,
                                            replace=False) for c in classes])
    return dataset.data[chosen][:, None], np.searchsorted(classes, dataset.targets[chosen])


@needs_data
def test_frozen_pretrained_features_beat_training_from_scratch_with_10_examples(tmp_path):
    from deepgrad.data import DataLoader, TensorDataset
    from deepgrad.data import transforms as T
    from deepgrad.datasets import FashionMNIST

    pretrain_classes, held_out = (0, 2, 4, 6, 8), (1, 3, 5, 7, 9)
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    normalize = T.Compose([T.ToFloat(), T.Normalize(0.2860, 0.3530)])
    architecture = {"widths": (8, 16), "hidden": 32}

    def fit(model, params, data, steps, lr, batch_size):
        loader = DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=True, seed=0,
                            transform=normalize)
        trainer = dg.Trainer(model, nn.CrossEntropyLoss(), optim.Adam(params, lr=lr), verbose=0)
        trainer.fit(loader, epochs=steps // len(loader))
        return trainer

    dg.manual_seed(0)   # pretraining: 2,000 images of the other five classes, one epoch
    body = dg.models.cnn(num_classes=5, **architecture)
    fit(body, body.parameters(), fashion_subset(train, pretrain_classes, limit=2000),
        steps=63, lr=3e-3, batch_size=32)
    weights = dg.save(body, tmp_path / "pretrained.safetensors")

    few = fashion_subset(train, held_out, per_class=10, seed=0)
    test_loader = DataLoader(TensorDataset(*fashion_subset(test, held_out, limit=1000)),
                             batch_size=500, transform=normalize)
    accuracy = {}
    for method in ("frozen", "scratch"):
        dg.manual_seed(0)
        if method == "frozen":
            model = dg.models.cnn(num_classes=5, **architecture, pretrained=weights)
            model.requires_grad_(False)
            params = replace_head(model, 5).parameters()
        else:
            model = dg.models.cnn(num_classes=5, **architecture)
            params = model.parameters()
        # The same small budget: 20 steps of 25 images (over 6 seeds, the frozen head won by
        # 3 to 10 points of accuracy when this test was written).
        trainer = fit(model, params, few, steps=20, lr=1e-3, batch_size=25)
        accuracy[method] = trainer.evaluate(test_loader)["accuracy"]
    assert accuracy["frozen"] > accuracy["scratch"], accuracy
