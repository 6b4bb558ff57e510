"""A character language model of Python code: a 2-layer LSTM trained on the standard library.

    .venv/bin/python examples/char_lm.py [--minutes 10] [--max-bytes 6000000] [--out runs/char_lm]
    .venv/bin/deepgrad generate runs/char_lm/model.safetensors --prompt "def " --temperature 0.8

The corpus is the first ``--max-bytes`` (6 MB) of the standard library's ``.py`` files
(``deepgrad.datasets.text.python_stdlib_text``: sorted file order, test directories skipped);
its last 100,000 characters (modules the training text does not hold: idlelib's last files and
the start of imaplib) are the validation set. The model is ``CharLM`` (embedding 64, LSTM
2 x 256, linear; 890k parameters), trained with Adam on chunks of 64 steps from 32 rows of the
stream (truncated backpropagation through time: the state at the end of a chunk, detached,
starts the next one), gradients clipped to norm 1, the learning rate decayed along a cosine over
the time budget. Every 2 minutes of training, after every epoch and when the budget is spent it
reports the validation bits per character (the mean cross-entropy in bits, the state carried
through the validation text), prints a sample at temperature 0.8 from "def ", and saves
``OUT/model.safetensors`` (weights and vocabulary, for ``deepgrad generate``); at the end it
writes ``OUT/results.json``.

Measured with the defaults (10 minutes of training, nice -n 5, on a 2-core machine shared with
three other jobs, so 6,100 characters/s is a lower bound): validation 2.53, 2.23, 2.09, 1.97
and **1.92 bits per character** after 2, 4, 6, 8 and 10 minutes (3.7M characters, 0.62 of an
epoch). The training batches of the last minutes averaged 1.49: the validation modules are
harder than the codec tables and other regular code in the training text. The sample after
10 minutes:

    def is not NotImplementation(enviro)
        __name__ = "set.return()

    # The contexts passed up # looks than the incomin-anying the module
        # should be set the about method.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import deepgrad as dg
from deepgrad import optim
from deepgrad.datasets.text import CharSequences, python_stdlib_text
from deepgrad.nn import functional as F
from deepgrad.nn.models.charlm import CharLM, Vocabulary, generate, save_charlm
from deepgrad.nn.utils import clip_grad_norm_
from deepgrad.parallel import limit_threads


def detached(state: tuple[dg.Tensor, dg.Tensor]) -> tuple[dg.Tensor, dg.Tensor]:
    """The LSTM state cut from the graph: the next chunk starts from its values, and the
    backward pass stops there (truncated backpropagation through time)."""
    return state[0].detach(), state[1].detach()


def bits_per_character(model: CharLM, chunks: CharSequences) -> float:
    """Mean cross-entropy in bits over every target of ``chunks``, the state carried across."""
    model.eval()
    total, state = 0.0, None
    with dg.no_grad():
        for x, y in chunks:
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, model.vocab_size),
                                   dg.tensor(y.reshape(-1)), reduction="sum")
            total += loss.item()
    model.train()
    return total / chunks.num_tokens / math.log(2)


def split_corpus(text: str, val_chars: int) -> tuple[str, str]:
    """(training text, the last ``val_chars`` characters or so), cut after a line break."""
    cut = text.find("\n", max(len(text) - val_chars, 0))
    cut = len(text) if cut < 0 else cut + 1
    return text[:cut], text[cut:]


def main(argv: list[str] | None = None) -> int:
    """Train within the time budget, report bits per character and samples, save the model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="training time budget (validation and samples not counted)")
    parser.add_argument("--epochs", type=int, default=50, help="stop earlier after this many")
    parser.add_argument("--max-bytes", type=int, default=6_000_000, help="corpus size")
    parser.add_argument("--val-chars", type=int, default=100_000,
                        help="the corpus' last characters, held out for validation")
    parser.add_argument("--report-minutes", type=float, default=2.0,
                        help="validate, sample and save this often (and after each epoch)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak Adam learning rate")
    parser.add_argument("--clip", type=float, default=1.0, help="gradient norm limit")
    parser.add_argument("--prompt", default="def ")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--sample-length", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="threads to compute with")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/char_lm")
    args = parser.parse_args(argv)
    with limit_threads(args.threads):
        return train_and_report(args)


def train_and_report(args: argparse.Namespace) -> int:
    """The run: data, model, the training loop within the budget, reports and files."""
    dg.manual_seed(args.seed)
    text = python_stdlib_text(max_bytes=args.max_bytes)
    train_text, val_text = split_corpus(text, args.val_chars)
    vocab = Vocabulary.from_text(text)
    train = CharSequences(vocab.encode(train_text), args.batch_size, args.seq_len)
    val = CharSequences(vocab.encode(val_text), 8, 256)
    model = CharLM(len(vocab), args.embed, args.hidden, args.layers, args.dropout)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    print(f"corpus: {len(text):,} characters of the standard library ({len(vocab)} distinct); "
          f"train {train.num_tokens:,}, validation {val.num_tokens:,}; "
          f"{sum(p.numel() for p in model.parameters()):,} parameters", flush=True)
    out = Path(args.out)
    budget, total_steps = args.minutes * 60, args.epochs * len(train)
    history: list[dict[str, Any]] = []
    losses: list[float] = []
    clock = {"train_seconds": 0.0, "seen": 0, "step": 0}

    def report(why: str) -> None:
        """Validation bits per character, a sample, and the model saved so far."""
        if not losses:  # no step since the last report: the model is the same
            return
        bpc = bits_per_character(model, val)
        seconds, seen = clock["train_seconds"], clock["seen"]
        entry = {"epochs": round(seen / train.num_tokens, 3), "val_bpc": round(bpc, 4),
                 "train_bpc": round(float(np.mean(losses)) / math.log(2), 4),
                 "train_seconds": round(seconds, 1), "characters": seen}
        history.append(entry)
        losses.clear()
        print(f"{why}, epoch {entry['epochs']:.2f}: validation {bpc:.3f} bits/char (training "
              f"batches since the last report {entry['train_bpc']:.3f}); {seconds:.0f} s of "
              f"training, {seen / seconds:,.0f} chars/s", flush=True)
        sample = generate(model, vocab, args.prompt, length=args.sample_length,
                          temperature=args.temperature, seed=args.seed + len(history))
        print(f"--- sample (temperature {args.temperature}) ---\n{args.prompt}{sample}\n---",
              flush=True)
        entry["sample"] = args.prompt + sample
        save_charlm(model, vocab, out / "model.safetensors")

    next_report = args.report_minutes * 60
    for epoch in range(1, args.epochs + 1):
        state = None
        for x, y in train:
            started = time.perf_counter()
            progress = max(clock["train_seconds"] / budget, clock["step"] / total_steps)
            for group in opt.param_groups:  # cosine decay to a tenth of the peak
                group["lr"] = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, len(vocab)), dg.tensor(y.reshape(-1)))
            opt.zero_grad()
            loss.backward()
            clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            state = detached(state)
            losses.append(loss.item())
            clock["train_seconds"] += time.perf_counter() - started
            clock["seen"] += x.size
            clock["step"] += 1
            if clock["train_seconds"] >= budget:
                break
            if clock["train_seconds"] >= next_report:
                report(f"{clock['train_seconds'] / 60:.1f} min")
                next_report += args.report_minutes * 60
        else:
            report(f"end of epoch {epoch}")
            continue
        report("time budget spent")
        break
    final = history[-1]
    results = {"val_bpc": final["val_bpc"], "epochs": final["epochs"],
               "train_seconds": final["train_seconds"], "characters_seen": final["characters"],
               "chars_per_second": round(final["characters"] / final["train_seconds"]),
               "corpus_characters": len(text), "validation_characters": val.num_tokens,
               "vocab_size": len(vocab), "config": model.config(), "history": history}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"validation {final['val_bpc']:.3f} bits/char after {final['epochs']:.2f} epochs "
          f"({final['train_seconds'] / 60:.1f} min of training); wrote "
          f"{out / 'model.safetensors'} and {out / 'results.json'}\n"
          f"try: deepgrad generate {out / 'model.safetensors'} --prompt 'def ' "
          f"--temperature {args.temperature}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
