"""The 3D layout: where every weight and activation block sits, and what it shows.

Pure Python (no numpy), so the page can lay out a model before numpy is loaded.

``scene(config)`` returns the Scene JSON the renderer draws (its fields are listed
at the end of this docstring); ``scale_scene(name)`` returns the same layout for a
real GPT size (GPT-2 small, GPT-2 XL, GPT-3) with no values, for a sense of scale.

How the picture reads (the idea follows bbycroft's llm-viz, in our own code):

* Forward order runs from the top (y = 0) downwards. The residual stream (``x``,
  then each layer's ``x_attn`` and ``x``) is one column of C rows by T columns
  centred on x = 0. Layers beyond ``LAYERS_PER_COLUMN`` continue at the top of a
  new column to the right, so a 96-layer model is not one endless needle.
* Left of the residual column sits the *work column* A: the layer-norm outputs,
  the heads' combined output ``attn.y``, the projections' outputs. Between A and
  the residual stand the layer norms' gamma and beta, each a C x 1 column.
* Every matrix product is drawn the same way: the output block O, its weight W to
  the left of O with W's rows level with O's rows, and the input above O (for the
  attention heads and projections) or beside W (for the MLP's first layer, which is
  drawn transposed, T x 4C, so that it lies flat like in llm-viz).
* The attention heads stand side by side (head 0 leftmost), each a column of
  Q, K, V (bias | weights | vectors), then scores | row max | row sum | softmax,
  then the head's output. Scale scenes of very many heads merge the heads of a
  kind into one block with a ``"heads": nh`` field (``scene["heads_merged"]``).

Coordinates: a block's ``pos`` is the top-left corner of its front face; its
columns run towards +x, its rows towards -y, and it is one cell deep towards -z.
All blocks are in the plane z = 0 .. -cell, so "no overlap" is a 2D property here.

Each block also says where its values come from, so ``llmviz.viz.scene_values`` and
``llmviz.viz.provenance`` need no knowledge of the layout:

* activations and aggregates: ``"trace"`` (the Trace name), ``"index"`` (leading
  indices to apply: ``[0]`` for batch 0, ``[0, h]`` for head h, ``[]`` for
  ``pos_emb`` which has no batch axis) and ``"transpose"`` (swap the last two axes);
  the block's values are ``reshape(transpose(trace[name][index]), (rows, cols))``;
* parameters: ``"param"`` (the nanoGPT state-dict name, with ``transformer.``),
  optional ``"slice": [r0, r1]`` (rows r0..r1-1 of axis 0) and ``"transpose"``.

Scene fields: ``version`` (1), ``config`` (the GPTConfig fields), ``T`` (the sequence
length the activation blocks are sized for), ``heads_merged``, ``blocks``, ``bounds``
(``{"min", "max"}`` over all blocks), ``groups`` (id -> ``{label, phase, layer,
bounds, blocks}``; ids ``embedding``, ``h.{i}.ln_1``, ``h.{i}.attn``, ``h.{i}.proj``,
``h.{i}.ln_2``, ``h.{i}.mlp``, ``ln_f``, ``output``; phases ``embedding``,
``layer-norm``, ``self-attention``, ``projection``, ``mlp``, ``output``), ``views``
(``overview``, ``embedding``, ``h.{i}``, ``h.{i}.attn``, ``h.{i}.mlp``, ``output``:
each ``{center, distance}`` for a camera looking along -z with ``camera.fov`` degrees
of vertical view at aspect ``camera.aspect``), ``shown_as`` (Trace names drawn
through other blocks: ``h.{i}.attn.qkv`` is its q, k, v blocks). Scale scenes add
``name``, ``label``, ``values: "none"`` and ``param_count``.

Block fields: ``id``, ``role``, ``label``, ``group``, ``rows``, ``cols``, ``dims``,
``pos``, ``cell`` (world size of one cell; vocabulary-sized blocks of big models get
smaller cells), the source fields above, ``head`` (per-head blocks) or ``heads``
(merged blocks), ``kind`` (q/k/v for the c_attn splits), ``input`` (layer-norm
outputs: the residual block they normalise), ``pattern`` (scale scenes: "neutral").
"""
from __future__ import annotations

import math
from typing import Any

from llmviz.core.shape import ModelShape, full_name

SCENE_VERSION = 1
LAYERS_PER_COLUMN = 12
CAMERA_FOV_DEG = 45.0       # the vertical field of view the ``views`` distances assume
CAMERA_ASPECT = 1.6         # and the width / height of the view they assume
MERGE_HEADS_ABOVE = 256     # scale scenes merge heads when n_layer * n_head exceeds this

# real model sizes, for the scale views (vocab and block size as published)
SCALE_CONFIGS: dict[str, dict] = {
    "gpt2-small": {"label": "GPT-2 small (124M)", "block_size": 1024, "vocab_size": 50257,
                   "n_layer": 12, "n_head": 12, "n_embd": 768, "bias": True, "gelu": "tanh"},
    "gpt2-xl": {"label": "GPT-2 XL (1.5B)", "block_size": 1024, "vocab_size": 50257,
                "n_layer": 48, "n_head": 25, "n_embd": 1600, "bias": True, "gelu": "tanh"},
    "gpt3": {"label": "GPT-3 (175B)", "block_size": 2048, "vocab_size": 50257,
             "n_layer": 96, "n_head": 96, "n_embd": 12288, "bias": True, "gelu": "tanh"},
}

# the walkthrough phase each group belongs to
PHASES = {"embedding": "embedding", "ln": "layer-norm", "attn": "self-attention",
          "proj": "projection", "mlp": "mlp", "output": "output"}


def param_count(config: Any) -> int:
    """Parameters of a nanoGPT model of this config, lm_head counted once (tied to wte):
    ``ModelShape.param_count``."""
    return ModelShape.from_config(config).param_count(tied=True)


def block_index(scene_: dict) -> dict[str, dict]:
    """The scene's blocks by id."""
    return {b["id"]: b for b in scene_["blocks"]}


def scale_scene(name: str, T: int = 11) -> dict:
    """The layout of a real GPT (``SCALE_CONFIGS``) for a sense of scale: no values.

    Every block has ``"pattern": "neutral"`` (far too many cells to draw one by one:
    draw each as one box of cols*cell by rows*cell), the scene has ``"values": "none"``
    and ``"param_count"``; heads are merged per kind when there are very many.
    """
    if name not in SCALE_CONFIGS:
        raise ValueError(f"no scale view named {name!r}; choose one of {', '.join(SCALE_CONFIGS)}")
    spec = dict(SCALE_CONFIGS[name])
    label = spec.pop("label")
    merge = spec["n_layer"] * spec["n_head"] > MERGE_HEADS_ABOVE
    out = scene(spec, T=T, merge_heads=merge)
    for block in out["blocks"]:
        block["pattern"] = "neutral"
    out.update({"name": name, "label": label, "values": "none",
                "param_count": param_count(spec)})
    return out


def scene(config: Any, T: int | None = None, *, merge_heads: bool = False) -> dict:
    """The Scene JSON for a model of ``config`` run on ``T`` tokens (default block_size).

    Deterministic and JSON-serialisable. ``merge_heads`` draws all heads of a kind as
    one block (``"heads": nh``) instead of one block per head.
    """
    shape = ModelShape.from_config(config)
    T = shape.block_size if T is None else int(T)
    if not 1 <= T <= shape.block_size:
        raise ValueError(f"T must be between 1 and block_size ({shape.block_size}), got {T}")
    return _Layout(shape, T, merge_heads).build()


# ----------------------------------------------------------------------------
# the builder

class _Layout:
    """Places blocks in a 'page' frame (x right, y down) and flips y on output."""

    def __init__(self, shape: ModelShape, T: int, merge_heads: bool):
        self.shape, self.T, self.merged = shape, T, merge_heads
        C = shape.C
        self.C, self.V, self.nh, self.L = C, shape.V, shape.nh, shape.n_layer
        self.hs = shape.hs
        self.bias = shape.bias
        # gaps, in cells: tight (a block and its aggregate), weight-to-output, sections
        self.g = 1.0
        self.w = max(2.0, round(C / 16))
        self.M = max(6.0, round(C / 8))
        # vocab-sized blocks get smaller cells once the vocabulary dwarfs the model
        self.cv = min(1.0, max(64.0, 4.0 * C) / self.V)
        self.blocks: list[dict] = []
        self.groups: dict[str, dict] = {}
        self.x_shift = 0.0
        # the residual column, the work column A, and the gap between them (gamma, beta)
        self.res_left = -T / 2
        self.a_right = self.res_left - (2 + 2 * self.g + self.w)
        self.a_left = self.a_right - T

    # -- placing -------------------------------------------------------------

    def dims_label(self, dims) -> str:
        return "\u00d7".join(dims)

    def add(self, id_: str, role: str, text: str, group: str, rows: int, cols: int,
            dims: list, x: float, top: float, cell: float = 1.0, **source) -> dict:
        block = {"id": id_, "role": role, "label": f"{text} ({self.dims_label(dims)})",
                 "group": group, "rows": int(rows), "cols": int(cols), "dims": list(dims),
                 "pos": [_num(x + self.x_shift), _num(-top), 0.0], "cell": _num(cell)}
        block.update(source)
        self.blocks.append(block)
        self.groups.setdefault(group, {"blocks": []})["blocks"].append(block)
        return block

    def act(self, id_, text, group, rows, cols, dims, x, top, trace, index=(0,),
            transpose=False, role="activation", cell=1.0, **extra):
        return self.add(id_, role, text, group, rows, cols, dims, x, top, cell,
                        trace=trace, index=list(index), transpose=transpose, **extra)

    def param(self, name, text, group, rows, cols, dims, x, top, transpose=False,
              rows_slice=None, cell=1.0, **extra):
        """A parameter block; ``name`` is the short state-dict name (the block's id)."""
        src = {"param": full_name(name), "transpose": transpose}
        if rows_slice is not None:
            src["slice"] = list(rows_slice)
        src.update(extra)
        id_ = name
        if rows_slice is not None and "head_tag" in src:
            id_ = src.pop("head_tag")
        return self.add(id_, "parameter", text, group, rows, cols, dims, x, top, cell, **src)

    # -- sections -------------------------------------------------------------

    def build(self) -> dict:
        y = self.embedding(0.0)
        block_top = y + self.M
        col_width = self.layer_width() + 2 * self.M
        last_x = None
        for i in range(self.L):
            col, row = divmod(i, LAYERS_PER_COLUMN)
            if row == 0:
                y = block_top
            self.x_shift = col * col_width
            y = self.layer(i, y + self.M)
            y += self.M
            last_x = f"h.{i}.x"
        src = last_x or "x"
        y = self.layer_norm("ln_f", "ln_f", "final layer norm", y + self.M, src, "ln_f")
        self.output(y)
        return self.finish()

    def layer_width(self) -> float:
        """Width of one layer, from its leftmost block to the residual's right edge."""
        T, C = self.T, self.C
        lefts = [self.a_right - self.heads_band_width(),
                 self.a_left - self.w - 4 * C - self.g - 1,
                 self.a_left - self.w - C - self.g - 1]
        return T / 2 - min(lefts)

    def embedding(self, y: float) -> float:
        T, C, V, g, w = self.T, self.C, self.V, self.g, self.w
        grp = "embedding"
        self.act("idx", "token indices idx", grp, 1, T, ["1", "T"], self.res_left, y, "idx")
        y += 1 + self.M
        # token embedding: wte (drawn C x vocab, one column per token) -> tok_emb in column A
        self.act("tok_emb", "token embeddings tok_emb", grp, C, T, ["C", "T"], self.a_left, y,
                 "tok_emb", transpose=True)
        cv = self.cv
        self.param("wte.weight", "token embedding table wte", grp, C, V,
                   ["C", "vocab"], self.a_left - w - V * cv, y, transpose=True, cell=cv)
        self.act("x", "input embedding x = tok_emb + pos_emb", grp, C, T, ["C", "T"],
                 self.res_left, y, "x", transpose=True)
        # position embedding: pos_emb right of the residual, wpe beyond it
        pos_left = self.res_left + T + (2 + 2 * g + w)
        self.act("pos_emb", "position embeddings pos_emb", grp, C, T, ["C", "T"], pos_left, y,
                 "pos_emb", index=(), transpose=True)
        self.param("wpe.weight", "position embedding table wpe", grp, C,
                   self.shape.block_size, ["C", "block_size"], pos_left + T + w, y, transpose=True)
        return y + C

    def layer_norm(self, name: str, group: str, text: str, y: float, src: str,
                   pname: str) -> float:
        """mean and rstd rows above the output in column A; gamma, beta right of it."""
        T, C, g = self.T, self.C, self.g
        self.act(name + ".mean", f"{text}: mean", group, 1, T, ["1", "T"], self.a_left, y,
                 name + ".mean", role="aggregate")
        self.act(name + ".rstd", f"{text}: 1/std", group, 1, T, ["1", "T"], self.a_left,
                 y + 1 + g, name + ".rstd", role="aggregate")
        y += 2 + g + self.w
        self.act(name, f"{text} output", group, C, T, ["C", "T"], self.a_left, y, name,
                 transpose=True, input=src)
        self.param(pname + ".weight", f"{text}: gamma (weight)", group, C, 1, ["C", "1"],
                   self.a_right + g, y)
        if self.bias:
            self.param(pname + ".bias", f"{text}: beta (bias)", group, C, 1, ["C", "1"],
                       self.a_right + 2 * g + 1, y)
        self.ln_top = y
        return y + C

    # -- attention ------------------------------------------------------------

    def head_width(self) -> float:
        T, C, g, w = self.T, self.C, self.g, self.w
        return max(1 + g + C + w + T, 2 * T + 2 + 2 * g + w)

    def heads_band_width(self) -> float:
        n = 1 if self.merged else self.nh
        return n * self.head_width() + (n - 1) * self.M

    def layer(self, i: int, y: float) -> float:
        T, C, g, w, M = self.T, self.C, self.g, self.w, self.M
        p = f"h.{i}."
        blk = f", block {i}"        # labels say which transformer block they belong to
        prev = f"h.{i - 1}.x" if i else "x"
        y = self.layer_norm(p + "ln_1", p + "ln_1", f"block {i} ln_1", y, prev,
                            f"h.{i}.ln_1")
        y = self.attention(i, y + M)
        # projection: y (heads side by side) above attn.out; c_proj left of attn.out
        grp = p + "proj"
        y += M
        self.act(p + "attn.y", "heads combined y" + blk, grp, C, T, ["C", "T"], self.a_left, y,
                 p + "attn.y", transpose=True)
        y += C + w
        self.act(p + "attn.out", "attention output c_proj(y)" + blk, grp, C, T, ["C", "T"],
                 self.a_left, y, p + "attn.out", transpose=True)
        wl = self.a_left - w - C
        self.param(f"{p}attn.c_proj.weight",
                   "attention projection c_proj weights" + blk, grp, C, C, ["C", "C"], wl, y)
        if self.bias:
            self.param(f"{p}attn.c_proj.bias", "attention projection c_proj bias" + blk,
                       grp, C, 1, ["C", "1"], wl - g - 1, y)
        self.act(p + "x_attn", "residual x + attention" + blk, grp, C, T, ["C", "T"], self.res_left,
                 y, p + "x_attn", transpose=True)
        y += C + M
        # MLP: ln_2 in column A with c_fc's weights (transposed, C x 4C) level to its left
        y = self.layer_norm(p + "ln_2", p + "ln_2", f"block {i} ln_2", y, p + "x_attn",
                            f"h.{i}.ln_2")
        ln_top = self.ln_top
        grp = p + "mlp"
        ml = self.a_left - w - 4 * C
        self.param(f"{p}mlp.c_fc.weight", "MLP c_fc weights" + blk, grp, C, 4 * C,
                   ["C", "4C"], ml, ln_top, transpose=True)
        if self.bias:
            self.param(f"{p}mlp.c_fc.bias", "MLP c_fc bias" + blk, grp, 1, 4 * C,
                       ["1", "4C"], ml, ln_top - 1 - g)
        y = ln_top + C + w
        self.act(p + "mlp.fc", "MLP hidden c_fc(ln_2)" + blk, grp, T, 4 * C, ["T", "4C"], ml, y,
                 p + "mlp.fc")
        y += T + w
        self.act(p + "mlp.gelu", "MLP activation GELU" + blk, grp, T, 4 * C, ["T", "4C"], ml, y,
                 p + "mlp.gelu")
        y += T + w
        self.param(f"{p}mlp.c_proj.weight", "MLP c_proj weights" + blk, grp, C, 4 * C,
                   ["C", "4C"], ml, y)
        if self.bias:
            self.param(f"{p}mlp.c_proj.bias", "MLP c_proj bias" + blk, grp, C, 1,
                       ["C", "1"], ml - g - 1, y)
        self.act(p + "mlp.out", "MLP output c_proj(gelu)" + blk, grp, C, T, ["C", "T"], self.a_left,
                 y, p + "mlp.out", transpose=True)
        self.act(p + "x", f"block {i} output: residual x + MLP", grp, C, T, ["C", "T"],
                 self.res_left, y, p + "x", transpose=True)
        return y + C

    def attention(self, i: int, y: float) -> float:
        T, C, g, w, M = self.T, self.C, self.g, self.w, self.M
        p = f"h.{i}."
        grp = p + "attn"
        merged = self.merged
        heads = [None] if merged else list(range(self.nh))
        hs = C if merged else self.hs        # rows of a head's Q, K, V (all heads when merged)
        tr = self.nh * T if merged else T    # rows of a head's score matrices
        hw = self.head_width()
        band_left = self.a_right - self.heads_band_width()
        for n, h in enumerate(heads):
            left = band_left + n * (hw + M)
            ox = left + hw - T                      # the head's vector column
            wx = ox - w - C                         # its weights
            bx = wx - g - 1                         # its biases
            tag = "" if merged else f"[{h}]"
            head_txt = f"block {i}, all heads" if merged else f"block {i}, head {h}"
            idx = (0,) if merged else (0, h)
            extra = {"heads": self.nh} if merged else {"head": h}
            hdim = "C" if merged else "hs"
            for k, kind in enumerate("qkv"):
                top = y + k * (hs + g)
                K = kind.upper()
                rows = self.shape.c_attn_rows(kind, h)
                self.param(f"{p}attn.c_attn.weight", f"{K} weights, {head_txt}", grp,
                           hs, C, [hdim, "C"], wx, top, rows_slice=rows,
                           head_tag=f"{p}attn.c_attn.{kind}.weight{tag}", kind=kind, **extra)
                if self.bias:
                    self.param(f"{p}attn.c_attn.bias", f"{K} bias, {head_txt}", grp,
                               hs, 1, [hdim, "1"], bx, top, rows_slice=rows,
                               head_tag=f"{p}attn.c_attn.{kind}.bias{tag}", kind=kind, **extra)
                self.act(f"{p}attn.{kind}{tag}", f"{K}, {head_txt}", grp, hs, T, [hdim, "T"], ox,
                         top, f"{p}attn.{kind}", index=idx, transpose=True, **extra)
            top = y + 3 * hs + 2 * g + w
            tdim = "nh\u00b7T" if merged else "T"
            att_x = ox
            sum_x = att_x - w - 1
            max_x = sum_x - g - 1
            sc_x = max_x - g - T
            self.act(f"{p}attn.scores{tag}", f"attention scores, {head_txt}", grp, tr, T,
                     [tdim, "T"], sc_x, top, f"{p}attn.scores", index=idx, **extra)
            self.act(f"{p}attn.att.max{tag}", f"score row max, {head_txt}", grp, tr, 1,
                     [tdim, "1"], max_x, top, f"{p}attn.att.max", index=idx, role="aggregate",
                     **extra)
            self.act(f"{p}attn.att.sum{tag}", f"row sum of exp, {head_txt}", grp, tr, 1,
                     [tdim, "1"], sum_x, top, f"{p}attn.att.sum", index=idx, role="aggregate",
                     **extra)
            self.act(f"{p}attn.att{tag}", f"attention (softmax), {head_txt}", grp, tr, T,
                     [tdim, "T"], att_x, top, f"{p}attn.att", index=idx, **extra)
            top += tr + w
            self.act(f"{p}attn.head_out{tag}", f"head output att @ V, {head_txt}", grp, hs, T,
                     [hdim, "T"], ox, top, f"{p}attn.head_out", index=idx, transpose=True,
                     **extra)
        return y + 3 * hs + 2 * g + w + tr + w + hs

    # -- output ---------------------------------------------------------------

    def output(self, y: float) -> None:
        T, C, V, g, w, cv = self.T, self.C, self.V, self.g, self.w, self.cv
        grp = "output"
        y += w
        self.act("logits", "logits lm_head(ln_f)", grp, V, T, ["vocab", "T"], self.a_left, y,
                 "logits", transpose=True, cell=cv)
        self.param("lm_head.weight", "language-model head lm_head", grp, V, C, ["vocab", "C"],
                   self.a_left - w - C * cv, y, cell=cv)
        y += V * cv + w
        self.act("probs.max", "logit max", grp, 1, T, ["1", "T"], self.a_left, y, "probs.max",
                 role="aggregate", cell=cv)
        y += cv + g
        self.act("probs.sum", "sum of exp", grp, 1, T, ["1", "T"], self.a_left, y, "probs.sum",
                 role="aggregate", cell=cv)
        y += cv + w
        self.act("probs", "probabilities softmax(logits)", grp, V, T, ["vocab", "T"], self.a_left,
                 y, "probs", transpose=True, cell=cv)

    # -- the scene --------------------------------------------------------------

    def finish(self) -> dict:
        groups = {}
        for gid, info in self.groups.items():
            lo, hi = _bounds(info["blocks"])
            groups[gid] = {"label": _group_label(gid), "phase": _group_phase(gid),
                           "layer": _group_layer(gid),
                           "bounds": {"min": lo, "max": hi},
                           "blocks": [b["id"] for b in info["blocks"]]}
        lo, hi = _bounds(self.blocks)
        views = {"overview": _view(lo, hi)}

        def union(ids):
            bl = [b for gid in ids for b in self.groups[gid]["blocks"]]
            return _view(*_bounds(bl))

        views["embedding"] = union(["embedding"])
        for i in range(self.L):
            p = f"h.{i}."
            views[f"h.{i}"] = union([p + s for s in ("ln_1", "attn", "proj", "ln_2", "mlp")])
            views[p + "attn"] = union([p + "ln_1", p + "attn"])
            views[p + "mlp"] = union([p + "ln_2", p + "mlp"])
        views["output"] = union(["ln_f", "output"])
        shown_as = {}
        for i in range(self.L):
            p = f"h.{i}.attn."
            shown_as[p + "qkv"] = [p + "q", p + "k", p + "v"]
        return {"version": SCENE_VERSION, "config": self.shape.to_dict(), "T": self.T,
                "heads_merged": self.merged,
                "blocks": self.blocks, "bounds": {"min": lo, "max": hi},
                "groups": groups, "views": views, "shown_as": shown_as,
                "camera": {"fov": CAMERA_FOV_DEG, "aspect": CAMERA_ASPECT}}


# ----------------------------------------------------------------------------
# helpers

def _num(v: float) -> float:
    v = float(v)
    return round(v, 6) + 0.0


def block_box(block: dict) -> tuple[list, list]:
    """(min, max) corners of a block's box in world space."""
    x, y, z = block["pos"]
    cell = block["cell"]
    return ([x, y - block["rows"] * cell, z - cell], [x + block["cols"] * cell, y, z])


def _bounds(blocks) -> tuple[list, list]:
    lo = [math.inf] * 3
    hi = [-math.inf] * 3
    for b in blocks:
        bmin, bmax = block_box(b)
        lo = [min(a, c) for a, c in zip(lo, bmin)]
        hi = [max(a, c) for a, c in zip(hi, bmax)]
    return [_num(v) for v in lo], [_num(v) for v in hi]


def _view(lo, hi) -> dict:
    """Camera looking at the box's centre from +z, far enough to see all of it."""
    center = [_num((a + b) / 2) for a, b in zip(lo, hi)]
    w, h = hi[0] - lo[0], hi[1] - lo[1]
    half = math.tan(math.radians(CAMERA_FOV_DEG) / 2)
    dist = max(h / 2 / half, w / 2 / half / CAMERA_ASPECT) * 1.1 + (hi[2] - lo[2])
    return {"center": center, "distance": _num(max(dist, 10.0))}


def _group_layer(gid: str):
    if gid.startswith("h."):
        return int(gid.split(".")[1])
    return None


def _group_phase(gid: str) -> str:
    if gid == "embedding":
        return PHASES["embedding"]
    if gid in ("output",):
        return PHASES["output"]
    tail = gid.split(".")[-1]
    if tail in ("ln_1", "ln_2", "ln_f"):
        return PHASES["ln"]
    return PHASES[tail]


def _group_label(gid: str) -> str:
    names = {"ln_1": "layer norm 1", "ln_2": "layer norm 2", "attn": "self-attention",
             "proj": "attention projection + residual", "mlp": "MLP + residual"}
    if gid == "embedding":
        return "embedding"
    if gid == "ln_f":
        return "final layer norm"
    if gid == "output":
        return "output: logits and probabilities"
    layer = _group_layer(gid)
    return f"layer {layer}: {names[gid.split('.')[-1]]}"
