"""python -m llmviz convert ckpt.pt -o weights/NAME.npz [--meta meta.pkl]

Turns a nanoGPT checkpoint (the dict train.py saves: ``model_args``, ``model``,
and usually ``config``, ``iter_num``, ``best_val_loss``) into the page's format:
``NAME.npz`` with the state dict and ``NAME.json`` with the model card.

The vocabulary comes from nanoGPT's character-level ``meta.pkl`` (``vocab_size``,
``itos``, ``stoi``): the one given with ``--meta``, else one beside the checkpoint,
else ``data/<dataset>/meta.pkl`` for the dataset named in the checkpoint's config.
Without one, tokens are named ``<0>``, ``<1>``, ... and a warning says so.

The checkpoint is read with ``torch.load(..., weights_only=True)``, which refuses
arbitrary Python objects; ``--trust-pickle`` lifts that for files you trust.
Every problem is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

from llmviz.core.limits import MAX_BYTES, WeightsError, check_config
from llmviz.core.shape import SIZE_FIELDS


class ConvertError(Exception):
    """A checkpoint that cannot be converted; the message says why and what to do."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a nanoGPT checkpoint, e.g. out-shakespeare-char/ckpt.pt")
    p.add_argument("-o", "--out", required=True, help="where to write, e.g. weights/shakespeare.npz "
                   "(the card goes beside it as .json)")
    p.add_argument("--meta", help="nanoGPT's meta.pkl with the character vocabulary "
                   "(default: beside the checkpoint, or data/<dataset>/meta.pkl)")
    p.add_argument("--name", help="the model's name in its card (default: the output file's stem)")
    p.add_argument("--gelu", choices=["erf", "tanh"], default="erf",
                   help="the GELU form the model was trained with (nanoGPT: erf)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="load with weights_only=False: runs code stored in the file; only for files you trust")


def main(args: argparse.Namespace) -> int:
    try:
        npz_path, card_file, model = convert(args)
    except (ConvertError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as e:   # a checkpoint bigger than this machine: still one line
        what = "memory" if isinstance(e, MemoryError) else "stack"
        print(f"error: {args.checkpoint}: ran out of {what} converting it", file=sys.stderr)
        return 2
    size = npz_path.stat().st_size
    c = model.config
    print(f"wrote {npz_path} ({size / 1024:.0f} KB) and {card_file}: n_layer {c.n_layer}, n_head {c.n_head}, "
          f"n_embd {c.n_embd}, block_size {c.block_size}, vocab {len(model.vocab)}, "
          f"{model.num_params():,} parameters")
    if size > MAX_BYTES:
        print(f"warning: {npz_path} is larger than {MAX_BYTES // 2**20} MB; the page will refuse to load it",
              file=sys.stderr)
    return 0


def convert(args: argparse.Namespace):
    """Do the conversion; return (npz path, card path, numpy model)."""
    from llmviz.core.model import GPT, GPTConfig
    from llmviz.core.vocab import Vocab
    from llmviz.core.weights import make_card, save

    ckpt_path = Path(args.checkpoint)
    checkpoint = load_checkpoint(ckpt_path, trust_pickle=args.trust_pickle)
    model_args, state = _checkpoint_parts(checkpoint, ckpt_path)
    try:
        config = GPTConfig.from_dict({**model_args, "gelu": args.gelu})
    except (TypeError, ValueError) as e:
        raise ConvertError(f"{ckpt_path}: model_args do not describe a GPT: {str(e)[:200]}") from None
    try:
        check_config(config, max_bytes=None)   # the limits llmviz.load applies, before any array is made
    except WeightsError as e:
        raise ConvertError(f"{ckpt_path}: model_args describe a model llmviz does not load: {e}") from None

    train_config = checkpoint.get("config") if isinstance(checkpoint.get("config"), dict) else {}
    meta_path = find_meta(ckpt_path, args.meta, train_config)
    try:
        check_char_vocab(config, meta_path is not None, train_config)
    except ConvertError as e:
        raise ConvertError(f"{ckpt_path}: {e}") from None

    try:
        model = GPT.from_state_dict(_to_numpy(state), config)
    except WeightsError as e:  # names the key that does not fit
        raise ConvertError(f"{ckpt_path}: the weights do not fit its model_args: {e}") from None

    if meta_path is not None:
        tokens = read_meta(meta_path)
        if len(tokens) > config.vocab_size:
            raise ConvertError(f"{meta_path} lists {len(tokens)} tokens but the model's vocab_size is "
                               f"{config.vocab_size}: is it the meta.pkl of another dataset?")
    else:
        tokens = [f"<{i}>" for i in range(config.vocab_size)]
        print(f"warning: no meta.pkl found (looked beside {ckpt_path} and for the dataset's); "
              f"naming the tokens <0>..<{config.vocab_size - 1}>; pass --meta for a real vocabulary",
              file=sys.stderr)
    try:
        vocab = Vocab(tokens)
    except ValueError as e:
        raise ConvertError(f"{meta_path}: the vocabulary is invalid: {e}") from None

    model.vocab = vocab

    import torch

    out = Path(args.out)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")
    provenance = {
        "converted_from": ckpt_path.name,
        "meta": meta_path.name if meta_path else None,
        "iter_num": _plain(checkpoint.get("iter_num")),
        "best_val_loss": _plain(checkpoint.get("best_val_loss")),
        "dataset": train_config.get("dataset"),
        "dropout": _plain(model_args.get("dropout")),
        "torch": torch.__version__,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
    }
    task = {"name": "text", "description": f"a nanoGPT model trained on {train_config['dataset']}"
            if train_config.get("dataset") else "a nanoGPT model"}
    card = make_card(config, vocab, name=args.name or out.stem, task=task,
                     provenance={k: v for k, v in provenance.items() if v is not None})
    model.card = card
    npz_path, card_file = save(model, out, card)
    return npz_path, card_file, model


def load_checkpoint(path: Path, trust_pickle: bool = False) -> Any:
    """torch.load the file safely, turning every failure into a one-line ConvertError."""
    if not path.exists():
        raise ConvertError(f"no checkpoint at {path}")
    if not path.is_file():
        raise ConvertError(f"{path} is not a file")
    try:
        import torch
    except ImportError:
        raise ConvertError("convert needs torch: pip install 'llmviz[train]'") from None
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; our message says enough
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as e:
        text = str(e)
        if zipfile.is_zipfile(path) and "Weights only load failed" in text:
            found = re.search(r"GLOBAL (\S+) was not an allowed global", text)
            what = f" (found {found.group(1)})" if found else ""
            raise ConvertError(f"{path} stores Python objects besides tensors{what}, which safe loading "
                               f"refuses; if you trust the file, add --trust-pickle") from None
        raise ConvertError(f"{path} is not a PyTorch checkpoint (torch.load failed: {_first_line(text)})") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a file that is not its own
        raise ConvertError(f"{path} is not a PyTorch checkpoint (torch.load failed: "
                           f"{type(e).__name__}: {_first_line(str(e))})") from None


def _checkpoint_parts(checkpoint: Any, path: Path) -> tuple[dict, dict]:
    if not isinstance(checkpoint, dict):
        raise ConvertError(f"{path} is not a nanoGPT checkpoint: it holds a {type(checkpoint).__name__}, "
                           f"expected a dict with 'model_args' and 'model'")
    missing = [k for k in ("model_args", "model") if k not in checkpoint]
    if missing:
        keys = ", ".join(repr(k) for k in list(checkpoint)[:6]) or "none"
        raise ConvertError(f"{path} is not a nanoGPT checkpoint: no {' or '.join(map(repr, missing))} "
                           f"(its keys: {keys})")
    model_args, state = checkpoint["model_args"], checkpoint["model"]
    if not isinstance(model_args, dict) or not isinstance(state, dict):
        raise ConvertError(f"{path} is not a nanoGPT checkpoint: 'model_args' and 'model' must be dicts")
    absent = [k for k in SIZE_FIELDS if model_args.get(k) is None]
    if absent:
        raise ConvertError(f"{path}: model_args lacks {', '.join(absent)}")
    model_args = dict(model_args)
    model_args.setdefault("bias", True)
    return model_args, state


def _to_numpy(state: dict) -> dict:
    """The state dict as numpy arrays; tensors that share their storage (nanoGPT's tied
    ``lm_head.weight`` and ``transformer.wte.weight``, listed under both names) become one
    array, so the model counts and ``save`` stores them once."""
    import torch

    out, seen = {}, {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"key {name!r} in the state dict is a {type(value).__name__}, not a tensor")
        key = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape),
               tuple(value.stride()), value.dtype) if value.numel() else None
        if key is not None and key in seen:
            out[name] = seen[key]
            continue
        if value.is_floating_point():
            value = value.detach().to(torch.float32)
        out[name] = value.cpu().numpy()
        if key is not None:
            seen[key] = out[name]
    return out


GPT2_VOCAB = 50257   # GPT-2's BPE (nanoGPT pads it to 50304): not a character vocabulary


def check_char_vocab(config, meta_found: bool, train_config: dict) -> None:
    """Refuse a model whose vocabulary is not character-level, before anything is written.

    Without a meta.pkl nanoGPT's sample.py assumes GPT-2's BPE encoding; a vocab_size of
    GPT-2's size or more is that (or another subword vocabulary), which llmviz cannot show
    one character a token."""
    if meta_found or config.vocab_size < GPT2_VOCAB:
        return
    source = f" (init_from {train_config['init_from']!r})" if isinstance(train_config.get("init_from"), str) else ""
    raise ConvertError(f"vocab_size is {config.vocab_size:,} and there is no character-level meta.pkl{source}: "
                       f"this looks like GPT-2's BPE vocabulary (50,257 tokens, padded to 50,304); "
                       f"llmviz shows character-level models only (pass --meta if it has one)")


def find_meta(ckpt_path: Path, given: str | None, train_config: dict) -> Path | None:
    """The meta.pkl to use: --meta, else beside the checkpoint, else the dataset's."""
    if given:
        meta = Path(given)
        if not meta.is_file():
            raise ConvertError(f"no meta file at {meta}")
        return meta
    candidates = [ckpt_path.parent / "meta.pkl"]
    dataset = train_config.get("dataset")
    if isinstance(dataset, str) and dataset and "/" not in dataset and dataset not in (".", ".."):
        candidates += [Path.cwd() / "data" / dataset / "meta.pkl",
                       ckpt_path.parent.parent / "data" / dataset / "meta.pkl"]
    return next((c for c in candidates if c.is_file()), None)


class _PlainUnpickler(pickle.Unpickler):
    """Reads only builtin containers and scalars: no classes, so no code runs."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"it refers to {module}.{name}; a meta.pkl holds only dicts, "
                                     f"strings and numbers")


def read_meta(path: Path) -> list[str]:
    """Token strings by id from nanoGPT's char-level meta.pkl."""
    try:
        with open(path, "rb") as f:
            meta = _PlainUnpickler(f).load()
    except Exception as e:  # noqa: BLE001 - any failure means it is not the file we need
        raise ConvertError(f"{path} is not a readable meta.pkl ({_first_line(str(e))})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("itos"), dict):
        raise ConvertError(f"{path} is not nanoGPT's char-level meta.pkl (expected a dict with 'itos'); "
                           f"BPE (GPT-2) vocabularies are not supported")
    itos = meta["itos"]
    size = meta.get("vocab_size", len(itos))
    if not isinstance(size, int) or sorted(itos) != list(range(size)):
        raise ConvertError(f"{path}: 'itos' must map every id 0..vocab_size-1 to a token")
    tokens = [itos[i] for i in range(size)]
    if not all(isinstance(t, str) for t in tokens):
        raise ConvertError(f"{path}: every token in 'itos' must be a string")
    return tokens


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar from a number or a 0-d tensor; None otherwise."""
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (ValueError, RuntimeError):
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return None   # JSON has no NaN or Infinity, and cards are read as strict JSON
    return value if isinstance(value, (int, float, str, bool)) else None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no details"
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    return line if len(line) <= 160 else line[:157] + "..."
