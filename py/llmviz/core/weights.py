"""Weights on disk: ``NAME.npz`` (nanoGPT state-dict names) beside ``NAME.json`` (the model card).

The card holds the config, the vocabulary, the task and where the weights came
from (seed, steps, loss, accuracy, training time, torch version). ``load`` and
``save`` read and write both. Every set of weights passes through
``GPT.from_state_dict`` (names and shapes: ``llmviz.core.shape``), so a misfit is a
WeightsError that names the key, never a silent partial load.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from llmviz.core.model import GPT, GPTConfig
from llmviz.core.shape import WeightsError
from llmviz.core.vocab import Vocab

CARD_FORMAT = "llmviz-model/1"
MAX_BYTES = 64 * 1024 * 1024


# ----------------------------------------------------------------------------
# the model card

def make_card(config: GPTConfig, vocab: Vocab, name: str, task: dict | None = None,
              provenance: dict | None = None) -> dict:
    return {"format": CARD_FORMAT, "name": name, "config": config.to_dict(),
            "vocab": list(vocab.tokens), "task": task or {}, "provenance": provenance or {}}


def parse_card(card: Any) -> tuple[GPTConfig, Vocab]:
    """Read config and vocabulary from a card dict; WeightsError when it is inconsistent."""
    if not isinstance(card, dict):
        raise WeightsError("the model card must be a JSON object")
    if card.get("format") != CARD_FORMAT:
        raise WeightsError(f"the model card's format is {card.get('format')!r}, expected {CARD_FORMAT!r}")
    if not isinstance(card.get("config"), dict):
        raise WeightsError("the model card has no 'config' object")
    try:
        config = GPTConfig.from_dict(card["config"])
    except (TypeError, ValueError) as e:
        raise WeightsError(f"the model card's config is invalid: {e}") from None
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


def from_bytes(npz_bytes: bytes, card: Any) -> GPT:
    """Build a model from the bytes of an npz and a parsed card; WeightsError on any misfit."""
    if len(npz_bytes) > MAX_BYTES:
        raise WeightsError(f"the weights file is {len(npz_bytes) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB")
    config, vocab = parse_card(card)
    try:
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            state = {k: npz[k] for k in npz.files}
    except WeightsError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure to read is the user's file, not our bug
        raise WeightsError(f"the weights file is not a readable .npz archive ({type(e).__name__}: {e})") from None
    model = GPT.from_state_dict(state, config)
    model.vocab, model.card = vocab, card
    return model


def card_path(npz_path: str | os.PathLike) -> Path:
    return Path(npz_path).with_suffix(".json")


def load(path: str | os.PathLike) -> GPT:
    """Load ``NAME.npz`` and the card ``NAME.json`` beside it."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    cpath = card_path(path)
    if not path.exists():
        raise WeightsError(f"no weights file at {path}")
    if not cpath.exists():
        raise WeightsError(f"no model card at {cpath} (every NAME.npz needs its NAME.json)")
    try:
        card = json.loads(cpath.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise WeightsError(f"the model card {cpath} is not valid JSON: {e}") from None
    return from_bytes(path.read_bytes(), card)


def save(model: GPT, path: str | os.PathLike, card: dict) -> tuple[Path, Path]:
    """Write the state dict to ``NAME.npz`` and the card to ``NAME.json``."""
    path = Path(path).with_suffix(".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict()
    if sd["lm_head.weight"] is sd["transformer.wte.weight"]:
        sd = {k: v for k, v in sd.items() if k != "lm_head.weight"}  # tied: store once
    np.savez(path, **sd)
    cpath = card_path(path)
    cpath.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path, cpath
