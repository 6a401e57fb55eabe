"""Training the sort model: reproducible, learning, and written out with an honest card."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import llmviz  # noqa: E402
from llmviz.__main__ import main as cli  # noqa: E402
from llmviz.core.sort_task import INPUT_LEN, LETTERS, all_inputs, sequence  # noqa: E402
from llmviz.cli.train import TrainConfig, learning_rate, sort_dataset, to_numpy, train_sort  # noqa: E402

# one torch thread: this model is too small to gain from two, and on a busy 2-core machine two are ~3x slower
SHORT = dict(steps=30, batch_size=64, warmup_steps=5, learning_rate=3e-3, min_lr=3e-4, log_every=10**9, threads=1)


def _short_run(seed: int = 7):
    model, info = train_sort(TrainConfig(seed=seed, **SHORT), log=None)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, info


def test_short_run_is_deterministic_and_learns():
    weights_a, info_a = _short_run()
    weights_b, info_b = _short_run()
    assert info_a["losses"] == info_b["losses"]
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        assert torch.equal(weights_a[name], weights_b[name]), name
    losses = info_a["losses"]
    assert len(losses) == SHORT["steps"]
    assert np.mean(losses[-5:]) < 0.8 * losses[0]

    weights_c, info_c = _short_run(seed=8)  # the seed is really used
    assert info_c["losses"] != losses
    assert not torch.equal(weights_a["transformer.wte.weight"], weights_c["transformer.wte.weight"])


def test_dataset_scores_only_answer_letters():
    x, y = sort_dataset()
    inputs = all_inputs()
    assert x.shape == y.shape == (len(inputs), 11)
    assert (y[:, : INPUT_LEN - 1] == -1).all() and (y[:, INPUT_LEN - 1:] >= 0).all()
    row = inputs.index("CBABBC")
    letters = "".join(LETTERS[i] for i in x[row].tolist())
    answer = "".join(LETTERS[i] for i in y[row, INPUT_LEN - 1:].tolist())
    assert letters == sequence("CBABBC")[:-1]
    assert answer == "".join(sorted("CBABBC"))
    # rows are inputs, not random: every input appears exactly once
    assert len({tuple(r) for r in x[:, :INPUT_LEN].tolist()}) == len(inputs)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=1000, warmup_steps=100, learning_rate=1e-3, min_lr=1e-4)
    rates = [learning_rate(s, cfg) for s in range(cfg.steps)]
    assert all(a < b for a, b in zip(rates[:100], rates[1:101]))
    assert max(rates) == pytest.approx(1e-3, rel=1e-6)
    assert all(a >= b for a, b in zip(rates[100:], rates[101:]))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)


def test_weight_decay_only_on_matrices():
    from llmviz.cli.torch_gpt import GPT as TorchGPT

    model = TorchGPT(llmviz.GPTConfig(block_size=11, vocab_size=3, n_layer=1, n_head=1, n_embd=8))
    decay, no_decay = model.configure_optimizer(1e-3, 0.1, (0.9, 0.99)).param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_numpy_port_matches_the_trained_torch_model():
    model, _ = train_sort(TrainConfig(seed=3, **SHORT), log=None)
    x, _ = sort_dataset()
    with torch.no_grad():
        expected, _ = model.eval()(x[:50])
    np.testing.assert_allclose(to_numpy(model).forward(x[:50].numpy()), expected.numpy(), atol=1e-5, rtol=0)


def test_train_command_writes_weights_and_card(tmp_path, capsys):
    out = tmp_path / "tiny_sort"
    code = cli(["train", "sort", "--steps", "20", "--seed", "5", "--threads", "1", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "step     0" in printed and "lr" in printed
    card = json.loads(out.with_suffix(".json").read_text())
    prov = card["provenance"]
    correct = int(prov["accuracy"].split("/")[0])
    assert code == (0 if correct == 729 else 1)
    assert prov["seed"] == 5 and prov["steps"] == 20 and prov["torch"] == torch.__version__
    assert card["task"]["name"] == "sort" and card["vocab"] == list(LETTERS)
    model = llmviz.load(out.with_suffix(".npz"))
    assert model.config.block_size == 11 and model.config.n_embd == 48
