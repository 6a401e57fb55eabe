"""python -m llmviz run --weights weights/sort.npz --input CBABBC"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from llmviz.core.vocab import InputError
from llmviz.core.weights import WeightsError, load

DEFAULT_WEIGHTS = "weights/sort.npz"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="NAME.npz with NAME.json beside it")
    p.add_argument("--input", required=True, help="the prompt, e.g. CBABBC")
    p.add_argument("--new", type=int, default=None,
                   help="tokens to generate (default: the task's answer length, else up to block_size)")
    p.add_argument("--top", type=int, default=3, help="how many top tokens to show per position")


def answer_length(model, prompt_len: int) -> int:
    """The card's answer length when it is a whole number within the context, else up to block_size."""
    task = (model.card or {}).get("task") or {}
    n = task.get("answer_len") if isinstance(task, dict) else None
    if isinstance(n, int) and not isinstance(n, bool) and 0 < n <= model.config.block_size:
        return n
    return max(1, model.config.block_size + 1 - prompt_len)


def main(args: argparse.Namespace) -> int:
    try:
        model = load(args.weights)
    except WeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    vocab = model.vocab
    try:
        idx = vocab.encode(args.input, max_len=model.config.block_size)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n_new = args.new if args.new is not None else answer_length(model, len(idx))
    out = model.generate(np.array([idx]), n_new, temperature=0)[0]
    answer = vocab.decode(out[len(idx):])
    print(f"input:  {args.input}")
    print(f"answer: {answer}")
    # the probabilities behind each output: one forward pass over the sequence minus its
    # last token (position p predicts token p + 1), cropped to the context the model sees
    context = out[:-1][-model.config.block_size:]
    probs = model.trace(context[None])["probs"][0]
    offset = len(out) - 1 - len(context)  # tokens cropped off the front
    for j in range(n_new):
        pos = len(idx) - 1 + j - offset
        if pos < 0:
            continue
        row = probs[pos]
        top = np.argsort(-row)[: args.top]
        shown = "  ".join(f"{vocab.decode([t])}={row[t]:.3f}" for t in top)
        print(f"  output {j + 1} ({vocab.decode([out[len(idx) + j]])}): {shown}")
    return 0
