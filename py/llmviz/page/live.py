"""What the live view decides, testable in CPython: inputs, sequences, sampling, uploads, tables.

``llmviz.page.ui.live_view`` is the page glue; the rules live here:

* **input**: ``input_limit`` (the sort task: its input length; any other model: its
  block_size), ``limit_reason`` (which of the two, in words, for messages),
  ``normalize`` (lower case typed for a vocabulary of capitals becomes capitals, and
  the other way round) and ``check_input`` (InputError naming the allowed tokens and
  the real reason for the length limit); ``typed(new, vocab, card, block_size)`` is the as-you-type rule:
  what the field shows (the user's own text, never emptied by a refusal), what runs
  (nothing when the text does not fit) and what the message line says.
  ``answer_line`` is the line under the input: the sort model's answer, or why there
  is none (an input shorter than the task's), never empty, so the bar keeps its height.
* **sequences**: ``full_length`` / ``window``: what the view shows for a prompt. For the
  sort task a full input is followed by the model's own greedy answer (input_len +
  answer_len tokens, of which the first block_size are fed to the model: the last
  answer letter is the prediction of the last position). Any other model shows the
  prompt, and generation slides a block_size window over a longer text, like
  nanoGPT's ``generate``.
* **sampling**: ``choose_next(logits, temperature, top_k, rng)``: greedy (temperature 0)
  or sampled by one uniform draw (``llmviz.core.sampling``, no numpy.random); returns the token, its
  probability and the runner-up.
* **uploads**: ``parse_card_text``, ``check_upload_sizes``, ``load_model``: every
  problem of a user's npz + card is a WeightsError that says what is wrong, raised
  before anything of the current model is touched. The limits (sizes, card nesting,
  config) are ``llmviz.core.limits``', which the command line applies too; the npz
  is checked by ``llmviz.core.npz_gate`` through ``weights.from_bytes``.
* **inspector**: ``block_matrix`` (a block's values, numpy-free), ``axis_labels``,
  ``to_csv``.

**Words.** Every message, rule and label here is the catalogue's (``llmviz.locales``, the
``live.*`` keys) in the language ``lang`` the caller passes (None: English): the page's main
thread passes ``app.lang``, the model worker the ``lang`` of the job it runs. A catalogue is
read only when a text is needed (a model that loads without a problem reads none). The
error kinds stay what they are (InputError, WeightsError): only their words change.

numpy is imported only inside the functions that need it.
"""
from __future__ import annotations

import csv
import io
import math
import random
from typing import Any, Mapping, NamedTuple, Sequence

from llmviz.core.limits import MAX_BYTES, MAX_CARD_BYTES, WeightsError, read_card_json
from llmviz.core.sampling import draw
from llmviz.core.shape import lookup_param
from llmviz.core.vocab import InputError, Vocab

MAX_TEXT = 4096                    # generated text of a text model, in tokens
TABLE_ROWS, TABLE_COLS = 64, 48    # the inspector's number table shows at most this window

__all__ = ["InputError", "WeightsError", "input_limit", "limit_reason", "normalize", "check_input",
           "typed", "Typed", "answer_line", "allowed", "is_sort",
           "full_length", "window", "scene_length", "default_prompt", "choose_next", "parse_card_text",
           "check_upload_sizes", "load_model", "block_matrix", "axis_labels",
           "to_csv", "table_window"]


def say(lang: str | None, key: str, **values: Any) -> str:
    """The catalogue's text ``key`` in ``lang`` (None: English), its ``{{names}}`` filled in."""
    from llmviz.locales import catalogue   # here: the worker reads a catalogue only for a message
    return catalogue(lang).text(key, **values)


# ----------------------------------------------------------------------------
# input

def is_sort(card: Mapping | None) -> bool:
    task = (card or {}).get("task") or {}
    return isinstance(task, dict) and task.get("name") == "sort" and _int(task.get("input_len")) > 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def input_limit(card: Mapping | None, block_size: int) -> int:
    """How many tokens the user may type: the sort task's input length, else block_size."""
    if is_sort(card):
        return min(_int(card["task"]["input_len"]), block_size)
    return block_size


def input_len(card: Mapping | None) -> int:
    """The sort task's input length (0 for any other model)."""
    return _int(card["task"]["input_len"]) if is_sort(card) else 0


def limit_reason(card: Mapping | None, block_size: int, lang: str | None = None) -> str:
    """The length limit and why, in words for a message: the sort task's input length,
    or block_size (only when that is the limit)."""
    n = input_len(card)
    if n and n <= block_size:
        return say(lang, "live.rule.sorts_exactly", n=n)   # the task's input length
    return say(lang, "live.rule.at_most_block", n=block_size)


def allowed(vocab: Vocab, lang: str | None = None) -> str:
    """The vocabulary's tokens for a message ('A, B, C'; a long one cut, saying how many in all)."""
    return vocab.allowed(lambda n: say(lang, "live.rule.in_all", n=n))


class Typed(NamedTuple):
    """What one keystroke leads to: the field's text, the text to run (None: nothing
    runs), and the message line (text and kind: "" / "info" / "error")."""
    field: str
    run: str | None
    message: str
    kind: str


def _cased(tokens: Sequence[str]) -> tuple[bool, bool]:
    """(has a lower-case letter, has an upper-case letter) among the vocabulary's tokens."""
    chars = "".join(tokens)
    return any(ch.islower() for ch in chars), any(ch.isupper() for ch in chars)


def normalize(text: str, vocab: Vocab) -> str:
    """``text`` with letters of the wrong case changed to the vocabulary's case.

    Only for a vocabulary that has no lower-case letters at all (lower case typed
    becomes capitals: 'abc' -> 'ABC' for A, B, C), or none in upper case (the other
    way round); a letter is changed only when its other case is a token. A vocabulary
    with both cases means the case matters: nothing changes.
    """
    if not isinstance(text, str):
        return text
    has_lower, has_upper = _cased(vocab.tokens)
    if has_lower == has_upper:
        return text
    tokens = set(vocab.tokens)
    out = []
    for ch in text:
        if ch not in tokens:
            other = ch.upper() if has_upper else ch.lower()
            if len(other) == 1 and other in tokens:
                ch = other
        out.append(ch)
    return "".join(out)


def _unit(vocab: Vocab, n: int, lang: str | None) -> str:
    """'6 letters' (a vocabulary of single letters) or '6 tokens', in ``lang``."""
    one = all(len(t) == 1 and t.isalpha() for t in vocab.tokens)
    word = "letters" if one else "tokens"
    return say(lang, f"live.rule.{word}_{'one' if n == 1 else 'many'}", n=n)


def check_input(text: str, vocab: Vocab, limit: int, reason: str | None = None,
                lang: str | None = None) -> list[int]:
    """The token ids of ``text`` (exactly as given); InputError naming the allowed
    tokens, and for a text that is too long the limit and why (``reason``, from
    ``limit_reason``; without it only the number)."""
    if not isinstance(text, str):
        raise InputError(say(lang, "live.typed.not_text", type=type(text).__name__))
    if not text:
        raise InputError(say(lang, "live.typed.empty", allowed=allowed(vocab, lang), n=limit))
    tokens = set(vocab.tokens)
    bad = next((ch for ch in text if ch not in tokens), None)
    if bad is not None:
        raise InputError(say(lang, "live.typed.not_in_vocab", token=repr(bad), allowed=allowed(vocab, lang),
                             count=_unit(vocab, limit, lang)))
    if len(text) > limit:
        raise InputError(say(lang, "live.typed.too_many", count=_unit(vocab, len(text), lang),
                             reason=reason or say(lang, "live.rule.at_most", n=limit)))
    return vocab.encode(text, limit)


def typed(new: str, vocab: Vocab, card: Mapping | None, block_size: int,
          shown: str | None = None, lang: str | None = None) -> Typed:
    """The as-you-type rule for the text ``new`` now in the field of a model with this
    card and block_size.

    * empty: nothing runs; the message says the view keeps ``shown`` (the input on screen);
    * lower case for a vocabulary of capitals (or the reverse): the field is rewritten in
      the right case, it runs, and a quiet note says so;
    * a token outside the vocabulary or too long: the field keeps the user's text (to be
      fixed, not retyped), nothing runs, the message says why (for a text too long: the
      sort task's input length, or block_size when that is the limit).
    """
    limit = input_limit(card, block_size)
    if new == "":
        message = (say(lang, "live.typed.box_empty", shown=shown) if shown
                   else say(lang, "live.typed.box_empty_last"))
        return Typed("", None, message, "info")
    fixed = normalize(new, vocab)
    try:
        check_input(fixed, vocab, limit, limit_reason(card, block_size, lang), lang)
    except InputError as e:
        return Typed(fixed, None, str(e), "error")
    if fixed != new:
        return Typed(fixed, fixed, say(lang, "live.typed.read_as", text=fixed, allowed=allowed(vocab, lang)), "info")
    return Typed(fixed, fixed, "", "")


def answer_line(card: Mapping | None, tokens: Sequence[str], prompt: str, ids: Sequence[int],
                lang: str | None = None) -> str:
    """The line under the input before any "Next token": the sort model's answer, or,
    for an input shorter than the task's, that there is none and why; for other models,
    what to do next. Never empty (the bar keeps its height)."""
    n = input_len(card)
    if n:
        if len(prompt) < n:
            return say(lang, "live.answer.too_short", n=n, got=len(prompt))
        answer = "".join(tokens[i] for i in ids[len(prompt):] if 0 <= i < len(tokens))
        if not answer:
            return say(lang, "live.answer.not_written")
        want = "".join(sorted(prompt))
        if answer == want:
            return say(lang, "live.answer.sorted", answer=answer)
        return say(lang, "live.answer.not_sorted", answer=answer, want=want)
    return say(lang, "live.answer.next")


def answer_length(card: Mapping | None) -> int:
    return _int(((card or {}).get("task") or {}).get("answer_len")) if is_sort(card) else 0


def full_length(card: Mapping | None, block_size: int, prompt_len: int) -> int:
    """How long the shown text is for a prompt before any 'next token': the sort task
    answers a full input (input_len + answer_len, at most block_size + 1); otherwise
    the prompt alone."""
    if is_sort(card) and prompt_len == _int(card["task"]["input_len"]):
        return min(prompt_len + answer_length(card), block_size + 1)
    return prompt_len


def max_length(card: Mapping | None, block_size: int) -> int:
    """The longest text generation may reach: a sort record, or MAX_TEXT for text models."""
    if is_sort(card):
        return min(_int(card["task"]["input_len"]) + answer_length(card), block_size + 1)
    return MAX_TEXT


MIN_SCENE_T = 16     # a text model's scene is laid out for at least this many positions


def scene_length(card: Mapping | None, block_size: int, T: int) -> int:
    """How many positions the 3D scene is laid out for, showing a text of ``T`` fed tokens.

    The scene keeps its layout while the text grows (a new token changes values, not the
    picture): the sort task's whole record (its longest text, at most block_size); any other
    model the next power of two from MIN_SCENE_T up, at most block_size, so a text that grows
    a token at a time is laid out again only when it doubles."""
    if is_sort(card):
        return max(min(max_length(card, block_size), block_size), min(T, block_size))
    n = MIN_SCENE_T
    while n < T:
        n *= 2
    return max(1, min(n, block_size))


def window(ids: Sequence[int], card: Mapping | None, block_size: int) -> list[int]:
    """The tokens fed to the model for a text of ``ids``.

    Up to block_size tokens: all of them. A sort record one longer than the block: its
    first block_size tokens (the pass that predicted the last letter). A longer text of
    a text model: the last block_size tokens, as nanoGPT's generate crops its context.
    """
    ids = list(ids)
    if len(ids) <= block_size:
        return ids
    if is_sort(card):
        return ids[:block_size]
    return ids[-block_size:]


def default_prompt(card: Mapping | None, vocab: Vocab, limit: int, example: str | None = None,
                   wanted: str | None = None, lang: str | None = None) -> str:
    """A prompt that fits the model: ``wanted`` (e.g. the text the reader had) when it fits,
    else one drawn from its own card: ``example`` (the build's, for the built-in model), the
    card's task example (``python -m llmviz convert`` writes one), a few usual openings of
    English text, else the first token."""
    candidates = [wanted, example, ((card or {}).get("task") or {}).get("example") if isinstance(
        (card or {}).get("task"), dict) else None, "ROMEO:", "The ", "the ", "a"]
    for text in candidates:
        if isinstance(text, str) and text:
            try:
                vocab.validate(text, limit)
                return text
            except InputError:
                continue
    first = next((t for t in vocab.tokens if len(t) == 1), None)
    if first is None:
        raise InputError(say(lang, "live.typed.no_single_token"))
    return first


# ----------------------------------------------------------------------------
# sampling

def choose_next(logits: Sequence[float], temperature: float = 0.0, top_k: int | None = None,
                rng: Any = None) -> dict:
    """Pick the next token from the last position's logits.

    temperature 0 (or below): greedy, the most likely token; else sample from
    softmax(logits / temperature), restricted to the ``top_k`` most likely when given.
    Returns {"token", "prob", "runner_up", "runner_up_prob", "greedy"}: probabilities
    under the distribution the choice was made from (greedy: temperature 1).

    A sample takes one uniform draw ``rng.random()`` in [0, 1) (``random.Random``, what the page
    uses, or a numpy ``Generator``; a fresh ``random.Random`` when None) and inverts the
    distribution's cumulative sum (``llmviz.core.sampling.draw``): the page needs no numpy.random.
    """
    import numpy as np

    z = np.asarray(logits, dtype=np.float64).ravel()
    if z.size == 0 or not np.isfinite(z).all():
        raise ValueError("the logits must be a non-empty vector of finite numbers")
    greedy = not temperature or temperature <= 0
    if not greedy:
        if not math.isfinite(temperature):
            raise ValueError("the temperature must be a finite number")
        z = z / temperature
        if top_k is not None and top_k > 0 and top_k < z.size:
            cut = np.sort(z)[-int(top_k)]
            z = np.where(z < cut, -np.inf, z)
    p = np.exp(z - z.max())
    p /= p.sum()
    order = np.argsort(-z, kind="stable")   # by logit: ties and underflow cannot reorder it
    if greedy:
        token = int(order[0])
    else:
        rng = rng if rng is not None else random.Random()
        token = draw(p, float(rng.random()))
    runner = next((int(i) for i in order if int(i) != token), None)
    return {"token": token, "prob": float(p[token]), "greedy": greedy,
            "runner_up": runner, "runner_up_prob": float(p[runner]) if runner is not None else None}


# ----------------------------------------------------------------------------
# your own model

def parse_card_text(card: Any) -> dict:
    """A card given as JSON text, bytes or a dict -> dict; WeightsError when it is not a JSON
    object within the limits (size, nesting: ``limits.read_card_json``)."""
    return read_card_json(card)


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f}"


def check_upload_sizes(files: Sequence[tuple[str, int]], lang: str | None = None) -> tuple[int | None, int | None]:
    """Which of the picked (name, size) files is the npz and which the card; sizes checked
    before anything is read. Returns (npz index, card index), either may be None."""
    npz = card = None
    for i, (name, size) in enumerate(files):
        lower = str(name).lower()
        if lower.endswith(".npz"):
            if npz is not None:
                raise WeightsError(say(lang, "live.model.two_npz"))
            if size > MAX_BYTES:
                raise WeightsError(say(lang, "live.model.npz_too_big", name=name, size=_mb(size),
                                       limit=MAX_BYTES // 2**20))
            npz = i
        elif lower.endswith(".json"):
            if card is not None:
                raise WeightsError(say(lang, "live.model.two_json"))
            if size > MAX_CARD_BYTES:
                raise WeightsError(say(lang, "live.model.card_too_big", name=name, size=_mb(size)))
            card = i
        else:
            raise WeightsError(say(lang, "live.model.wrong_file", name=name))
    return npz, card


def load_model(npz_bytes: bytes, card: Any, lang: str | None = None):
    """The gate for a user's model: size and card here, then ``weights.from_bytes`` (card
    limits, the npz gate: names, declared sizes, dtypes and shapes before anything is
    inflated; then finite values). WeightsError on any misfit (the gate's own reasons,
    from ``llmviz.core``, are the command line's too, in English)."""
    if not isinstance(npz_bytes, (bytes, bytearray, memoryview)):
        raise WeightsError(say(lang, "live.model.not_bytes"))
    if len(npz_bytes) > MAX_BYTES:
        raise WeightsError(say(lang, "live.model.weights_too_big", size=_mb(len(npz_bytes)),
                               limit=MAX_BYTES // 2**20))
    card = parse_card_text(card)
    try:
        from llmviz.core.weights import from_bytes
    except ImportError:
        raise WeightsError(say(lang, "live.model.no_numpy")) from None
    try:
        return from_bytes(bytes(npz_bytes), card)
    except WeightsError:
        raise
    except (MemoryError, ValueError, TypeError, OverflowError) as e:
        raise WeightsError(say(lang, "live.model.misfit", error=f"{type(e).__name__}: {str(e)[:160]}")) from None


# ----------------------------------------------------------------------------
# the inspector

def _value(tensor: Any, index: tuple) -> float:
    return float(tensor[index])


def cell_index(block: dict, shape: Sequence[int], row: int, col: int) -> tuple[int, ...]:
    """The full index into a block's source tensor (of ``shape``) of cell (row, col)."""
    if "trace" in block:
        lead = tuple(block.get("index", []))
        rest = tuple(shape[len(lead):])
        if len(rest) == 1:
            return lead + (row * block["cols"] + col,)
        r, c = (col, row) if block.get("transpose") else (row, col)
        return lead + (r, c)
    r0 = block.get("slice", [0])[0]
    if len(shape) == 1:
        return (r0 + row * block["cols"] + col,)
    r, c = (col, row) if block.get("transpose") else (row, col)
    return (r0 + r, c)


def block_matrix(block: dict, trace: Mapping, params: Mapping) -> list[list[float | None]]:
    """A block's values as rows x cols floats, from numpy arrays or FlatTensors.

    Cells past the end of a shorter trace (a scene padded to more tokens) are None.
    """
    rows, cols = block["rows"], block["cols"]
    tensor = trace[block["trace"]] if "trace" in block else lookup_param(params, block["param"])
    shape = tuple(tensor.shape)
    if hasattr(tensor, "tolist") and type(tensor).__module__.startswith("numpy"):
        from llmviz.viz.scene_values import source_array
        try:
            return source_array(block, trace, params).tolist()
        except ValueError:
            pass  # a shorter trace: fall back to cell by cell
    out = []
    for r in range(rows):
        line = []
        for c in range(cols):
            idx = cell_index(block, shape, r, c)
            inside = len(idx) == len(shape) and all(0 <= i < n for i, n in zip(idx, shape))
            line.append(_value(tensor, idx) if inside else None)
        out.append(line)
    return out


def token_text(token: str) -> str:
    """A token as a label: itself when printable, else its repr (newline -> '\\n')."""
    if token == " ":
        return "␣"
    if token.isprintable():
        return token
    return repr(token)[1:-1]


_CELL_PREFIX = {"C": "c", "hs": "d", "4C": "u", "block_size": "p"}   # c0, d0, u0, p0: a cell's label


def _labels(dim: str, n: int, vocab: Sequence[str], ids: Sequence[int], lang: str | None) -> tuple[str, list[str]]:
    """An axis's title (its code name, and in words what it counts: ``live.axis.<dim>``) and labels."""
    if dim == "T":
        labels = []
        for t in range(n):
            tok = token_text(vocab[ids[t]]) if t < len(ids) and 0 <= ids[t] < len(vocab) else "-"
            labels.append(f"{t}:{tok}")
        return say(lang, "live.axis.T"), labels
    if dim == "vocab":
        return say(lang, "live.axis.vocab"), [token_text(vocab[i]) if i < len(vocab) else f"<{i}>" for i in range(n)]
    if dim in _CELL_PREFIX:
        return say(lang, f"live.axis.{dim}"), [f"{_CELL_PREFIX[dim]}{i}" for i in range(n)]
    if dim == "1":
        return "", [""] * n
    return dim, [str(i) for i in range(n)]


def axis_labels(block: dict, vocab: Sequence[str], ids: Sequence[int], lang: str | None = None) -> dict:
    """{"row_title", "rows", "col_title", "cols", "head"} for a block's table and CSV."""
    dims = list(block.get("dims") or ["rows", "cols"])
    row_title, rows = _labels(dims[0], block["rows"], vocab, ids, lang)
    col_title, cols = _labels(dims[1] if len(dims) > 1 else "cols", block["cols"], vocab, ids, lang)
    return {"row_title": row_title, "rows": rows, "col_title": col_title, "cols": cols,
            "head": block.get("head")}


def _num(v: float | None) -> str:
    return "" if v is None else format(v, ".7g")


def to_csv(block: dict, matrix: Sequence[Sequence[float | None]], labels: dict) -> str:
    """The block as CSV: a header of column labels, then one labelled line per row."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    corner = f"{block['id']} ({labels['row_title'] or 'row'} \\ {labels['col_title'] or 'col'})"
    w.writerow([corner] + [lab or str(i) for i, lab in enumerate(labels["cols"])])
    for r, line in enumerate(matrix):
        w.writerow([labels["rows"][r] or str(r)] + [_num(v) for v in line])
    return buf.getvalue()


def table_window(rows: int, cols: int, row: int | None, col: int | None,
                 max_rows: int = TABLE_ROWS, max_cols: int = TABLE_COLS) -> tuple[int, int, int, int]:
    """(r0, r1, c0, c1): the part of a big block the number table shows, around the selection."""
    def span(n, at, most):
        if n <= most:
            return 0, n
        at = 0 if at is None else max(0, min(at, n - 1))
        start = max(0, min(at - most // 2, n - most))
        return start, start + most
    r0, r1 = span(rows, row, max_rows)
    c0, c1 = span(cols, col, max_cols)
    return r0, r1, c0, c1
