"""The character language model: vocabulary, generation, save/load, and that it learns."""

import numpy as np
import pytest

import deepgrad as dg
from deepgrad import optim
from deepgrad.errors import FileFormatError, ShapeError
from deepgrad.nn import functional as F
from deepgrad.nn.models.charlm import CharLM, Vocabulary, generate, load_charlm, save_charlm
from deepgrad.serialization import save_file


@pytest.fixture
def small():
    dg.manual_seed(0)
    vocab = Vocabulary.from_text("abcdef ghij\n")
    return CharLM(len(vocab), embed=8, hidden=16, num_layers=2), vocab


def test_vocabulary_round_trip():
    text = "def f(x):\n    return x ** 2  # ünïcode ✓\n"
    vocab = Vocabulary.from_text(text)
    assert len(vocab) == len(set(text)) and list(vocab.chars) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text and vocab.decode(dg.tensor(ids)) == text
    assert [vocab.chars[i] for i in ids[:3]] == ["d", "e", "f"]
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.chars == vocab.chars
    assert vocab.encode("").shape == (0,) and vocab.decode([]) == ""


def test_vocabulary_in_any_order_encodes_by_its_own_ids():
    vocab = Vocabulary("zxa")
    assert vocab.encode("axz").tolist() == [2, 1, 0]


def test_vocabulary_errors_name_the_problem():
    vocab = Vocabulary.from_text("abc")
    with pytest.raises(ValueError, match=r"character 'z' at position 2 is not in the vocabulary"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match="id 7 at position 1 is out of range for 3"):
        vocab.decode([0, 7])
    with pytest.raises(ValueError, match="'a' appears more than once"):
        Vocabulary("aba")
    with pytest.raises(ValueError, match="entry 1 must be one character; got 'bc'"):
        Vocabulary(["a", "bc"])
    with pytest.raises(ValueError, match="not valid JSON"):
        Vocabulary.from_json("{chars")


def test_forward_shapes_and_carried_state(small):
    model, vocab = small
    tokens = np.random.default_rng(0).integers(0, len(vocab), (3, 10))
    logits, (h, c) = model(tokens)
    assert logits.shape == (3, 10, len(vocab)) and h.shape == c.shape == (2, 3, 16)
    # Two chunks with the state carried give the logits of one pass over the whole sequence.
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([first.numpy(), second.numpy()], axis=1),
                               logits.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match=r"expects token ids of shape \(N, T\); got \(10\)"):
        model(tokens[0])


def test_generate_is_deterministic_with_a_seed(small):
    model, vocab = small
    model.train()
    one = generate(model, vocab, "abc", length=50, temperature=1.0, seed=3)
    assert len(one) == 50 and set(one) <= set(vocab.chars)
    assert generate(model, vocab, "abc", length=50, temperature=1.0, seed=3) == one
    assert generate(model, vocab, "abc", length=50, temperature=1.0, seed=4) != one
    assert model.training  # the mode is restored
    dg.manual_seed(5)
    unseeded = generate(model, vocab, "abc", length=50)
    dg.manual_seed(5)
    assert generate(model, vocab, "abc", length=50) == unseeded


def test_greedy_ignores_the_seed_and_low_temperature_approaches_it(small):
    model, vocab = small
    greedy = generate(model, vocab, "ab", length=40, temperature=0, seed=0)
    assert generate(model, vocab, "ab", length=40, temperature=0, seed=1) == greedy
    assert generate(model, vocab, "ab", length=40, temperature=1e-4, seed=1) == greedy
    hot = {generate(model, vocab, "ab", length=40, temperature=2.0, seed=s) for s in range(3)}
    assert len(hot) == 3


def test_generate_rejects_bad_arguments(small):
    model, vocab = small
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        generate(model, vocab, "")
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0; got -1"):
        generate(model, vocab, "a", temperature=-1)
    with pytest.raises(ValueError, match="length must be an integer >= 0"):
        generate(model, vocab, "a", length=-2)
    with pytest.raises(ValueError, match="character 'Z' at position 1"):
        generate(model, vocab, "aZ")
    with pytest.raises(ValueError, match="predicts 12 characters but the vocabulary has 3"):
        generate(model, Vocabulary("abc"), "a")


def test_save_load_round_trip(small, tmp_path):
    _, vocab = small
    model = CharLM(len(vocab), embed=8, hidden=16, num_layers=2, dropout=0.25)
    path = save_charlm(model, vocab, tmp_path / "lm.safetensors")
    loaded, loaded_vocab = load_charlm(path)
    assert loaded_vocab == vocab and not loaded.training
    assert loaded.config() == model.config()
    for (name, value), (other, loaded_value) in zip(model.state_dict().items(),
                                                    loaded.state_dict().items()):
        assert name == other
        np.testing.assert_array_equal(value, loaded_value)
    assert generate(loaded, vocab, "ab", length=30, seed=1) == \
        generate(model, vocab, "ab", length=30, seed=1)


def test_load_names_a_foreign_file(tmp_path):
    weights = tmp_path / "weights.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, weights)
    with pytest.raises(FileFormatError, match=r"weights\.safetensors: not a character language "
                                              r"model file"):
        load_charlm(weights)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello")
    with pytest.raises(FileFormatError, match=r"junk\.bin: not a safetensors file"):
        load_charlm(junk)
    broken = tmp_path / "broken.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, broken, metadata={"deepgrad.charlm": "{"})
    with pytest.raises(FileFormatError, match=r"broken\.safetensors: a broken character"):
        load_charlm(broken)


def test_a_tiny_model_learns_a_repeated_pattern():
    dg.manual_seed(0)
    pattern = "hello world, "
    vocab = Vocabulary.from_text(pattern)
    model = CharLM(len(vocab), embed=16, hidden=32, num_layers=1)
    tokens = vocab.encode(pattern * 40)
    opt = optim.Adam(model.parameters(), lr=0.02)
    x = np.stack([tokens[i:i + 26] for i in range(0, 26 * 16, 26)])
    y = np.stack([tokens[i + 1:i + 27] for i in range(0, 26 * 16, 26)])
    for _ in range(40):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), dg.tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert generate(model, vocab, "hello", length=3 * len(pattern), temperature=0) == \
        (pattern * 4)[5:5 + 3 * len(pattern)]
