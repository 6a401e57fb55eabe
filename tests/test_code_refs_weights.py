"""Weights in the code panel: ``self.c_fc``, ``self.ln_1``, ``self.transformer.wte``, ``wte=``,
``self.weight`` / ``self.bias`` ... are bound to the parameter blocks llmviz.viz.layout draws
for the loaded model, in the layer the walkthrough step is about (code_refs.WEIGHTS,
annotate.bind_weights, annotate.highlight)."""
from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import llmviz.walkthrough as wt
from llmviz.codepanel import code_refs, nanogpt_source
from llmviz.viz import layout
from llmviz.core import weights
from llmviz.codepanel.annotate import CodeRef, SelectorError, Weights, bind_weights, highlight, resolve
from llmviz.core.model import GPT, GPTConfig
from llmviz.page.ui import code_view

ROOT = Path(__file__).resolve().parent.parent
SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48, bias=True)
NO_BIAS = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48, bias=False)


def nanogpt_text() -> str | None:
    path = Path(os.environ.get("LLMVIZ_NANOGPT") or "/tmp/nanogpt/model.py")
    if path.is_dir():
        path = path / "model.py"
    if not path.is_file():
        return None
    text, _info = nanogpt_source.get_source(path)
    return text


NANOGPT = nanogpt_text()
SOURCES = ("nanogpt", "port") if NANOGPT else ("port",)


@pytest.fixture(scope="module")
def resolved():
    # through the JSON the page gets, so the test sees what the page sees
    return code_refs.from_json(code_refs.to_json(code_refs.resolve_all(NANOGPT)))


class Spans(HTMLParser):
    """The weight spans of some HTML: their attributes and the text inside them."""

    def __init__(self):
        super().__init__()
        self.spans: list[dict] = []
        self.stack: list[dict | None] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and "param" in (a.get("class") or "").split():
            span = {"var": a["data-var"], "block": a.get("data-block"),
                    "blocks": (a.get("data-blocks") or "").split(),
                    "params": (a.get("data-params") or "").split(), "title": a.get("title"), "text": ""}
            self.spans.append(span)
            self.stack.append(span)
        else:
            self.stack.append(None)

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        for span in self.stack:
            if span is not None:
                span["text"] += data


def weight_spans(html: str) -> list[dict]:
    parser = Spans()
    parser.feed(html)
    assert not parser.stack, "unbalanced spans"
    return parser.spans


def scene_param_ids(config) -> set[str]:
    return {b["id"] for b in layout.scene(config)["blocks"] if b["role"] == "parameter"}


def items_for(keys, config, resolved, layer=0, norm="ln_1"):
    return code_refs.step_code(keys, config, 6, resolved, layer=layer, norm=norm)


# ----------------------------------------------------------------------------
# the mapping, for the sort model (n_layer 3, n_head 3, n_embd 48, bias True)


def test_real_layout_ids_of_the_sort_model():
    ids = scene_param_ids(SORT)
    for want in ("h.1.mlp.c_fc.weight", "h.1.mlp.c_fc.bias", "h.2.attn.c_proj.weight",
                 "h.0.attn.c_attn.q.weight[0]", "h.0.attn.c_attn.v.bias[2]", "h.0.ln_1.weight",
                 "ln_f.bias", "wte.weight", "wpe.weight", "lm_head.weight"):
        assert want in ids, want
    assert not any(i.endswith(".bias") or ".bias[" in i for i in scene_param_ids(NO_BIAS))


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("source", SOURCES)
def test_mlp_c_fc_is_its_layers_weight_and_bias(resolved, source, layer):
    items = items_for(["mlp.forward"], SORT, resolved, layer=layer)
    item = next(i for i in items if i["source"] == source and i["key"] == "mlp.forward")
    spans = {s["var"]: s for s in weight_spans(item["html"])}
    fc = spans["self.c_fc"]
    assert fc["text"] == "self.c_fc"
    assert fc["block"] == f"h.{layer}.mlp.c_fc.weight"
    assert fc["blocks"] == [f"h.{layer}.mlp.c_fc.weight", f"h.{layer}.mlp.c_fc.bias"]
    assert fc["title"] == f"h.{layer}.mlp.c_fc.weight (192, 48), h.{layer}.mlp.c_fc.bias (192,)"
    proj = spans["self.c_proj"]
    assert proj["blocks"] == [f"h.{layer}.mlp.c_proj.weight", f"h.{layer}.mlp.c_proj.bias"]
    # the JSON the page gets says the same
    by_name = {w["name"]: w for w in item["weights"]}
    assert by_name["self.c_fc"]["blocks"] == fc["blocks"]
    assert by_name["self.c_fc"]["params"] == [f"h.{layer}.mlp.c_fc.weight", f"h.{layer}.mlp.c_fc.bias"]
    assert by_name["self.c_fc"]["shapes"] == [[192, 48], [192]]


@pytest.mark.parametrize("source", SOURCES)
def test_each_module_names_its_blocks(resolved, source):
    def spans(keys, layer=1, norm="ln_1"):
        out = {}
        for item in items_for(keys, SORT, resolved, layer=layer, norm=norm):
            if item["source"] == source:
                for s in weight_spans(item["html"]):
                    out.setdefault(s["var"], s)
        return out

    attn = spans(["attention.forward", "attention.init"])
    heads = [f"h.1.attn.c_attn.{kind}.{part}[{h}]" for h in range(3) for kind in "qkv"
             for part in ("weight", "bias")]
    assert sorted(attn["self.c_attn"]["blocks"]) == sorted(heads)
    assert attn["self.c_attn"]["block"] == "h.1.attn.c_attn.weight"
    assert attn["self.c_proj"]["blocks"] == ["h.1.attn.c_proj.weight", "h.1.attn.c_proj.bias"]
    assert "self.bias" not in attn, "the attention's causal mask is not a parameter"

    block = spans(["block.forward", "block.init"], layer=2)
    assert block["self.ln_1"]["blocks"] == ["h.2.ln_1.weight", "h.2.ln_1.bias"]
    assert block["self.ln_2"]["block"] == "h.2.ln_2.weight"
    assert set(block["self.mlp"]["blocks"]) == {f"h.2.mlp.{m}.{p}" for m in ("c_fc", "c_proj")
                                                 for p in ("weight", "bias")}

    for norm, module in (("ln_2", "h.1.ln_2"), ("ln_f", "ln_f")):
        ln = spans(["layernorm.forward", "layernorm.init"], norm=norm)
        assert ln["self.weight"]["blocks"] == [f"{module}.weight"]
        assert ln["self.bias"]["blocks"] == [f"{module}.bias"]

    gpt = spans(["gpt.forward"])
    assert gpt["self.transformer.wte"]["blocks"] == ["wte.weight"]
    assert gpt["self.transformer.wpe"]["blocks"] == ["wpe.weight"]
    assert gpt["self.transformer.ln_f"]["blocks"] == ["ln_f.weight", "ln_f.bias"]
    assert gpt["self.lm_head"]["blocks"] == ["lm_head.weight"]
    assert gpt["self.lm_head"]["title"] == "lm_head.weight (3, 48)"

    init = spans(["gpt.init"])
    assert init["wte"]["blocks"] == ["wte.weight"] and init["wte"]["text"] == "wte"
    assert init["ln_f"]["blocks"] == ["ln_f.weight", "ln_f.bias"]


@pytest.mark.parametrize("config", [SORT, NO_BIAS], ids=["bias", "no-bias"])
def test_every_weight_token_names_blocks_that_exist(resolved, config):
    ids = scene_param_ids(config)
    seen = set()
    for layer in range(config.n_layer):
        for norm in ("ln_1", "ln_2", "ln_f"):
            for item in items_for(list(code_refs.CATALOGUE), config, resolved, layer=layer, norm=norm):
                for span in weight_spans(item["html"]):
                    assert span["text"] == span["var"], span  # the whole chain, nothing else
                    assert span["blocks"] and set(span["blocks"]) <= ids, (item["key"], span)
                    assert all(b.startswith(f"h.{layer}.") for b in span["blocks"]
                               if b.startswith("h.")), (layer, span)
                    seen.add((item["source"], span["var"]))
    assert {("port", "self.c_fc"), ("port", "self.weight"), ("port", "wte")} <= seen
    if NANOGPT:
        assert {("nanogpt", "self.c_attn"), ("nanogpt", "self.transformer.wte"),
                ("nanogpt", "self.lm_head"), ("nanogpt", "self.ln_1")} <= seen
    if config.bias:
        assert ("port", "self.bias") in seen
    else:
        assert not any(s[1] == "self.bias" for s in seen), "no bias blocks, so no bias tokens"


def test_no_bias_model_binds_only_the_weight(resolved):
    items = items_for(["mlp.forward", "layernorm.forward"], NO_BIAS, resolved, layer=2)
    port_mlp = next(i for i in items if i["source"] == "port" and i["key"] == "mlp.forward")
    fc = next(s for s in weight_spans(port_mlp["html"]) if s["var"] == "self.c_fc")
    assert fc["blocks"] == ["h.2.mlp.c_fc.weight"] and fc["params"] == ["h.2.mlp.c_fc.weight"]
    port_ln = next(i for i in items if i["source"] == "port" and i["key"] == "layernorm.forward")
    assert [s["var"] for s in weight_spans(port_ln["html"])] == ["self.weight"]
    assert "self.bias" not in {w["name"] for w in port_ln["weights"]}


def test_param_shapes_are_the_models():
    for config in (SORT, GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=4, n_embd=64)):
        state = GPT(config).state_dict()
        blocks = code_refs.param_blocks(config)
        assert {"transformer." + n if not n.startswith("lm_head") else n for n in blocks} == set(state)
        for name in blocks:
            full = name if name.startswith("lm_head") else "transformer." + name
            info = code_refs.weight_blocks(name, config)   # what a code token reports for it
            assert info["params"] == [name] and tuple(info["shapes"][0]) == state[full].shape, name


# ----------------------------------------------------------------------------
# the walkthrough's layer, and the checks that keep the tables honest


def test_the_steps_layer_picks_the_blocks(resolved):
    model = weights.load(ROOT / "weights" / "sort.npz")
    ids = model.vocab.encode("CBACAB", model.config.block_size)
    vocab = [model.vocab.decode([i]) for i in range(model.config.vocab_size)]
    ctx = {"trace": model.trace(np.array([ids])), "params": model.state_dict(), "config": model.config,
           "vocab": vocab, "input_text": "".join(vocab[i] for i in ids), "task": model.card.get("task")}
    first = next(s for s in wt.render_all(ctx) if s["phase"] == "mlp" and "mlp.forward" in s["code"])
    for layer in (0, 2):
        step = wt.render_step("mlp", first["id"], dict(ctx, follow={"layer": layer, "head": 1}))
        assert step["vars"]["L"] == layer
        items = code_view.panel_items(step, model.config, len(ids), resolved)
        page = code_view.render_panes(items)["port"]
        fc = [s for s in weight_spans(page) if s["var"] == "self.c_fc"]
        assert fc and all(s["block"] == f"h.{layer}.mlp.c_fc.weight" for s in fc), fc


def test_check_all_catches_a_renamed_attribute_and_a_wrong_module(monkeypatch):
    tables = dict(code_refs.WEIGHTS)
    tables[("port", "MLP.forward")] = [Weights("self.c_fcc", "h.{i}.mlp.c_fc")]
    monkeypatch.setattr(code_refs, "WEIGHTS", tables)
    with pytest.raises(SelectorError, match=r"weights of port:MLP.forward.*'self.c_fcc' occur nowhere"):
        code_refs.check_all(None)
    tables[("port", "MLP.forward")] = [Weights("self.c_fc", "h.{i}.mlp.c_fx")]
    with pytest.raises(SelectorError, match=r"no parameter 'h.0.mlp.c_fx'"):
        code_refs.check_all(None)


SAMPLE = '''\
class Thing:
    def forward(self, x):
        y = self.proj(x) + self.proj.bias.sum()
        z = dict(table=self.proj)
        return self.proj.weight.shape, z
'''


def test_bind_weights_marks_whole_chains_and_keywords():
    snip = resolve(CodeRef("port", "Thing.forward"), SAMPLE, "sample.py")
    specs = [Weights("self.proj", "P"), Weights("table", "T")]
    bound = bind_weights(snip, specs, lambda spec: {"block": spec.module, "blocks": [spec.module + "!"]})
    cols = sorted(bound.weight_occurrences)
    assert cols == [(3, 12), (3, 27), (4, 17), (4, 23), (5, 15)]
    assert {(w["name"], tuple(w["lines"])) for w in bound.weights} == {("self.proj", (3, 4, 5)),
                                                                      ("table", (4,))}
    spans = weight_spans(highlight(bound))
    assert [s["text"] for s in spans] == ["self.proj", "self.proj", "table", "self.proj", "self.proj"]
    assert {s["block"] for s in spans} == {"P", "T"} and spans[2]["blocks"] == ["T!"]
    # None from describe leaves the tokens plain
    plain = bind_weights(snip, specs, lambda spec: None)
    assert not plain.weights and 'class="var param"' not in highlight(plain)
    with pytest.raises(SelectorError, match="'self.nope' occur nowhere"):
        bind_weights(snip, [Weights("self.nope", "N")], lambda spec: None)
    assert re.search(r'data-var="self.proj"', highlight(bound))
