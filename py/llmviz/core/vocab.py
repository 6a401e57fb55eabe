"""The vocabulary: token strings by index, from the model card. Pure Python."""
from __future__ import annotations

from typing import Callable, Iterable, Sequence


class InputError(ValueError):
    """The user's text cannot be fed to the model; the message says what is allowed."""


class Vocab:
    """Tokens by index. Single-character tokens encode text letter by letter."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if not tokens:
            raise ValueError("the vocabulary is empty")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t in tokens if tokens.count(t) > 1)
            raise ValueError(f"the vocabulary lists {dup!r} twice")
        self.tokens = tokens
        self._index = {t: i for i, t in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def allowed(self, in_all: Callable[[int], str] = lambda n: f"... ({n} in all)") -> str:
        """The tokens, for messages: 'A, B, C'; past 40 of them, ``in_all(count)`` says how many
        there are (the page passes its language's words)."""
        shown = [repr(t) if len(t) != 1 or not t.isprintable() or t.isspace() else t for t in self.tokens]
        if len(shown) > 40:
            shown = shown[:40] + [in_all(len(shown))]
        return ", ".join(shown)

    def validate(self, text: str, max_len: int) -> None:
        """Raise InputError naming the allowed letters and the limit when ``text`` does not fit."""
        if not text:
            raise InputError(f"type at least one letter ({self.allowed()}), at most {max_len}")
        bad = [ch for ch in text if ch not in self._index]
        if bad:
            raise InputError(f"{bad[0]!r} is not in the vocabulary: use only {self.allowed()} "
                             f"(at most {max_len} letters)")
        if len(text) > max_len:
            raise InputError(f"{len(text)} letters is too long: at most {max_len} "
                             f"(block_size), using {self.allowed()}")

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        self.validate(text, len(text) if max_len is None else max_len)
        return [self._index[ch] for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.tokens[int(i)] for i in ids)
