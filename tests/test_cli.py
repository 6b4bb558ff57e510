"""The deepgrad command line: train (short, on a subset), evaluate, predict, summary, bad
arguments; and the flagship recipe on a 10k-image subset for one epoch (real data)."""

import json
import os

import numpy as np
import pytest
from helpers import write_cifar_archive

import deepgrad as dg
from deepgrad.cli import main

FASHION = "/usr/share/datasets/fashion-mnist"
needs_data = pytest.mark.skipif(
    not os.path.isdir(FASHION) and "DEEPGRAD_DATA" not in os.environ,
    reason=f"Fashion-MNIST not found in {FASHION} (apt install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--model", "mlp", "--limit", "512", "--epochs", "1", "--quiet",
                 "--label-smoothing", "0.1", "--erasing", "0.25", "--dropout", "0.3",
                 "--crop-padding", "1", "--out", str(out)]) == 0
    return out


@needs_data
def test_train_writes_the_model_the_history_and_the_results(trained, capsys):
    for name in ("model.safetensors", "checkpoint.safetensors", "history.json", "results.json"):
        assert (trained / name).exists(), name
    results = json.loads((trained / "results.json").read_text())
    assert results["epochs"] == 1 and 0 <= results["test_accuracy"] <= 1
    assert results["recipe"]["label_smoothing"] == 0.1 and results["recipe"]["erasing"] == 0.25
    assert results["recipe"]["dropout"] == 0.3 and results["recipe"]["crop_padding"] == 1
    assert len(json.loads((trained / "history.json").read_text())) == 1


@needs_data
def test_the_misclassified_grid_counts_every_wrong_test_image(tmp_path, monkeypatch):
    from deepgrad.train import plots

    seen = {}
    draw = plots.plot_misclassified

    def spy(images, predictions, targets, labels, path):
        seen.update(images=images, wrong=int((predictions != targets).sum()))
        return draw(images, predictions, targets, labels, path)

    monkeypatch.setattr(plots, "plot_misclassified", spy)
    assert main(["train", "--model", "mlp", "--limit", "300", "--epochs", "1", "--quiet",
                 "--out", str(tmp_path)]) == 0
    # All 300 test images go in, so that the title says "25 shown of <all the wrong ones>".
    test = dg.datasets.FashionMNIST(train=False)
    np.testing.assert_array_equal(seen["images"], test.images[:300])
    assert seen["wrong"] > 25


@needs_data
def test_evaluate_reports_the_same_accuracy(trained, capsys):
    with dg.limit_threads(dg.get_num_threads()):  # --threads sets the process's count
        assert main(["evaluate", str(trained / "model.safetensors"), "--limit", "512",
                     "--threads", "1"]) == 0
        assert dg.get_num_threads() == 1
    out = capsys.readouterr().out
    accuracy = json.loads((trained / "results.json").read_text())["test_accuracy"]
    assert f"accuracy {accuracy:.4f}" in out


@needs_data
def test_evaluate_with_mirror_images_averages_the_two_views(trained, capsys):
    assert main(["evaluate", str(trained / "model.safetensors"), "--limit", "300", "--tta"]) == 0
    out = capsys.readouterr().out
    model, config = dg.cli.load_model(trained / "model.safetensors")
    test = dg.datasets.FashionMNIST(train=False)
    x = dg.cli.normalized(test.images[:300], config)
    with dg.no_grad():
        views = [model(dg.tensor(v)).softmax(1).numpy() for v in (x, x[..., ::-1].copy())]
    mean = (views[0] + views[1]) / 2
    targets = np.asarray(test.targets[:300])
    loss = -np.log(mean[np.arange(300), targets]).mean()
    accuracy = (mean.argmax(1) == targets).mean()
    assert f"(each image and its mirror image): loss {loss:.4f}  accuracy {accuracy:.4f}" in out
    # Digits change class when mirrored: no test-time flips for them.
    assert main(["evaluate", str(trained / "model.safetensors"), "--dataset", "mnist",
                 "--tta"]) == 1
    assert "mnist's classes change when mirrored" in capsys.readouterr().err


@needs_data
def test_resuming_keeps_the_time_of_earlier_pieces_and_refuses_other_arguments(tmp_path,
                                                                            capsys):
    args = ["train", "--model", "mlp", "--limit", "256", "--quiet", "--out", str(tmp_path)]
    assert main([*args, "--epochs", "2"]) == 0
    first = json.loads((tmp_path / "results.json").read_text())["train_seconds"]
    capsys.readouterr()
    # The run is complete: resuming trains no more and reports the first piece's time.
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "trained 2 epochs in" in out and "min since resuming)" in out
    assert json.loads((tmp_path / "results.json").read_text())["train_seconds"] == first
    # The one-cycle schedule spans the epochs it was made for: other epochs or batches fail.
    assert main([*args, "--epochs", "3", "--batch-size", "64", "--resume"]) == 1
    err = capsys.readouterr().err
    assert "its schedule spans 4 steps, this Trainer's 12" in err
    assert "batch_size=128, but this loader has batch_size=64" in err
    assert "(--resume continues the run that wrote the checkpoint" in err
    (tmp_path / "checkpoint.safetensors").write_bytes(b"junk")
    assert main([*args, "--epochs", "2", "--resume"]) == 1
    assert "leave out --resume" in capsys.readouterr().err


@needs_data
def test_a_run_interrupted_mid_epoch_continues_from_its_last_batch_checkpoint(tmp_path,
                                                                             monkeypatch, capsys):
    from deepgrad.serialization import load_file

    args = ["train", "--model", "mlp", "--limit", "256", "--batch-size", "64", "--epochs", "2",
            "--quiet"]  # 4 batches an epoch
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    train_step, steps = dg.Trainer.train_step, []

    def counted(self, batch):
        steps.append(self.batch)
        if len(steps) == stop_at:
            raise KeyboardInterrupt
        return train_step(self, batch)

    monkeypatch.setattr(dg.Trainer, "train_step", counted)
    # Stopped in epoch 2's last batch, after the checkpoint of its third.
    stop_at, cut = 8, [*args, "--out", str(tmp_path / "cut"), "--checkpoint-every", "3"]
    assert main(cut) == 130
    assert "checkpoint.safetensors holds the run up to its last checkpoint: the same command " \
           "with --resume continues" in capsys.readouterr().err
    stop_at, steps[:] = None, []
    assert main([*cut, "--resume"]) == 0
    assert steps == [3]  # only the batch after the checkpoint is trained again
    whole, _ = load_file(tmp_path / "whole" / "model.safetensors")
    resumed, _ = load_file(tmp_path / "cut" / "model.safetensors")
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    # A new run stopped before its first checkpoint does not point at an older run's.
    stop_at, steps[:] = 1, []
    assert main([*args, "--out", str(tmp_path / "whole")]) == 130
    assert "holds the run" not in capsys.readouterr().err


@needs_data
def test_swa_from_a_trained_model_saves_the_average_of_the_epochs(trained, tmp_path, capsys):
    from deepgrad.serialization import load_file

    args = ["train", "--model", "mlp", "--limit", "256", "--quiet", "--out", str(tmp_path),
            "--init", str(trained / "model.safetensors"), "--epochs", "2"]
    start, _ = load_file(trained / "model.safetensors")
    # At a rate too small to move the weights, the average is the model it started from.
    assert main([*args, "--swa-lr", "1e-30"]) == 0
    averaged, _ = load_file(tmp_path / "model.safetensors")
    assert start.keys() == averaged.keys()
    for key in start:
        np.testing.assert_allclose(averaged[key], start[key], rtol=1e-6, err_msg=key)
    recipe = json.loads((tmp_path / "results.json").read_text())["recipe"]
    assert recipe["swa_lr"] == 1e-30 and recipe["init"] == str(trained / "model.safetensors")
    # The rate is constant, and the saved model is the mean that the checkpoint carries (the
    # checkpoint's model is the last epoch's own weights).
    assert main([*args, "--swa-lr", "0.05", "--lr", "0.1", "--out", str(tmp_path / "x")]) == 1
    assert "--lr is the peak of the one-cycle schedule, which --swa-lr replaces" in \
        capsys.readouterr().err
    assert main([*args, "--swa-lr", "0.05", "--out", str(tmp_path / "swa")]) == 0
    history = json.loads((tmp_path / "swa" / "history.json").read_text())
    assert [epoch["lr"] for epoch in history] == [0.05, 0.05]
    saved, _ = load_file(tmp_path / "swa" / "model.safetensors")
    checkpoint, _ = load_file(tmp_path / "swa" / "checkpoint.safetensors")
    averaging = next(k.split(".module.")[0] for k in checkpoint if ".module." in k)
    for key in saved:
        np.testing.assert_array_equal(saved[key], checkpoint[f"{averaging}.module.{key}"])
    assert any(not np.array_equal(saved[k], checkpoint[f"model.{k}"]) for k in saved)


@needs_data
def test_init_from_a_model_of_another_architecture_is_refused(trained, tmp_path, capsys):
    assert main(["train", "--model", "cnn", "--limit", "64", "--quiet", "--out", str(tmp_path),
                 "--init", str(trained / "model.safetensors")]) == 1
    err = capsys.readouterr().err
    assert f"--init {trained / 'model.safetensors'}: a model file of --model mlp on " \
           "fashion-mnist; this run trains --model cnn on fashion-mnist" in err
    assert main(["train", "--init", str(tmp_path / "none.safetensors"), "--quiet",
                 "--out", str(tmp_path)]) == 1
    assert "none.safetensors: no such file" in capsys.readouterr().err


@needs_data
def test_depth_and_width_are_trained_saved_and_rebuilt(tmp_path, capsys):
    args = ["train", "--model", "resnet", "--depth", "8", "--width", "4", "--limit", "64",
            "--epochs", "1", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    model, config = dg.cli.load_model(tmp_path / "model.safetensors")
    assert (config["depth"], config["width"]) == (8, 4)
    assert model.state_dict()["stem.0.weight"].shape == (4, 1, 3, 3)
    assert main(["evaluate", str(tmp_path / "model.safetensors"), "--limit", "64"]) == 0
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "again"), "--init",
                 str(tmp_path / "model.safetensors")]) == 0
    assert main([*args[:-1], str(tmp_path / "wider"), "--width", "8", "--init",
                 str(tmp_path / "model.safetensors")]) == 1
    assert "a model of --width 4; this run's --width is 8" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["--model", "resnet", "--depth", "21"], "--depth: a resnet has 6n + 2 layers (8, 14, 20, "
                                             "32, 44, 56, ...); got 21"),
    (["--model", "resnet", "--width", "1.5"], "--width: a resnet's width is its first stage's "
                                              "channel count, a whole number; got 1.5"),
    (["--model", "cnn", "--depth", "8"], "--depth applies to the resnet model; cnn has a fixed "
                                         "depth"),
    (["--model", "mlp", "--width", "2"], "--width applies to the resnet and mobilenet models; "
                                         "not to mlp"),
])
def test_architecture_arguments_that_do_not_fit_the_model(argv, message, capsys):
    assert main(["summary", *argv]) == 1
    assert message in capsys.readouterr().err


def test_summary_builds_the_chosen_depth_and_width(capsys):
    assert main(["summary", "--model", "resnet", "--depth", "32", "--width", "8"]) == 0
    params = sum(p.data.size for p in dg.models.resnet(depth=32, width=8).parameters())
    assert f"Total params: {params:,}" in capsys.readouterr().out
    assert main(["summary", "--model", "mobilenet", "--width", "0.5"]) == 0
    params = sum(p.data.size for p in dg.models.mobilenet(width=0.5).parameters())
    assert f"Total params: {params:,}" in capsys.readouterr().out


@needs_data
def test_a_training_checkpoint_is_not_taken_for_the_model(trained, capsys):
    assert main(["evaluate", str(trained / "checkpoint.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "a training checkpoint" in err and str(trained / "model.safetensors") in err


@needs_data
def test_predict_classifies_image_files(trained, tmp_path, capsys):
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    path = tmp_path / "shirt.png"
    image.fromarray(np.full((40, 40), 200, np.uint8)).save(path)
    assert main(["predict", str(trained / "model.safetensors"), str(path), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{path}: ") and line.count(",") == 1


def test_summary_prints_the_table(capsys):
    assert main(["summary", "--model", "resnet"]) == 0
    out = capsys.readouterr().out
    assert "Total params:" in out and "Conv2d" in out
    assert main(["summary", "--model", "cnn", "--in-channels", "3", "--image-size", "32"]) == 0
    assert "(1, 3, 32, 32)" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--epochs", "0"], "--epochs: must be a positive integer; got 0"),
    (["train", "--label-smoothing", "1.5"], "--label-smoothing: must be in [0, 1); got 1.5"),
    (["train", "--model", "vgg"], "argument --model: invalid choice: 'vgg'"),
    (["train", "--lr", "-1"], "--lr: must be greater than 0; got -1"),
    (["train", "--lr", "inf"], "--lr: must be a finite number; got inf"),
    (["train", "--weight-decay", "x"], "--weight-decay: must be a number; got x"),
    (["pretrain", "--weight-decay", "-0.1"], "--weight-decay: must be 0 or more; got -0.1"),
    (["train", "--threads", "0"], "--threads: must be a positive integer; got 0"),
    (["train", "--crop-padding", "-1"], "--crop-padding: must be 0 or a positive integer; got -1"),
    (["fly"], "invalid choice: 'fly'"),
    # A misspelled word gets a guess; an unknown option is reported by its command's parser.
    (["trian"], "invalid choice: 'trian' (choose from 'train', "),
    (["trian"], "; did you mean 'train'?\n(see 'deepgrad --help')"),
    (["train", "--dataset", "fashion"], "did you mean 'fashion-mnist'?"),
    (["train", "--epcohs", "3"], "deepgrad train: error: unrecognized arguments: --epcohs 3; "
                                 "did you mean '--epochs'?\n(see 'deepgrad train --help')"),
    (["rl", "train", "CartPole-v1", "--bogus"],
     "deepgrad rl train: error: unrecognized arguments: --bogus\n"),
])
def test_bad_arguments_give_one_line_and_a_hint(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "(see 'deepgrad" in err and "Traceback" not in err


def test_augmentation_crops_with_the_datasets_padding_or_the_given_one():
    from deepgrad.cli import augmentation
    from deepgrad.data import transforms as T

    def kinds(transforms):
        return [(type(t).__name__, getattr(t, "padding", None)) for t in transforms]

    assert kinds(augmentation("cifar-10")) == [("RandomCrop", 4), ("RandomHorizontalFlip", None)]
    assert kinds(augmentation("fashion-mnist", 3))[0] == ("RandomCrop", 3)
    assert kinds(augmentation("fashion-mnist", 0)) == [("RandomHorizontalFlip", None)]
    assert kinds(augmentation("mnist", 0)) == []
    assert isinstance(augmentation("mnist")[0], T.RandomCrop)


def test_dropout_is_set_on_the_models_that_have_it():
    from deepgrad.cli import CLIError, build_model

    model = build_model("cnn", dropout=0.0)
    assert [m.p for m in model.modules() if isinstance(m, dg.nn.Dropout)] == [0.0, 0.0]
    assert {m.p for m in build_model("mlp").modules() if isinstance(m, dg.nn.Dropout)} == {0.2}
    with pytest.raises(CLIError, match=r"^--dropout applies to the mlp and cnn models; resnet "
                                       r"has no dropout$"):
        build_model("resnet", dropout=0.1)


def test_missing_or_foreign_model_files_are_one_line_errors(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "none.safetensors")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    assert main(["evaluate", str(tmp_path / "junk.safetensors")]) == 1
    assert "not a safetensors file" in capsys.readouterr().err


@needs_data
def test_flagship_recipe_on_10k_images_for_one_epoch_reaches_80_percent(tmp_path, capsys):
    # One epoch is too short for augmentation to pay off; AdamW learns fastest in so few steps.
    assert main(["train", "--model", "cnn", "--limit", "10000", "--epochs", "1", "--quiet",
                 "--optimizer", "adamw", "--lr", "0.003", "--no-augment",
                 "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "results.json").read_text())["test_accuracy"] >= 0.80
    assert "trained 1 epoch in" in capsys.readouterr().out


def test_bench_lists_its_workloads_and_rejects_an_unknown_filter(capsys):
    assert main(["bench", "--list", "--filter", "mlp"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows and all("mlp" in row.lower() for row in rows)
    with pytest.raises(SystemExit):
        main(["bench", "--filter", "no such workload"])
    assert "no workload name contains" in capsys.readouterr().err


def test_cifar10_trains_evaluates_predicts_and_exports(tmp_path, monkeypatch, capsys):
    # Small CIFAR-10 files in its binary format (the real archive is not on this machine).
    write_cifar_archive(tmp_path / "data" / "cifar-10" / "cifar-10-binary.tar.gz", count=16)
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "data"))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "cifar-10", "--model", "cnn", "--epochs", "1",
                 "--batch-size", "16", "--quiet", "--out", str(out)]) == 0
    assert "on 16 cifar-10 test images" in capsys.readouterr().out
    model_file = out / "model.safetensors"
    config = json.loads(dg.serialization.load_file(model_file)[1]["deepgrad.model"])
    assert (config["in_channels"], config["image_size"]) == (3, 32)
    assert config["normalize"] == [[0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]]
    assert main(["evaluate", str(model_file)]) == 0
    assert capsys.readouterr().out.startswith("cifar-10 test: loss ")
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    picture = tmp_path / "plane.png"
    image.fromarray(np.full((50, 40, 3), 120, np.uint8)).save(picture)
    assert main(["predict", str(model_file), str(picture), "--top", "3"]) == 0
    assert capsys.readouterr().out.count(",") == 2
    pytest.importorskip("onnx", reason="ONNX export needs pip install 'deepgrad[onnx]'")
    assert main(["export", str(model_file), "--format", "onnx", "--out",
                 str(tmp_path / "m.onnx")]) == 0
    import onnx

    dims = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 32, 32]
