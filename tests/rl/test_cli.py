"""``deepgrad rl train`` / ``deepgrad rl eval``: a short CartPole run writes the agent, logs,
curve and results; eval reproduces and renders a GIF; bad arguments give one-line errors."""

import argparse
import json

import pytest

pytest.importorskip("gymnasium", reason="the rl commands need gymnasium: pip install "
                                        "'deepgrad[rl]'")
from deepgrad.rl.cli import add_rl_parser, main


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl") / "dqn"
    assert main(["rl", "train", "CartPole-v1", "--steps", "1500", "--seed", "0", "--out",
                 str(out), "--eval-freq", "500", "--eval-episodes", "2", "--final-episodes",
                 "3", "--log-interval", "500", "--learning-starts", "200", "--hidden", "32,32",
                 "--train-freq", "4", "--gradient-steps", "1", "--quiet"]) == 0
    return out


def test_train_writes_the_agent_the_logs_and_the_results(run):
    for name in ("model.safetensors", "config.json", "progress.csv", "progress.json",
                 "results.json"):
        assert (run / name).is_file(), name
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 1500 and results["final_eval_episodes"] == 3
    assert results["kept_best_of_evaluations"] and results["best_eval_step"] in (500, 1000, 1500)
    config = json.loads((run / "config.json").read_text())
    assert config["settings"]["hidden"] == [32, 32] and config["settings"]["train_freq"] == 4
    rows = json.loads((run / "progress.json").read_text())
    assert [row["step"] for row in rows] == [500, 1000, 1500]
    assert rows[-1]["eval_mean"] is not None and rows[-1]["steps_per_s"] > 0
    header = (run / "progress.csv").read_text().splitlines()[0]
    assert header == ("step,episodes,mean_return,mean_length,epsilon,loss,steps_per_s,"
                      "eval_mean,eval_std,time_s")


def test_train_draws_the_learning_curve(run):
    pytest.importorskip("matplotlib", reason="the curve needs matplotlib")
    assert (run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_reports_the_mean_and_renders_a_gif(run, capsys):
    pytest.importorskip("PIL", reason="--gif needs Pillow")
    pytest.importorskip("pygame", reason="CartPole renders with pygame")
    gif = run / "cartpole.gif"
    assert main(["rl", "eval", str(run), "--episodes", "2", "--gif", str(gif)]) == 0
    out = capsys.readouterr().out
    assert "CartPole-v1: " in out and "over 2 greedy episodes" in out
    from PIL import Image

    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames > 5


def test_errors_are_one_line_without_a_traceback(tmp_path, capsys):
    assert main(["rl", "train", "Pendulum-v1", "--steps", "10", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("deepgrad rl train: error: DQN: needs a Discrete action space")
    assert "Traceback" not in error
    assert main(["rl", "train", "NoSuchEnv-v0", "--steps", "10", "--out", str(tmp_path)]) == 1
    assert "cannot make the environment NoSuchEnv-v0" in capsys.readouterr().err
    assert main(["rl", "eval", str(tmp_path / "missing")]) == 1
    assert "missing: no such directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["rl", "train", "CartPole-v1", "--hidden", "64,x"])
    assert exit_info.value.code == 2
    assert "must be comma-separated positive widths" in capsys.readouterr().err


def test_add_rl_parser_registers_under_any_parser():
    top = argparse.ArgumentParser(prog="deepgrad")
    rl = add_rl_parser(top.add_subparsers(dest="command", required=True))
    assert rl.prog == "deepgrad rl"
    args = top.parse_args(["rl", "train", "CartPole-v1", "--steps", "5", "--dueling"])
    assert args.command == "rl" and args.rl_command == "train" and args.dueling
    assert args.lr is None  # unset hyperparameters keep DQN's defaults
    args = top.parse_args(["rl", "eval", "runs/dqn", "--gif"])
    assert args.gif == "" and callable(args.run)
