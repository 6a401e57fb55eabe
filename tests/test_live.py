"""llmviz.page.live: the rules of the live view (input, sequences, sampling, uploads, inspector tables).

Every bad input or file must end in InputError / WeightsError with a message, never in
another exception, and a failed load must leave the model in use as it was.
"""
from __future__ import annotations

import csv
import io
import json
import math
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmviz.viz import layout
from llmviz.page import live
from llmviz.core import sampling, sort_task, tracefile
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.trace import Trace
from llmviz.core.vocab import InputError, Vocab
from llmviz.core.weights import MAX_BYTES, WeightsError, make_card

SORT_CARD = {"task": dict(sort_task.TASK)}
ABC = Vocab(list(sort_task.LETTERS))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- a small model to load

def _model(seed: int = 0, chars: str = "ABC", **cfg) -> tuple[GPT, dict]:
    config = GPTConfig(**{"block_size": 11, "vocab_size": len(chars), "n_layer": 2, "n_head": 2,
                          "n_embd": 16, **cfg})
    rng = np.random.default_rng(seed)
    state = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
             for k, v in GPT(config).state_dict().items()}
    model = GPT.from_state_dict(state, config)
    card = make_card(config, Vocab(list(chars)), f"test-{seed}", sort_task.TASK if chars == "ABC" else None)
    return model, card


def _npz(state: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good():
    model, card = _model()
    return _npz(model.state_dict()), card, model


@pytest.fixture(scope="module")
def current():
    """The model 'in use': every failed load below must leave it exactly as it is."""
    model, card = _model(seed=7)
    loaded = live.load_model(_npz(model.state_dict()), json.dumps(card))
    logits = loaded.forward([[0, 1, 2, 1]]).copy()
    weights = {k: v.copy() for k, v in loaded.state_dict().items()}
    return loaded, logits, weights


def _untouched(current) -> None:
    model, logits, weights = current
    assert np.array_equal(model.forward([[0, 1, 2, 1]]), logits)
    for k, v in model.state_dict().items():
        assert np.array_equal(v, weights[k]), k


def _refused(npz_bytes, card, current, *words: str) -> str:
    with pytest.raises(WeightsError) as info:
        live.load_model(npz_bytes, card)
    message = str(info.value)
    for word in words:
        assert word in message, message
    _untouched(current)
    return message


# ---------------------------------------------------------------- input

def test_input_limit_is_the_task_input_or_block_size():
    assert live.input_limit(SORT_CARD, 11) == 6
    assert live.input_limit({"task": {"name": "text"}}, 64) == 64
    assert live.input_limit({}, 8) == 8


@given(st.text(alphabet="ABCabcx <>&\n\u00e9", max_size=9))
@SETTINGS
def test_check_input_accepts_exactly_the_vocabulary(text):
    fits = 1 <= len(text) <= 6 and set(text) <= set("ABC")
    try:
        ids = live.check_input(text, ABC, 6)
    except InputError as e:
        assert not fits
        message = str(e)
        assert "6" in message, message
        if set(text) <= set("ABC"):
            assert "too many" in message or "at least one" in message, message
        else:
            assert "A, B, C" in message, message
    else:
        assert fits and ABC.decode(ids) == text


def test_too_long_names_the_real_limit():
    """The sort model's limit is its task's input length (6), not block_size (11); a text
    model's limit is block_size, and then the message says so."""
    with pytest.raises(InputError) as info:
        live.check_input("CCBAABA", ABC, live.input_limit(SORT_CARD, 11), live.limit_reason(SORT_CARD, 11))
    message = str(info.value)
    assert "7 letters" in message and "sorts exactly 6" in message, message
    assert "block_size" not in message and "11" not in message, message
    text_vocab = Vocab(list("\n !abcdefgh"))
    with pytest.raises(InputError) as info:
        live.check_input("bad cafe!", text_vocab, live.input_limit({}, 8), live.limit_reason({}, 8))
    assert "at most 8" in str(info.value) and "block_size" in str(info.value), str(info.value)
    # a sort task longer than the block: block_size is the limit, and named
    long_task = {"task": {"name": "sort", "input_len": 20, "answer_len": 20}}
    assert live.input_limit(long_task, 11) == 11 and "block_size" in live.limit_reason(long_task, 11)
    # the as-you-type rule gives the same reason
    got = live.typed("CCBAABA", ABC, SORT_CARD, 11)
    assert got.run is None and "sorts exactly 6" in got.message and "block_size" not in got.message


def test_lower_case_is_read_in_the_vocabulary_case():
    assert live.normalize("abc", ABC) == "ABC"
    assert live.normalize("cBa", ABC) == "CBA"
    assert live.normalize("abx", ABC) == "ABx"                 # no X token: left for the error
    assert live.normalize("BAD", Vocab(list("\n !abcdefgh"))) == "bad"   # the reverse, too
    both = Vocab(list("aAbB"))
    assert live.normalize("ab", both) == "ab" and live.normalize("AB", both) == "AB"
    assert live.normalize("ABc", Vocab(list("ABc"))) == "ABc"  # both cases in the vocabulary: untouched
    got = live.typed("abc", ABC, SORT_CARD, 11)
    assert (got.field, got.run, got.kind) == ("ABC", "ABC", "info") and "ABC" in got.message


@given(st.text(alphabet="ABCabcDz1 ", max_size=8))
@SETTINGS
def test_typing_never_empties_the_field(new):
    got = live.typed(new, ABC, SORT_CARD, 11, "CBABBC")
    upper = new.upper() if set(new.upper()) <= set("ABCDZ1 ") else new
    assert got.field == live.normalize(new, ABC) and len(got.field) == len(new)
    assert got.field.upper() == upper.upper()
    if new == "":
        assert got.run is None and got.kind == "info" and "CBABBC" in got.message
    elif set(got.field) <= set("ABC") and len(new) <= 6:
        assert got.run == got.field and got.kind in ("", "info")
    else:
        assert got.run is None and got.kind == "error" and got.message
        assert "A, B, C" in got.message or "sorts exactly 6" in got.message, got.message


def test_the_answer_line_is_never_empty_and_says_why_there_is_no_answer():
    tokens = list("ABC")
    ids = ABC.encode("CBABBC") + ABC.encode("ABBBCC")
    assert live.answer_line(SORT_CARD, tokens, "CBABBC", ids) == "the model's answer: ABBBCC (sorted)"
    wrong = ABC.encode("CBABBC") + ABC.encode("ABBBCA")
    assert "sorted would be ABBBCC" in live.answer_line(SORT_CARD, tokens, "CBABBC", wrong)
    short = live.answer_line(SORT_CARD, tokens, "BCA", ABC.encode("BCA"))
    assert short.startswith("no answer") and "6 letters" in short and "3" in short, short
    assert live.answer_line(SORT_CARD, tokens, "CBABBC", ABC.encode("CBABBC"))      # after Reset
    assert live.answer_line({}, list("ab"), "ab", [0, 1])                          # a text model


def test_check_input_refuses_non_text():
    with pytest.raises(InputError):
        live.check_input(["A"], ABC, 6)


# ---------------------------------------------------------------- what the view shows

def test_sort_sequence_is_input_plus_answer_cut_to_the_block():
    assert live.full_length(SORT_CARD, 11, 6) == 12      # input + answer
    assert live.full_length(SORT_CARD, 11, 4) == 4       # a partial input: the input alone
    assert live.full_length({}, 64, 10) == 10            # a text model: the prompt
    ids = list(range(12))
    assert live.window(ids, SORT_CARD, 11) == ids[:11]   # the pass that predicted the last letter
    assert live.window(ids, {}, 11) == ids[1:]           # nanoGPT's crop: the last block_size
    assert live.window(ids[:5], SORT_CARD, 11) == ids[:5]
    assert live.max_length(SORT_CARD, 11) == 12


def test_the_shipped_model_answers_by_its_own_greedy_choices():
    from pathlib import Path

    from llmviz.core import weights
    path = Path(__file__).resolve().parent.parent / "weights" / "sort.npz"
    if not path.exists():
        pytest.skip("weights/sort.npz is not in this checkout")
    model = weights.load(path)
    ids = ABC.encode("CCBAAB")
    while len(ids) < live.full_length(model.card, 11, 6):
        logits = model.forward([live.window(ids, model.card, 11)])
        ids.append(live.choose_next(logits[0, -1])["token"])
    assert ABC.decode(ids) == "CCBAAB" + "AABBCC"


def test_default_prompt_fits_the_model():
    assert live.default_prompt(SORT_CARD, ABC, 6, "CBABBC") == "CBABBC"
    text_vocab = Vocab(list("\n !abcdefgh"))
    assert live.default_prompt({}, text_vocab, 8) == "a"
    assert live.default_prompt({}, Vocab(["<x>", "q"]), 8) == "q"
    with pytest.raises(InputError):
        live.default_prompt({}, Vocab(["ab", "cd"]), 8)


# ---------------------------------------------------------------- choosing the next token

@given(st.lists(st.floats(-20, 20), min_size=2, max_size=12))
@SETTINGS
def test_greedy_takes_the_most_likely_and_names_the_runner_up(logits):
    c = live.choose_next(logits)
    order = sorted(range(len(logits)), key=lambda i: (-logits[i], i))
    assert c["greedy"] and c["token"] == order[0] and c["runner_up"] == order[1]
    assert c["prob"] >= c["runner_up_prob"]
    p = np.exp(np.array(logits) - max(logits))
    p /= p.sum()
    assert c["prob"] == pytest.approx(p[order[0]])


@given(st.lists(st.floats(-5, 5), min_size=3, max_size=10), st.integers(1, 3),
       st.floats(0.1, 3.0), st.integers(0, 2**32 - 1))
@SETTINGS
def test_sampling_stays_in_the_top_k(logits, k, temperature, seed):
    rng = np.random.default_rng(seed)
    c = live.choose_next(logits, temperature, k, rng)
    cut = sorted(logits)[-k]
    assert logits[c["token"]] >= cut
    assert not c["greedy"] and 0 < c["prob"] <= 1


@given(st.lists(st.floats(0, 5), min_size=1, max_size=8), st.floats(0, 1, exclude_max=True))
@SETTINGS
def test_a_draw_falls_in_the_category_whose_cumulative_sum_passes_it(weights, u):
    p = np.array(weights + [1.0])           # one category at least has probability > 0
    p = p / p.sum()
    token = sampling.draw(p, u)
    assert p[token] > 0
    assert p[:token].sum() <= u * p.sum() + 1e-12
    assert u * p.sum() < p[:token + 1].sum() or token == p.size - 1 or not p[token + 1:].any()


def test_sampling_with_the_standard_librarys_random_follows_the_distribution_and_its_seed():
    import random

    logits = [0.0, math.log(3.0), -50.0]      # probabilities 1/4, 3/4, ~0
    tokens = [live.choose_next(logits, 1.0, None, random.Random(seed))["token"] for seed in range(4000)]
    assert 0.70 < tokens.count(1) / len(tokens) < 0.80 and tokens.count(2) == 0
    first = [live.choose_next(logits, 1.0, None, rng)["token"] for rng in [random.Random(7)] for _ in range(30)]
    again = [live.choose_next(logits, 1.0, None, rng)["token"] for rng in [random.Random(7)] for _ in range(30)]
    assert first == again and len(set(first)) == 2


def test_sampling_with_top_1_is_greedy_and_bad_logits_are_refused():
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert live.choose_next([0.1, 2.0, 0.3], 1.5, 1, rng)["token"] == 1
    with pytest.raises(ValueError):
        live.choose_next([1.0, float("nan")])


# ---------------------------------------------------------------- your own model

def test_a_good_pair_loads_and_computes_the_same_logits(good):
    data, card, model = good
    loaded = live.load_model(data, json.dumps(card))
    assert np.allclose(loaded.forward([[0, 1, 2]]), model.forward([[0, 1, 2]]), atol=1e-6)
    assert loaded.card["name"] == card["name"]
    assert live.load_model(data, card).config == model.config          # a dict works too
    assert live.load_model(memoryview(data), json.dumps(card).encode()).config == model.config


@given(st.binary(max_size=2000))
@SETTINGS
def test_random_bytes_are_refused(current, good, data):
    _refused(data, good[1], current)


@given(st.data())
@SETTINGS
def test_truncated_files_are_refused(current, good, data):
    blob = good[0]
    cut = data.draw(st.integers(0, len(blob) - 1))
    _refused(blob[:cut], good[1], current)


@given(st.integers(0, 10**6), st.integers(0, 255))
@SETTINGS
def test_flipped_bytes_never_escape_as_another_exception(current, good, where, value):
    blob = bytearray(good[0])
    blob[where % len(blob)] = value
    try:
        model = live.load_model(bytes(blob), good[1])
    except WeightsError:
        pass
    else:   # a flip inside the data of an array may still be a valid float
        assert all(np.isfinite(v).all() for v in model.state_dict().values())
    _untouched(current)


def test_wrong_shapes_and_keys_are_named(current, good):
    _, card, model = good
    sd = dict(model.state_dict())
    bad = dict(sd, **{"transformer.wpe.weight": np.zeros((5, 16), np.float32)})
    _refused(_npz(bad), card, current, "transformer.wpe.weight", "shape")
    missing = {k: v for k, v in sd.items() if k != "transformer.ln_f.bias"}
    _refused(_npz(missing), card, current, "transformer.ln_f.bias")
    extra = dict(sd, **{"transformer.h.9.mlp.c_fc.weight": np.zeros((2, 2), np.float32)})
    _refused(_npz(extra), card, current, "h.9")
    ints = dict(sd, **{"transformer.wte.weight": np.zeros((3, 16), np.int32)})
    _refused(_npz(ints), card, current, "dtype")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_refused(current, good, bad_value):
    _, card, model = good
    sd = {k: v.copy() for k, v in model.state_dict().items()}
    sd["transformer.h.1.attn.c_proj.weight"][3, 4] = bad_value
    _refused(_npz(sd), card, current, "transformer.h.1.attn.c_proj.weight", "NaN")


def _npy_header_only(shape) -> bytes:
    header = repr({"descr": "<f4", "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def test_oversized_arrays_are_refused_before_reading(current, good):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("transformer.wte.weight.npy", _npy_header_only((100_000, 100_000)))
    _refused(buf.getvalue(), good[1], current, "MB")
    with pytest.raises(WeightsError, match="limit"):
        live.load_model(b"\0" * (MAX_BYTES + 1), good[1])
    _untouched(current)


@pytest.mark.parametrize("edit,words", [
    (lambda c: c.pop("config"), ["config"]),
    (lambda c: c.update(format="something/2"), ["format"]),
    (lambda c: c["config"].update(n_embd=15), ["n_embd"]),
    (lambda c: c["config"].update(n_layer="3"), ["n_layer"]),
    (lambda c: c.update(vocab=["A", "B", "C", "D"]), ["vocab_size"]),
    (lambda c: c.update(vocab=["A", "A", "C"]), ["twice"]),
    (lambda c: c.update(vocab="ABC"), ["vocab"]),
    (lambda c: c["config"].update(n_embd=4096, n_head=2), ["parameters", "MB"]),
    (lambda c: c["config"].update(block_size=100_000), ["block_size"]),
    (lambda c: c["config"].update(n_layer=3), ["h.2"]),
])
def test_bad_cards_are_refused(current, good, edit, words):
    data, card, _ = good
    card = json.loads(json.dumps(card))
    edit(card)
    _refused(data, json.dumps(card), current, *words)


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                              max_leaves=12)))
@SETTINGS
def test_any_card_is_a_weights_error_or_a_model(current, good, card):
    try:
        live.load_model(good[0], card)
    except WeightsError:
        pass
    _untouched(current)


def test_upload_sizes_are_checked_before_reading():
    assert live.check_upload_sizes([("m.json", 10), ("m.npz", 100)]) == (1, 0)
    assert live.check_upload_sizes([("M.NPZ", 100)]) == (0, None)
    with pytest.raises(WeightsError, match="64 MB"):
        live.check_upload_sizes([("big.npz", MAX_BYTES + 1), ("big.json", 10)])
    with pytest.raises(WeightsError, match="model card"):
        live.check_upload_sizes([("a.npz", 10), ("a.json", live.MAX_CARD_BYTES + 1)])
    with pytest.raises(WeightsError, match="neither"):
        live.check_upload_sizes([("ckpt.pt", 10)])
    with pytest.raises(WeightsError, match="two"):
        live.check_upload_sizes([("a.npz", 10), ("b.npz", 10)])


# ---------------------------------------------------------------- the inspector's numbers

@pytest.fixture(scope="module")
def traced():
    model, card = _model(seed=3)
    ids = [2, 0, 1, 1, 0, 2, 0]
    trace = model.trace([ids])
    params = model.state_dict()
    index, data = tracefile.dump(trace)
    pindex, pdata = tracefile.dump(Trace(params, model.config))
    return model, ids, trace, params, tracefile.read(index, data), tracefile.read(pindex, pdata)


def test_block_matrix_matches_scene_values_with_and_without_numpy(traced):
    from llmviz.viz import scene_values

    model, ids, trace, params, flat_trace, flat_params = traced
    scene = layout.scene(model.config, len(ids))
    for block in scene["blocks"]:
        want = scene_values.source_array(block, trace, params)
        assert np.array_equal(np.array(live.block_matrix(block, trace, params), np.float32), want), block["id"]
        got = np.array(live.block_matrix(block, flat_trace, flat_params), np.float32)
        assert np.array_equal(got, want), block["id"]


def test_block_matrix_of_a_longer_scene_leaves_missing_positions_empty(traced):
    model, ids, trace, params, flat_trace, flat_params = traced
    scene = layout.scene(model.config, model.config.block_size)
    block = layout.block_index(scene)["h.0.attn.att[1]"]
    m = live.block_matrix(block, flat_trace, flat_params)
    T = len(ids)
    assert all(v is not None for row in m[:T] for v in row[:T])
    assert all(v is None for v in m[T])
    assert m[T - 1][0] == pytest.approx(float(trace["h.0.attn.att"][0, 1, T - 1, 0]))


def test_labels_and_csv_round_trip(traced):
    model, ids, trace, params, *_ = traced
    vocab = ["A", ",", '<img src=x onerror=alert(1)>']
    scene = layout.scene(model.config, len(ids))
    blocks = layout.block_index(scene)
    for block_id in ("h.1.attn.k[0]", "wte.weight", "logits", "h.0.mlp.fc", "idx"):
        block = blocks[block_id]
        matrix = live.block_matrix(block, trace, params)
        labels = live.axis_labels(block, vocab, ids)
        assert len(labels["rows"]) == block["rows"] and len(labels["cols"]) == block["cols"]
        rows = list(csv.reader(io.StringIO(live.to_csv(block, matrix, labels))))
        assert len(rows) == block["rows"] + 1 and all(len(r) == block["cols"] + 1 for r in rows)
        got = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
        assert np.allclose(got, np.array(matrix), rtol=1e-6, atol=1e-30), block_id
    k = live.axis_labels(blocks["h.1.attn.k[0]"], vocab, ids)
    assert k["head"] == 0 and k["rows"][0] == "d0" and k["cols"][1] == "1:A" and k["cols"][0] == f"0:{vocab[2]}"
    w = live.axis_labels(blocks["wte.weight"], vocab, ids)
    assert w["cols"] == vocab and w["rows"][3] == "c3"
    assert live.axis_labels(blocks["h.0.mlp.fc"], vocab, ids)["cols"][5] == "u5"
    assert live.token_text("\n") == "\\n" and live.token_text(" ") == "\u2423"


@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 299), st.integers(0, 299))
@SETTINGS
def test_table_window_holds_the_selected_cell(rows, cols, r, c):
    r, c = min(r, rows - 1), min(c, cols - 1)
    r0, r1, c0, c1 = live.table_window(rows, cols, r, c)
    assert 0 <= r0 <= r < r1 <= rows and 0 <= c0 <= c < c1 <= cols
    assert r1 - r0 == min(rows, live.TABLE_ROWS) and c1 - c0 == min(cols, live.TABLE_COLS)


def test_the_live_modules_import_without_numpy():
    """The page without numpy still mounts the live view and the inspector (pure-Python paths)."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import builtins, sys
real = builtins.__import__
def blocked(name, *args, **kwargs):
    if name == "numpy" or name.startswith("numpy."):
        raise ImportError("numpy is blocked in this test")
    return real(name, *args, **kwargs)
builtins.__import__ = blocked
from llmviz.page import live
from llmviz.core import tracefile
import llmviz.page.ui.live_view, llmviz.page.ui.live_inspector
from llmviz.core.vocab import Vocab
assert live.check_input("CAB", Vocab(["A", "B", "C"]), 6) == [2, 0, 1]
try:
    live.load_model(b"x", {})
except live.WeightsError as e:
    print("refused:", e)
"""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(root / "py"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "refused:" in proc.stdout
