"""The code-annotation engine: selectors, the catalogue, shapes beside the lines, HTML."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from llmviz.codepanel import annotate, code_refs, nanogpt_source
from llmviz.codepanel.annotate import (Assign, Call, CodeRef, ForLoop, If, Init, Return, SelectorError, Span,
                             Var, Whole, bind, highlight, resolve)
from llmviz.core.model import GPT, GPTConfig

NANOGPT = os.environ.get("LLMVIZ_NANOGPT")
needs_nanogpt = pytest.mark.skipif(
    not NANOGPT, reason="set LLMVIZ_NANOGPT to nanoGPT's model.py (or a checkout) to check its snippets")

PORT_TEXT = code_refs.port_sources()[code_refs.PORT_FILE]


def nanogpt_text() -> str | None:
    if not NANOGPT:
        return None
    text, info = nanogpt_source.get_source(NANOGPT)
    assert text is not None, info["message"]
    return text


def file_lines(text: str, first: int, last: int) -> str:
    return "\n".join(text.splitlines()[first - 1:last])


# ----------------------------------------------------------------------------
# the catalogue against the real files


def test_every_catalogue_key_resolves_for_the_port():
    resolved = code_refs.check_all(None)
    assert set(resolved) == set(code_refs.CATALOGUE)
    for key, pair in resolved.items():
        snip = pair["port"]
        if code_refs.CATALOGUE[key].port is None:   # nanoGPT lines our inference-only port leaves out
            assert snip is None, key
            continue
        assert snip is not None, key
        assert snip.file == code_refs.PORT_FILE
        first, last = snip.lines
        assert 1 <= first <= last
        assert snip.text == file_lines(PORT_TEXT, first, last), key
        assert pair["nanogpt"] is None  # no nanoGPT text given
        if snip.role == "compact":
            assert last - first <= 3, f"{key}: compact ref spans {last - first + 1} lines"


def test_catalogue_covers_the_walkthrough_computations():
    wanted = {"embedding.tok", "embedding.pos", "embedding.sum", "layernorm.forward", "layernorm.init",
              "attention.qkv", "attention.split_heads", "attention.scores", "attention.mask",
              "attention.softmax", "attention.weighted_sum", "attention.reassemble", "attention.proj",
              "attention.init", "block.attn_residual", "block.mlp_residual", "block.forward", "mlp.fc",
              "mlp.gelu", "mlp.proj", "mlp.forward", "mlp.init", "gpt.blocks_loop", "gpt.ln_f",
              "gpt.lm_head", "gpt.forward", "gpt.generate", "softmax", "gelu", "linear"}
    assert wanted <= set(code_refs.CATALOGUE)


def test_port_snippets_select_the_intended_statements():
    r = code_refs.resolve_all(None)
    assert "softmax(" in r["attention.softmax"]["port"].text
    assert "np.where" in r["attention.mask"]["port"].text
    assert r["attention.split_heads"]["port"].text.count("reshape") == 3
    assert r["gpt.blocks_loop"]["port"].text.lstrip().startswith("for layer in self.transformer.h")
    assert r["layernorm.init"]["port"].symbol == "LayerNorm.__init__"
    assert r["linear"]["port"].symbol == "Linear.__call__"


@needs_nanogpt
def test_every_nanogpt_snippet_resolves_verbatim():
    text = nanogpt_text()
    raw = Path(NANOGPT if NANOGPT.endswith(".py") else os.path.join(NANOGPT, "model.py")).read_text()
    resolved = code_refs.check_all(text)
    count = 0
    for key, entry in code_refs.CATALOGUE.items():
        snip = resolved[key]["nanogpt"]
        if entry.nanogpt is None:
            assert snip is None
            continue
        count += 1
        first, last = snip.lines
        assert snip.text == file_lines(raw, first, last), key
        assert snip.file == "model.py"
    assert count >= 40
    r = resolved
    assert "F.softmax" in r["attention.softmax"]["nanogpt"].text
    assert "masked_fill" in r["attention.mask"]["nanogpt"].text
    assert r["attention.init"]["nanogpt"].symbol == "CausalSelfAttention.__init__"
    # lines link to GitHub at the pinned commit when the file is the pinned one
    if nanogpt_source.get_source(NANOGPT)[1]["status"] == "pinned":
        first, last = r["attention.forward"]["nanogpt"].lines
        assert r["attention.forward"]["nanogpt"].url == nanogpt_source.github_url(first, last)
        assert nanogpt_source.PINNED_COMMIT in r["attention.forward"]["nanogpt"].url


def test_check_all_names_the_key_and_the_selector(monkeypatch):
    bad = dict(code_refs.CATALOGUE)
    bad["broken.key"] = code_refs.Entry(None,
                                        CodeRef("port", "CausalSelfAttention.forward",
                                                Assign("no_such_variable")))
    bad["ambiguous.key"] = code_refs.Entry(None,
                                           CodeRef("port", "CausalSelfAttention.forward", Assign("att")))
    monkeypatch.setattr(code_refs, "CATALOGUE", bad)
    with pytest.raises(SelectorError) as err:
        code_refs.check_all(None)
    msg = str(err.value)
    assert "broken.key" in msg and "Assign('no_such_variable')" in msg and "0 places" in msg
    assert "ambiguous.key" in msg and "Assign('att')" in msg and "3 places" in msg


def test_check_all_checks_the_variable_tables(monkeypatch):
    tables = dict(code_refs.VARS)
    tables[("port", "MLP.forward")] = [Var("x", "h.{i}.mlp.fc", Assign("x", calls="nonexistent"))]
    monkeypatch.setattr(code_refs, "VARS", tables)
    with pytest.raises(SelectorError, match=r"MLP.forward.*calls='nonexistent'"):
        code_refs.check_all(None)


# ----------------------------------------------------------------------------
# selectors on a small file of our own

SAMPLE = '''\
import torch.nn.functional as F


def helper(a):
    return a


class Thing:
    """A class to select from."""

    def __init__(self, n):
        self.n = n
        self.items = [0] * n

    @staticmethod
    def forward(x, scale):
        x = x * scale
        y = F.softmax(x)
        z = helper(y)  # comment
        if scale > 1:
            z = z + 1
        for item in range(3):
            z = z + item
        total, rest = z, y
        total += 1
        return total
'''


def sel(select, symbol="Thing.forward"):
    return resolve(CodeRef("port", symbol, select), SAMPLE, "sample.py")


def test_selector_kinds_pick_the_described_lines():
    assert sel(None).lines == (15, 26)                     # whole method, decorator included
    assert sel(Whole(), "helper").lines == (4, 5)
    assert sel(Init(), "Thing").lines == (11, 13)
    assert sel(Init(), "Thing").symbol == "Thing.__init__"
    assert sel(Assign("self.items"), "Thing.__init__").lines == (13, 13)
    assert sel(Assign("y")).lines == (18, 18)
    assert sel(Assign("z", calls="helper")).lines == (19, 19)
    assert sel(Assign("y", calls="softmax")).lines == (18, 18)     # F.softmax matches by its tail
    assert sel(Assign("y", calls="F.softmax")).lines == (18, 18)
    assert sel(Assign("z", nth=2)).lines == (21, 21)
    assert sel(Assign("z", nth=-1)).lines == (23, 23)
    assert sel(Assign("z", uses="item")).lines == (23, 23)
    assert sel(Assign("total", nth=1)).lines == (24, 24)             # a tuple target
    assert sel(Assign("total", nth=2)).lines == (25, 25)             # augmented assignment
    assert sel(Call("helper")).lines == (19, 19)
    assert sel(Return()).lines == (26, 26)
    assert sel(ForLoop("range")).lines == (22, 23)
    assert sel(If(uses="scale")).lines == (20, 21)
    assert sel(Span(Assign("x"), Assign("z", calls="helper"))).lines == (17, 19)
    snip = sel(Assign("z", calls="helper"))
    assert snip.text == "        z = helper(y)  # comment"


@pytest.mark.parametrize("select, fragment", [
    (Assign("nothing"), "Assign('nothing') matches 0 places"),
    (Assign("z"), "Assign('z') matches 3 places (lines 19, 21, 23); add nth="),
    (Call("print"), "Call('print') matches 0 places"),
    (Assign("z", nth=7), "asks for match 7 but there are 3"),
    (ForLoop("zip"), "ForLoop('zip') matches 0"),
    (Span(Return(), Assign("x")), "before it starts"),
    (Assign("y", calls="G.softmax"), "calls='G.softmax'"),
])
def test_bad_selectors_raise_naming_the_selector(select, fragment):
    with pytest.raises(SelectorError) as err:
        sel(select)
    assert fragment in str(err.value)
    assert "Thing.forward" in str(err.value)


def test_missing_symbol_raises():
    with pytest.raises(SelectorError, match="Thing.backward"):
        sel(None, "Thing.backward")
    with pytest.raises(SelectorError, match="needs a class"):
        sel(Init(), "helper")


def test_compound_statements_do_not_match_through_their_body():
    # the if statement contains z = z + 1 but does not itself assign or call anything
    assert sel(Assign("z", nth=2)).lines == (21, 21)
    with pytest.raises(SelectorError):
        sel(Call("range", nth=2))


# ----------------------------------------------------------------------------
# variables and HTML


def test_bind_follows_reassignments_and_highlight_wraps_tokens():
    specs = [Var("x", "input", annotate.Param()),
             Var("x", "scaled", Assign("x")),
             Var("y", "probs", Assign("y")),
             Var("return", "out", Return())]
    shapes = {"input": (2, 3), "scaled": (2, 3), "probs": (2, 3), "out": (4,)}

    def describe(spec):
        return {"block": spec.block, "blocks": [spec.block], "shape": shapes[spec.block]}

    snip = bind(sel(None), specs, describe)
    by_meaning = {(v["name"], v["block"]): v["lines"] for v in snip.vars}
    assert by_meaning[("x", "input")] == [16, 17]       # the parameter, and its use on line 17
    assert by_meaning[("x", "scaled")] == [17, 18]      # assigned on 17, used on 18
    assert by_meaning[("y", "probs")] == [18, 19, 24]
    assert snip.notes[17] == "x: (2, 3)"
    assert snip.notes[26] == "returns (4,)"
    html = highlight(snip)
    # line 17 "x = x * scale": the target is the new x, the operand the parameter
    line17 = re.search(r'<span class="line" data-line="17">.*?<span class="line"', html).group(0)
    blocks = re.findall(r'data-var="x" data-block="(\w+)"', line17)
    assert blocks == ["scaled", "input"]


def test_highlight_has_pygments_classes_file_line_numbers_and_escapes():
    snip = sel(None)
    html = highlight(snip)
    assert '<span class="k">def</span>' in html
    assert '<span class="k">return</span>' in html
    assert '<span class="c1"># comment</span>' in html
    assert '<span class="nd">@staticmethod</span>' in html
    numbers = [int(n) for n in re.findall(r'<span class="ln">(\d+)</span>', html)]
    assert numbers == list(range(15, 27))
    weird = resolve(CodeRef("port", "f"), "def f(a):\n    return a < 1 and '<b>'\n", "w.py")
    out = highlight(weird)
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert '<span class="o">&lt;</span>' in out
    # the shared indentation is dropped in the HTML only
    assert 'data-line="15"><span class="ln">15</span><span class="nd">' in html
    assert snip.text.startswith("    @staticmethod")


def test_css_themes_are_scoped():
    light, dark, auto = annotate.css("light"), annotate.css("dark"), annotate.css("auto")
    assert ".code-light .code .k {" in light and ".code-dark" not in light
    assert ".code-dark .code .k {" in dark
    assert "prefers-color-scheme: dark" in auto and "[data-theme=dark] .code .k" in auto
    assert re.search(r"^\.code \.k \{", auto, re.M)
    with pytest.raises(ValueError):
        annotate.css("sepia")


# ----------------------------------------------------------------------------
# shapes beside the lines equal the shapes the model really computes


def random_model(config: GPTConfig, seed: int = 0) -> GPT:
    rng = np.random.default_rng(seed)
    model = GPT(config)
    for array in model.state_dict().values():
        array[...] = rng.standard_normal(array.shape).astype(array.dtype) * 0.1
    return model


NOTE = re.compile(r"(?:([\w, ]+): |returns )\(([\d, ]*)\)")


def parse_note(note: str) -> list[tuple[list[str], tuple]]:
    out = []
    for names, dims in NOTE.findall(note):
        shape = tuple(int(d) for d in dims.replace(" ", "").split(",") if d)
        out.append(([n.strip() for n in names.split(",")] if names else ["return"], shape))
    return out


def logits_origin(lines: list[str], number: int) -> str:
    """The assignment that made the ``logits`` in use at line ``number`` (1-based): the
    latest ``logits = ...`` at or above it that does not merely rescale it."""
    for text in reversed(lines[:number]):
        if re.match(r"\s*logits(, _)? = ", text) and ("[:, -1, :]" in text or "lm_head" in text
                                                       or "self(" in text):
            return text
    return ""


def untraced_shape(name: str, trace, layer: int, line: str = "") -> tuple:
    """Shapes of the few variables the trace does not hold, computed the way the code does
    (``line``: for ``logits``, the line that made it, ``logits_origin``)."""
    qkv = trace[f"h.{layer}.attn.qkv"]
    last = np.asarray(trace["logits"])[:, -1, :]           # generate: the last position's logits
    idx_next = last.argmax(axis=-1, keepdims=True)          # one token per sequence
    derived = {
        "q": lambda: np.split(qkv, 3, axis=2)[0].shape,
        "k": lambda: np.split(qkv, 3, axis=2)[1].shape,
        "v": lambda: np.split(qkv, 3, axis=2)[2].shape,
        "pos": lambda: np.arange(trace["idx"].shape[1]).shape,
        # nanoGPT's inference path keeps the last position; generate then drops that axis
        "logits": lambda: last.shape if "[:, -1, :]" in line else trace["logits"][:, [-1], :].shape,
        "probs": lambda: last.shape,
        "idx_next": lambda: idx_next.shape,
        "idx": lambda: np.concatenate((np.asarray(trace["idx"]), idx_next), axis=1).shape,
    }
    return tuple(derived[name]())


@pytest.mark.parametrize("config, T", [
    (GPTConfig(n_layer=3, n_head=3, n_embd=48, block_size=11, vocab_size=3), 11),
    (GPTConfig(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=65), 23),
])
def test_shape_notes_equal_the_traced_shapes(config, T):
    model = random_model(config)
    idx = np.random.default_rng(1).integers(0, config.vocab_size, size=(1, T))
    trace = model.trace(idx)
    resolved = code_refs.resolve_all(nanogpt_text())
    checked = 0
    for layer in range(config.n_layer):
        for norm in ("ln_1", "ln_2", "ln_f"):
            items = code_refs.step_code(list(code_refs.CATALOGUE), config, T, resolved,
                                        layer=layer, norm=norm)
            json.dumps(items)  # the page gets it as JSON
            for item in items:
                by_line: dict[int, set] = {}
                for v in item["vars"]:
                    if v["block"] is not None:
                        assert v["block"] in trace, v
                        heads = [f"{v['block']}[{h}]" for h in range(config.n_head)]
                        assert v["blocks"] == heads or v["blocks"] == [v["block"]]
                    if v["shape_from"] is not None:
                        expected = tuple(trace[v["shape_from"]].shape) + (1,) * v["keepdims"]
                    else:  # a value that is not traced: compute it from traced ones
                        source = annotate.source_lines(resolved[item["key"]][item["source"]].source_text)
                        first = v["lines"][0]
                        expected = untraced_shape(v["name"], trace, layer, logits_origin(source, first))
                        if v["name"] == "logits" and tuple(v["shape"]) != expected:
                            # `logits = logits[...]`: the use on the right is the logits made above
                            expected = untraced_shape(v["name"], trace, layer, logits_origin(source, first - 1))
                    assert tuple(v["shape"]) == expected, (item["key"], v)
                    checked += 1
                    for line in v["lines"]:
                        by_line.setdefault(line, set()).add((v["name"], tuple(v["shape"])))
                for note in item["notes"]:
                    for names, shape in parse_note(note["note"]):
                        for name in names:
                            assert (name, shape) in by_line[note["line"]], (item["key"], note)
    assert checked > 100

    # spot checks straight against the trace, for the lines a reader looks at first
    items = code_refs.step_code(["attention.forward", "mlp.forward", "embedding.forward"],
                                config, T, resolved)
    for item in items:
        notes = {n["line"]: n["note"] for n in item["notes"]}
        lines = dict(enumerate(item["text"].split("\n"), start=item["lines"][0]))
        for number, text in lines.items():
            stripped = text.strip()
            if stripped.startswith("q = q."):
                assert notes[number] == f"q: {tuple(trace['h.0.attn.q'].shape)}"
            if stripped.startswith("att = ") and "softmax" in stripped:
                assert notes[number] == f"att: {tuple(trace['h.0.attn.att'].shape)}"
            if stripped.startswith("tok_emb = "):
                assert notes[number] == f"tok_emb: {tuple(trace['tok_emb'].shape)}"
            if stripped.startswith("pos_emb = "):
                assert notes[number] == f"pos_emb: {tuple(trace['pos_emb'].shape)}"
            if stripped.startswith("x = ") and "c_fc" in stripped:
                assert notes[number] == f"x: {tuple(trace['h.0.mlp.fc'].shape)}"
    port_attn = next(i for i in items if i["key"] == "attention.forward" and i["source"] == "port")
    assert 'data-block="h.0.attn.q" data-blocks="h.0.attn.q[0]' in port_attn["html"]
    assert f"q: {tuple(trace['h.0.attn.q'].shape)}" in port_attn["html"]


def test_step_code_json_shape():
    config = GPTConfig(n_layer=3, n_head=3, n_embd=48, block_size=11, vocab_size=3)
    resolved = code_refs.resolve_all(nanogpt_text())
    items = code_refs.step_code(["attention.softmax", "attention.init", "softmax"], config, 5, resolved)
    keys = {"key", "title", "source", "file", "symbol", "role", "lines", "text", "html", "collapsed",
            "url", "vars", "weights", "notes", "outline", "focus"}
    assert items and all(set(i) == keys for i in items)
    init = [i for i in items if i["key"] == "attention.init"]
    assert init and all(i["collapsed"] and i["role"] == "init" for i in init)
    assert all(not i["collapsed"] for i in items if i["key"] != "attention.init")
    port_softmax = [i for i in items if i["key"] == "softmax" and i["source"] == "port"][0]
    assert port_softmax["symbol"] == "softmax" and port_softmax["url"] is None
    # repeated snippets in one step are listed once
    twice = code_refs.step_code(["attention.softmax", "attention.softmax"], config, 5, resolved)
    assert len(twice) == len(code_refs.step_code(["attention.softmax"], config, 5, resolved))
    with pytest.raises(KeyError, match="no code reference"):
        code_refs.step_code(["no.such.key"], config, 5, resolved)


# ----------------------------------------------------------------------------
# where nanoGPT's file comes from


def test_get_source_reads_a_local_file_and_warns_on_another_sha(tmp_path):
    other = tmp_path / "model.py"
    other.write_text("x = 1\n")
    text, info = nanogpt_source.get_source(tmp_path)
    assert text == "x = 1\n"
    assert info["status"] == "other" and "warning" in info["message"]
    assert info["path"] == str(other) and len(info["sha256"]) == 64
    text, info = nanogpt_source.get_source(tmp_path / "nope")
    assert text is None and info["status"] == "missing"


def test_get_source_without_network_is_a_one_line_notice(tmp_path, monkeypatch):
    import urllib.request

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.delenv("LLMVIZ_NANOGPT", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    text, info = nanogpt_source.get_source(cache_dir=tmp_path)
    assert text is None and info["status"] == "missing"
    assert "\n" not in info["message"] and "network is unreachable" in info["message"]


@needs_nanogpt
def test_get_source_uses_the_cache(tmp_path, monkeypatch):
    import urllib.request

    monkeypatch.delenv("LLMVIZ_NANOGPT", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("must not download"))
    cached = tmp_path / f"nanogpt-{nanogpt_source.PINNED_COMMIT}" / "model.py"
    cached.parent.mkdir()
    src = NANOGPT if NANOGPT.endswith(".py") else os.path.join(NANOGPT, "model.py")
    cached.write_bytes(Path(src).read_bytes())
    text, info = nanogpt_source.get_source(cache_dir=tmp_path)
    assert text is not None and info["path"] == str(cached)
    assert info["status"] == "pinned"


def test_github_url():
    url = nanogpt_source.github_url(52, 76)
    assert url == ("https://github.com/karpathy/nanoGPT/blob/"
                   f"{nanogpt_source.PINNED_COMMIT}/model.py#L52-L76")
    assert nanogpt_source.github_url(7, 7).endswith("#L7")


def test_annotate_does_not_import_numpy():
    import subprocess
    import sys

    code = ("import sys, builtins\n"
            "real = builtins.__import__\n"
            "def guard(name, *a, **k):\n"
            "    if name == 'numpy' or name.startswith('numpy.'): raise ImportError('numpy blocked')\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = guard\n"
            "from llmviz.codepanel import annotate, code_refs\n"
            "r = code_refs.check_all(None)\n"
            "print(len(r))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(code_refs.CATALOGUE)


def test_json_round_trip_gives_the_same_code_panel_without_the_files():
    config = GPTConfig(n_layer=3, n_head=3, n_embd=48, block_size=11, vocab_size=3)
    resolved = code_refs.resolve_all(nanogpt_text())
    data = json.loads(json.dumps(code_refs.to_json(resolved)))
    again = code_refs.from_json(data)
    # the data holds the functions with variable tables, not whole files
    assert all(s["text"].lstrip().startswith(("def ", "@")) for s in data["scopes"].values())
    assert len(data["scopes"]) >= 9
    keys = list(code_refs.CATALOGUE)
    for T, layer, norm in ((4, 0, "ln_1"), (11, 2, "ln_2")):
        assert (code_refs.step_code(keys, config, T, again, layer=layer, norm=norm)
                == code_refs.step_code(keys, config, T, resolved, layer=layer, norm=norm))
    with pytest.raises(ValueError):
        code_refs.from_json({"version": 99})
