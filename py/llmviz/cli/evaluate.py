"""python -m llmviz eval weights/sort.npz: check a sort model on every possible input.

Greedy decoding with the numpy port (the same code the page runs), all 3**6
inputs in one batch. Exit status 0 when every answer is right, 1 otherwise,
2 when the weights cannot be used.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from llmviz.core.sort_task import ANSWER_LEN, INPUT_LEN, LETTERS, all_inputs, answer
from llmviz.core.vocab import InputError
from llmviz.core.weights import WeightsError, load

DEFAULT_WEIGHTS = "weights/sort.npz"
SHOWN_FAILURES = 5


def evaluate(model) -> tuple[int, int, list[tuple[str, str, str]]]:
    """Decode every sort input greedily; return (correct, total, failures).

    Each failure is (input, model's answer, correct answer). Raises InputError when
    the model's vocabulary or context cannot hold the task.
    """
    vocab = model.vocab
    missing = [ch for ch in LETTERS if ch not in vocab.tokens]
    if missing:
        raise InputError(f"this model's vocabulary ({vocab.allowed()}) lacks {', '.join(missing)}; "
                         f"the sort task needs {', '.join(LETTERS)}")
    if model.config.block_size < INPUT_LEN + ANSWER_LEN - 1:
        raise InputError(f"block_size {model.config.block_size} is too small for the sort task "
                         f"(needs {INPUT_LEN + ANSWER_LEN - 1})")
    inputs = all_inputs()
    idx = np.array([vocab.encode(text) for text in inputs], dtype=np.int64)
    outputs = model.generate(idx, ANSWER_LEN, temperature=0)[:, INPUT_LEN:]
    failures = []
    for text, out in zip(inputs, outputs):
        got, want = vocab.decode(out), answer(text)
        if got != want:
            failures.append((text, got, want))
    return len(inputs) - len(failures), len(inputs), failures


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("weights", nargs="?", default=DEFAULT_WEIGHTS,
                   help=f"NAME.npz with NAME.json beside it (default {DEFAULT_WEIGHTS})")


def main(args: argparse.Namespace) -> int:
    try:
        model = load(args.weights)
        task = ((model.card or {}).get("task") or {}).get("name")
        if task not in (None, "sort"):
            raise InputError(f"{args.weights} was trained for the task {task!r}, not 'sort'")
        correct, total, failures = evaluate(model)
    except (WeightsError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"sorted correctly: {correct}/{total}")
    for text, got, want in failures[:SHOWN_FAILURES]:
        print(f"  {text} -> {got} (expected {want})")
    if len(failures) > SHOWN_FAILURES:
        print(f"  ... and {len(failures) - SHOWN_FAILURES} more")
    return 0 if correct == total else 1
