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
through other blocks: ``h.{i}.attn.qkv`` is its q, k, v blocks), ``ops`` (the operations
between blocks in forward order, ``_Layout.ops``: the 3D view's operator signs and arrows). Scale scenes add
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
from llmviz.locales import catalogue

SCENE_VERSION = 1
LAYERS_PER_COLUMN = 12
CAMERA_FOV_DEG = 45.0       # the vertical field of view the ``views`` distances assume
CAMERA_ASPECT = 1.6         # and the width / height of the view they assume
MERGE_HEADS_ABOVE = 256     # scale scenes merge heads when n_layer * n_head exceeds this
LABEL_ROWS = 2              # cells of extra room above a row of blocks, for their labels
LABEL_LANE = 6              # cells of extra room each side of the spine: its blocks' labels are wider

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


def scale_views() -> list[dict]:
    """The real GPT sizes the page offers for scale, in order: ``[{name, label}]``."""
    return [{"name": name, "label": spec["label"].split(" (")[0]} for name, spec in SCALE_CONFIGS.items()]


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
    out.update({"name": name, "label": label, "values": "none", "ops": [],   # no operations drawn at scale
                "param_count": param_count(spec)})
    return out


def scale_lineup(name: str, config: Any, label: str = "this model", T: int = 11) -> dict:
    """The model of ``config`` and the real GPTs up to ``name`` (in ``SCALE_CONFIGS`` order),
    side by side at their real sizes, tops level: one scene, for a sense of scale. Every
    block is drawn shape only (``"pattern": "neutral"``); block ids and groups are prefixed
    with the model's key (``"gpt3/h.0.attn.q"``, ``"model/x"``); ``"models"`` lists each model's
    ``{key, label, param_count, bounds}`` left to right, so the view can name them."""
    if name not in SCALE_CONFIGS:
        raise ValueError(f"no scale view named {name!r}; choose one of {', '.join(SCALE_CONFIGS)}")
    keys = list(SCALE_CONFIGS)
    shape = ModelShape.from_config(config)
    parts = [("model", label, scene(shape, T=min(T, shape.block_size)), shape.param_count())]
    for key in keys[:keys.index(name) + 1]:
        one = scale_scene(key, T=T)
        parts.append((key, one["label"], one, one["param_count"]))
    blocks, groups, models = [], {}, []
    x = 0.0
    for key, text, part, count in parts:
        lo, hi = part["bounds"]["min"], part["bounds"]["max"]
        dx, dy = x - lo[0], -hi[1]                # left edge at x, top at y = 0
        for b in part["blocks"]:
            nb = dict(b, id=f"{key}/{b['id']}", group=f"{key}/{b['group']}", pattern="neutral")
            nb["pos"] = [_num(b["pos"][0] + dx), _num(b["pos"][1] + dy), b["pos"][2]]
            blocks.append(nb)
        for gid, g in part["groups"].items():
            groups[f"{key}/{gid}"] = dict(g, blocks=[f"{key}/{i}" for i in g["blocks"]])
        width, height = hi[0] - lo[0], hi[1] - lo[1]
        models.append({"key": key, "label": text, "param_count": count,
                       "bounds": {"min": [_num(x), _num(-height), lo[2]], "max": [_num(x + width), 0.0, hi[2]]}})
        x += width + max(40.0, 0.08 * width)
    lo, hi = _bounds(blocks)
    big = SCALE_CONFIGS[name]
    return {"version": SCENE_VERSION, "name": name, "label": big["label"], "values": "none",
            "param_count": param_count({k: v for k, v in big.items() if k != "label"}),
            "blocks": blocks, "groups": groups, "models": models, "ops": [], "views": {},
            "bounds": {"min": lo, "max": hi}, "camera": {"fov": CAMERA_FOV_DEG, "aspect": CAMERA_ASPECT}}


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
        self.a_right = self.res_left - (2 + 2 * self.g + self.w + LABEL_LANE)
        self.a_left = self.a_right - T

    # -- placing -------------------------------------------------------------

    def add(self, id_: str, role: str, text: "str | dict", group: str, rows: int, cols: int,
            dims: list, x: float, top: float, cell: float = 1.0, **source) -> dict:
        """A block; ``text`` is its label: code names as they are, or ``words(...)`` when it
        has words in it (the block then keeps them as ``words`` for the page's language)."""
        block = {"id": id_, "role": role, "label": label_text(text),
                 "group": group, "rows": int(rows), "cols": int(cols), "dims": list(dims),
                 "pos": [_num(x + self.x_shift), _num(-top), 0.0], "cell": _num(cell)}
        if isinstance(text, dict):
            block["words"] = text
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
    #
    # The residual stream is a spine at x = -T/2 .. T/2. Each transformer block hangs its
    # attention on the left of the spine and its MLP on the right, so that every residual
    # addition happens where its three blocks meet:
    #
    #   row A, level with the stream in (s):  heads band | ln_1 | s
    #   row B:                  y | c_proj | attn.out | x_attn | ln_2 | c_fc (C x 4C)
    #                                                           fc, gelu (T x 4C) under c_fc
    #   row D:                                         block x | mlp.out | c_proj (C x 4C)
    #
    # and the next block's row A is level with its stream in, the block x. The embedding
    # tables sit right of x (left of x is the first block's row A); the output continues
    # down the spine: ln_f left of the last x, then logits and probs on the spine.

    def build(self) -> dict:
        y = self.embedding(0.0)           # the top of x, the first stream in
        block_top = y
        col_width = self.layer_width() + 2 * self.M
        last_x = "x"
        for i in range(self.L):
            col, row = divmod(i, LAYERS_PER_COLUMN)
            if row == 0 and i:
                y = block_top + self.C + self.M       # a new column: below the embedding's row
            self.x_shift = col * col_width
            y = self.layer(i, y, last_x)
            last_x = f"h.{i}.x"
        self.output(y, last_x)
        return self.finish()

    # x positions (before x_shift) of the lanes beside the spine
    @property
    def res_right(self) -> float:
        return self.res_left + self.T

    @property
    def b_left(self) -> float:
        """Lane B, right of the spine (ln_2, the MLP's output), past gamma and beta of ln_2."""
        return self.res_right + (2 + 2 * self.g + self.w + LABEL_LANE)

    def layer_width(self) -> float:
        """Width of one transformer block, from its leftmost block to its rightmost."""
        left = min(self.a_left - self.M - self.heads_band_width(), self.proj_left())
        right = self.mlp_left() + 4 * self.C
        return right - left

    def mlp_left(self) -> float:
        """Left edge of the MLP's weights and activations (right of lane B, room for c_proj's bias)."""
        return self.b_left + self.T + self.w + (1 + self.g if self.bias else 0)

    def proj_left(self) -> float:
        """Left edge of row B's left side: y | c_proj bias | c_proj weights | attn.out."""
        return self.a_left - self.w - self.C - self.g - 1 - self.w - self.T

    def row_gap(self) -> float:
        """The gap above a row: room for a layer norm's mean and rstd rows above its output, and
        for the labels of the blocks below (LABEL_ROWS)."""
        return max(self.M, 2 + 2 * self.g + self.w) + LABEL_ROWS

    def embedding(self, y: float) -> float:
        T, C, V, w, M = self.T, self.C, self.V, self.w, self.M
        grp = "embedding"
        self.act("idx", words("tokens", name="idx"), grp, 1, T, ["1", "T"], self.res_left, y, "idx")
        y += 1 + M + LABEL_ROWS
        # x = tok_emb + pos_emb on the spine; right of it tok_emb, wte, pos_emb, wpe
        self.act("x", "x = tok_emb + pos_emb", grp, C, T, ["C", "T"],
                 self.res_left, y, "x", transpose=True)
        tok_left = self.res_right + w + 1
        self.act("tok_emb", "tok_emb", grp, C, T, ["C", "T"], tok_left, y,
                 "tok_emb", transpose=True)
        cv = self.cv
        wte_left = tok_left + T + w
        self.param("wte.weight", "wte", grp, C, V,
                   ["C", "vocab"], wte_left, y, transpose=True, cell=cv)
        pos_left = wte_left + V * cv + M
        self.act("pos_emb", "pos_emb", grp, C, T, ["C", "T"], pos_left, y,
                 "pos_emb", index=(), transpose=True)
        self.param("wpe.weight", "wpe", grp, C,
                   self.shape.block_size, ["C", "block_size"], pos_left + T + w, y, transpose=True)
        return y

    def layer_norm(self, name: str, group: str, text: str, top: float, left: float, src: str,
                   pname: str, params_left: float) -> None:
        """The output (C x T) at (left, top), its mean and rstd rows above it, gamma and beta
        columns from params_left (beside the output, on the spine's side)."""
        C, T, g, w = self.C, self.T, self.g, self.w
        self.act(name + ".mean", words("mean", name=text), group, 1, T, ["1", "T"], left, top - (2 + g + w),
                 name + ".mean", role="aggregate")
        self.act(name + ".rstd", words("rstd", name=text), group, 1, T, ["1", "T"], left, top - (1 + w),
                 name + ".rstd", role="aggregate")
        self.act(name, f"{text}", group, C, T, ["C", "T"], left, top, name,
                 transpose=True, input=src)
        p = pname
        self.param(p + ".weight", f"{text} γ", group, C, 1, ["C", "1"], params_left, top)
        if self.bias:
            self.param(p + ".bias", f"{text} β", group, C, 1, ["C", "1"],
                       params_left + 1 + g, top)

    # -- attention ------------------------------------------------------------

    def head_width(self) -> float:
        """One head: Q, K, V (bias | weights | vectors), then the attention column right of them."""
        T, C, g, w = self.T, self.C, self.g, self.w
        return 1 + g + C + w + T + self.attn_width()

    def attn_width(self) -> float:
        """From a head's vectors to its right edge: scores | row max | row sum | softmax."""
        T, g, w = self.T, self.g, self.w
        return w + T + g + 1 + g + 1 + w + T

    def heads_band_width(self) -> float:
        n = 1 if self.merged else self.nh
        return n * self.head_width() + (n - 1) * self.M

    def heads_height(self) -> float:
        hs = self.C if self.merged else self.hs
        tr = self.nh * self.T if self.merged else self.T
        out_top = max(2 * (hs + self.g), tr + self.w)
        return max(out_top + hs, 3 * hs + 2 * self.g)

    def layer(self, i: int, y: float, stream: str) -> float:
        """Transformer block i with its stream in (``stream``) at the top ``y`` of the spine;
        returns the top of its output x (the next block's stream in)."""
        T, C, g, w = self.T, self.C, self.g, self.w
        p = f"h.{i}."
        blk = ""                    # short names: the step's text says which block (labels never repeat a text)
        # row A: ln_1 in lane A level with the stream, the heads band left of it
        self.layer_norm(p + "ln_1", p + "ln_1", "ln_1", y, self.a_left, stream,
                        f"h.{i}.ln_1", self.a_right + g)
        self.attention(i, y)
        # row B: y | c_proj | attn.out, level with x_attn on the spine
        yB = y + max(C, self.heads_height()) + self.row_gap()
        grp = p + "proj"
        self.act(p + "x_attn", "x_attn" + blk, grp, C, T, ["C", "T"], self.res_left,
                 yB, p + "x_attn", transpose=True)
        self.act(p + "attn.out", "attn.out" + blk, grp, C, T, ["C", "T"],
                 self.a_left, yB, p + "attn.out", transpose=True)
        wl = self.a_left - w - C
        self.param(f"{p}attn.c_proj.weight",
                   "attn c_proj" + blk, grp, C, C, ["C", "C"], wl, yB)
        if self.bias:
            self.param(f"{p}attn.c_proj.bias", words("bias", name="attn c_proj" + blk),
                       grp, C, 1, ["C", "1"], wl - g - 1, yB)
        self.act(p + "attn.y", words("heads", name="y" + blk), grp, C, T, ["C", "T"], self.proj_left(), yB,
                 p + "attn.y", transpose=True)
        # right of x_attn: ln_2 in lane B, the MLP beyond it (c_fc drawn transposed, C x 4C,
        # level with ln_2; fc and gelu lie flat, T x 4C, under it; c_proj under them, level
        # with the MLP's output and the block's output x)
        self.layer_norm(p + "ln_2", p + "ln_2", "ln_2", yB, self.b_left, p + "x_attn",
                        f"h.{i}.ln_2", self.b_left - 2 * (1 + g))
        grp = p + "mlp"
        ml = self.mlp_left()
        self.param(f"{p}mlp.c_fc.weight", "c_fc" + blk, grp, C, 4 * C,
                   ["C", "4C"], ml, yB, transpose=True)
        if self.bias:
            self.param(f"{p}mlp.c_fc.bias", words("bias", name="c_fc" + blk), grp, 1, 4 * C,
                       ["1", "4C"], ml, yB - 1 - g)
        yy = yB + C + w
        self.act(p + "mlp.fc", "fc" + blk, grp, T, 4 * C, ["T", "4C"], ml, yy,
                 p + "mlp.fc")
        yy += T + w
        self.act(p + "mlp.gelu", "gelu" + blk, grp, T, 4 * C, ["T", "4C"], ml, yy,
                 p + "mlp.gelu")
        yD = yy + T + w
        self.param(f"{p}mlp.c_proj.weight", "mlp c_proj" + blk, grp, C, 4 * C,
                   ["C", "4C"], ml, yD)
        if self.bias:
            self.param(f"{p}mlp.c_proj.bias", words("bias", name="mlp c_proj" + blk), grp, C, 1,
                       ["C", "1"], ml - g - 1, yD)
        self.act(p + "mlp.out", "mlp.out" + blk, grp, C, T, ["C", "T"], self.b_left,
                 yD, p + "mlp.out", transpose=True)
        self.act(p + "x", words("after_block", name="x", n=i), grp, C, T, ["C", "T"],
                 self.res_left, yD, p + "x", transpose=True)
        return yD

    def attention(self, i: int, y: float) -> None:
        """The heads side by side left of ln_1, head 0 nearest to it. Each head: Q, K and V
        stacked (bias | weights | vectors); right of them, level with Q, what the head computes
        from them: scores | row max | row sum | softmax; the head's output under the softmax,
        level with V. So a step's operands sit together: q and k beside their scores, att
        above the output it weights v into."""
        T, C, g, w, M = self.T, self.C, self.g, self.w, self.M
        p = f"h.{i}."
        grp = p + "attn"
        merged = self.merged
        heads = [None] if merged else list(range(self.nh))
        hs = C if merged else self.hs        # rows of a head's Q, K, V (all heads when merged)
        tr = self.nh * T if merged else T    # rows of a head's score matrices
        hw = self.head_width()
        band_right = self.a_left - M
        for n, h in enumerate(heads):
            left = band_right - (n + 1) * hw - n * M
            wx = left + 1 + g                       # the head's weights
            bx = wx - g - 1                         # its biases
            ox = wx + C + w                         # its vector column
            tag = "" if merged else f"[{h}]"
            def head_txt(name: "str | dict", h=h) -> dict:
                return words("all_heads", name=name) if merged else words("head", name=name, h=h)
            idx = (0,) if merged else (0, h)
            extra = {"heads": self.nh} if merged else {"head": h}
            hdim = "C" if merged else "hs"
            for k, kind in enumerate("qkv"):
                top = y + k * (hs + g)
                K = kind.upper()
                rows = self.shape.c_attn_rows(kind, h)
                self.param(f"{p}attn.c_attn.weight", head_txt(f"W_{kind}"), grp,
                           hs, C, [hdim, "C"], wx, top, rows_slice=rows,
                           head_tag=f"{p}attn.c_attn.{kind}.weight{tag}", kind=kind, **extra)
                if self.bias:
                    self.param(f"{p}attn.c_attn.bias", head_txt(f"b_{kind}"), grp,
                               hs, 1, [hdim, "1"], bx, top, rows_slice=rows,
                               head_tag=f"{p}attn.c_attn.{kind}.bias{tag}", kind=kind, **extra)
                self.act(f"{p}attn.{kind}{tag}", head_txt(kind), grp, hs, T, [hdim, "T"], ox,
                         top, f"{p}attn.{kind}", index=idx, transpose=True, **extra)
            tdim = "nh\u00b7T" if merged else "T"
            sc_x = ox + T + w
            max_x = sc_x + T + g
            sum_x = max_x + 1 + g
            att_x = sum_x + 1 + w
            self.act(f"{p}attn.scores{tag}", head_txt(words("scores")), grp, tr, T,
                     [tdim, "T"], sc_x, y, f"{p}attn.scores", index=idx, **extra)
            self.act(f"{p}attn.att.max{tag}", head_txt(words("row_max")), grp, tr, 1,
                     [tdim, "1"], max_x, y, f"{p}attn.att.max", index=idx, role="aggregate",
                     **extra)
            self.act(f"{p}attn.att.sum{tag}", head_txt("Σ exp"), grp, tr, 1,
                     [tdim, "1"], sum_x, y, f"{p}attn.att.sum", index=idx, role="aggregate",
                     **extra)
            self.act(f"{p}attn.att{tag}", head_txt("att"), grp, tr, T,
                     [tdim, "T"], att_x, y, f"{p}attn.att", index=idx, **extra)
            out_top = y + max(2 * (hs + g), tr + w)
            self.act(f"{p}attn.head_out{tag}", head_txt("att @ v"), grp, hs, T,
                     [hdim, "T"], att_x, out_top, f"{p}attn.head_out", index=idx, transpose=True,
                     **extra)

    # -- output ---------------------------------------------------------------

    def output(self, y: float, stream: str) -> None:
        """ln_f left of the last x (like a row A); logits, then probs, down the spine; lm_head
        left of the logits."""
        T, C, V, g, w, cv = self.T, self.C, self.V, self.g, self.w, self.cv
        self.layer_norm("ln_f", "ln_f", "ln_f", y, self.a_left, stream, "ln_f",
                        self.a_right + g)
        grp = "output"
        y += C + self.row_gap()
        self.act("logits", "logits", grp, V, T, ["vocab", "T"], self.res_left, y,
                 "logits", transpose=True, cell=cv)
        self.param("lm_head.weight", "lm_head", grp, V, C, ["vocab", "C"],
                   self.res_left - w - C * cv, y, cell=cv)
        y += V * cv + w
        self.act("probs.max", "max", grp, 1, T, ["1", "T"], self.res_left, y, "probs.max",
                 role="aggregate", cell=cv)
        y += cv + g
        self.act("probs.sum", "Σ exp", grp, 1, T, ["1", "T"], self.res_left, y, "probs.sum",
                 role="aggregate", cell=cv)
        y += cv + w
        self.act("probs", "probs", grp, V, T, ["vocab", "T"], self.res_left,
                 y, "probs", transpose=True, cell=cv)

    # -- the scene --------------------------------------------------------------

    def finish(self) -> dict:
        groups = {}
        for gid, info in self.groups.items():
            lo, hi = _bounds(info["blocks"])
            groups[gid] = {"label": _group_label(gid), "short": _group_short(gid), "phase": _group_phase(gid),
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
                "groups": groups, "views": views, "shown_as": shown_as, "ops": self.ops(),
                "camera": {"fov": CAMERA_FOV_DEG, "aspect": CAMERA_ASPECT}}

    def ops(self) -> list[dict]:
        """The operations between blocks, in forward order: what the 3D view draws as operator
        signs and arrows (``{kind, sign, inputs, output, extra?}``; ``extra`` are blocks that take
        part without being the main operands: biases, layer-norm statistics and weights, the
        softmax's row max and sum)."""
        ids = {b["id"] for b in self.blocks}
        out: list[dict] = []

        def op(kind, sign, inputs, output, extra=()):
            extra = [e for e in extra if e in ids]
            if output in ids and all(i in ids for i in inputs):
                out.append({"kind": kind, "sign": sign, "inputs": list(inputs), "output": output, "extra": extra})

        def layer_norm(name, src, pname):
            op("layernorm", "norm", [src], name, [name + ".mean", name + ".rstd", pname + ".weight", pname + ".bias"])

        op("lookup", "lookup", ["wte.weight", "idx"], "tok_emb")
        op("lookup", "lookup", ["wpe.weight"], "pos_emb")
        op("add", "+", ["tok_emb", "pos_emb"], "x")
        heads = [""] if self.merged else [f"[{h}]" for h in range(self.nh)]
        prev = "x"
        for i in range(self.L):
            p = f"h.{i}."
            layer_norm(p + "ln_1", prev, p + "ln_1")
            for tag in heads:
                for kind in "qkv":
                    op("matmul", "@", [f"{p}attn.c_attn.{kind}.weight{tag}", p + "ln_1"], f"{p}attn.{kind}{tag}",
                       [f"{p}attn.c_attn.{kind}.bias{tag}"])
                op("scores", "q·kᵀ/√hs", [f"{p}attn.q{tag}", f"{p}attn.k{tag}"], f"{p}attn.scores{tag}")
                op("softmax", "softmax", [f"{p}attn.scores{tag}"], f"{p}attn.att{tag}",
                   [f"{p}attn.att.max{tag}", f"{p}attn.att.sum{tag}"])
                op("matmul", "@", [f"{p}attn.att{tag}", f"{p}attn.v{tag}"], f"{p}attn.head_out{tag}")
            op("concat", "concat", [f"{p}attn.head_out{tag}" for tag in heads], p + "attn.y")
            op("matmul", "@", [p + "attn.c_proj.weight", p + "attn.y"], p + "attn.out", [p + "attn.c_proj.bias"])
            op("residual", "+", [prev, p + "attn.out"], p + "x_attn")
            layer_norm(p + "ln_2", p + "x_attn", p + "ln_2")
            op("matmul", "@", [p + "mlp.c_fc.weight", p + "ln_2"], p + "mlp.fc", [p + "mlp.c_fc.bias"])
            op("gelu", "GELU", [p + "mlp.fc"], p + "mlp.gelu")
            op("matmul", "@", [p + "mlp.c_proj.weight", p + "mlp.gelu"], p + "mlp.out", [p + "mlp.c_proj.bias"])
            op("residual", "+", [p + "x_attn", p + "mlp.out"], p + "x")
            prev = p + "x"
        layer_norm("ln_f", prev, "ln_f")
        op("matmul", "@", ["lm_head.weight", "ln_f"], "logits")
        op("softmax", "softmax", ["logits"], "probs", ["probs.max", "probs.sum"])
        return out


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


def words(key: str, **values: Any) -> dict:
    """A label with words in it: the catalogue's ``scene.label.<key>`` (``llmviz.locales``) and
    the values it names; a value may be words itself (``row max`` in ``row max · head 0``)."""
    return {"key": f"scene.label.{key}", "values": values}


def label_text(text: "str | dict", lang: str = "en") -> str:
    """A label in ``lang``: a code name as it is, ``words(...)`` from the catalogue (the page's
    JavaScript does the same with ``words``: js/i18n.js ``say``)."""
    if not isinstance(text, dict):
        return str(text)
    values = {k: label_text(v, lang) for k, v in (text.get("values") or {}).items()}
    return catalogue(lang).text(text["key"], **values)


def block_label(block: dict | None, lang: str = "en", default: str = "") -> str:
    """A scene block's label in ``lang`` (its ``words`` when it has words in it)."""
    if not block:
        return default
    if block.get("words"):
        return label_text(block["words"], lang)
    return str(block.get("label") or default)


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


def _group_short(gid: str) -> str:
    """A group's name in a few words (the 3D view names the main parts in overviews)."""
    names = {"ln_1": "layer norm 1", "ln_2": "layer norm 2", "attn": "attention",
             "proj": "projection", "mlp": "MLP"}
    if gid in ("embedding", "output"):
        return gid
    if gid == "ln_f":
        return "final layer norm"
    return f"block {_group_layer(gid)} · {names[gid.split('.')[-1]]}"


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
