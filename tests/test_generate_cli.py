"""The ``deepgrad generate`` command."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad.cli import main
from deepgrad.nn.models.charlm import CharLM, Vocabulary, generate, load_charlm, save_charlm
from deepgrad.serialization import save_file


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    dg.manual_seed(0)
    vocab = Vocabulary.from_text("def return(x): \n")
    model = CharLM(len(vocab), embed=8, hidden=16, num_layers=1)
    return save_charlm(model, vocab, tmp_path_factory.mktemp("lm") / "lm.safetensors")


def test_generate_prints_the_prompt_and_its_continuation(model_file, capsys):
    assert main(["generate", str(model_file), "--prompt", "def ", "--length", "40",
                "--temperature", "0.5", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def ") and len(out) == len("def ") + 40 + 1  # and a newline
    model, vocab = load_charlm(model_file)
    assert out[4:-1] == generate(model, vocab, "def ", length=40, temperature=0.5, seed=7)
    assert main(["generate", str(model_file), "--length", "40", "--temperature", "0.5",
                "--seed", "7"]) == 0
    assert capsys.readouterr().out == out  # the prompt defaults to "def "


@pytest.mark.parametrize(("argv", "message"), [
    (["--length", "0"], "--length: must be a positive integer; got 0"),
    (["--length", "ten"], "--length: must be a positive integer; got ten"),
    (["--temperature", "-1"], "--temperature: must be a finite number >= 0 (0 is greedy); got -1"),
    (["--seed", "x"], "--seed: invalid int value: 'x'"),
])
def test_bad_arguments_give_a_one_line_error(model_file, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(model_file), *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err.splitlines()[0] and len(err.splitlines()) == 2  # the error, a hint


def test_bad_files_and_prompts_give_a_one_line_error(model_file, tmp_path, capsys):
    weights = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, weights)
    cases = [([str(tmp_path / "missing.safetensors")], "missing.safetensors: no such file"),
             ([str(weights)], "weights.safetensors: not a character language model file"),
             ([str(model_file), "--prompt", "DEF"], "character 'D' at position 0 is not in"),
             ([str(model_file), "--prompt", ""], "prompt must be a non-empty string")]
    for argv, message in cases:
        assert main(["generate", *argv]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("deepgrad generate: error: ")
        assert message in lines[0], lines[0]
