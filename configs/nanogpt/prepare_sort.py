"""Data for training llmviz's sort task with nanoGPT's own train.py.

Copy this file to nanoGPT's ``data/sort/prepare.py`` and run it there (or run it
anywhere with ``--out DIR``). It writes what nanoGPT's train.py and sample.py read:

  train.bin, val.bin   token ids as uint16, one long stream (np.memmap-able)
  meta.pkl             {"vocab_size": 3, "itos": {0: "A", ...}, "stoi": {"A": 0, ...}}

The stream is a run of 12-token records, each six random letters from A, B, C
followed by the same letters sorted: ``CBABBC`` + ``ABBBCC``. There are only
3**6 = 729 different inputs; by default a tenth of them is held out, so val.bin
measures sorting inputs the model never saw in training. See README.md for how
nanoGPT's stream training differs from llmviz's own trainer.

Standalone on purpose: needs numpy only (no llmviz), like nanoGPT's prepare scripts.
"""
from __future__ import annotations

import argparse
import itertools
import os
import pickle

import numpy as np

LETTERS = "ABC"
INPUT_LEN = 6
RECORD_LEN = 2 * INPUT_LEN   # input + sorted answer


def every_input() -> list[str]:
    return ["".join(p) for p in itertools.product(LETTERS, repeat=INPUT_LEN)]


def record(letters: str) -> str:
    return letters + "".join(sorted(letters))


def split_inputs(holdout: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle the 729 inputs with ``seed``; the first ``holdout`` share is for validation."""
    inputs = every_input()
    order = np.random.default_rng(seed).permutation(len(inputs))
    n_val = int(round(len(inputs) * holdout))
    val = [inputs[i] for i in order[:n_val]]
    train = [inputs[i] for i in order[n_val:]]
    return train, (val or train)


def stream(inputs: list[str], n_records: int, rng: np.random.Generator, stoi: dict) -> np.ndarray:
    """``n_records`` records drawn from ``inputs`` (every input at least once when room), as uint16."""
    picks = list(range(len(inputs))) if n_records >= len(inputs) else []
    picks += list(rng.integers(0, len(inputs), n_records - len(picks)))
    rng.shuffle(picks)
    text = "".join(record(inputs[i]) for i in picks)
    return np.array([stoi[ch] for ch in text], dtype=np.uint16)


def main(argv: list[str] | None = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=here, help="folder for train.bin, val.bin, meta.pkl (default: beside this file)")
    ap.add_argument("--train-records", type=int, default=20000, help="12-token records in train.bin")
    ap.add_argument("--val-records", type=int, default=2000, help="12-token records in val.bin")
    ap.add_argument("--holdout", type=float, default=0.1,
                    help="share of the 729 inputs kept out of train.bin for val.bin (0: none)")
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)
    if not 0 <= args.holdout < 1:
        ap.error("--holdout must be in [0, 1)")
    if args.train_records < 1 or args.val_records < 1:
        ap.error("--train-records and --val-records must be positive")

    itos = dict(enumerate(LETTERS))
    stoi = {ch: i for i, ch in itos.items()}
    train_inputs, val_inputs = split_inputs(args.holdout, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    train = stream(train_inputs, args.train_records, rng, stoi)
    val = stream(val_inputs, args.val_records, rng, stoi)

    os.makedirs(args.out, exist_ok=True)
    train.tofile(os.path.join(args.out, "train.bin"))
    val.tofile(os.path.join(args.out, "val.bin"))
    with open(os.path.join(args.out, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(LETTERS), "itos": itos, "stoi": stoi}, f)
    print(f"train.bin: {len(train):,} tokens ({args.train_records:,} records from {len(train_inputs)} inputs); "
          f"val.bin: {len(val):,} tokens ({args.val_records:,} records from {len(val_inputs)} held-out inputs); "
          f"vocab {LETTERS} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
