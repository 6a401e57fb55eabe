"""The sort task the shipped model learned: six letters in, the same six sorted out.

Pure Python (no numpy, no torch), so the page can describe the task too.

A training sequence is the input followed by its answer, twelve tokens in all:
``CBABBC`` + ``ABBBCC`` -> ``CBABBCABBBCC``. The model reads the first eleven
and predicts each next token; only the predictions of answer letters count.
With three letters and six places there are exactly 3**6 = 729 inputs, so the
whole task can be checked exhaustively.
"""
from __future__ import annotations

from itertools import product

LETTERS: tuple[str, ...] = ("A", "B", "C")
INPUT_LEN = 6
ANSWER_LEN = 6
SEQUENCE_LEN = INPUT_LEN + ANSWER_LEN
BLOCK_SIZE = SEQUENCE_LEN - 1  # the last answer letter is never fed back in

DESCRIPTION = (f"Sort {INPUT_LEN} letters from {', '.join(LETTERS)}: the model reads the "
               f"input and writes the same letters in alphabetical order, one per step.")

TASK = {"name": "sort", "input_len": INPUT_LEN, "answer_len": ANSWER_LEN,
        "description": DESCRIPTION}


def all_inputs() -> list[str]:
    """Every possible input, in lexicographic order: AAAAAA, AAAAAB, ..., CCCCCC."""
    return ["".join(letters) for letters in product(LETTERS, repeat=INPUT_LEN)]


def answer(letters: str) -> str:
    """The correct output for ``letters``: the same letters, sorted."""
    return "".join(sorted(letters))


def sequence(letters: str) -> str:
    """Input followed by its answer: the twelve-token sequence the model is trained on."""
    if len(letters) != INPUT_LEN or any(ch not in LETTERS for ch in letters):
        raise ValueError(f"a sort input is {INPUT_LEN} letters from {', '.join(LETTERS)}, got {letters!r}")
    return letters + answer(letters)
