"""The committed sort model: stated config, sorts all 729 inputs with the numpy port."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import llmviz
from llmviz.cli.evaluate import evaluate
from llmviz.core.sort_task import ANSWER_LEN, INPUT_LEN, LETTERS, all_inputs, answer, sequence

WEIGHTS = Path(__file__).resolve().parent.parent / "weights" / "sort.npz"
STATED = {"n_layer": 3, "n_head": 3, "n_embd": 48, "block_size": 11, "vocab_size": 3,
          "bias": True, "gelu": "erf"}


@pytest.fixture(scope="module")
def model():
    return llmviz.load(WEIGHTS)


def test_card_states_the_config_task_and_provenance():
    card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    assert card["name"] == "sort-abc"
    assert card["config"] == STATED
    assert card["vocab"] == ["A", "B", "C"]
    assert card["task"]["name"] == "sort"
    assert card["task"]["input_len"] == INPUT_LEN and card["task"]["answer_len"] == ANSWER_LEN
    prov = card["provenance"]
    assert prov["accuracy"] == "729/729"
    for key in ("seed", "steps", "final_loss", "train_seconds", "torch", "date"):
        assert key in prov, key


def test_loaded_config_matches_the_card(model):
    assert {k: getattr(model.config, k) for k in STATED} == STATED
    assert model.vocab.tokens == list(LETTERS)


def test_sorts_every_input_greedily(model):
    inputs = all_inputs()
    idx = np.array([model.vocab.encode(text) for text in inputs])
    outputs = model.generate(idx, ANSWER_LEN, temperature=0)
    answers = [model.vocab.decode(row[INPUT_LEN:]) for row in outputs]
    wrong = [(text, got) for text, got in zip(inputs, answers) if got != "".join(sorted(text))]
    assert wrong == [], f"{len(wrong)} wrong, e.g. {wrong[:3]}"
    # the eval command's counter agrees
    assert evaluate(model) == (729, 729, [])


def test_one_at_a_time_equals_batched(model):
    # the page decodes one input at a time; a few inputs checked that way too
    for text in ["CBABBC", "AAAAAA", "CCCCCB", "BACBAC"]:
        idx = np.array([model.vocab.encode(text)])
        out = model.generate(idx, ANSWER_LEN, temperature=0)[0]
        assert model.vocab.decode(out[INPUT_LEN:]) == "".join(sorted(text))


def test_numpy_port_matches_torch_on_the_shipped_weights(model):
    torch = pytest.importorskip("torch")
    from llmviz.cli.torch_gpt import GPT as TorchGPT

    reference = TorchGPT(model.config).eval()
    state = {k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}
    reference.load_state_dict(state)
    idx = np.array([model.vocab.encode(sequence(text)[:-1]) for text in all_inputs()])
    with torch.no_grad():
        expected, _ = reference(torch.from_numpy(idx))
    np.testing.assert_allclose(model.forward(idx), expected.numpy(), atol=2e-5, rtol=0)


def test_sort_task_data():
    inputs = all_inputs()
    assert len(inputs) == len(set(inputs)) == len(LETTERS) ** INPUT_LEN == 729
    assert inputs == sorted(inputs)
    assert answer("CBABBC") == "".join(sorted("CBABBC"))
    assert sequence("CBABBC") == "CBABBC" + "".join(sorted("CBABBC"))
    with pytest.raises(ValueError):
        sequence("CBXD")
