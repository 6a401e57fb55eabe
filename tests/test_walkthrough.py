"""The walkthrough: every step renders, names valid blocks, and shows the Trace's numbers.

Run against small random GPTs (the sort model's shape, and a 1-layer 4-head model with
a 65-character vocabulary), with numpy traces and with FlatTensor copies of them.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import llmviz.walkthrough as wt
from llmviz.core import tracefile
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.shape import ModelShape
from llmviz.core.trace import Trace, trace_shapes
from llmviz.walkthrough import markup, numbers

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "py" / "llmviz" / "walkthrough"

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
TEXT = GPTConfig(block_size=32, vocab_size=65, n_layer=1, n_head=4, n_embd=64)
TEXT_VOCAB = list("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
EVIL = "<img src=x onerror=alert(1)>"

FLOORS = {"intro": 6, "prelim": 2, "embedding": 6, "layernorm": 5, "attention": 10,
          "softmax": 3, "projection": 4, "mlp": 7, "stack": 3, "output": 4}
CODE_KEYS = {"embedding.tok", "embedding.pos", "embedding.sum", "layernorm.forward", "layernorm.init",
             "attention.qkv", "attention.split_heads", "attention.scores", "attention.mask",
             "attention.softmax", "attention.weighted_sum", "attention.reassemble", "attention.proj",
             "attention.init", "block.attn_residual", "block.mlp_residual", "block.forward", "mlp.fc",
             "mlp.gelu", "mlp.proj", "mlp.forward", "mlp.init", "gpt.blocks_loop", "gpt.ln_f",
             "gpt.lm_head", "gpt.forward", "gpt.generate", "softmax"}


# ------------------------------------------------------------------ fixtures

def random_model(config: GPTConfig, seed: int = 0) -> GPT:
    rng = np.random.default_rng(seed)
    state = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
             for k, v in GPT(config).state_dict().items()}
    return GPT.from_state_dict(state, config)


def flat(arr: np.ndarray) -> tracefile.FlatTensor:
    raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
    return tracefile.FlatTensor(memoryview(raw).cast("f"), arr.shape)


def make_case(config: GPTConfig, vocab: list[str], ids: list[int], *, flat_copy: bool,
              seed: int = 0, **extra) -> dict:
    model = random_model(config, seed)
    trace = model.trace(np.array([ids]))
    params = model.state_dict()
    ctx = {"trace": trace, "params": params, "config": config, "vocab": vocab, **extra}
    if flat_copy:
        ctx["trace"] = tracefile.read(*tracefile.dump(trace))
        ctx["params"] = {k: flat(v) for k, v in params.items()}
    return {"ctx": ctx, "np_trace": trace, "np_params": params, "config": config}


def sort_case_for(flat_copy: bool) -> dict:
    return make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=flat_copy)


def text_case_for(flat_copy: bool) -> dict:
    ids = [TEXT_VOCAB.index(ch) for ch in "First Citizen:\nBefore we"]
    return make_case(TEXT, TEXT_VOCAB, ids, flat_copy=flat_copy, seed=1)


@pytest.fixture(scope="module", params=["sort-numpy", "sort-flat", "text-numpy", "text-flat",
                                        "sort-follow", "text-follow"])
def case(request):
    """A model, its context, and every step rendered (sort or 65-char text; numpy or flat;
    or following the last layer and head instead of layer 0, head 0)."""
    kind, store = request.param.split("-")
    c = (sort_case_for if kind == "sort" else text_case_for)(store == "flat")
    if store == "follow":
        config = c["config"]
        c["ctx"]["follow"] = {"layer": config.n_layer - 1, "head": config.n_head - 1}
    c["steps"] = wt.render_all(c["ctx"])
    return c


@pytest.fixture(scope="module")
def sort_case():
    return sort_case_for(False)


@pytest.fixture(scope="module")
def text_case():
    return text_case_for(True)


# ------------------------------------------------------------------ helpers

def contract_ids(config: GPTConfig) -> set[str]:
    """Valid block ids, derived here from trace_shapes + the state dict + the [h] rule."""
    per_head = re.compile(r"^h\.\d+\.attn\.(q|k|v|scores|att|att\.max|att\.sum|head_out)$")
    ids = set()
    for name in trace_shapes(config, 1, config.block_size):
        if per_head.match(name):
            ids.update(f"{name}[{h}]" for h in range(config.n_head))
        elif not name.endswith(".attn.qkv"):
            ids.add(name)
    for name in GPT(config).state_dict():
        short = name.removeprefix("transformer.")
        m = re.match(r"^(h\.\d+)\.attn\.c_attn\.(weight|bias)$", short)
        if m:
            ids.update(f"{m[1]}.attn.c_attn.{kind}.{m[2]}[{h}]" for kind in "qkv"
                       for h in range(config.n_head))
        else:
            ids.add(short)
    return ids


def np_evaluate(source, trace, params):
    """An independent numpy evaluation of a number's source."""
    if isinstance(source, (int, float)):
        return source
    if "tensor" in source:
        arr = trace[source["tensor"]] if source["in"] == "trace" else params[source["tensor"]]
        index = tuple(slice(None) if i == "*" else i for i in source["index"])
        return np.asarray(arr)[index].astype(np.float64)
    args = [np_evaluate(a, trace, params) for a in source["args"]]
    op = source["op"]
    if op == "softmax_t":
        z = args[0] / source["temperature"]
        e = np.exp(z - z.max())
        return float(e[source["i"]] / e.sum())
    if op == "count_in":
        return int(((args[0] > source["lo"]) & (args[0] < source["hi"])).sum())
    fns = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
           "recip": lambda a: 1.0 / a, "square": np.square, "sum": np.sum, "mean": np.mean,
           "var": np.var, "max": np.max, "min": np.min, "argmax": np.argmax, "norm": np.linalg.norm,
           "count_neg": lambda a: int((a < 0).sum()), "dot": np.dot}
    return fns[op](*args)


def shown_tolerance(text: str) -> float:
    """Half a unit in the last digit shown: '0.83' -> 0.005, '9.4e-05' -> 5e-07."""
    m = re.fullmatch(r"-?\d+(?:\.(\d+))?(?:e([+-]\d+))?", text)
    assert m, f"not a plain number: {text!r}"
    return 0.5 * 10.0 ** (-len(m[1] or "")) * 10.0 ** int(m[2] or 0)


def all_ids_of(step: dict) -> set[str]:
    ids = set(step["focus"]) | set(step["cells"]) | set(step["refs"])
    ids |= set(re.findall(r'data-block="([^"]+)"', step["html"]))
    ids |= set(wt.animation_ids(step["animation"]))
    ids |= set(step["camera"].get("blocks", []))
    if isinstance(step["dim"], list):
        ids |= set(step["dim"])
    ids |= {n["block"] for n in step["numbers"] if "block" in n}
    return ids


# ------------------------------------------------------------------ structure

def test_phases_in_order_with_their_floors():
    phases = wt.phases()
    assert [p["id"] for p in phases] == list(FLOORS)
    for p in phases:
        assert p["steps"] >= FLOORS[p["id"]], (p["id"], p["steps"])
        assert len(set(p["step_ids"])) == p["steps"], f"duplicate step ids in {p['id']}"
        assert p["title"]


def test_every_step_renders_with_commentary(case):
    steps = case["steps"]
    assert len(steps) == sum(p["steps"] for p in wt.phases())
    for s in steps:
        words = re.sub(r"<[^>]+>", " ", s["html"])
        assert len(words.split()) >= 15, (s["phase"], s["id"], words)
        assert s["title"] and "<" not in s["title"]
        assert s["camera"] and ("blocks" in s["camera"] or "view" in s["camera"])
        assert isinstance(s["code"], list)
        json.dumps(s)  # the page receives it as JSON


def test_every_block_id_is_valid_and_cells_fit(case):
    check_block_ids(case)


def check_block_ids(case):
    steps, c = case["steps"], case
    config, T = c["config"], c["np_trace"]["idx"].shape[1]
    valid = contract_ids(config)
    assert ModelShape.from_config(config).block_ids() == valid
    from llmviz.viz.layout import scene
    the_scene = scene(config, T)
    scene_blocks = {b["id"]: b for b in the_scene["blocks"]}
    assert valid <= set(scene_blocks), sorted(valid - set(scene_blocks))
    for s in steps:
        bad = all_ids_of(s) - valid
        assert not bad, (s["phase"], s["id"], bad)
        if "view" in s["camera"]:
            assert s["camera"]["view"] in the_scene["views"], s["camera"]
        for block, ranges in s["cells"].items():
            rows, cols = scene_blocks[block]["rows"], scene_blocks[block]["cols"]
            for r0, c0, r1, c1 in ranges:
                assert 0 <= r0 <= r1 < rows and 0 <= c0 <= c1 < cols, (s["id"], block, ranges)
        anim = s["animation"]
        if anim is not None:
            assert anim["kind"] in wt.ANIMATION_KINDS, anim
            for f in ("a_cells", "b_cells"):
                if f in anim:
                    rows, cols = scene_blocks[anim[f[0]]]["rows"], scene_blocks[anim[f[0]]]["cols"]
                    r0, c0, r1, c1 = anim[f]
                    assert 0 <= r0 <= r1 < rows and 0 <= c0 <= c1 < cols, (s["id"], anim)


@pytest.mark.parametrize("config, ids", [
    # one head, no biases, GPT-2's tanh GELU, a single position
    (GPTConfig(block_size=11, vocab_size=3, n_layer=1, n_head=1, n_embd=16, bias=False, gelu="tanh"), [1]),
    # the input fills the block: nothing left to append without cropping
    (GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=2, n_embd=16), [2, 1, 0, 1, 1, 2, 0, 1, 1, 1, 2]),
    # a sort input that is not six letters long
    (SORT, [2, 0, 1]),
])
def test_edge_cases_render_correctly(config, ids):
    c = make_case(config, list("ABC"), ids, flat_copy=True)
    c["steps"] = wt.render_all(c["ctx"])
    check_block_ids(c)
    assert check_numbers(c) > 30
    html = "\n".join(s["html"] for s in c["steps"])
    if not config.bias:
        assert "ln_1.bias" not in html and "no bias" in html
    if len(ids) == config.block_size:
        # a sort model's last pass writes the last letter: nothing more is fed back
        assert "and last letter of the answer" in html and "drops the oldest token" not in html
        # any other model, with the block full, goes on by dropping the oldest token
        text = wt.render_step("intro", "feed_back", dict(c["ctx"], task={"name": "text"}))["html"]
        assert "drops the oldest token" in text


def test_code_keys_exist():
    try:
        from llmviz.codepanel.code_refs import CATALOGUE
        known = set(CATALOGUE)
    except ImportError:
        known = CODE_KEYS
    ctx = make_case(SORT, list("ABC"), [0, 1, 2], flat_copy=False)["ctx"]
    used = set()
    for s in wt.render_all(ctx):
        assert s["code"], f"step {s['phase']}/{s['id']} shows no code"
        used.update(s["code"])
    assert used <= known, sorted(used - known)


# ------------------------------------------------------------------ numbers

def test_numbers_equal_the_trace(case):
    check_numbers(case)
    assert sum(len(st["numbers"]) for st in case["steps"]) > 100


def check_numbers(case):
    steps, c = case["steps"], case
    from llmviz.viz.scene_values import source_array
    from llmviz.viz.layout import scene
    T = c["np_trace"]["idx"].shape[1]
    blocks = {b["id"]: b for b in scene(c["config"], T)["blocks"]}
    count = 0
    for s in steps:
        for n in s["numbers"]:
            count += 1
            expected = float(np_evaluate(n["source"], c["np_trace"], c["np_params"]))
            assert math.isclose(n["value"], expected, rel_tol=1e-5, abs_tol=1e-6), (s["id"], n)
            assert abs(float(n["text"]) - n["value"]) <= shown_tolerance(n["text"]) * 1.0001 + 1e-12, n
            assert f">{n['text']}</span>" in s["html"]
            if "block" in n:  # the cell the page highlights on hover shows this very number
                r, col = n["cell"]
                cell = source_array(blocks[n["block"]], c["np_trace"], c["np_params"])[r, col]
                assert math.isclose(float(cell), expected, rel_tol=1e-6, abs_tol=1e-7), (s["id"], n)
    return count


def _step(steps, phase, step_id):
    return next(s for s in steps if s["phase"] == phase and s["id"] == step_id)


def test_worked_arithmetic_holds(case):
    """The equations the text writes out are true of the numbers it shows."""
    steps, hs = case["steps"], case["config"].n_embd // case["config"].n_head

    def vals(phase, step_id):
        return [n["value"] for n in _step(steps, phase, step_id)["numbers"]]

    def close(a, b):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-5), (a, b)

    v = vals("embedding", "sum"); close(v[0] + v[1], v[2])
    v = vals("layernorm", "normalise"); close((v[0] - v[1]) * v[2], v[3])
    v = vals("layernorm", "scale_shift"); close(v[0] * v[1] + v[2], v[3])
    v = vals("attention", "one_score"); close(v[0] / math.sqrt(hs), v[1])
    v = vals("softmax", "max"); close(v[1] - v[0], v[4])
    v = vals("softmax", "exp"); close(math.exp(v[0]), v[1])
    v = vals("softmax", "normalise"); close(v[1] / v[0], v[3])
    v = vals("projection", "heads_together"); close(v[0], v[1])
    v = vals("projection", "residual"); close(v[0] + v[1], v[2])
    v = vals("mlp", "gelu"); close(0.5 * v[0] * (1 + math.erf(v[0] / math.sqrt(2))), v[1])
    v = vals("mlp", "residual"); close(v[0] + v[1], v[2])
    v = vals("output", "loss"); close(-math.log(v[0]), v[1])


@pytest.mark.parametrize("phase, step_id", [("attention", "query"), ("attention", "weighted_sum"),
                                            ("projection", "projection"), ("mlp", "expand"),
                                            ("mlp", "project"), ("output", "logits")])
def test_worked_dot_products_hold(case, phase, step_id):
    """'a × b + c × d + … + bias = result': the full dot product of the row and column
    the first terms come from, plus the bias shown, is the result shown."""
    nums = _step(case["steps"], phase, step_id)["numbers"]
    a0, b0, a1, b1 = (n["source"] for n in nums[:4])

    def vector(s0, s1):
        index = ["*" if i != j else i for i, j in zip(s0["index"], s1["index"])]
        return np_evaluate(dict(s0, index=index), case["np_trace"], case["np_params"])

    total = float(np.dot(vector(a0, a1), vector(b0, b1)))
    rest = nums[4:]
    if rest[0]["source"].get("in") == "params":  # a bias
        total += rest[0]["value"]
        rest = rest[1:]
    assert math.isclose(total, rest[0]["value"], rel_tol=1e-4, abs_tol=1e-4), (total, rest[0])


def test_follow_chooses_the_layer_and_head_of_the_zoomed_phases(sort_case):
    ctx = dict(sort_case["ctx"], follow={"layer": 2, "head": 1})
    steps = wt.render_all(ctx)
    default = {(s["phase"], s["id"]): s for s in wt.render_all(sort_case["ctx"])}
    for s in steps:
        assert s["vars"] == {"t": sort_case["np_trace"]["idx"].shape[1] - 1, "L": 2, "h": 1}
        ids = all_ids_of(s)
        if s["phase"] in ("layernorm", "attention", "softmax", "projection", "mlp"):
            assert not {i for i in ids if i.startswith(("h.0.", "h.1."))} - {"h.1.x"}, (s["id"], ids)
            assert ids & {i for i in contract_ids(SORT) if i.startswith("h.2.")}, s["id"]
        if s["phase"] in ("attention", "softmax"):
            per_head = {i for i in ids if re.search(r"\.attn\.(q|k|v|scores|att|head_out)", i) and i.endswith("]")}
            if per_head and s["id"] != "every_head":
                assert all(i.endswith("[1]") for i in per_head), (s["id"], per_head)
        if s["phase"] in ("intro", "prelim", "embedding", "output"):
            assert s["html"] == default[(s["phase"], s["id"])]["html"], s["id"]
    lines = " ".join(s["html"] for s in steps if s["phase"] == "attention")
    assert "head 1 of block 2" in lines


@pytest.mark.parametrize("follow, message", [
    ({"layer": 3}, "this model has 3 layers (0..2); layer 3"),
    ({"head": -1}, "3 heads (0..2); head -1"),
    ({"head": 1.5}, "head 1.5 is not"),
    ({"head": True}, "head True"),
    ({"block": 0}, "follow takes 'layer' and 'head', not 'block'"),
    ([0, 1], "follow must be"),
])
def test_follow_out_of_range_says_what_the_model_has(sort_case, follow, message):
    with pytest.raises(ValueError) as e:
        wt.render_step("attention", "idea", dict(sort_case["ctx"], follow=follow))
    assert message in str(e.value)
    assert wt.follow_of({"layer": "2", "head": 2.0}, SORT) == {"layer": 2, "head": 2}
    assert wt.follow_of({"layer": None}, SORT) == {"layer": 0, "head": 0}


def test_flat_trace_renders_the_same_html():
    args = (SORT, list("ABC"), [2, 1, 0, 1, 1, 2])
    a = wt.render_all(make_case(*args, flat_copy=False)["ctx"])
    b = wt.render_all(make_case(*args, flat_copy=True)["ctx"])
    assert [s["html"] for s in a] == [s["html"] for s in b]
    assert [s["numbers"] for s in a] == [s["numbers"] for s in b]


def test_numbers_follow_the_input():
    one = make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False)["ctx"]
    two = make_case(SORT, list("ABC"), [0, 0, 2, 1, 2, 0], flat_copy=False)["ctx"]
    for phase, step in (("embedding", "sum"), ("attention", "softmax"), ("output", "probs")):
        a, b = wt.render_step(phase, step, one), wt.render_step(phase, step, two)
        assert [n["text"] for n in a["numbers"]] != [n["text"] for n in b["numbers"]], (phase, step)


def test_token_index_and_attention_claims(sort_case):
    ctx, trace = sort_case["ctx"], sort_case["np_trace"]
    s = wt.render_step("embedding", "token_index", ctx)
    assert s["numbers"][0]["text"] == "2" and "holds C" in s["title"]
    s = wt.render_step("attention", "softmax", ctx)  # "the largest weight ... goes to position p"
    row = trace["h.0.attn.att"][0, 0, 5]
    top = int(np.argmax(row))
    assert s["numbers"][0]["source"]["index"] == [0, 0, 5, top]
    assert f"goes to position {top}" in s["html"]


def test_loss_uses_the_sorted_letter(sort_case):
    ctx, trace = sort_case["ctx"], sort_case["np_trace"]
    s = wt.render_step("output", "loss", ctx)
    target = "ABC".index(sorted("CBABBC")[0])
    loss = -math.log(float(trace["probs"][0, 5, target]))
    shown = [n for n in s["numbers"] if n["source"].get("op") == "neg"]
    assert shown and math.isclose(shown[0]["value"], loss, rel_tol=1e-6)
    # an explicit target_text wins over the sort rule
    other = dict(ctx, target_text="C")
    s2 = wt.render_step("output", "loss", other)
    loss_c = -math.log(float(trace["probs"][0, 5, 2]))
    assert any(math.isclose(n["value"], loss_c, rel_tol=1e-6) for n in s2["numbers"])


def test_task_from_a_model_card(sort_case):
    """The app may pass the card's task dict; an unknown task gets the generic text."""
    card_task = {"name": "sort", "input_len": 6, "answer_len": 6}
    s = wt.render_step("intro", "welcome", dict(sort_case["ctx"], task=card_task))
    assert "alphabetical order" in s["html"]
    s = wt.render_step("intro", "welcome", dict(sort_case["ctx"], task={"name": "text"}))
    assert "alphabetical order" not in s["html"] and "next token" in s["html"]


def test_prelim_table_shows_the_config(text_case):
    s = wt.render_step("prelim", "sizes", text_case["ctx"])
    values = {row[0]: row[2] for row in s["table"]["rows"]}
    assert values["C"] == "64" and values["n_head"] == "4" and values["hs"] == "16"
    assert values["n_layer"] == "1" and values["V"] == "65" and values["4C"] == "256"
    assert "<table" in s["html"]


def test_gelu_plot(sort_case):
    s = wt.render_step("mlp", "gelu", sort_case["ctx"])
    plot = s["plot"]
    assert plot["kind"] == "gelu"
    x = [n for n in s["numbers"] if n["source"].get("tensor") == "h.0.mlp.fc"][0]["value"]
    assert plot["x"] == pytest.approx(x)
    j = s["numbers"][0]["source"]["index"][2]
    assert plot["y"] == pytest.approx(float(sort_case["np_trace"]["h.0.mlp.gelu"][0, 5, j]), abs=1e-5)
    xs = [p[0] for p in plot["curve"]]
    assert xs == sorted(xs) and xs[0] <= x <= xs[-1]


def test_cells_follow_the_scene_orientation(sort_case):
    """The layout draws mlp.fc as T x 4C: the step's cell must be [t, j], not [j, t]."""
    s = wt.render_step("mlp", "gelu", sort_case["ctx"])
    j = s["numbers"][0]["source"]["index"][2]
    assert s["cells"]["h.0.mlp.fc"] == [[5, j, 5, j]]
    assert s["numbers"][0]["cell"] == [5, j]


def test_without_params_the_text_still_renders(sort_case):
    ctx = dict(sort_case["ctx"], params=None)
    steps = wt.render_all(ctx)
    assert any("missing" in s["html"] for s in steps)
    for s in steps:
        assert all(n["source"].get("in") != "params" for n in s["numbers"])


# ------------------------------------------------------------------ markup and safety

def test_number_formatting():
    assert [numbers.fmt(v) for v in (0.8312, -0.0996, 0.0123, 0.00094, 123.45, -1e-9, 0.0)] == \
        ["0.83", "-0.10", "0.012", "0.00094", "123.5", "-1e-09", "0"]
    assert numbers.fmt(-0.0001, 2) == "0.00"  # no negative zero
    assert numbers.fmt_prob(0.9999904) == "0.999990" and numbers.fmt_prob(0.996) == "0.996"
    assert numbers.fmt_prob(1 - 1e-9) == "1.00" and numbers.fmt_prob(0.5) == "0.50"


def test_vocab_strings_are_escaped():
    vocab = [EVIL] + TEXT_VOCAB[1:]
    case = make_case(TEXT, vocab, [0, 5, 0, 7], flat_copy=False)
    steps = wt.render_all(case["ctx"])
    html_all = "\n".join(s["html"] for s in steps)
    assert "<img" not in html_all
    assert "&lt;img src=x onerror=alert(1)&gt;" in html_all
    tables = [s["table"] for s in steps if "table" in s]
    assert any(EVIL in cell for t in tables for row in t["rows"] for cell in row)


def test_markup_basics():
    env = {"n": numbers.Num(0.8312, {"in": "trace", "tensor": "x", "index": [0, 1, 2]}),
           "tok": "<b>", "parts": (numbers.Html("<i>a</i>"), " & b")}
    r = markup.Renderer(env, {"C": 48, "T": 6}, {"L": 0, "h": 1})
    html = r.render("""
    See [[h.{L}.attn.q[{h}]|the **queries**]] and [[x]]: {{n}}, {{dim:C}}, {{size:T}}.
    A token {{tok}}, `code {{n}}` and *stress*; {{parts}}.

    | a | b |
    |---|---|
    | 1 | {{n}} |

    - one
      continued
    - two
    """)
    assert '<span class="ref" data-block="h.0.attn.q[1]">the <b>queries</b></span>' in html
    assert '<span class="ref" data-block="x"><code>x</code></span>' in html
    assert "<var>C</var> = 48" in html and ">6</span>" in html
    assert "&lt;b&gt;" in html and "<em>stress</em>" in html and "<i>a</i> &amp; b" in html
    assert "<table" in html and html.count(">0.83</span>") == 3
    assert "<li>one continued</li><li>two</li>" in html
    assert [x["text"] for x in r.numbers] == ["0.83"] * 3 and r.refs == ["h.0.attn.q[1]", "x"]
    with pytest.raises(KeyError):
        r.render("{{nope}}")


def test_markup_conditionals():
    env = {"yes": True, "no": False, "n": numbers.Num(0.5, {"in": "trace", "tensor": "x", "index": [0, 0, 0]})}

    def render(text):
        return markup.Renderer(env, {"C": 48}, {}).render(text)

    assert render("a {{#if yes}}b{{/if}} c") == "<p>a b c</p>"
    assert render("a {{#if no}}b{{/if}} c") == "<p>a c</p>"                # no double space where it stood
    assert render("{{#if no}}x{{else if !yes}}y{{else if yes & !no}}z{{else}}w{{/if}}") == "<p>z</p>"
    assert render("{{#if no}}x{{else if yes}}y{{else if yes}}z{{/if}}") == "<p>y</p>"   # first match wins
    assert render("{{#if yes}}{{#if no}}p{{else}}q{{/if}}{{else}}r{{/if}}") == "<p>q</p>"   # nested
    # a branch not taken is never read: its values and conditions need not exist
    assert render("{{#if no}}{{missing}} {{#if unknown}}.{{/if}}{{else}}{{n}}{{/if}}") == \
        '<p><span class="num" title="x[0, 0, 0]">0.50</span></p>'
    # tags alone on their lines go with their lines: a branch may be a phrase inside a
    # paragraph, or whole paragraphs
    text = """
    One
    {{#if yes}}
    two
    {{/if}}
    three.

    {{#if no}}
    Not shown.
    {{else}}
    Shown.

    Also shown.
    {{/if}}

    Last.
    """
    assert render(text) == "<p>One two three.</p>\n<p>Shown.</p>\n<p>Also shown.</p>\n<p>Last.</p>"
    assert render("{{#if yes}}[[x|the `x` {{#if no}}no{{else}}block{{/if}}]]{{/if}}") == \
        '<p><span class="ref" data-block="x">the <code>x</code> block</span></p>'
    for bad, words in (("{{#if yes}}open", "never closed"), ("stray {{/if}}", "without an open"),
                       ("{{#if yes}}a{{else}}b{{else}}c{{/if}}", "after {{else}}"),
                       ("{{#if yes}}a{{else}}b{{else if no}}c{{/if}}", "after {{else}}"),
                       ("{{#if nope}}a{{/if}}", "unknown text condition 'nope'"),
                       ("{{#if n}}a{{/if}}", "unknown text condition 'n'"),      # a number is no condition
                       ("{{#if yes & }}a{{/if}}", "empty name")):
        with pytest.raises((ValueError, KeyError), match=re.escape(words)):
            render(bad)


BIAS_AND_HEADS = [   # (config, what the text must choose)
    (GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=3, n_embd=24), {"bias": True, "multi_head": True}),
    (GPTConfig(block_size=11, vocab_size=3, n_layer=1, n_head=1, n_embd=16, bias=False, gelu="tanh"),
     {"bias": False, "multi_head": False}),
    (GPTConfig(block_size=11, vocab_size=3, n_layer=1, n_head=2, n_embd=16, bias=False), {"bias": False, "multi_head": True}),
    (GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=1, n_embd=16), {"bias": True, "multi_head": False}),
]


@pytest.mark.parametrize("config, want", BIAS_AND_HEADS)
def test_conditionals_pick_the_branch_for_the_model(config, want):
    """Steps written once with {{#if}} say what this model has: biases or none, one head or
    several, one block or several, GPT-2's tanh GELU or not; and the markup leaves no trace."""
    c = make_case(config, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False)
    steps = {(s["phase"], s["id"]): s for s in wt.render_all(c["ctx"])}

    def text(phase, step_id):
        return steps[(phase, step_id)]["html"]

    bias, multi_head, multi_layer = want["bias"], want["multi_head"], config.n_layer > 1
    for phase, step_id, block in (("layernorm", "scale_shift", "h.0.ln_1.bias"),
                                  ("attention", "query", "h.0.attn.c_attn.q.bias[0]"),
                                  ("projection", "projection", "h.0.attn.c_proj.bias"),
                                  ("mlp", "expand", "h.0.mlp.c_fc.bias")):
        assert (f'data-block="{block}"' in text(phase, step_id)) == bias, (phase, step_id)
    assert ("(this model has no bias β)" in text("layernorm", "scale_shift")) != bias
    assert ("(this model has no biases)" in text("attention", "query")) != bias
    assert ("and β moves a feature" in text("layernorm", "scale_shift")) == bias
    # the worked sums: two products, (the bias), the result
    for phase, step_id in (("attention", "query"), ("projection", "projection"), ("mlp", "expand"), ("mlp", "project")):
        assert len(steps[(phase, step_id)]["numbers"]) == 5 + bias, (phase, step_id)
    assert ("The other heads do exactly the same" in text("attention", "every_head")) == multi_head
    assert ("This model has a single head" in text("attention", "every_head")) != multi_head
    assert ("each head of block 0" in text("attention", "every_head")) == multi_head
    assert ("The model has " in text("stack", "repeat")) == multi_layer
    assert ("this model has a single one" in text("stack", "repeat")) != multi_layer
    assert ("tanh approximation" in text("mlp", "gelu")) == (config.gelu == "tanh")
    for s in steps.values():
        assert "{{" not in s["html"] and "#if" not in s["html"] and "/if" not in s["html"], s["id"]
        assert "<p></p>" not in s["html"] and "  " not in re.sub(r"<[^>]+>", "", s["html"]), s["id"]


def test_conditionals_may_split_a_step_into_paragraphs():
    """A branch that starts with a blank line adds a paragraph (the mask, with masked
    entries or none; two equal tokens, or none)."""
    one = make_case(SORT, list("ABC"), [1], flat_copy=False)["ctx"]
    many = make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False)["ctx"]
    paragraphs = lambda html: len(re.findall(r"<p[ >]", html))  # noqa: E731 - <p> or <p class=...>
    assert paragraphs(wt.render_step("attention", "mask", one)["html"]) == 1
    assert "nothing is masked" in wt.render_step("attention", "mask", one)["html"]
    assert paragraphs(wt.render_step("attention", "mask", many)["html"]) == 2
    assert paragraphs(wt.render_step("embedding", "all_positions", one)["html"]) == 1
    assert paragraphs(wt.render_step("embedding", "all_positions", many)["html"]) == 2
    choose = wt.render_step("output", "choose", many)["html"].split("</p>")
    assert "right one for sorting" in choose[0] and "temperature" in choose[1]
    other = wt.render_step("output", "choose", dict(many, task={"name": "text"}))["html"].split("</p>")
    assert "sample" in other[0] and "temperature" not in other[0] and "adventurous" in other[1]


def test_a_step_may_still_give_whole_variants(sort_case, monkeypatch):
    """A text table in the catalogue (for a step whose text differs as a whole): the first
    condition that holds."""
    from llmviz.locales import catalogue
    entries = catalogue("en").entries
    monkeypatch.setitem(entries, "attention.scaling.text", {
        "!bias": "Never {{t}}.", "bias & multi_layer": "Biases and blocks: "
        "{{#if multi_head}}heads too{{/if}} at {{t}}.", "*": "Otherwise."})
    assert wt.render_step("attention", "scaling", sort_case["ctx"])["html"] == "<p>Biases and blocks: heads too at 5.</p>"
    monkeypatch.setitem(entries, "attention.scaling.text", {"!bias": "Never."})
    with pytest.raises(ValueError, match="no text variant"):
        wt.render_step("attention", "scaling", sort_case["ctx"])


def test_steps_by_id_or_by_number(sort_case):
    ctx = sort_case["ctx"]
    by_id = wt.render_step("mlp", "gelu", ctx)
    number = [p["step_ids"] for p in wt.phases() if p["id"] == "mlp"][0].index("gelu")
    assert by_id["id"] == "gelu" and by_id["step"] == number
    assert wt.render_step("mlp", number, ctx) == by_id
    with pytest.raises(KeyError, match="has no step 'gelus'"):
        wt.render_step("mlp", "gelus", ctx)
    with pytest.raises(IndexError, match="has steps 0.."):
        wt.render_step("mlp", 99, ctx)


@pytest.mark.parametrize("phase, step_id, weight, inp, out, bias, width", [
    ("attention", "query", "h.0.attn.c_attn.q.weight[0]", "h.0.ln_1", "h.0.attn.q[0]", "h.0.attn.c_attn.q.bias[0]", "C"),
    ("projection", "projection", "h.0.attn.c_proj.weight", "h.0.attn.y", "h.0.attn.out", "h.0.attn.c_proj.bias", "C"),
    ("mlp", "expand", "h.0.mlp.c_fc.weight", "h.0.ln_2", "h.0.mlp.fc", "h.0.mlp.c_fc.bias", "C"),
    ("mlp", "project", "h.0.mlp.c_proj.weight", "h.0.mlp.gelu", "h.0.mlp.out", "h.0.mlp.c_proj.bias", "4C"),
])
def test_linear_steps_highlight_and_animate_one_dot_product(sort_case, phase, step_id, weight, inp, out, bias, width):
    """linear_step: row r of the weights, column t of the input, cell (r, t) of the output,
    the bias in focus; the animation's vectors are as long as a row of the weights; the
    numbers shown are those cells' (in the scene's grid)."""
    s = wt.render_step(phase, step_id, sort_case["ctx"])
    n = {"C": SORT.n_embd, "4C": 4 * SORT.n_embd}[width]
    t = sort_case["np_trace"]["idx"].shape[1] - 1
    assert s["focus"] == [weight, inp, out, bias]
    anim = s["animation"]
    assert (anim["kind"], anim["a"], anim["b"], anim["out"], anim["bias"]) == ("dot", weight, inp, out, bias)
    assert s["cells"][weight] == [anim["a_cells"]] and s["cells"][inp] == [anim["b_cells"]]
    assert s["cells"][out] == [anim["cell"] * 2]
    (r0, c0, r1, c1), (q0, d0, q1, d1) = anim["a_cells"], anim["b_cells"]
    assert (r1 - r0 + 1) * (c1 - c0 + 1) == n == (q1 - q0 + 1) * (d1 - d0 + 1)

    def inside(cell, rng):
        return rng[0] <= cell[0] <= rng[2] and rng[1] <= cell[1] <= rng[3]

    # the numbers of the worked sum: w0 × x0 + w1 × x1 + … + bias = result, each in its highlighted cells
    w0, x0, w1, x1, b, y = s["numbers"]
    assert [num["block"] for num in (w0, x0, w1, x1, b, y)] == [weight, inp, weight, inp, bias, out]
    assert all(inside(num["cell"], anim["a_cells"]) for num in (w0, w1))
    assert all(inside(num["cell"], anim["b_cells"]) for num in (x0, x1))
    assert y["cell"] == anim["cell"]
    assert y["source"]["tensor"] == out.split("[")[0] and y["source"]["index"][-2] == t   # (…, t, unit)
    assert f"({n} products in all)" in s["html"]


def test_text_written_in_our_words_names_code_variables():
    """Each block reference in the commentary names its variable in code style."""
    ctx = make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False)["ctx"]
    refs = 0
    for s in wt.render_all(ctx):
        for m in re.finditer(r'<span class="ref" data-block="[^"]+">(.*?)</span>', s["html"]):
            refs += 1
            assert "<code>" in m[1], (s["id"], m[0])
    assert refs > 60


# ------------------------------------------------------------------ no numpy

def test_package_imports_no_numpy():
    for path in PACKAGE.glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+numpy", path.read_text(), re.M), path


def test_runs_on_a_bundled_trace_without_numpy(tmp_path):
    case = make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False)
    index, data = tracefile.dump(case["np_trace"])
    (tmp_path / "trace.json").write_text(json.dumps(index))
    (tmp_path / "trace.bin").write_bytes(data)
    pindex, pdata = tracefile.dump(Trace(case["np_params"], SORT))
    (tmp_path / "params.json").write_text(json.dumps(pindex))
    (tmp_path / "params.bin").write_bytes(pdata)
    script = textwrap.dedent(f"""
        import sys, json
        sys.modules["numpy"] = None  # any numpy import now fails
        from pathlib import Path
        from llmviz.core import tracefile
        import llmviz.walkthrough as wt
        d = Path({str(tmp_path)!r})
        trace = tracefile.read((d / "trace.json").read_text(), (d / "trace.bin").read_bytes())
        params = tracefile.read((d / "params.json").read_text(), (d / "params.bin").read_bytes())
        steps = wt.render_all({{"trace": trace, "params": params, "vocab": ["A", "B", "C"]}})
        print(json.dumps([s["html"] for s in steps]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    html = json.loads(out.stdout)
    expected = [s["html"] for s in wt.render_all(case["ctx"])]
    assert html == expected


def test_the_intro_does_not_promise_nanogpt_code_the_build_lacks(sort_case):
    with_source = wt.render_step("intro", "map", sort_case["ctx"])["html"]
    without = wt.render_step("intro", "map", dict(sort_case["ctx"], nanogpt=False))["html"]
    assert "the lines of nanoGPT" in with_source
    assert "the lines of nanoGPT" not in without and "built without nanoGPT" in without
    assert "<li>the MLP,</li>" in with_source and "<li>the MLP,</li>" in without


def test_a_short_sort_input_gets_no_promised_answer():
    c = make_case(SORT, list("ABC"), [1, 2, 0], flat_copy=False, task={"name": "sort", "input_len": 6})
    text = wt.render_step("intro", "welcome", c["ctx"])["html"]
    assert "only 3 letters" in text and "should write" not in text
    full = make_case(SORT, list("ABC"), [2, 1, 0, 1, 1, 2], flat_copy=False, task={"name": "sort", "input_len": 6})
    assert "the answer it should write is" in wt.render_step("intro", "welcome", full["ctx"])["html"]


def test_intro_says_small_enough_to_see_only_of_a_small_model(sort_case):
    """The intro's title and first words adapt: a model of millions of numbers is not
    "small enough to see", and not every number of it "fits on screen"."""
    small = wt.render_step("intro", "welcome", sort_case["ctx"])
    assert "small enough to see" in small["title"] and "fits on screen" in small["html"]
    big_config = GPTConfig(block_size=16, vocab_size=len(TEXT_VOCAB), n_layer=2, n_head=2, n_embd=128)
    assert ModelShape.from_config(big_config).param_count() > numbers.SMALL_PARAMS
    ids = [TEXT_VOCAB.index(ch) for ch in "First Citizen"]
    big = wt.render_step("intro", "welcome", make_case(big_config, TEXT_VOCAB, ids, flat_copy=False)["ctx"])
    for words in ("small enough to see", "fits on screen"):
        assert words not in big["title"] and words not in big["html"], words
    assert "every number of it drawn" in big["title"]


def test_a_row_of_values_reads_the_same_at_once_as_value_by_value():
    """read_cell reads a trailing "*" as one row (the walkthrough reads rows of 4C values for
    every step); the values are those of the per-value reads, for numpy and the page's FlatTensor."""
    rng = np.random.default_rng(3)
    config = GPTConfig(block_size=8, vocab_size=3, n_layer=1, n_head=2, n_embd=8)
    store = {"a": rng.standard_normal((1, 5, 7)).astype(np.float32)}
    index, data = tracefile.dump(Trace(store, config))
    flat = tracefile.read(index, data)
    for trace in (store, flat):
        row = numbers.read_cell({"tensor": "a", "index": [0, 3, "*"]}, trace, None)
        col = numbers.read_cell({"tensor": "a", "index": [0, "*", 2]}, trace, None)
        assert row == [float(store["a"][0, 3, j]) for j in range(7)]
        assert col == [float(store["a"][0, t, 2]) for t in range(5)]
        assert all(type(v) is float for v in row + col)


@pytest.mark.parametrize("store", ["numpy", "flat"])
def test_rows_and_columns_read_at_once_are_the_cells_read_one_by_one(store):
    """figures.row/column read each tensor row once (Walk.nums): the same Nums, value and
    source, as cell by cell, for weights (transposed ones too), activations, token ids, and
    without parameters."""
    from llmviz.walkthrough import figures
    from llmviz.walkthrough.numbers import Walk, geometry

    c = sort_case_for(store == "flat")
    for params in (c["ctx"]["params"], None):
        w = Walk({**c["ctx"], "params": params})
        canon = geometry(w.config, w.T).canon
        blocks = ["idx", "x", "h.0.mlp.gelu", "h.0.mlp.c_proj.weight", "h.0.attn.c_attn.q.weight[1]",
                  "lm_head.weight", "h.0.attn.att[0]", "wte.weight"]
        for block in blocks:
            rows, cols = int(canon[block]["rows"]), int(canon[block]["cols"])
            for r in {0, rows - 1}:
                got = figures.row(w, block, r)
                want = [figures.cell(w, block, r, k) for k in range(cols)]
                assert [(n.value, n.source) for n in got] == [(n.value, n.source) for n in want], (block, r)
            for k in {0, cols - 1}:
                got = figures.column(w, block, k)
                want = [figures.cell(w, block, r, k) for r in range(rows)]
                assert [(n.value, n.source) for n in got] == [(n.value, n.source) for n in want], (block, k)
        assert params is not None or all(n.value is None for n in figures.row(w, "wte.weight", 0))


def test_an_op_of_nums_uses_their_values():
    """Walk.op computes from its Nums' values (read once), the same value as its source re-evaluated."""
    from llmviz.walkthrough.numbers import Walk, evaluate

    c = sort_case_for(True)
    w = Walk(c["ctx"])
    a, b = w.act("x", 0, 1, 2), w.par("wte.weight", 1, 2)
    for num in (w.op("mul", a, b), w.op("add", w.op("mul", a, b), a), w.op("sub", a, 0.5)):
        assert num.value == evaluate(num.source, c["ctx"]["trace"], c["ctx"]["params"])
    bare = Walk({**c["ctx"], "params": None})     # no parameters: their products are unknown too
    assert bare.op("mul", bare.act("x", 0, 1, 2), bare.par("wte.weight", 0, 0)).value is None
