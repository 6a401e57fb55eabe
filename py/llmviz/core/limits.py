"""What llmviz accepts from outside, in one place: the page and the command line share it.

A user's weights (``NAME.npz``), model card (``NAME.json``), a checkpoint's
``model_args`` and the page's stored state are checked against these limits
*before* anything is built from them, so a hostile or mistaken file is refused
with one line that says which limit it crossed, instead of a model that fills the
memory (a config with block_size 10**9) or a parser that overflows the stack.

* sizes: ``MAX_BYTES`` (an npz, and the parameters as float32), ``MAX_CARD_BYTES``
  (a card is a config and a vocabulary), ``MAX_STORED_BYTES`` (one value the page
  keeps in localStorage or reads from a link), ``MAX_JSON_DEPTH``;
* the config: ``MAX_BLOCK_SIZE`` (the page draws T x T attention blocks),
  ``MAX_LAYERS`` (it draws every block), and bounds on n_embd, n_head and
  vocab_size; ``check_config`` applies them and the parameter count;
* ``read_card_json``: a card's text (or bytes) through ``safe_json``;
* ``WeightsError``: what every refusal of weights or a card raises.

Pure Python (no numpy), so the page can check a file before numpy is loaded.
"""
from __future__ import annotations

from typing import Any

from llmviz.core import safe_json
from llmviz.core.shape import ModelShape, WeightsError   # one error for weights that do not fit

MAX_BYTES = 64 * 1024 * 1024        # an npz file; also the parameters, counted as float32
MAX_ARRAY_BYTES = 2 * MAX_BYTES     # the arrays of an npz, uncompressed (float64 doubles them)
MAX_CARD_BYTES = 8 * 1024 * 1024    # a card is config + vocabulary: far below this
MAX_STORED_BYTES = 64 * 1024        # one value the page keeps (localStorage) or reads from a link
MAX_JSON_DEPTH = safe_json.MAX_DEPTH

MAX_BLOCK_SIZE = 1024               # the page draws T x T attention blocks
MAX_LAYERS = 48                     # ... and every transformer block
MAX_N_EMBD = 8192
MAX_N_HEAD = 256
MAX_VOCAB = 262_144

# the largest value of each size the config gives (ModelShape.SIZE_FIELDS), and why
_CONFIG_LIMITS = {"block_size": (MAX_BLOCK_SIZE, "the longest text the page draws"),
                  "n_layer": (MAX_LAYERS, "the transformer blocks the page draws"),
                  "n_embd": (MAX_N_EMBD, ""), "n_head": (MAX_N_HEAD, ""), "vocab_size": (MAX_VOCAB, "")}




def check_config(config: Any, max_bytes: int | None = MAX_BYTES) -> None:
    """Refuse a config llmviz will not build, before any array of it is made.

    ``config`` is a GPTConfig (or any object with its fields). Every size must be a
    positive integer within its limit, and the parameters, as float32, within ``max_bytes``
    (MAX_BYTES: the page's limit; None: no limit, as ``llmviz.load`` in CPython).
    """
    for name, (limit, why) in _CONFIG_LIMITS.items():
        value = getattr(config, name, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise WeightsError(f"the config's {name} must be a positive integer, got {value!r:.40}")
        if value > limit:
            raise WeightsError(f"the config's {name} is {value:,}; llmviz loads models with {name} "
                               f"at most {limit:,}" + (f" ({why})" if why else ""))
    try:
        n = ModelShape.from_config(config).param_count()
    except ValueError as e:                   # a size that does not fit the others (n_embd % n_head)
        raise WeightsError(str(e)) from None
    if max_bytes is not None and n * 4 > max_bytes:
        raise WeightsError(f"the config describes {n:,} parameters ({n * 4 / 2**20:,.0f} MB as float32); "
                           f"llmviz loads at most {max_bytes // 2**20} MB")


def read_card_json(card: Any) -> dict:
    """A model card given as JSON text, UTF-8 bytes or a dict -> dict; WeightsError otherwise.

    Text goes through ``safe_json`` with MAX_CARD_BYTES and MAX_JSON_DEPTH, so a huge or
    deeply nested card is refused before it is parsed.
    """
    if isinstance(card, (str, bytes, bytearray, memoryview)):
        try:
            card = safe_json.loads(card, max_bytes=MAX_CARD_BYTES, max_depth=MAX_JSON_DEPTH,
                                   what="the model card")
        except safe_json.JSONError as e:
            raise WeightsError(f"{e}: pick the NAME.json that 'python -m llmviz convert' wrote") from None
    if not isinstance(card, dict):
        raise WeightsError("the model card must be a JSON object (the NAME.json written by "
                           "'python -m llmviz convert')")
    return card
