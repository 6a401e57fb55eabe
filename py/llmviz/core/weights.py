"""Weights on disk: ``NAME.npz`` (nanoGPT state-dict names) beside ``NAME.json`` (the model card).

The card holds the config, the vocabulary, the task and where the weights came
from (seed, steps, loss, accuracy, training time, torch version). ``load`` and
``save`` read and write both. Every set of weights passes through
``GPT.from_state_dict`` (names and shapes: ``llmviz.core.shape``), so a misfit is a
WeightsError that names the key, never a silent partial load.

Files from outside are checked before anything is built from them (``from_bytes``,
which the page calls too): the card through ``limits.read_card_json`` (size, depth,
JSON), its config through ``limits.check_config``, the npz through ``npz_gate``
(names, declared sizes, dtypes and shapes, before any array is inflated). Running
out of memory or stack while loading is a WeightsError as well.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from llmviz.core import npz_gate
from llmviz.core.limits import MAX_ARRAY_BYTES, MAX_BYTES, MAX_CARD_BYTES, WeightsError, check_config, read_card_json
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.safe_json import size_text
from llmviz.core.shape import ModelShape
from llmviz.core.vocab import Vocab

CARD_FORMAT = "llmviz-model/1"


# ----------------------------------------------------------------------------
# the model card

def make_card(config: GPTConfig, vocab: Vocab, name: str, task: dict | None = None,
              provenance: dict | None = None) -> dict:
    return {"format": CARD_FORMAT, "name": name, "config": config.to_dict(),
            "vocab": list(vocab.tokens), "task": task or {}, "provenance": provenance or {}}


def parse_card(card: Any, max_bytes: int | None = MAX_BYTES) -> tuple[GPTConfig, Vocab]:
    """Read config and vocabulary from a card dict; WeightsError when it is inconsistent
    (or its parameters, as float32, exceed ``max_bytes``; None: no limit)."""
    if not isinstance(card, dict):
        raise WeightsError("the model card must be a JSON object")
    if card.get("format") != CARD_FORMAT:
        raise WeightsError(f"the model card's format is {card.get('format')!r:.60}, expected {CARD_FORMAT!r}")
    if not isinstance(card.get("config"), dict):
        raise WeightsError("the model card has no 'config' object")
    try:
        config = GPTConfig.from_dict(card["config"])
    except (TypeError, ValueError) as e:
        raise WeightsError(f"the model card's config is invalid: {str(e)[:200]}") from None
    check_config(config, max_bytes)   # before the vocabulary, and long before any array of it is made
    tokens = card.get("vocab")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise WeightsError("the model card's 'vocab' must be a list of strings")
    try:
        vocab = Vocab(tokens)
    except ValueError as e:
        raise WeightsError(f"the model card's vocab is invalid: {e}") from None
    if len(vocab) > config.vocab_size:
        raise WeightsError(f"the model card lists {len(vocab)} tokens but config.vocab_size is {config.vocab_size}")
    return config, vocab


def expected_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """The state-dict names a config implies, with their shapes (no arrays are made)."""
    return ModelShape.from_config(config).param_shapes()


def from_bytes(npz_bytes: bytes, card: Any, max_bytes: int | None = MAX_BYTES) -> GPT:
    """Build a model from the bytes of an npz and a parsed card; WeightsError on any misfit.

    In order: the file size, the card and its config's limits, the npz gate (names,
    declared sizes, dtypes, shapes), and only then the arrays are read and the model built.
    ``max_bytes`` is the page's limit on the file and the parameters (MAX_BYTES); None lifts
    it (``load`` in CPython: the machine's memory is the limit there).
    """
    if max_bytes is not None and len(npz_bytes) > max_bytes:
        raise WeightsError(f"the weights file is {size_text(len(npz_bytes))}; the limit is {max_bytes // 2**20} MB")
    config, vocab = parse_card(card, max_bytes)
    try:
        # the arrays uncompressed (float64 doubles them); with no limit, as much as this
        # config's parameters take as float64 (and at least the page's limit)
        array_limit = (MAX_ARRAY_BYTES * max_bytes // MAX_BYTES if max_bytes is not None else
                       max(MAX_ARRAY_BYTES, 8 * ModelShape.from_config(config).param_count(tied=False) + 2**20))
        checked = npz_gate.check(npz_bytes, expected_shapes(config), optional=("lm_head.weight",),
                                 max_bytes=array_limit)
        state = {member.name: _array(member, data) for member, data in checked.read()}
        model = GPT.from_state_dict(state, config)
    except (MemoryError, RecursionError) as e:
        raise WeightsError(f"ran out of {'memory' if isinstance(e, MemoryError) else 'stack'} "
                           f"building the model of this card ({config.n_layer} layers, n_embd "
                           f"{config.n_embd}, block_size {config.block_size})") from None
    model.vocab, model.card = vocab, card
    return model


def _array(member: npz_gate.Member, data: bytes) -> np.ndarray:
    """The array of a checked .npy member's bytes (a writable copy, as np.load gives)."""
    flat = np.frombuffer(data, dtype=np.dtype(member.descr)).copy()
    return flat.reshape(member.shape, order="F" if member.fortran_order else "C")


def card_path(npz_path: str | os.PathLike) -> Path:
    return Path(npz_path).with_suffix(".json")


def load(path: str | os.PathLike) -> GPT:
    """Load ``NAME.npz`` and the card ``NAME.json`` beside it (no size limit on the weights:
    that is the page's, not CPython's; the card keeps its MAX_CARD_BYTES)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    cpath = card_path(path)
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}")
    if not cpath.is_file():
        raise WeightsError(f"no model card at {cpath} (every NAME.npz needs its NAME.json)")
    size = cpath.stat().st_size
    if size > MAX_CARD_BYTES:   # before reading it
        raise WeightsError(f"{cpath} is {size_text(size)}; the limit is {MAX_CARD_BYTES // 2**20} MB")
    try:
        card = read_card_json(cpath.read_bytes())
    except WeightsError as e:
        raise WeightsError(f"{cpath}: {e}") from None
    return from_bytes(path.read_bytes(), card, max_bytes=None)


def save(model: GPT, path: str | os.PathLike, card: dict) -> tuple[Path, Path]:
    """Write the state dict to ``NAME.npz`` and the card to ``NAME.json``."""
    path = Path(path).with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    if sd["lm_head.weight"] is sd["transformer.wte.weight"]:
        sd = {k: v for k, v in sd.items() if k != "lm_head.weight"}  # tied: store once
    np.savez(path, **sd)
    cpath = card_path(path)
    text = json.dumps(card, indent=2, allow_nan=False)   # ValueError: a card load would refuse
    cpath.write_text(text + "\n", encoding="utf-8")
    return path, cpath
