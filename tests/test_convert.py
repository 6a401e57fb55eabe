"""python -m llmviz convert: nanoGPT checkpoints in, npz + card out, numbers unchanged."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import llmviz  # noqa: E402
from llmviz.__main__ import main as cli  # noqa: E402
from llmviz.core.model import GPTConfig  # noqa: E402
from llmviz.cli.torch_gpt import GPT as TorchGPT  # noqa: E402

CHARS = list("\n !abcdefgh")


def _random_torch_gpt(bias: bool, gelu: str, seed: int = 0) -> TorchGPT:
    """A small GPT with weights large enough that every part changes the logits."""
    torch.manual_seed(seed)
    config = GPTConfig(block_size=8, vocab_size=len(CHARS), n_layer=2, n_head=2, n_embd=16,
                       bias=bias, gelu=gelu)
    model = TorchGPT(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if p.dim() > 1 else 0.2) + (1.0 if ".ln_" in name and name.endswith("weight") else 0.0))
    return model.eval()


def _nanogpt_checkpoint(model: TorchGPT, compiled: bool = True) -> dict:
    """The dict nanoGPT's train.py saves, including what torch.compile and the mask add."""
    c = model.config
    state = dict(model.state_dict())
    for i in range(c.n_layer):  # nanoGPT's non-flash attention keeps its causal mask here
        state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(c.block_size, c.block_size)).view(
            1, 1, c.block_size, c.block_size)
    if compiled:
        state = {"_orig_mod." + k: v for k, v in state.items()}
    model_args = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size,
                      bias=c.bias, vocab_size=c.vocab_size, dropout=0.0)
    return {"model": state, "model_args": model_args, "optimizer": {}, "iter_num": 250,
            "best_val_loss": torch.tensor(1.25), "config": {"dataset": "tiny_char", "batch_size": 4}}


def _write_meta(path) -> None:
    with open(path, "wb") as f:
        pickle.dump({"vocab_size": len(CHARS), "itos": dict(enumerate(CHARS)),
                     "stoi": {ch: i for i, ch in enumerate(CHARS)}}, f)


@pytest.mark.parametrize("bias,gelu,compiled", [(True, "erf", True), (False, "erf", False), (True, "tanh", True)])
def test_converted_logits_match_torch(tmp_path, capsys, bias, gelu, compiled):
    model = _random_torch_gpt(bias, gelu)
    ckpt = tmp_path / "ckpt.pt"
    torch.save(_nanogpt_checkpoint(model, compiled), ckpt)
    _write_meta(tmp_path / "meta.pkl")  # found beside the checkpoint
    out = tmp_path / "weights" / "tiny.npz"
    argv = ["convert", str(ckpt), "-o", str(out)] + (["--gelu", "tanh"] if gelu == "tanh" else [])
    assert cli(argv) == 0
    assert "wrote" in capsys.readouterr().out

    loaded = llmviz.load(out)
    assert loaded.vocab.tokens == CHARS
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "tiny"
    assert card["config"]["bias"] is bias and card["config"]["gelu"] == gelu
    assert card["provenance"]["iter_num"] == 250
    assert card["provenance"]["best_val_loss"] == pytest.approx(1.25)

    idx = np.random.default_rng(1).integers(0, len(CHARS), size=(3, 8))
    with torch.no_grad():
        expected, _ = model(torch.from_numpy(idx))
    got = loaded.forward(idx)
    assert np.abs(expected.numpy()).max() > 1.0  # the comparison is not between near-zeros
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5, rtol=0)


def test_meta_option_and_name(tmp_path, capsys):
    model = _random_torch_gpt(True, "erf")
    (tmp_path / "run").mkdir()
    ckpt = tmp_path / "run" / "ckpt.pt"
    torch.save(_nanogpt_checkpoint(model), ckpt)
    meta = tmp_path / "elsewhere.pkl"
    _write_meta(meta)
    out = tmp_path / "m.npz"
    assert cli(["convert", str(ckpt), "-o", str(out), "--meta", str(meta), "--name", "tiny-char"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["name"] == "tiny-char" and card["vocab"] == CHARS


def test_without_meta_names_tokens_by_id_and_warns(tmp_path, capsys):
    model = _random_torch_gpt(True, "erf")
    ckpt = tmp_path / "ckpt.pt"
    torch.save(_nanogpt_checkpoint(model), ckpt)
    out = tmp_path / "ids.npz"
    assert cli(["convert", str(ckpt), "-o", str(out)]) == 0
    assert "warning: no meta.pkl" in capsys.readouterr().err
    assert llmviz.load(out).vocab.tokens == [f"<{i}>" for i in range(len(CHARS))]


def _bad(tmp_path, capsys, ckpt, *extra) -> str:
    code = cli(["convert", str(ckpt), "-o", str(tmp_path / "out.npz"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err, err
    assert not (tmp_path / "out.npz").exists()
    return err


def test_missing_file(tmp_path, capsys):
    assert "no checkpoint at" in _bad(tmp_path, capsys, tmp_path / "nope.pt")


def test_not_a_torch_file(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint\n" * 20)
    assert "not a PyTorch checkpoint" in _bad(tmp_path, capsys, junk)


def test_not_a_nanogpt_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, ckpt)
    err = _bad(tmp_path, capsys, ckpt)
    assert "not a nanoGPT checkpoint" in err and "model_args" in err


def test_weights_that_do_not_fit(tmp_path, capsys):
    checkpoint = _nanogpt_checkpoint(_random_torch_gpt(True, "erf"))
    checkpoint["model_args"]["n_embd"] = 32  # the tensors are 16 wide
    ckpt = tmp_path / "ckpt.pt"
    torch.save(checkpoint, ckpt)
    err = _bad(tmp_path, capsys, ckpt)
    assert "has shape" in err and "expected" in err


def test_python_objects_are_refused_safely(tmp_path, capsys):
    checkpoint = _nanogpt_checkpoint(_random_torch_gpt(True, "erf"))
    checkpoint["config"] = argparse.Namespace(dataset="tiny_char")
    ckpt = tmp_path / "ckpt.pt"
    torch.save(checkpoint, ckpt)
    err = _bad(tmp_path, capsys, ckpt)
    assert "argparse.Namespace" in err and "--trust-pickle" in err
    # and the user's way out works
    assert cli(["convert", str(ckpt), "-o", str(tmp_path / "trusted.npz"), "--trust-pickle"]) == 0


def test_bad_meta(tmp_path, capsys):
    ckpt = tmp_path / "ckpt.pt"
    torch.save(_nanogpt_checkpoint(_random_torch_gpt(True, "erf")), ckpt)
    meta = tmp_path / "bad_meta.pkl"
    with open(meta, "wb") as f:
        pickle.dump(argparse.Namespace(itos={}), f)  # would need a class to unpickle: refused
    assert "not a readable meta.pkl" in _bad(tmp_path, capsys, ckpt, "--meta", str(meta))


def _nanogpt_source() -> Path | None:
    """nanoGPT's model.py when a checkout is around (LLMVIZ_NANOGPT or /tmp/nanogpt); never vendored."""
    for base in (os.environ.get("LLMVIZ_NANOGPT"), "/tmp/nanogpt"):
        if base and (Path(base) / "model.py").is_file():
            return Path(base) / "model.py"
    return None


@pytest.mark.skipif(_nanogpt_source() is None, reason="no nanoGPT checkout (set LLMVIZ_NANOGPT)")
def test_converts_a_checkpoint_made_by_nanogpt_itself(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("nanogpt_model", _nanogpt_source())
    nanogpt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nanogpt)
    torch.manual_seed(0)
    model_args = dict(n_layer=2, n_head=2, n_embd=16, block_size=8, bias=True,
                      vocab_size=len(CHARS), dropout=0.0)
    model = nanogpt.GPT(nanogpt.GPTConfig(**model_args)).eval()
    with torch.no_grad():  # make the weights big enough to matter
        for p in model.parameters():
            if p.dim() == 2:  # matrices and embeddings; norms and biases keep their init
                p.mul_(5.0)
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "model_args": model_args, "iter_num": 0,
                "best_val_loss": 1e9, "config": {"dataset": "tiny_char"}}, ckpt)
    _write_meta(tmp_path / "meta.pkl")
    assert cli(["convert", str(ckpt), "-o", str(tmp_path / "nano.npz")]) == 0
    capsys.readouterr()

    idx = np.random.default_rng(2).integers(0, len(CHARS), size=(2, 8))
    with torch.no_grad():  # with targets, nanoGPT returns the logits of every position
        expected, _ = model(torch.from_numpy(idx), targets=torch.from_numpy(idx))
    got = llmviz.load(tmp_path / "nano.npz").forward(idx)
    assert np.abs(expected.numpy()).max() > 1.0
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5, rtol=0)


def test_tied_head_is_stored_once_and_counted_as_nanogpt_counts(tmp_path, capsys):
    """PyTorch lists the tied matrix under lm_head.weight and transformer.wte.weight: the
    converted model shares one array, the npz stores it once, the count is nanoGPT's."""
    model = _random_torch_gpt(True, "erf")
    state = model.state_dict()
    assert state["lm_head.weight"].data_ptr() == state["transformer.wte.weight"].data_ptr()
    nanogpt_count = sum(p.numel() for p in model.parameters())   # unique parameters, as nanoGPT's
    ckpt = tmp_path / "ckpt.pt"
    torch.save(_nanogpt_checkpoint(model, compiled=True), ckpt)
    _write_meta(tmp_path / "meta.pkl")
    out = tmp_path / "tied.npz"
    assert cli(["convert", str(ckpt), "-o", str(out)]) == 0
    assert f"{nanogpt_count:,} parameters" in capsys.readouterr().out
    with np.load(out) as npz:
        assert "lm_head.weight" not in npz.files and "transformer.wte.weight" in npz.files
    loaded = llmviz.load(out)
    assert loaded.num_params() == nanogpt_count
    assert loaded.lm_head.weight is loaded.transformer.wte.weight


def test_a_bpe_vocabulary_is_refused_before_any_file_is_written(tmp_path, capsys):
    """A GPT-2 BPE model (vocab 50,304, no meta.pkl) is refused with the reason, and the
    output folder stays empty."""
    torch.manual_seed(0)
    model = TorchGPT(GPTConfig(block_size=8, vocab_size=50304, n_layer=1, n_head=1, n_embd=8)).eval()
    ckpt = tmp_path / "ckpt.pt"
    checkpoint = _nanogpt_checkpoint(model, compiled=False)
    checkpoint["config"] = {"dataset": "openwebtext", "init_from": "scratch"}
    torch.save(checkpoint, ckpt)
    out_dir = tmp_path / "weights"
    assert cli(["convert", str(ckpt), "-o", str(out_dir / "bpe.npz")]) != 0
    err = capsys.readouterr().err
    assert "50,304" in err and "BPE" in err and "character-level" in err, err
    assert not out_dir.exists() or not any(out_dir.iterdir())
