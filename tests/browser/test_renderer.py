"""The WebGL renderer (site/js/renderer.js) in headless Chromium, on a hand-made scene.

The scene comes from a small generator below (not from llmviz.viz.layout), so these tests
check the renderer alone: it serves site/js + site/dev/renderer.html + three from
node_modules in a temp folder, loads a sort-model-sized scene (3 layers, 3 heads,
C=48, T=11) with seeded random values, and looks at screenshots and the JS API.
"""
from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from pixels import png_pixels

ROOT = Path(__file__).resolve().parents[2]
THREE = ROOT / "node_modules" / "three"
VIEW = {"width": 1280, "height": 800}

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------------------
# a Scene JSON made by hand: rows of blocks, top to bottom, in forward order

def fixture_scene(n_layer=3, n_head=3, C=48, T=11, V=3) -> dict:
    hs = C // n_head
    rows_of_blocks = []   # each: list of (id, role, label, group, rows, cols, dims)

    def b(id_, role, label, group, rows, cols, dims):
        return (id_, role, label, group, rows, cols, dims)

    rows_of_blocks.append([b("idx", "activation", "tokens", "embedding", 1, T, ["1", "T"])])
    rows_of_blocks.append([b("wte.weight", "parameter", "token embedding", "embedding", C, V, ["C", "V"]),
                           b("tok_emb", "activation", "token vectors", "embedding", C, T, ["C", "T"]),
                           b("wpe.weight", "parameter", "position embedding", "embedding", C, T, ["C", "T"]),
                           b("pos_emb", "activation", "position vectors", "embedding", C, T, ["C", "T"]),
                           b("x", "activation", "residual", "embedding", C, T, ["C", "T"])])
    for i in range(n_layer):
        p = f"h.{i}."
        for ln, grp in (("ln_1", "ln_1"), ("ln_2", "ln_2")):
            row = [b(p + ln + ".weight", "parameter", f"{ln} gamma", p + grp, C, 1, ["C", "1"]),
                   b(p + ln + ".bias", "parameter", f"{ln} beta", p + grp, C, 1, ["C", "1"]),
                   b(p + ln + ".mean", "aggregate", f"{ln} mean", p + grp, 1, T, ["1", "T"]),
                   b(p + ln + ".rstd", "aggregate", f"{ln} rstd", p + grp, 1, T, ["1", "T"]),
                   b(p + ln, "activation", f"{ln} output", p + grp, C, T, ["C", "T"])]
            if ln == "ln_1":
                rows_of_blocks.append(row)
                for h in range(n_head):
                    heads = []
                    for kind in "qkv":
                        heads += [b(f"{p}attn.c_attn.{kind}.weight[{h}]", "parameter", f"{kind.upper()} weights, head {h}",
                                    p + "attn", hs, C, ["hs", "C"]),
                                  b(f"{p}attn.c_attn.{kind}.bias[{h}]", "parameter", f"{kind.upper()} bias, head {h}",
                                    p + "attn", hs, 1, ["hs", "1"]),
                                  b(f"{p}attn.{kind}[{h}]", "activation", f"{kind.upper()}, head {h}",
                                    p + "attn", hs, T, ["hs", "T"])]
                    heads += [b(f"{p}attn.scores[{h}]", "activation", f"scores, head {h}", p + "attn", T, T, ["T", "T"]),
                              b(f"{p}attn.att.max[{h}]", "aggregate", f"row max, head {h}", p + "attn", T, 1, ["T", "1"]),
                              b(f"{p}attn.att.sum[{h}]", "aggregate", f"row sum, head {h}", p + "attn", T, 1, ["T", "1"]),
                              b(f"{p}attn.att[{h}]", "activation", f"softmax, head {h}", p + "attn", T, T, ["T", "T"]),
                              b(f"{p}attn.head_out[{h}]", "activation", f"head output {h}", p + "attn", hs, T, ["hs", "T"])]
                    rows_of_blocks.append(heads)
                rows_of_blocks.append([b(p + "attn.y", "activation", "heads joined", p + "attn", C, T, ["C", "T"]),
                                       b(p + "attn.c_proj.weight", "parameter", "projection weights", p + "attn", C, C, ["C", "C"]),
                                       b(p + "attn.c_proj.bias", "parameter", "projection bias", p + "attn", C, 1, ["C", "1"]),
                                       b(p + "attn.out", "activation", "projection output", p + "attn", C, T, ["C", "T"]),
                                       b(p + "x_attn", "activation", "residual after attention", p + "attn", C, T, ["C", "T"])])
            else:
                rows_of_blocks.append(row)
        rows_of_blocks.append([b(p + "mlp.c_fc.weight", "parameter", "MLP c_fc weights", p + "mlp", 4 * C, C, ["4C", "C"]),
                               b(p + "mlp.c_fc.bias", "parameter", "MLP c_fc bias", p + "mlp", 4 * C, 1, ["4C", "1"]),
                               b(p + "mlp.fc", "activation", "MLP hidden", p + "mlp", 4 * C, T, ["4C", "T"]),
                               b(p + "mlp.gelu", "activation", "GELU", p + "mlp", 4 * C, T, ["4C", "T"]),
                               b(p + "mlp.c_proj.weight", "parameter", "MLP c_proj weights", p + "mlp", C, 4 * C, ["C", "4C"]),
                               b(p + "mlp.c_proj.bias", "parameter", "MLP c_proj bias", p + "mlp", C, 1, ["C", "1"]),
                               b(p + "mlp.out", "activation", "MLP output", p + "mlp", C, T, ["C", "T"]),
                               b(p + "x", "activation", "block output", p + "mlp", C, T, ["C", "T"])])
    rows_of_blocks.append([b("ln_f.weight", "parameter", "final gamma", "output", C, 1, ["C", "1"]),
                           b("ln_f.bias", "parameter", "final beta", "output", C, 1, ["C", "1"]),
                           b("ln_f.mean", "aggregate", "final mean", "output", 1, T, ["1", "T"]),
                           b("ln_f.rstd", "aggregate", "final rstd", "output", 1, T, ["1", "T"]),
                           b("ln_f", "activation", "final norm", "output", C, T, ["C", "T"])])
    rows_of_blocks.append([b("lm_head.weight", "parameter", "lm_head", "output", V, C, ["V", "C"]),
                           b("logits", "activation", "logits", "output", V, T, ["V", "T"]),
                           b("probs.max", "aggregate", "max", "output", 1, T, ["1", "T"]),
                           b("probs.sum", "aggregate", "sum", "output", 1, T, ["1", "T"]),
                           b("probs", "activation", "probabilities", "output", V, T, ["V", "T"])])
    blocks, top, gap = [], 0.0, 4.0
    for row in rows_of_blocks:
        width = sum(r[5] for r in row) + gap * (len(row) - 1)
        x = -width / 2
        for (id_, role, label, group, rows, cols, dims) in row:
            blocks.append({"id": id_, "role": role, "label": label, "group": group, "rows": rows, "cols": cols,
                           "dims": dims, "pos": [x, -top, 0.0], "cell": 1.0})
            x += cols + gap
        top += max(r[4] for r in row) + 3 * gap
    lo = [min(bl["pos"][0] for bl in blocks), min(bl["pos"][1] - bl["rows"] for bl in blocks), -1.0]
    hi = [max(bl["pos"][0] + bl["cols"] for bl in blocks), 0.0, 0.0]
    return {"version": 1, "config": {"n_layer": n_layer, "n_head": n_head, "n_embd": C, "block_size": T,
                                     "vocab_size": V}, "blocks": blocks, "bounds": {"min": lo, "max": hi}}


def fixture_values(scene: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {bl["id"]: rng.standard_normal(bl["rows"] * bl["cols"]).astype(np.float32) for bl in scene["blocks"]}


def block_box(block: dict) -> tuple[np.ndarray, np.ndarray]:
    x, y, z = block["pos"]
    c = block["cell"]
    return (np.array([x, y - block["rows"] * c, z - c]), np.array([x + block["cols"] * c, y, z]))


# ---------------------------------------------------------------------------
# the page, served from a temp folder laid out like dist/

@pytest.fixture(scope="module")
def scene() -> dict:
    return fixture_scene()


@pytest.fixture(scope="module")
def site(tmp_path_factory, scene) -> Path:
    if not (THREE / "build" / "three.module.js").exists():
        pytest.skip("node_modules/three is missing (npm ci)")
    out = tmp_path_factory.mktemp("renderer-site")
    shutil.copytree(ROOT / "site" / "js", out / "js")
    shutil.copytree(ROOT / "site" / "dev", out / "dev")
    shutil.copytree(ROOT / "site" / "css", out / "css")
    vendor = out / "vendor" / "three"
    (vendor / "addons" / "controls").mkdir(parents=True)
    for name in ("three.module.js", "three.core.js"):
        shutil.copy(THREE / "build" / name, vendor / name)
    shutil.copy(THREE / "examples" / "jsm" / "controls" / "OrbitControls.js", vendor / "addons" / "controls")
    pyodide = ROOT / "node_modules" / "pyodide"
    if (pyodide / "pyodide.mjs").exists():
        (out / "pyodide").mkdir()
        for name in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"):
            shutil.copy(pyodide / name, out / "pyodide" / name)
    values = fixture_values(scene)
    data, offsets, at = [], {}, 0
    for bl in scene["blocks"]:
        data.append(values[bl["id"]].astype("<f4").tobytes())
        offsets[bl["id"]] = [at, int(values[bl["id"]].size)]
        at += values[bl["id"]].size
    (out / "data").mkdir()
    (out / "data" / "scene.json").write_text(json.dumps(scene))
    (out / "data" / "values.bin").write_bytes(b"".join(data))
    (out / "data" / "values.json").write_text(json.dumps(offsets))
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origin(site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class Dev:
    """A page with the dev renderer loaded; collects console errors and page errors."""

    def __init__(self, page, decode):
        self.page = page
        self.decode = decode
        self.errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

    def js(self, code: str, arg=None):
        return self.page.evaluate(code, arg)

    def settle(self) -> None:
        """Wait until the renderer has drawn what it was asked to and gone idle."""
        self.page.wait_for_function(
            """() => new Promise((resolve) => {
                 let last = renderer.frameCount(), calm = 0;
                 const check = () => {
                   const now = renderer.frameCount();
                   calm = now === last && !renderer.state().uploading ? calm + 1 : 0; last = now;
                   if (calm >= 3) resolve(true); else requestAnimationFrame(check);
                 };
                 requestAnimationFrame(check);
               })""", timeout=20000)

    def shot(self) -> np.ndarray:
        return self.decode(self.page.screenshot(type="png"))

    def rect(self, block_id: str) -> dict:
        return self.js("(id) => renderer.screenRect(id)", block_id)


@pytest.fixture
def dev(browser, origin, decoder):
    context = browser.new_context(viewport=VIEW, device_scale_factor=1)
    page = context.new_page()
    d = Dev(page, decoder)
    page.goto(f"{origin}/dev/renderer.html?scene=../data/scene.json&values=../data/values.bin"
              f"&index=../data/values.json")
    page.wait_for_function("window.devReady === true && window.llmvizFirstFrame > 0", timeout=60000)
    # the legend and status box are HTML over the canvas: hide them for pixel comparisons
    d.js("""() => { for (const el of document.querySelectorAll('.llmviz-legend, #status')) el.style.display = 'none'; }""")
    d.settle()
    yield d
    context.close()
    assert d.errors == [], f"errors in the page: {d.errors}"


@pytest.fixture(scope="module")
def decoder(browser):
    """A blank page that turns PNG screenshots into pixels (no image library needed)."""
    page = browser.new_page()
    yield lambda png: png_pixels(page, png)
    page.close()


def box_mask(shape, rect: dict, grow: float = 0) -> np.ndarray:
    h, w = shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    x0, y0 = max(0, int(rect["x"] - grow)), max(0, int(rect["y"] - grow))
    x1, y1 = min(w, int(np.ceil(rect["x"] + rect["w"] + grow))), min(h, int(np.ceil(rect["y"] + rect["h"] + grow)))
    mask[y0:y1, x0:x1] = True
    return mask


def changed(a: np.ndarray, b: np.ndarray, threshold: int = 24) -> np.ndarray:
    return np.abs(a.astype(np.int32) - b.astype(np.int32)).max(axis=2) > threshold


def luminance(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


# ---------------------------------------------------------------------------

def test_draws_the_blocks_in_colour(dev, scene, tmp_path):
    img = dev.shot()
    (tmp_path / "overview.png").write_bytes(dev.page.screenshot())
    lum = luminance(img)
    assert lum.std() > 6, f"the canvas looks uniform (luminance std {lum.std():.1f})"
    colours = np.unique(img.reshape(-1, 3) // 8, axis=0)
    assert len(colours) > 100, f"only {len(colours)} distinct colours"
    # the orange of negative values and the blue of positive parameters are both on screen
    r, g, b_ = (img[..., k].astype(int) for k in range(3))
    assert ((r > 150) & (r - b_ > 60)).sum() > 100, "no orange (negative) cells"
    assert ((b_ > 150) & (b_ - r > 60)).sum() > 100, "no blue (positive parameter) cells"
    assert dev.js("renderer.frameCount()") >= 1
    assert dev.js("window.llmvizFirstFrame") > 0
    legend = dev.js("document.querySelector('.llmviz-legend').textContent")
    for words in ("parameters", "activations", "aggregates", "negative", "every 16 cells"):
        assert words in legend
    # labels: some are shown, each names its block, and none sits at the origin unplaced
    labels = dev.js("""() => [...document.querySelectorAll('.llmviz-label')]
        .filter((el) => el.style.display === 'block').map((el) => [el.textContent, el.style.transform])""")
    assert labels and all(t.startswith("translate(") for _, t in labels)


def test_set_values_changes_only_that_block(dev, scene):
    target = "h.1.mlp.fc"
    dev.js("(id) => renderer.flyTo({ids: [id, 'h.1.mlp.gelu', 'h.1.mlp.c_fc.weight']}, 0)", target)
    dev.settle()
    before = dev.shot()
    rect = dev.rect(target)
    new = fixture_values(scene, seed=7)[target]
    frames = dev.js("renderer.frameCount()")
    dev.js("([id, v]) => renderer.setValues(id, new Float32Array(v))", [target, new.tolist()])
    dev.settle()
    assert dev.js("renderer.frameCount()") > frames
    after = dev.shot()
    diff = changed(before, after)
    inside = box_mask(diff.shape, rect, grow=-3)
    outside = ~box_mask(diff.shape, rect, grow=3)
    assert inside.sum() > 2000, rect
    assert diff[inside].mean() > 0.3, f"only {diff[inside].mean():.2%} of the block's pixels changed"
    assert diff[outside].mean() < 0.002, f"{diff[outside].sum()} pixels changed outside the block"


def test_pick_returns_block_and_cell(dev, scene):
    target = "h.0.attn.scores[1]"
    block = next(bl for bl in scene["blocks"] if bl["id"] == target)
    dev.js("(id) => renderer.flyTo({ids: [id], direction: [0, 0, 1]}, 0)", target)
    dev.settle()
    rect = dev.rect(target)
    # looking straight at the block, the front face fills the projected rectangle
    for row, col in [(0, 0), (block["rows"] - 1, block["cols"] - 1), (5, 3), (2, 9)]:
        x = rect["x"] + (col + 0.5) / block["cols"] * rect["w"]
        y = rect["y"] + (row + 0.5) / block["rows"] * rect["h"]
        got = dev.js("([x, y]) => renderer.pickAt(x, y)", [x, y])
        assert got == {"id": target, "row": row, "col": col, "index": row * block["cols"] + col}
    # hover goes through onPick, and off the blocks it reports null
    dev.js("() => { window.picks = []; renderer.onPick((p) => window.picks.push(p)); }")
    cx, cy = rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2
    dev.page.mouse.move(cx, cy)
    dev.page.wait_for_function("window.picks.length >= 1")
    first = dev.js("window.picks[window.picks.length - 1]")
    assert first["id"] == target and first == dev.js("([x, y]) => renderer.pickAt(x, y)", [cx, cy])
    dev.page.mouse.move(3, 3)
    dev.page.wait_for_function("window.picks[window.picks.length - 1] === null")


def test_a_resized_view_keeps_screen_positions_and_the_buffer_follows(dev, scene):
    """The drawing buffer may follow a new size a few frames late (it waits for a software GL to
    catch up); meanwhile and after, a block is where screenRect says (pickAt hits it), and
    whenSized() resolves once the buffer has the view's size."""
    target = "h.0.attn.scores[1]"
    dev.js("(id) => renderer.flyTo({ids: [id], direction: [0, 0, 1]}, 0)", target)
    dev.settle()
    got = dev.js("""async (id) => {
        const c = renderer.canvas, view = c.parentElement;
        const hit = () => { const r = renderer.screenRect(id);
                            const p = renderer.pickAt(r.x + r.w / 2, r.y + r.h / 2); return p && p.id; };
        renderer.setValues(id, new Float32Array(renderer.block(id).values.length).fill(0.5));   // work for the GPU
        view.style.height = (view.clientHeight - 80) + 'px';
        await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const soon = hit();
        await renderer.whenSized();
        return {soon, after: hit(), buffer: [c.width, c.height], view: [view.clientWidth, view.clientHeight]};
    }""", target)
    assert got["soon"] == target and got["after"] == target, got
    assert got["buffer"] == got["view"], got


def test_touch_tap_clicks(browser, origin):
    context = browser.new_context(viewport=VIEW, has_touch=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{origin}/dev/renderer.html?scene=../data/scene.json&values=../data/values.bin"
              f"&index=../data/values.json")
    page.wait_for_function("window.devReady === true && window.llmvizFirstFrame > 0", timeout=60000)
    page.evaluate("() => renderer.flyTo('h.0.mlp.c_fc.weight', 0)")
    rect = page.evaluate("renderer.screenRect('h.0.mlp.c_fc.weight')")
    page.evaluate("() => { window.clicks = []; renderer.onClick((p) => window.clicks.push(p)); }")
    page.touchscreen.tap(rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2)
    page.wait_for_function("window.clicks.length >= 1")
    assert page.evaluate("window.clicks[0].id") == "h.0.mlp.c_fc.weight"
    context.close()
    assert errors == []


# records the drawing buffer's sizes: at getContext and each later change of canvas.width/height
BUFFER_SIZES = """(() => {
  window.bufferSizes = [];
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (...args) {
    if (args[0] === "webgl2") window.bufferSizes.push(["context", this.width, this.height]);
    return getContext.apply(this, args);
  };
  for (const key of ["width", "height"]) {
    const d = Object.getOwnPropertyDescriptor(HTMLCanvasElement.prototype, key);
    Object.defineProperty(HTMLCanvasElement.prototype, key, { get: d.get, set(v) {
      if (window.bufferSizes.length && v !== d.get.call(this)) window.bufferSizes.push([key, v]);
      d.set.call(this, v);
    } });
  }
})();"""


def test_the_drawing_buffer_is_made_once_at_the_views_size(browser, origin):
    """The canvas has the view's size before its WebGL context is made, so a software GL allocates
    the (antialiased) drawing buffer once, not at 300 x 150 and then twice more as setSize sets
    the width and the height (~20 ms of the first frame's wait with SwiftShader)."""
    context = browser.new_context(viewport=VIEW, device_scale_factor=1)
    context.add_init_script(BUFFER_SIZES)
    page = context.new_page()
    page.goto(f"{origin}/dev/renderer.html?scene=../data/scene.json&values=../data/values.bin"
              f"&index=../data/values.json")
    page.wait_for_function("window.devReady === true && window.llmvizFirstFrame > 0", timeout=60000)
    sizes = page.evaluate("window.bufferSizes")
    view = page.evaluate("(() => { const v = renderer.canvas.parentElement; return [v.clientWidth, v.clientHeight]; })()")
    context.close()
    assert sizes == [["context", *view]], sizes


def test_pick_in_a_tilted_view_hits_the_nearest_block(dev, scene):
    # from the default 3/4 view, the screen centre of a block's rectangle is on that block
    for target in ("h.2.mlp.c_fc.weight", "x", "h.1.attn.att[2]"):
        dev.js("(id) => renderer.flyTo(id, 0)", target)
        dev.settle()
        rect = dev.rect(target)
        got = dev.js("([x, y]) => renderer.pickAt(x, y)", [rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2])
        assert got and got["id"] == target, (target, got)


def test_highlight_and_dim_change_pixels(dev, scene):
    target = "h.1.attn.c_proj.weight"
    dev.js("(id) => renderer.flyTo({ids: [id, 'h.1.attn.y', 'h.1.x_attn']}, 0)", target)
    dev.settle()
    rect = dev.rect(target)
    plain = dev.shot()
    inside = box_mask(plain.shape, rect, grow=-2)
    outline = box_mask(plain.shape, rect, grow=2) & ~box_mask(plain.shape, rect, grow=-6)
    outside = ~box_mask(plain.shape, rect, grow=8)

    dev.js("(id) => renderer.highlight([id])", target)
    dev.settle()
    lit = dev.shot()
    assert luminance(lit)[inside].mean() > luminance(plain)[inside].mean() + 5
    yellow = (lit[..., 0] > 200) & (lit[..., 1] > 180) & (lit[..., 2] < 160)
    assert yellow[outline].sum() > 100, "no highlight outline around the block"
    assert changed(plain, lit)[outside].mean() < 0.01   # labels change colour, blocks don't

    dev.js("() => renderer.dim(['*'])")
    dev.settle()
    dimmed = dev.shot()
    assert luminance(dimmed)[outside].mean() < luminance(lit)[outside].mean() - 2, "other blocks were not faded"
    assert changed(lit, dimmed)[inside].mean() < 0.01, "the highlighted block was faded too"

    # cells: row 0 of the block, on a plain (un-highlighted, un-dimmed) view
    block = next(bl for bl in scene["blocks"] if bl["id"] == target)
    dev.js("(id) => { renderer.dim([]); renderer.highlight([], {[id]: [[0, 0, 1, %d]]}); }" % block["cols"], target)
    dev.settle()
    cells = dev.shot()
    row_h = rect["h"] / block["rows"]
    first_row = box_mask(plain.shape, {"x": rect["x"], "y": rect["y"], "w": rect["w"], "h": row_h}, grow=-1)
    rest = inside & ~box_mask(plain.shape, {"x": rect["x"], "y": rect["y"], "w": rect["w"], "h": 3 * row_h})
    assert luminance(cells)[first_row].mean() > luminance(plain)[first_row].mean() + 5
    assert luminance(cells)[rest].mean() < luminance(plain)[rest].mean() - 3

    # highlighted cells stay lit when everything is dimmed
    dev.js("() => renderer.dim(['*'])")
    dev.settle()
    dim_cells = dev.shot()
    assert changed(cells, dim_cells)[first_row].mean() < 0.05
    assert luminance(dim_cells)[rest].mean() < luminance(cells)[rest].mean() - 3

    dev.js("() => { renderer.dim([]); renderer.highlight([]); }")
    dev.settle()
    assert changed(plain, dev.shot()).mean() < 0.001, "clearing the highlight did not restore the view"


def test_fly_to_resolves_and_idle_draws_nothing(dev, scene):
    ids = [bl for bl in scene["blocks"] if bl["group"] == "h.2.attn"]
    lo = np.min([block_box(bl)[0] for bl in ids], axis=0)
    hi = np.max([block_box(bl)[1] for bl in ids], axis=0)
    frames = dev.js("renderer.frameCount()")
    arrived = dev.js("() => renderer.flyTo('h.2.attn', 0.5)")
    assert arrived is True
    assert dev.js("renderer.frameCount()") - frames >= 3, "the flight was not animated"
    np.testing.assert_allclose(dev.js("renderer.getCamera().target"), (lo + hi) / 2, atol=1e-3)
    # a jump: resolves at once
    cam = {"position": [10.0, -50.0, 300.0], "target": [10.0, -50.0, 0.0]}
    assert dev.js("(cam) => renderer.flyTo(cam, 0)", cam) is True
    got = dev.js("renderer.getCamera()")
    np.testing.assert_allclose(got["position"], cam["position"], atol=1e-6)
    np.testing.assert_allclose(got["target"], cam["target"], atol=1e-6)
    # idle: no frames at all
    dev.settle()
    idle = dev.js("renderer.frameCount()")
    dev.page.wait_for_timeout(1200)
    assert dev.js("renderer.frameCount()") == idle
    # a new flight interrupts the running one, which resolves false
    result = dev.js("""async () => {
        const first = renderer.flyTo('x', 2.0);
        await new Promise((r) => setTimeout(r, 100));
        const second = renderer.flyTo('probs', 0.2);
        return [await first, await second];
    }""")
    assert result == [False, True]


def test_a_flight_to_where_the_camera_is_draws_nothing(dev):
    """A step shown again (a new token) flies to the view it is at: no flight, no frames."""
    dev.js("() => renderer.flyTo('h.1.attn', 0)")
    dev.settle()
    here = dev.js("renderer.getCamera()")
    frames = dev.js("renderer.frameCount()")
    assert dev.js("(cam) => renderer.flyTo(cam, 1.0)", {"position": here["position"], "target": here["target"]}) is True
    dev.page.wait_for_timeout(300)
    assert dev.js("renderer.frameCount()") == frames
    assert dev.js("renderer.getCamera()")["position"] == here["position"]


def test_big_values_go_up_in_slices_and_are_drawn_once(dev):
    """9 MB of new values (render/blocks.js uploads 4 MB a frame): the first slice comes with a
    frame, the others go to the GPU in frames that draw nothing, one frame draws them all;
    every row arrives (the top half positive, the bottom half negative: orange)."""
    rows = cols = 1536
    dev.js("""([rows, cols]) => renderer.setScene({blocks: [{id: "big", rows, cols, pos: [0, 0, 0],
                                                               role: "activation"}]})""", [rows, cols])
    dev.settle()
    frames = dev.js("renderer.frameCount()")
    dev.js("""([rows, cols]) => {
        const v = new Float32Array(rows * cols);
        v.fill(1, 0, rows * cols / 2);
        v.fill(-1, rows * cols / 2);
        renderer.setValues("big", v);
    }""", [rows, cols])
    assert dev.js("renderer.state().uploading") is True   # more than one slice
    dev.settle()
    assert 1 <= dev.js("renderer.frameCount()") - frames <= 2
    img = dev.shot()
    rect = dev.rect("big")
    half = {"x": rect["x"], "y": rect["y"], "w": rect["w"], "h": rect["h"] / 2}
    top = box_mask(img.shape, half, grow=-4)
    bottom = box_mask(img.shape, {**half, "y": rect["y"] + rect["h"] / 2}, grow=-4)
    r, b_ = img[..., 0].astype(int), img[..., 2].astype(int)
    orange = (r > 150) & (r - b_ > 60)
    assert orange[bottom].mean() > 0.5, "the bottom rows (the last slices) are not drawn"
    assert orange[top].mean() < 0.05


def test_keyboard_moves_the_camera_only_with_focus(dev):
    dev.js("""() => { window.keys = []; document.addEventListener('keydown', (e) => window.keys.push(e.key)); }""")
    dev.js("() => document.activeElement && document.activeElement.blur()")
    before = dev.js("renderer.getCamera()")
    dev.page.keyboard.press("ArrowLeft")
    dev.page.keyboard.press("Space")
    assert dev.js("renderer.getCamera()") == before
    assert dev.js("window.keys") == ["ArrowLeft", " "]
    dev.js("() => renderer.canvas.focus()")
    dev.page.keyboard.press("ArrowLeft")            # pan
    panned = dev.js("renderer.getCamera()")
    assert panned["target"] != before["target"]
    dev.page.keyboard.press("Shift+ArrowUp")        # orbit: the target stays
    orbited = dev.js("renderer.getCamera()")
    assert orbited["target"] == panned["target"] and orbited["position"] != panned["position"]
    dist = lambda c: float(np.linalg.norm(np.subtract(c["position"], c["target"])))  # noqa: E731
    dev.page.keyboard.press("+")
    assert dist(dev.js("renderer.getCamera()")) < dist(orbited) * 0.95
    dev.page.keyboard.press("Space")                # never taken by the canvas
    assert [k for k in dev.js("window.keys") if k != "Shift"] == ["ArrowLeft", " ", " "]
    dev.page.keyboard.press("Escape")               # focus back to the page: arrows are the page's again
    dev.page.keyboard.press("ArrowRight")
    assert dev.js("window.keys")[-1] == "ArrowRight"
    assert dev.js("document.activeElement !== renderer.canvas")


def test_mouse_orbits_and_zooms_then_goes_idle(dev):
    before = dev.js("renderer.getCamera()")
    dev.page.mouse.move(640, 400)
    dev.page.mouse.down()
    for k in range(1, 9):
        dev.page.mouse.move(640 + 15 * k, 400 + 4 * k)
    dev.page.mouse.up()
    dev.settle()                                    # damping runs out, then no more frames
    orbited = dev.js("renderer.getCamera()")
    assert orbited["position"] != before["position"]
    np.testing.assert_allclose(orbited["target"], before["target"], atol=1e-6)
    dist = lambda c: float(np.linalg.norm(np.subtract(c["position"], c["target"])))  # noqa: E731
    dev.page.mouse.wheel(0, -400)
    dev.settle()
    assert dist(dev.js("renderer.getCamera()")) < dist(orbited) * 0.9
    idle = dev.js("renderer.frameCount()")
    dev.page.wait_for_timeout(800)
    assert dev.js("renderer.frameCount()") == idle


def test_api_errors_are_clear(dev):
    msg = dev.js("() => { try { renderer.setValues('x', new Float32Array(5)); } catch (e) { return e.message; } }")
    assert "expected 528 values" in msg
    msg = dev.js("() => { try { renderer.setValues('nope', new Float32Array(5)); } catch (e) { return e.message; } }")
    assert "no block with id" in msg
    # plain arrays and a JSON string scene are accepted too
    assert dev.js("() => renderer.setValues('idx', Array.from({length: 11}, (_, i) => i - 5))") is True
    n = dev.js("(text) => { renderer.setScene(text); return renderer.screenRect('x') !== null; }",
               json.dumps(fixture_scene(n_layer=1)))
    assert n is True
    # dispose takes the canvas, labels and legend away and stops drawing
    gone = dev.js("""() => { renderer.dispose(); return document.querySelectorAll(
        '#view canvas, #view .llmviz-labels, #view .llmviz-legend').length; }""")
    assert gone == 0


def test_benchmark_reports_frame_times(dev):
    frames = dev.js("renderer.frameCount()")
    result = dev.js("() => renderer.benchmark({frames: 20, orbit: true})")
    assert result["frames"] == 20
    assert 0 < result["median_ms"] <= result["p90_ms"] < 5000
    assert dev.js("renderer.frameCount()") - frames >= 20


def test_python_objects_from_pyodide_are_accepted(dev, site):
    """What the page's Python does: pass lists, dicts and buffers straight to the renderer."""
    if not (site / "pyodide" / "pyodide.mjs").exists():
        pytest.skip("node_modules/pyodide is missing (npm ci)")
    target, other = "h.0.attn.att[0]", "h.0.attn.scores[0]"
    dev.js("(ids) => renderer.flyTo({ids, direction: [0, 0, 1]}, 0)", [target, other])
    dev.settle()
    result = dev.js("""async ([target, other]) => {
        const { loadPyodide } = await import('../pyodide/pyodide.mjs');
        const py = await loadPyodide({ indexURL: '../pyodide/' });
        py.globals.set('renderer', renderer);
        py.globals.set('target', target);
        py.globals.set('other', other);
        py.runPython(`
import array
from pyodide.ffi import to_js
doubles = array.array('d', [float(i % 11) - 5.0 for i in range(121)])   # float64, as a proxy
ok_proxy = renderer.setValues(target, doubles)
ok_typed = renderer.setValues(other, to_js(memoryview(array.array('f', [2.0] * 121))))
renderer.highlight([target], {other: [[0, 0, 2, 11]]})                 # list + dict proxies
renderer.dim(['*'])
`);
        return [py.globals.get('ok_proxy'), py.globals.get('ok_typed')];
    }""", [target, other])
    assert result == [True, True]
    dev.settle()
    rect = dev.rect(target)
    # column c holds c - 5: negative columns orange, positive teal, column 5 (zero) dark
    img = dev.shot()
    y = int(rect["y"] + rect["h"] / 2)
    col_x = lambda c: int(rect["x"] + (c + 0.5) / 11 * rect["w"])  # noqa: E731
    r0, g0, b0 = (int(v) for v in img[y, col_x(0)])
    r10, g10, b10 = (int(v) for v in img[y, col_x(10)])
    assert r0 > b0 + 60, "column 0 (value -5) is not orange"
    assert g10 > r10 + 60, "column 10 (value +5) is not teal"
    lum = lambda c: float(luminance(img[y, col_x(c)]))  # noqa: E731
    assert lum(5) < 80, "column 5 (value 0) is not dark"
    assert lum(0) > lum(3) > lum(5), "brightness does not follow |value|"


def test_without_webgl2_the_error_says_so(browser, origin):
    context = browser.new_context(viewport=VIEW)
    page = context.new_page()
    page.add_init_script("""
        const original = HTMLCanvasElement.prototype.getContext;
        HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
          return kind === 'webgl2' ? null : original.call(this, kind, ...rest);
        };""")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{origin}/dev/renderer.html")
    page.wait_for_function("window.rendererError !== undefined", timeout=30000)
    message = page.evaluate("window.rendererError")
    assert "WebGL2" in message and "text and code panels still work" in message
    assert "WebGL2" in page.inner_text("#status")
    assert errors == []
    context.close()


# ---------------------------------------------------------------------------
# labels: focused blocks first, no overlaps, nothing drawn through them

LABEL_STATE_JS = """() => {
  const R = window.llmvizScene ? window.llmvizScene.renderer : window.renderer;
  const layer = document.querySelector('.llmviz-labels').getBoundingClientRect();
  const labels = [...document.querySelectorAll('.llmviz-label')].filter((e) => e.style.display === 'block')
    .map((e) => { const r = e.getBoundingClientRect();
                  return {id: e.dataset.block, place: e.dataset.place, hl: e.classList.contains('hl'),
                          text: e.firstChild.textContent, x: r.x, y: r.y, w: r.width, h: r.height}; });
  const st = R.state();
  const blocks = R.blockIds().map((id) => [id, R.screenRect(id)]).filter(([, q]) => q);
  return {labels, blocks, focus: [...new Set([...st.highlighted, ...Object.keys(st.cells)])],
          view: {x: layer.left, y: layer.top, w: layer.width, h: layer.height}};
}"""


# the slack of render/labels.js: a label resting on a neighbour's edge (touching) does not cover it
def _overlap(a: dict, b: dict, slack: float = 1.0) -> bool:
    return (a["x"] < b["x"] + b["w"] - slack and a["x"] + a["w"] > b["x"] + slack
            and a["y"] < b["y"] + b["h"] - slack and a["y"] + a["h"] > b["y"] + slack)


def check_labels(state: dict, where: str = "") -> None:
    """Every focused block that is on screen and big enough has a label (in the focus colour);
    no two labels overlap; no label covers a block other than its own (thin strips included)."""
    labels, view = state["labels"], state["view"]
    shown = {lab["id"]: lab for lab in labels}
    rects = dict(state["blocks"])
    for fid in state["focus"]:
        q = rects.get(fid)
        if not q or q["w"] < 40 or q["h"] < 16:
            continue
        if q["x"] < view["x"] or q["y"] < view["y"] or q["x"] + q["w"] > view["x"] + view["w"] \
                or q["y"] + q["h"] > view["y"] + view["h"]:
            continue
        assert fid in shown, f"{where}: focused block {fid} ({q['w']:.0f}x{q['h']:.0f} px) has no label"
        assert shown[fid]["hl"], f"{where}: the label of focused block {fid} is not in the focus colour"
    for k, a in enumerate(labels):
        assert a["id"] and a["place"] in ("above", "below", "right", "left", "inside"), a
        for b in labels[k + 1:]:
            assert not _overlap(a, b), f"{where}: labels overlap: {a['text']!r} and {b['text']!r}"
        for bid, q in state["blocks"]:
            if bid != a["id"] and q["w"] >= 1 and q["h"] >= 1:
                assert not _overlap(a, q), f"{where}: label {a['text']!r} lies over block {bid}"


def test_labels_of_focused_blocks_win(dev, scene):
    dev.js("() => renderer.flyTo({ids: ['h.0.attn.c_attn.q.weight[0]', 'h.0.attn.att[1]'], direction: [0, 0, 1]}, 0)")
    dev.settle()
    check_labels(dev.js(LABEL_STATE_JS), "plain")
    # K and the scores of head 0 sit under Q and next to faded blocks whose labels are bigger
    focus = ["h.0.attn.q[0]", "h.0.attn.k[0]", "h.0.attn.scores[0]"]
    dev.js("(ids) => { renderer.dim(['*']); renderer.highlight(ids); }", focus)
    dev.settle()
    state = dev.js(LABEL_STATE_JS)
    check_labels(state, "attention focus")
    shown = {lab["id"] for lab in state["labels"] if lab["hl"]}
    assert set(focus) <= shown, shown
    # blocks holding highlighted cells count as focused too
    dev.js("() => { renderer.highlight([], {'h.0.attn.v[0]': [[0, 0, 16, 11]]}); }")
    dev.settle()
    state = dev.js(LABEL_STATE_JS)
    check_labels(state, "cells")
    assert any(lab["id"] == "h.0.attn.v[0]" and lab["hl"] for lab in state["labels"])
    # zoomed out until the focused blocks are small: still labelled, still no overlaps
    dev.js("() => renderer.flyTo({ids: ['h.0.attn', 'h.1.attn'], direction: [0, 0, 1]}, 0)")
    dev.js("(ids) => renderer.highlight(ids)", focus)
    dev.settle()
    check_labels(dev.js(LABEL_STATE_JS), "zoomed out")
    dev.js("() => { renderer.dim([]); renderer.highlight([]); }")


def test_labels_in_the_overview_are_distinct_first(dev, scene):
    dev.js("() => renderer.flyTo('*', 0)")
    dev.settle()
    state = dev.js(LABEL_STATE_JS)
    check_labels(state, "overview")
    texts = [lab["text"] for lab in state["labels"]]
    assert texts, "no labels in the overview"
    # the same text twice (the same weights of another layer) would only say the same thing again
    assert len(set(texts)) == len(texts), texts
    # thin strips (layer norm mean/rstd rows) never run through a label
    dev.js("() => renderer.flyTo({ids: ['h.1.ln_2', 'h.1.ln_2.mean', 'h.1.ln_2.rstd'], direction: [0, 0, 1]}, 0)")
    dev.js("() => renderer.highlight(['h.1.ln_2.rstd', 'h.1.ln_2'])")
    dev.settle()
    state = dev.js(LABEL_STATE_JS)
    check_labels(state, "layer norm")
    assert {"h.1.ln_2.rstd", "h.1.ln_2"} <= {lab["id"] for lab in state["labels"]}
    dev.js("() => renderer.highlight([])")


def test_highlighted_cells_keep_their_colours(dev, scene):
    """A highlighted cell range gets an outline around the range, not a ring per cell:
    the values inside stay readable, even with cells a few pixels big."""
    target = "h.1.mlp.c_fc.weight"          # 192 x 48 cells: a few pixels each in this view
    dev.js("(id) => renderer.flyTo({ids: ['h.1.mlp'], direction: [0, 0, 1]}, 0)", target)
    dev.settle()
    rect = dev.rect(target)
    plain = dev.shot()
    block = next(bl for bl in scene["blocks"] if bl["id"] == target)
    cell_px = rect["h"] / block["rows"]
    assert 1.5 < cell_px < 8, cell_px
    dev.js("([id, r, c]) => renderer.highlight([], {[id]: [[0, 0, r, c]]})", [target, block["rows"], block["cols"]])
    dev.settle()
    lit = dev.shot()
    inner = box_mask(plain.shape, rect, grow=-4)
    yellow = (lit[..., 0] > 200) & (lit[..., 1] > 180) & (lit[..., 2] < 160)
    assert yellow[inner].mean() < 0.01, f"{yellow[inner].mean():.0%} of the highlighted cells are yellow"
    a, b = luminance(plain)[inner], luminance(lit)[inner]
    assert np.corrcoef(a, b)[0, 1] > 0.97, "the cell values are not readable through the highlight"
    # the range's outline is there
    x0, y0 = int(round(rect["x"])), int(round(rect["y"]))
    x1, y1 = int(round(rect["x"] + rect["w"])), int(round(rect["y"] + rect["h"]))
    ys, xs = slice(y0 + 10, y1 - 10), slice(x0 + 10, x1 - 10)
    left, top = yellow[ys, x0 - 1:x0 + 4].any(axis=1), yellow[y0 - 1:y0 + 4, xs].any(axis=0)
    assert left.mean() > 0.9 and top.mean() > 0.9, "no outline around the highlighted cells"
    assert not yellow[ys, x0 + 5:x0 + 8].any(axis=1).mean() > 0.5, "the outline is too thick"
    dev.js("() => renderer.highlight([])")


# the walkthrough's steps in the built page: the review's cases (focused blocks without labels
# while faded ones kept theirs, labels crossed by strips, three identical labels zoomed out)
REVIEW_STEPS = [("attention", "one_score"), ("embedding", "sum"), ("prelim", "columns"), ("layernorm", "why"),
                ("output", "ln_f"), ("projection", "residual"), ("projection", "update_size"), ("mlp", "expand_all"),
                ("mlp", "residual"), ("stack", "last_attention"), ("intro", "welcome")]


def test_walkthrough_steps_label_their_focused_blocks(browser, built_dist):
    from conftest import StaticServer  # tests/conftest.py

    server = StaticServer(built_dist)
    # reduced motion: each step's camera jumps to where its flight would end (the labels are placed there)
    context = browser.new_context(viewport=VIEW, device_scale_factor=1, reduced_motion="reduce")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + "#phase=intro&step=welcome")
        page.wait_for_function("window.llmvizReadyDone === true", timeout=180_000)
        for phase, step in REVIEW_STEPS:
            page.evaluate("([phase, step]) => window.llmviz.goto({phase, step})", [phase, step])  # awaits it
            page.wait_for_function("window.llmviz.state().settled", timeout=30_000)
            page.wait_for_function("""() => new Promise((resolve) => {
                const r = window.llmvizScene.renderer;
                let last = r.frameCount(), calm = 0;
                const check = () => { const now = r.frameCount(); calm = now === last ? calm + 1 : 0; last = now;
                                      if (calm >= 3) resolve(true); else requestAnimationFrame(check); };
                requestAnimationFrame(check); })""", timeout=30_000)
            state = page.evaluate(LABEL_STATE_JS)
            check_labels(state, f"{phase} {step}")
            texts = [lab["text"] for lab in state["labels"]]
            assert len(set(texts)) == len(texts), (phase, step, texts)
            if (phase, step) == ("attention", 3):
                # per-head labels say which transformer block they belong to
                assert any("block 0, head 0" in t for t in texts), texts
        assert errors == []
    finally:
        context.close()
        server.close()


def test_one_colour_formula_for_blocks_and_heatmap(dev, scene):
    """The block shader and the inspector's heatmap (js/live.js) colour a value as colors.js cellColor
    does: the same values give the same colours everywhere (the heatmap once lacked the shader's curve)."""
    target = "h.0.attn.scores[1]"
    block = next(bl for bl in scene["blocks"] if bl["id"] == target)
    rows, cols = block["rows"], block["cols"]
    n = rows * cols
    values = np.linspace(-1.0, 1.0, n).astype(np.float32)          # max |value| 1: scale 1
    dev.js("([id, v]) => renderer.setValues(id, new Float32Array(v))", [target, values.tolist()])
    dev.js("(id) => renderer.flyTo({ids: [id], direction: [0, 0, 1]}, 0)", target)
    dev.settle()
    img = dev.shot()
    rect = dev.rect(target)
    probe = [(r, c) for r in range(0, rows, 3) for c in range(0, cols, 4)]
    expected = dev.js("""async ([v, probe, cols]) => {
        const { cellColor } = await import('../js/render/colors.js');
        return probe.map(([r, c]) => cellColor(v[r * cols + c], 1, 'activation').map((x) => Math.round(x * 255)));
      }""", [values.tolist(), probe, cols])
    for (r, c), want in zip(probe, expected):
        x = int(rect["x"] + (c + 0.5) / cols * rect["w"])
        y = int(rect["y"] + (r + 0.5) / rows * rect["h"])
        got = img[y, x].astype(int)
        assert np.abs(got - want).max() <= 6, f"cell ({r}, {c}) = {values[r * cols + c]:.3f}: shader {got}, cellColor {want}"
    # the heatmap draws the same values with the same colours
    heat = dev.js("""async ([v, probe, rows, cols]) => {
        const { heatmap } = await import('../js/live.js');
        const { cellColor } = await import('../js/render/colors.js');
        const canvas = document.createElement('canvas');
        const px = heatmap(canvas, v, rows, cols, 'activation', null);
        const ctx = canvas.getContext('2d');
        return probe.map(([r, c]) => {
          const d = ctx.getImageData(c * px + Math.floor(px / 2), r * px + Math.floor(px / 2), 1, 1).data;
          return [[d[0], d[1], d[2]], cellColor(v[r * cols + c], 1, 'activation').map((x) => Math.round(x * 255))];
        });
      }""", [values.tolist(), probe, rows, cols])
    for (r, c), (got, want) in zip(probe, heat):
        assert np.abs(np.array(got) - want).max() <= 1, f"heatmap cell ({r}, {c}): {got}, cellColor {want}"
