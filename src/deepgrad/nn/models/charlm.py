"""A character language model: ``CharLM`` (embedding, LSTM, linear), its ``Vocabulary``, text
generation by sampling, and one-file save/load.

::

    vocab = Vocabulary.from_text(text)
    model = CharLM(len(vocab))
    logits, state = model(vocab.encode("def f(x):")[None])     # (1, 9, V), carried state
    save_charlm(model, vocab, "runs/char_lm/model.safetensors")
    model, vocab = load_charlm("runs/char_lm/model.safetensors")
    print(generate(model, vocab, "def ", length=200, temperature=0.8, seed=0))

A saved model is one safetensors file: the weights, plus (in the metadata) the vocabulary and
the sizes that rebuild the model, so ``load_charlm`` and ``deepgrad generate`` need nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from deepgrad.creation import generator
from deepgrad.errors import FileFormatError, ShapeError, shape_str
from deepgrad.grad_mode import no_grad
from deepgrad.nn.dropout import Dropout
from deepgrad.nn.embedding import Embedding
from deepgrad.nn.linear import Linear
from deepgrad.nn.module import Module
from deepgrad.nn.recurrent import LSTM
from deepgrad.serialization import load_file, save_file
from deepgrad.tensor import Tensor

_METADATA_KEY = "deepgrad.charlm"
_FORMAT = 1


class Vocabulary:
    """The characters a model knows, each with an id: ``chars[i]`` has id ``i``.

    Args:
        chars: distinct characters, in id order (a string or a sequence of 1-character
            strings); :meth:`from_text` sorts them by code point.
    """

    def __init__(self, chars: str | list[str] | tuple[str, ...]) -> None:
        chars = list(chars)
        for position, char in enumerate(chars):
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"Vocabulary: entry {position} must be one character; got "
                                 f"{char!r}")
        if not chars:
            raise ValueError("Vocabulary: needs at least one character")
        if len(set(chars)) != len(chars):
            repeated = next(c for i, c in enumerate(chars) if c in chars[:i])
            raise ValueError(f"Vocabulary: the character {repeated!r} appears more than once")
        self.chars = "".join(chars)
        self._ids = {char: i for i, char in enumerate(chars)}
        # Code points sorted, with the id of each, for encoding a long text in a few array ops.
        code_points = np.array([ord(c) for c in chars], dtype=np.uint32)
        self._order = np.argsort(code_points, kind="stable")
        self._sorted_code_points = code_points[self._order]

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        """The characters that occur in ``text``, sorted by code point."""
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.from_text: expects a str; got {type(text).__name__}")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters)"

    def encode(self, text: str) -> np.ndarray:
        """The ids of the characters of ``text``, an int64 array of ``len(text)``.

        Raises:
            ValueError: naming the first character not in the vocabulary and its position.
        """
        if not isinstance(text, str):
            raise TypeError(f"Vocabulary.encode: expects a str; got {type(text).__name__}")
        code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        slots = np.searchsorted(self._sorted_code_points, code_points)
        slots = np.minimum(slots, len(self) - 1)
        unknown = np.flatnonzero(self._sorted_code_points[slots] != code_points)
        if unknown.size:
            position = int(unknown[0])
            raise ValueError(f"Vocabulary.encode: character {text[position]!r} at position "
                             f"{position} is not in the vocabulary of {len(self)} characters")
        return self._order[slots].astype(np.int64)

    def decode(self, ids: Any) -> str:
        """The text spelled by a sequence of ids (ints, an integer array or Tensor)."""
        array = np.asarray(ids.numpy() if isinstance(ids, Tensor) else ids).reshape(-1)
        if array.size == 0:
            return ""
        if array.dtype.kind not in "iu":
            raise TypeError(f"Vocabulary.decode: ids must be integers; got dtype {array.dtype}")
        bad = np.flatnonzero((array < 0) | (array >= len(self)))
        if bad.size:
            raise ValueError(f"Vocabulary.decode: id {int(array[bad[0]])} at position "
                             f"{int(bad[0])} is out of range for {len(self)} characters")
        return "".join(self.chars[i] for i in array.tolist())

    def to_json(self) -> str:
        """The vocabulary as a JSON string (:meth:`from_json` reads it back)."""
        return json.dumps({"chars": list(self.chars)}, ensure_ascii=True)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """Read a vocabulary written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (TypeError, json.JSONDecodeError) as e:
            raise ValueError(f"Vocabulary.from_json: not valid JSON ({e})") from None
        if not isinstance(data, dict) or not isinstance(data.get("chars"), list):
            raise ValueError("Vocabulary.from_json: expected an object with a 'chars' list")
        return cls(data["chars"])


class CharLM(Module):
    """Embedding -> LSTM (batch first) -> Linear: the next character's logits at every step.

    tokens (N, T) int -> logits (N, T, vocab_size), and the LSTM state (h, c), each
    (num_layers, N, hidden), to carry into the next chunk of the same sequences.

    Args:
        vocab_size: number of characters.
        embed: size of each character's embedding.
        hidden: LSTM hidden size.
        num_layers: stacked LSTM layers.
        dropout: dropout probability between the LSTM layers and on the last layer's output,
            in training mode (0 for none).
    """

    def __init__(self, vocab_size: int, embed: int = 64, hidden: int = 256, num_layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed", embed), ("hidden", hidden),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CharLM: {name} must be an integer >= 1; got {value!r}")
        self.vocab_size, self.embed, self.hidden = int(vocab_size), int(embed), int(hidden)
        self.num_layers, self.dropout = int(num_layers), float(dropout)
        self.embedding = Embedding(self.vocab_size, self.embed)
        self.lstm = LSTM(self.embed, self.hidden, self.num_layers, batch_first=True,
                         dropout=self.dropout)
        self.drop = Dropout(self.dropout)
        self.head = Linear(self.hidden, self.vocab_size)

    def forward(self, tokens: Any, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Logits (N, T, vocab_size) for token ids (N, T), and the final state (h, c)."""
        shape = tuple(tokens.shape) if hasattr(tokens, "shape") else np.shape(tokens)
        if len(shape) != 2:
            raise ShapeError(f"CharLM expects token ids of shape (N, T); got {shape_str(shape)}")
        output, state = self.lstm(self.embedding(tokens), state)
        return self.head(self.drop(output)), state

    def config(self) -> dict[str, Any]:
        """The constructor's arguments, which rebuild this architecture."""
        return {"vocab_size": self.vocab_size, "embed": self.embed, "hidden": self.hidden,
                "num_layers": self.num_layers, "dropout": self.dropout}


def _sample(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature == 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    weights = np.exp(scaled - scaled.max())
    cumulative = np.cumsum(weights)
    choice = np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")
    return int(min(choice, len(cumulative) - 1))


def generate(model: CharLM, vocab: Vocabulary, prompt: str, length: int = 200,
             temperature: float = 1.0, seed: int | None = None) -> str:
    """Continue ``prompt`` by ``length`` characters sampled from the model, one at a time.

    The prompt is fed once; then each sampled character is fed back with the carried state.
    Runs without gradients in eval mode (the model's mode is restored afterwards).

    Args:
        model: a :class:`CharLM` whose ``vocab_size`` is ``len(vocab)``.
        vocab: the vocabulary the model was trained with.
        prompt: at least one character, all in the vocabulary.
        length: number of characters to generate (>= 0).
        temperature: divides the logits before sampling: below 1 is more conservative, above 1
            more varied; 0 picks the most likely character every time (greedy).
        seed: seeds the sampling; None draws from deepgrad's generator (``dg.manual_seed``).

    Returns:
        The ``length`` generated characters (without the prompt).
    """
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"generate: prompt must be a non-empty string; got {prompt!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"generate: length must be an integer >= 0; got {length!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"generate: temperature must be a finite number >= 0; got "
                         f"{temperature!r}")
    if model.vocab_size != len(vocab):
        raise ValueError(f"generate: the model predicts {model.vocab_size} characters but the "
                         f"vocabulary has {len(vocab)}")
    tokens = vocab.encode(prompt)
    rng = np.random.default_rng(seed) if seed is not None else \
        np.random.default_rng(generator().integers(2**63))
    was_training = model.training
    model.eval()
    ids = []
    try:
        with no_grad():
            logits, state = model(tokens[None])
            for _ in range(length):
                ids.append(_sample(logits.numpy()[0, -1], temperature, rng))
                logits, state = model(np.array([[ids[-1]]], dtype=np.int64), state)
    finally:
        model.train(was_training)
    return vocab.decode(ids)


def save_charlm(model: CharLM, vocab: Vocabulary, path: str | os.PathLike) -> Path:
    """Write the model's weights, its sizes and the vocabulary to one safetensors file,
    atomically. Returns the path written."""
    if not isinstance(model, CharLM):
        raise TypeError(f"save_charlm: expects a CharLM; got {type(model).__name__}")
    if model.vocab_size != len(vocab):
        raise ValueError(f"save_charlm: the model predicts {model.vocab_size} characters but the "
                         f"vocabulary has {len(vocab)}")
    description = {"format": _FORMAT, "config": model.config(), "vocab": vocab.to_json()}
    return save_file(model.state_dict(), path, metadata={_METADATA_KEY: json.dumps(description)})


def load_charlm(path: str | os.PathLike) -> tuple[CharLM, Vocabulary]:
    """Rebuild a model saved by :func:`save_charlm`: ``(model in eval mode, vocabulary)``.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: naming the file, when it is not a character language model file
            (another safetensors file, or not safetensors at all) or its description is broken.
    """
    path = Path(path)
    arrays, metadata = load_file(path)
    if _METADATA_KEY not in metadata:
        raise FileFormatError(f"{path}: not a character language model file (its metadata has "
                              f"no {_METADATA_KEY!r}; save one with save_charlm)")
    try:
        description = json.loads(metadata[_METADATA_KEY])
        if description.get("format") != _FORMAT:
            raise ValueError(f"format {description.get('format')!r}, expected {_FORMAT}")
        vocab = Vocabulary.from_json(description["vocab"])
        model = CharLM(**description["config"])
        model.load_state_dict(arrays)
    except (ValueError, TypeError, KeyError, AttributeError) as e:  # StateDictError too
        raise FileFormatError(f"{path}: a broken character language model file ({e})") from None
    if model.vocab_size != len(vocab):
        raise FileFormatError(f"{path}: the model predicts {model.vocab_size} characters but "
                              f"the vocabulary has {len(vocab)}")
    return model.eval(), vocab


__all__ = ["CharLM", "Vocabulary", "generate", "load_charlm", "save_charlm"]
