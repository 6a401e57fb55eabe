"""The code panel's pure-Python half (llmviz.page.ui.code_view): which snippets a step shows,
and that the shapes written beside the lines are this model's Trace shapes.

The panel is rendered for every walkthrough step, for the shipped sort model and for
a 2-layer, 4-head model with a 65-letter vocabulary and another input length; every
shape note in the HTML is checked against the tensor of the block its variable names.
"""
from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import llmviz.walkthrough as wt
from llmviz.codepanel import code_refs
from llmviz.core.model import GPT, GPTConfig
from llmviz.page.ui import code_view

ROOT = Path(__file__).resolve().parent.parent
NANOGPT = Path("/tmp/nanogpt/model.py")
TEXT_VOCAB = list("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
SECOND = GPTConfig(block_size=32, vocab_size=65, n_layer=2, n_head=4, n_embd=64)


def nanogpt_text() -> str | None:
    import os

    path = Path(os.environ.get("LLMVIZ_NANOGPT") or NANOGPT)
    if path.is_dir():
        path = path / "model.py"
    return path.read_text(encoding="utf-8") if path.is_file() else None


@pytest.fixture(scope="module")
def resolved():
    # through the JSON the page gets, so the test sees what the page sees
    data = code_refs.to_json(code_refs.resolve_all(nanogpt_text()))
    return code_refs.from_json(data)


def sort_case():
    from llmviz.core import weights

    model = weights.load(ROOT / "weights" / "sort.npz")
    ids = model.vocab.encode("CBACAB", model.config.block_size)
    vocab = [model.vocab.decode([i]) for i in range(model.config.vocab_size)]
    return model, ids, vocab, model.card.get("task")


def second_case():
    rng = np.random.default_rng(3)
    state = {k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
             for k, v in GPT(SECOND).state_dict().items()}
    model = GPT.from_state_dict(state, SECOND)
    ids = [TEXT_VOCAB.index(ch) for ch in "First Citizen:\nBefore"]
    return model, ids, TEXT_VOCAB, None


class Lines(HTMLParser):
    """Per ``span.line`` of the panel: its number, its note, and its variables."""

    def __init__(self):
        super().__init__()
        self.lines: list[dict] = []
        self.stack: list[str] = []
        self.in_note = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        self.stack.append(" ".join(cls))
        if tag == "span" and "line" in cls:
            self.lines.append({"line": int(a["data-line"]), "note": "", "text": "", "vars": []})
        elif tag == "span" and "note" in cls:
            self.in_note = True
        elif tag == "span" and "var" in cls:
            self.lines[-1]["vars"].append({"name": a["data-var"], "block": a.get("data-block"),
                                           "blocks": (a.get("data-blocks") or "").split()})

    def handle_endtag(self, tag):
        cls = self.stack.pop() if self.stack else ""
        if "note" in cls.split():
            self.in_note = False

    def handle_data(self, data):
        if self.in_note:
            self.lines[-1]["note"] += data
        elif self.lines and "ln" not in self.stack[-1].split():
            self.lines[-1]["text"] += data


def parse_note(note: str) -> list[tuple[list[str], tuple]]:
    """``"q, k: (1, 11, 48); returns (1, 11, 48)"`` -> [(["q", "k"], shape), (["return"], shape)]."""
    out = []
    for part in note.split("; "):
        m = re.fullmatch(r"(?:(.+): |returns )\(([\d, ]*)\)", part.strip())
        assert m, note
        names = [n.strip() for n in m.group(1).split(",")] if m.group(1) else ["return"]
        out.append((names, tuple(int(d) for d in m.group(2).replace(" ", "").split(",") if d)))
    return out


@pytest.mark.parametrize("make", [sort_case, second_case], ids=["sort", "n_head4-vocab65"])
def test_shapes_in_the_panel_are_the_traces(make, resolved):
    model, ids, vocab, task = make()
    config, T = model.config, len(ids)
    trace = model.trace(np.array([ids]))
    ctx = {"trace": trace, "params": model.state_dict(), "config": config, "vocab": vocab,
           "task": task}
    checked, steps_with_code, configs = 0, 0, 0
    for step in wt.render_all(ctx):
        items = code_view.panel_items(step, config, T, resolved)
        page = "".join(code_view.render_panes(items, nanogpt=code_view.nanogpt_available(resolved)).values())
        dims = code_view.dims_line(config, T)   # the sizes line above the panes
        assert f"T = {T}," in dims and f"V = vocab_size = {config.vocab_size}," in dims
        steps_with_code += bool(items)
        parser = Lines()
        parser.feed(page)
        for line in parser.lines:
            if not line["note"]:
                continue
            note = htmllib.unescape(line["note"])
            if note.startswith("this model: ") or note == "not used at inference":
                # a field of GPTConfig: the loaded model's value of that field
                field = re.match(r"\s*(\w+)\s*:", line["text"]).group(1)
                want = ("not used at inference" if not hasattr(config, field)
                        else f"this model: {getattr(config, field)!r}")
                assert note == want, (line, want)
                configs += 1
                continue
            for names, shape in parse_note(note):
                # the note is about the name the line assigns: its first occurrence there
                firsts = {}
                for var in line["vars"]:
                    firsts.setdefault(var["name"], var)
                for var in firsts.values():
                    if var["name"] not in names or var["block"] is None:
                        continue
                    want = tuple(trace[var["block"]].shape)
                    allowed = [want]
                    if re.search(r"\.(mean|rstd|max|sum)$", var["block"]):
                        allowed.append(want + (1,))  # keepdims=True
                    if var["block"] == "logits" and "[-1]" in line["text"]:
                        allowed = [tuple(trace["logits"][:, [-1], :].shape)]  # nanoGPT's inference path
                    assert shape in allowed, (step["id"], line, var)
                    assert var["blocks"], var  # hoverable: it names scene blocks
                    checked += 1
    assert steps_with_code > 40
    assert checked > 150, checked
    assert configs >= 12, configs   # GPTConfig beside the sizes: n_embd, n_layer, ... in both files


def test_shapes_follow_the_input_length(resolved):
    model, ids, vocab, task = second_case()
    step = {"code": ["attention.forward"], "vars": {"L": 1}, "focus": []}
    long_ = "".join(code_view.render_panes(code_view.panel_items(step, model.config, 20, resolved)).values())
    short = "".join(code_view.render_panes(code_view.panel_items(step, model.config, 7, resolved)).values())
    assert "att: (1, 4, 20, 20)" in long_ and "att: (1, 4, 7, 7)" in short
    assert "(1, 4, 7, 7)" not in long_
    # layer 1's blocks, as the step says
    assert 'data-block="h.1.attn.att"' in long_ and 'data-block="h.0.attn.att"' not in long_


def test_step_order_init_collapsed_and_granular_lines_marked(resolved):
    config = SECOND
    step = {"code": ["layernorm.mean", "layernorm.forward"], "vars": {"L": 0}, "focus": ["h.0.ln_2"]}
    items = code_view.panel_items(step, config, 9, resolved)
    port = [i for i in items if i["source"] == "port"]
    assert [i["role"] for i in port] == ["forward", "init"]
    assert port[0]["key"] == "layernorm.forward" and port[1]["key"] == "layernorm.init"
    # the granular line (mean) is marked inside the full function instead of repeated
    mean_line = next(n for n, text in enumerate(port[0]["text"].split("\n"), port[0]["lines"][0])
                     if text.strip().startswith("mean ="))
    assert port[0]["marks"] == [mean_line]
    page = code_view.render_panes(items)["port"]
    assert f'<span class="line marked" data-line="{mean_line}">' in page
    # ln_2 of the focus decides which layer norm the shapes describe
    assert 'data-block="h.0.ln_2.mean"' in page
    # __init__ collapsed by default, the forward pass open; a stored choice wins
    assert re.search(r'class="cv-snippet collapsed" data-id="port:layernorm.init"', page)
    assert re.search(r'class="cv-snippet" data-id="port:layernorm.forward"', page)
    page = code_view.render_panes(items, collapsed={"port:layernorm.forward": True,
                                                    "port:layernorm.init": False})["port"]
    assert re.search(r'class="cv-snippet collapsed" data-id="port:layernorm.forward"', page)
    assert re.search(r'class="cv-snippet" data-id="port:layernorm.init"', page)
    # a compact-only step shows its one line
    only = code_view.panel_items({"code": ["attention.mask"], "vars": {"L": 0}}, config, 9, resolved)
    assert [i["role"] for i in only if i["source"] == "port"] == ["compact", "init"]


def test_published_refs_are_the_files_lines(resolved):
    step = {"code": ["attention.scores", "mlp.forward"], "vars": {"L": 0}}
    refs = code_view.published_refs(code_view.panel_items(step, SECOND, 5, resolved))
    from llmviz.codepanel.annotate import source_lines

    port_lines = source_lines((ROOT / "py" / "llmviz" / "core" / "model.py").read_text(encoding="utf-8"))
    ng = nanogpt_text()
    assert {r["source"] for r in refs} == ({"port", "nanogpt"} if ng else {"port"})
    for ref in refs:
        lines = port_lines if ref["source"] == "port" else source_lines(ng)
        first, last = ref["lines"]
        assert ref["text"] == "\n".join(lines[first - 1:last]), ref
        assert ref["file"] in (code_refs.PORT_FILE, code_refs.NANOGPT_FILE) and ref["symbol"]


@pytest.mark.skipif(nanogpt_text() is None, reason="no nanoGPT model.py at /tmp/nanogpt or $LLMVIZ_NANOGPT")
def test_nanogpt_header_links_the_pinned_lines(resolved):
    from llmviz.codepanel.nanogpt_source import PINNED_COMMIT

    items = code_view.panel_items({"code": ["attention.softmax"], "vars": {"L": 0}}, SECOND, 5, resolved)
    page = "".join(code_view.render_panes(items).values())
    ng = next(i for i in items if i["source"] == "nanogpt")
    a, b = ng["lines"]
    link = re.search(r'<a class="cv-link" href="([^"]+)" target="_blank" rel="noopener"', page)
    assert link and link.group(1).endswith(f"/blob/{PINNED_COMMIT}/model.py#L{a}" + (f"-L{b}" if b != a else ""))
    # our port: the path and lines, no link
    assert f'<span class="cv-file">{code_refs.PORT_FILE}, line' in page
    # another model.py than the pinned one: said once, above its snippets
    assert "not the commit this page pins" in code_view.render_panes(items, nanogpt_status="other")["nanogpt"]
    assert "not the commit this page pins" not in page


def test_without_nanogpt_the_tab_says_how_to_add_it():
    bare = code_refs.from_json(code_refs.to_json(code_refs.resolve_all(None)))
    assert not code_view.nanogpt_available(bare)
    items = code_view.panel_items({"code": ["attention.softmax"], "vars": {"L": 0}}, SECOND, 5, bare)
    panes = code_view.render_panes(items, nanogpt=False)
    pane = panes["nanogpt"]
    assert "does not include nanoGPT" in pane and code_view.BUILD_HINT in pane
    port = panes["port"]
    assert 'data-source="port"' in port and 'class="code"' in port


def test_escapes_titles_and_module_imports_no_numpy():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, llmviz.page.ui.code_view; "
                          "print('numpy' in sys.modules)"], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT / "py"), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False", out.stderr
    item = {"id": "port:x", "key": "x", "title": "<b>t</b>", "source": "port", "file": "a<b.py",
            "symbol": "f", "role": "forward", "lines": [1, 1], "html": "", "url": None, "marks": []}
    page = code_view.render_panes([item])["port"]
    assert "<b>t</b>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page and "a&lt;b.py" in page


def test_lines_are_wrapped_code_then_note(resolved):
    """Each line: number, its code in span.src (with where its wrapped rest starts), then
    the note, after the code and outside it (so CSS can keep the note off the code)."""
    step = {"code": ["attention.forward", "attention.scores"], "vars": {"L": 0}}
    items = code_view.panel_items(step, SECOND, 9, resolved)
    page = code_view.render_panes(items)["port"]
    lines = re.findall(r'<span class="line[^"]*" data-line="(\d+)"><span class="ln">\1</span>'
                       r'<span class="src" style="--hang:(\d+)ch">(.*?)</span>(<span class="note">[^<]*</span>)?'
                       r'</span>(?=<span class="line|</pre>)', page, re.DOTALL)
    assert len(lines) == page.count('<span class="line') and len(lines) > 20
    assert all('class="note"' not in src for _n, _h, src, _note in lines)
    port = next(i for i in items if i["source"] == "port" and i["role"] == "forward")
    text = dict(zip(range(port["lines"][0], port["lines"][1] + 1), port["text"].split("\n")))
    indent = min(len(t) - len(t.lstrip()) for t in text.values() if t.strip())
    seen = 0
    for number, hang, src, note in lines:
        number = int(number)
        if number not in text:
            continue
        # the code of the line, all of it, and the hanging indent: its own indentation + 4
        assert htmllib.unescape(re.sub(r"<[^>]*>", "", src)) == text[number][indent:]
        if text[number].strip():
            own = len(text[number]) - len(text[number].lstrip()) - indent
            assert int(hang) == own + code_view.HANG
        seen += bool(note)
    assert seen >= 5
    scores = next(n for n, t in text.items() if "math.sqrt" in t)
    assert re.search(rf'data-line="{scores}">.*?math.*?sqrt.*?</span><span class="note">att: ', page)
    # marking a line inside a function keeps the wrapping
    marked = code_view.render_panes(code_view.panel_items(
        {"code": ["layernorm.mean", "layernorm.forward"], "vars": {"L": 0}}, SECOND, 9, resolved))["port"]
    assert re.search(r'<span class="line marked" data-line="\d+"><span class="ln">\d+</span><span class="src"', marked)


def test_default_tab_is_numpy_without_nanogpt():
    assert code_view.default_tab(None, True) == "nanogpt"
    assert code_view.default_tab(None, False) == "port"
    assert code_view.default_tab("port", True) == "port"
    assert code_view.default_tab("nanogpt", True) == "nanogpt"
    assert code_view.default_tab("nanogpt", False) == "port"  # the last choice, but none in this build
    assert code_view.default_tab("bogus", False) == "port"


# ----------------------------------------------------------------------------
# every step marks what it is about; every phase shows its own short snippets (issue 12)


def shown_lines(item: dict) -> list[int]:
    """The lines a snippet shows (an outline only its class and def lines)."""
    return item["outline"] or list(range(item["lines"][0], item["lines"][1] + 1))


@pytest.mark.parametrize("make", [sort_case, second_case], ids=["sort", "n_head4-vocab65"])
def test_every_long_snippet_marks_the_lines_its_step_is_about(make, resolved):
    """No open snippet longer than 4 lines has nothing marked, and every step marks a line in
    each tab it shows code in (the panel scrolls to the first of them)."""
    model, ids, vocab, task = make()
    ctx = {"trace": model.trace(np.array([ids])), "params": model.state_dict(), "config": model.config,
           "vocab": vocab, "task": task}
    for step in wt.render_all(ctx):
        items = code_view.panel_items(step, model.config, len(ids), resolved)
        for source in {i["source"] for i in items}:
            mine = [i for i in items if i["source"] == source and i["role"] != "init"]
            assert any(i["marks"] for i in mine), (step["phase"], step["id"], source)
            for item in mine:
                lines = shown_lines(item)
                assert set(item["marks"]) <= set(lines), (step["id"], item["key"])
                if len(lines) > 4:
                    assert item["marks"], (step["phase"], step["id"], item["key"], source)
            page = code_view.render_panes(items)[source]
            assert 'class="line marked"' in page, (step["id"], source)


# per phase, the nanoGPT lines a reader must find there as a short snippet of its own (at most
# 4 lines, marked) in some step of the phase: its code, as model.py spells it
OWN_SNIPPETS = {
    "embedding": ["self.transformer.wte(idx)", "self.transformer.wpe(pos)", "tok_emb + pos_emb"],
    "layernorm": ["F.layer_norm(", "self.ln_1(x)"],
    "attention": ["self.c_attn(x).split", "q @ k.transpose(-2, -1)", "masked_fill", "F.softmax(att, dim=-1)",
                  "att @ v"],
    "softmax": ["F.softmax(att, dim=-1)", "F.softmax(logits, dim=-1)"],
    "projection": [".view(B, T, C)", "self.c_proj(y)", "x = x + self.attn("],
    "mlp": ["self.c_fc(x)", "self.gelu(x)", "self.c_proj(x)", "self.dropout(x)"],
    "stack": ["x = x + self.mlp(", "for block in self.transformer.h"],
    "output": ["self.lm_head(x", "F.softmax(logits", "torch.multinomial(", "ignore_index=-1",
               "wte.weight = self.lm_head.weight"],   # weight tying, beside the logits
}


def test_each_phase_shows_nanogpts_lines_as_its_own_short_snippets(resolved):
    if not code_view.nanogpt_available(resolved):
        pytest.skip("no nanoGPT model.py at /tmp/nanogpt or $LLMVIZ_NANOGPT")
    model, ids, vocab, task = sort_case()
    ctx = {"trace": model.trace(np.array([ids])), "params": model.state_dict(), "config": model.config,
           "vocab": vocab, "task": task}
    by_phase: dict[str, list[dict]] = {}
    for step in wt.render_all(ctx):
        items = code_view.panel_items(step, model.config, len(ids), resolved)
        by_phase.setdefault(step["phase"], []).extend(i for i in items if i["source"] == "nanogpt")
    for phase, wanted in OWN_SNIPPETS.items():
        for code in wanted:
            found = []
            for item in by_phase[phase]:
                n = item["lines"][1] - item["lines"][0] + 1
                for number, text in enumerate(item["text"].split("\n"), item["lines"][0]):
                    if code in text and n <= 4 and item["role"] != "init" and number in item["marks"]:
                        found.append(item["key"])
            assert found, (phase, code)
    # intro: GPTConfig with this model's sizes beside it, and GPT.forward as the whole flow
    intro = by_phase["intro"]
    config = next(i for i in intro if i["key"] == "config")
    notes = {n["note"] for n in config["notes"]}
    assert {f"this model: {model.config.n_embd}", f"this model: {model.config.n_layer}",
            f"this model: {model.config.block_size}"} <= notes
    assert any(i["symbol"] == "GPT.forward" and i["role"] == "forward" and i["marks"] for i in intro)
    # prelim: every class of model.py, bodies folded, the forward passes marked
    outlines = [i for i in by_phase["prelim"] if i["role"] == "outline"]
    assert [i["symbol"] for i in outlines] == ["LayerNorm", "CausalSelfAttention", "MLP", "Block", "GPT"]
    for item in outlines:
        text = dict(enumerate(item["text"].split("\n"), item["lines"][0]))
        assert all(text[n].lstrip().startswith(("class ", "def ", "@")) for n in item["outline"]), item["symbol"]
        assert [text[n].strip()[:12] for n in item["marks"]] == ["def forward("]
        page = code_view.render_panes([item])["nanogpt"]
        assert page.count('<span class="line') == len(item["outline"]) and '<span class="fold"' in page


def test_generate_shows_this_models_shapes(resolved):
    model, ids, vocab, task = sort_case()
    T, V = len(ids), model.config.vocab_size
    items = code_view.panel_items({"code": ["gpt.generate"], "vars": {"L": 0}}, model.config, T, resolved)
    want = {f"logits: (1, {V})", f"probs: (1, {V})", "idx_next: (1, 1)", f"idx: (1, {T + 1})"}
    for item in items:
        notes = {n["note"] for n in item["notes"]}
        assert want <= notes, (item["source"], notes)
        assert f"idx: (1, {T})" in notes       # the input, before a token is appended


def test_the_logits_softmax_is_not_the_attention_softmax(resolved):
    """intro/read_output and output/probs quote the softmax of the logits, never attention's."""
    model, ids, vocab, task = sort_case()
    ctx = {"trace": model.trace(np.array([ids])), "params": model.state_dict(), "config": model.config,
           "vocab": vocab, "task": task}
    for phase, step_id in (("intro", "read_output"), ("output", "probs")):
        step = wt.render_step(phase, step_id, ctx)
        items = code_view.panel_items(step, model.config, len(ids), resolved)
        text = "\n".join(i["text"] for i in items)
        assert "softmax(att" not in text and "attn.att" not in "".join(i["html"] for i in items), step_id
        marked = [line for i in items for n, line in enumerate(i["text"].split("\n"), i["lines"][0])
                  if n in i["marks"]]
        assert any("softmax(logits" in line for line in marked), (step_id, marked)


def test_a_port_pane_without_lines_says_why(resolved):
    items = code_view.panel_items({"code": ["gpt.loss"], "vars": {"L": 0}}, SECOND, 5, resolved)
    panes = code_view.render_panes(items, nanogpt=code_view.nanogpt_available(resolved))
    assert "only runs the model forward, for inference" in panes["port"]
    assert "nanoGPT has no lines" not in panes["port"]
