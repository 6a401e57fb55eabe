"""The model worker's session (CPython): what the page is sent is what a full trace gives.

``Session.run`` (a prompt, the sort task's answer) and ``Session.step`` (one token at a time,
through the KV cache; a new layout when the text outgrows the scene; a sliding window past
block_size) are checked against ``GPT.trace`` of the same window, and the patches a step
sends, applied to what the page had (in pure Python for the trace, cell by cell for the
scene), against the full result of the longer text.
"""
import numpy as np
import pytest

from llmviz.core import sort_task, tracefile
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.vocab import Vocab
from llmviz.core.weights import make_card
from llmviz.page import live
from llmviz.page.session import Session, chunk_size, compare_traces, drive
from llmviz.viz import scene_values

TOL = 1e-5


def random_model(config, seed=0):
    rng = np.random.default_rng(seed)
    state = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
             for k, v in GPT(config).state_dict().items() if k != "lm_head.weight"}
    return GPT.from_state_dict(state, config)


@pytest.fixture(scope="module")
def sort_session():
    config = GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=3, n_embd=24)
    card = make_card(config, Vocab(list(sort_task.LETTERS)), "sort-test", sort_task.TASK)
    return Session(random_model(config), card)


@pytest.fixture(scope="module")
def text_session():
    chars = list("\n abcdefgh")
    config = GPTConfig(block_size=20, vocab_size=len(chars), n_layer=2, n_head=2, n_embd=16)
    return Session(random_model(config, 1), make_card(config, Vocab(chars), "text-test", None))


def page_trace(result):
    return tracefile.read(result["index"], bytearray(result["trace"]))


def check_full(session, result):
    win = session.window(result["ids"])
    want = session.model.trace([win])
    got = page_trace(result)
    assert compare_traces(want, {k: np.asarray(got[k].tolist()) for k in want}) <= TOL
    assert result["T"] == len(win) and result["capacity"] == int(session.scene["T"])
    # the activation values are the scene's blocks of the padded trace
    values = scene_values.unpack(result["values"], result["offsets"])
    assert values and all(v.size for v in values.values())


def test_run_answers_the_sort_input_greedily(sort_session):
    s = sort_session
    ids = s.model.vocab.encode("CBABBC") if s.model.vocab else [2, 1, 0, 1, 1, 2]
    result = drive(s.run(ids))
    want = s.model.generate([ids], 6, temperature=0)[0].tolist()
    assert result["ids"] == want and len(result["ids"]) == 12
    assert result["capacity"] == 11 and result["T"] == 11
    check_full(s, result)


def apply_scene_patch(values: dict, patch: dict) -> None:
    flat = np.frombuffer(patch["values"], "<f4")
    at = 0
    for b, start, count, stride in zip(patch["block"], patch["starts"], patch["counts"], patch["strides"]):
        arr = values[patch["ids"][b]]
        arr[start:start + (count - 1) * stride + 1:stride] = flat[at:at + count]
        at += count
    assert at == flat.size


def test_steps_send_patches_that_give_the_full_result(sort_session):
    s = sort_session
    result = drive(s.run([0, 2, 1], complete=False))
    assert result["capacity"] == 11 and result["T"] == 3      # the sort scene keeps its record's layout
    check_full(s, result)
    data = bytearray(result["trace"])
    values = {k: v.copy() for k, v in scene_values.unpack(result["values"], result["offsets"]).items()}
    index = result["index"]
    kinds = []
    while True:
        step = drive(s.step(0.0))
        kinds.append(step["kind"])
        if step["kind"] == "end":
            break
        assert step["choice"]["greedy"] and step["ids"][-1] == step["choice"]["token"]
        if step["kind"] == "patch":
            tracefile.apply_patch(data, step["trace"])
            apply_scene_patch(values, step["scene"])
            full = s.full_result()
            got = tracefile.read(index, data, T=step["T"])
            want = s.model.trace([s.window(step["ids"])])
            assert compare_traces(want, {k: np.asarray(got[k].tolist()) for k in want}) <= TOL
            for block_id, arr in scene_values.unpack(full["values"], full["offsets"]).items():
                assert np.allclose(values[block_id], arr, atol=TOL), block_id
    # 3 -> 11 positions one at a time, then the record's last letter (predicted, not fed)
    assert kinds == ["patch"] * 8 + ["same", "end"]
    assert len(s.ids) == 12


def test_a_text_model_grows_its_layout_and_slides_past_block_size(text_session):
    s = text_session
    result = drive(s.run([1, 2, 3]))
    assert result["capacity"] == 16 and result["T"] == 3
    kinds = []
    for _ in range(20):
        progress = []
        gen = s.step(1.0, 3)
        while True:
            try:
                progress.append(next(gen))
            except StopIteration as stop:
                step = stop.value
                break
        kinds.append((step["kind"], len(step["ids"])))
        if step["kind"] == "full":
            check_full(s, step)
    # patches up to 16 positions, a bigger layout (the block size, 20) for the 17th, patches
    # to 20, then the window slides: every token a full result (with progress on the way)
    assert kinds[:13] == [("patch", n) for n in range(4, 17)]
    assert kinds[13] == ("full", 17) and kinds[16] == ("patch", 20)
    assert kinds[17:] == [("full", 21), ("full", 22), ("full", 23)]
    assert progress and progress[-1][0] == progress[-1][1] == 20
    assert s.window(s.ids) == s.ids[-20:]


def test_a_stopped_run_changes_nothing(text_session):
    s = text_session
    before = list(s.ids)
    gen = s.run(list(range(1, 10)) * 2)
    next(gen)
    gen.close()                # the worker stops a cancelled run like this
    assert s.ids == before


def test_chunks_scale_with_the_model():
    assert chunk_size(85_000) > 256 and 16 <= chunk_size(10_700_000) <= 64
