"""Where a cell's number came from, in numbers: the terms that made it, and their cells.

Pure Python (no numpy). ``describe(block_id, row, col, trace, params, config)`` works on
the numpy Trace and on any trace whose tensors support full-tuple indexing
(``t[i, j, k]``) and ``.shape``; ``params`` is the state dict (nanoGPT names, with or
without the ``transformer.`` prefix).

The answer is a dict:

* ``value``: the cell's value (read from the trace or the parameters);
* ``op``: how the terms combine: ``"sum"`` (value = sum of the terms' values: matrix
  products, residual additions, embeddings, means), ``"layernorm"`` ((input - mean) *
  rstd * gamma + beta), ``"rstd"`` (1 / sqrt(variance + eps)), ``"max"``, ``"softmax"``
  (exp(input - max) / sum), ``"gelu"``, ``"lookup"`` (a copied parameter), ``"input"``
  (a token index), ``"parameter"``;
* ``terms``: ``[{"label", "value", ...}]``; a product term also has ``"factors"``;
* ``text``: one or two sentences with the numbers;
* ``related``: ``[{"id": block id, "cells": [[r0, c0, r1, c1], ...]}]``, cell
  rectangles, half-open like the renderer's ``highlight`` (rows r0..r1-1, columns
  c0..c1-1; a single cell is ``[r, c, r + 1, c + 1]``).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from llmviz.core.shape import ModelShape, lookup_param, short_name
from llmviz.viz import layout

EPS = 1e-5
_MAX_TEXT_TERMS = 3
_scene_cache: dict = {}


def describe(block_id: str, row: int, col: int, trace: Mapping, params: Mapping,
             config: Any = None, T: int | None = None) -> dict:
    """Explain cell (``row``, ``col``) of block ``block_id``: value, terms, text, related.

    ``T`` is the scene's sequence length when the scene is longer than the trace (values
    padded with ``block_values(..., pad=...)``); by default the trace's length.
    """
    if config is None:
        config = getattr(trace, "config", None)
    shape = ModelShape.from_config(config)
    T_trace = int(tuple(trace["idx"].shape)[-1])
    ctx = _Context(shape, T_trace, T if T is not None else T_trace, trace, params)
    block = ctx.block(block_id)
    if not (0 <= row < block["rows"] and 0 <= col < block["cols"]):
        raise IndexError(f"cell ({row}, {col}) is outside block {block_id!r} "
                         f"({block['rows']}x{block['cols']})")
    full = ctx.tensor_index(block, row, col)
    if "trace" in block and any(i >= n for i, n in zip(full, tuple(trace[block["trace"]].shape))):
        return {"value": None, "op": "padding", "terms": [], "related": [],
                "text": f"no number here yet: the input is {T_trace} tokens long.",
                "id": block_id, "row": row, "col": col, "tensor": block["trace"],
                "index": list(full)}
    if "param" in block:
        out = _describe_param(ctx, block, full)
    else:
        out = _describe_activation(ctx, block, full)
    out.setdefault("related", [])
    out["related"] = _merge_related(out["related"])
    out.update({"id": block_id, "row": row, "col": col,
                "tensor": block.get("trace") or block.get("param"), "index": list(full)})
    return out


# ----------------------------------------------------------------------------
# blocks, cells and tensor indices

class _Context:
    def __init__(self, shape: ModelShape, T: int, T_scene: int, trace, params):
        self.shape, self.T, self.trace, self.params = shape, T, trace, params
        self.C, self.nh, self.V, self.hs = shape.C, shape.nh, shape.V, shape.hs
        key = (shape, T_scene)
        if key not in _scene_cache:
            if len(_scene_cache) > 8:
                _scene_cache.clear()
            scene = layout.scene(shape, T=T_scene)
            _scene_cache[key] = (layout.block_index(scene), shape.trace_shapes(1, T_scene))
        self.blocks, self.shapes = _scene_cache[key]

    def block(self, id_: str) -> dict:
        try:
            return self.blocks[id_]
        except KeyError:
            raise KeyError(f"no block {id_!r} in the scene of this model") from None

    # values
    def t(self, name: str, *idx) -> float:
        return float(self.trace[name][tuple(idx)])

    def param_tensor(self, name: str):
        """A parameter by its full or short state-dict name."""
        return lookup_param(self.params, name)

    def p(self, name: str, *idx) -> float:
        return float(self.param_tensor(name)[tuple(idx)])

    def has_param(self, name: str) -> bool:
        try:
            self.param_tensor(name)
            return True
        except KeyError:
            return False

    # geometry: block cell <-> index into the block's tensor
    def sub_shape(self, block: dict) -> tuple:
        if "trace" in block:   # the scene's shape (batch 1), which may be longer than the trace
            shape = self.shapes[block["trace"]]
            return shape[len(block.get("index", [])):]
        shape = tuple(self.param_tensor(block["param"]).shape)
        if "slice" in block:
            r0, r1 = block["slice"]
            shape = (r1 - r0,) + shape[1:]
        return shape

    def tensor_index(self, block: dict, row: int, col: int) -> tuple:
        shape = list(self.sub_shape(block))
        swap = block.get("transpose") and len(shape) >= 2
        if swap:
            shape[-1], shape[-2] = shape[-2], shape[-1]
        idx = _unravel(row * block["cols"] + col, shape)
        if swap:
            idx[-1], idx[-2] = idx[-2], idx[-1]
        if "trace" in block:
            return tuple(block.get("index", [])) + tuple(idx)
        if "slice" in block:
            idx[0] += block["slice"][0]
        return tuple(idx)

    def cell(self, block: dict, sub: tuple) -> tuple[int, int]:
        shape = list(self.sub_shape(block))
        sub = list(sub)
        if block.get("transpose") and len(shape) >= 2:
            shape[-1], shape[-2] = shape[-2], shape[-1]
            sub[-1], sub[-2] = sub[-2], sub[-1]
        flat = 0
        for i, n in zip(sub, shape):
            flat = flat * n + i
        return divmod(flat, block["cols"])

    def rel(self, id_: str, start: tuple, end: tuple | None = None) -> dict:
        """A related rectangle of block ``id_`` from sub-index ``start`` to ``end`` (inclusive),
        as half-open block cell ranges."""
        block = self.block(id_)
        r0, c0 = self.cell(block, start)
        r1, c1 = self.cell(block, end if end is not None else start)
        return {"id": id_, "cells": [[min(r0, r1), min(c0, c1), max(r0, r1) + 1, max(c0, c1) + 1]]}


def _unravel(flat: int, shape: list) -> list:
    idx = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        idx.append(i)
    return idx[::-1]


def _merge_related(related: list) -> list:
    out: dict[str, list] = {}
    for item in related:
        cells = out.setdefault(item["id"], [])
        for c in item["cells"]:
            if c not in cells:
                cells.append(c)
    return [{"id": k, "cells": v} for k, v in out.items()]


def _f(v: float) -> str:
    return f"{v:.4g}"


def _sum_text(terms: list, bias: float | None = None) -> str:
    shown = " + ".join(f"{_f(t['factors'][0])}\u00b7{_f(t['factors'][1])}"
                       for t in terms[:_MAX_TEXT_TERMS])
    if len(terms) > _MAX_TEXT_TERMS:
        shown += f" + \u2026 ({len(terms)} products)"
    if bias is not None:
        shown += f" + bias {_f(bias)}"
    return shown


def gelu(x: float, approximate: str = "erf") -> float:
    if approximate == "tanh":
        return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


# ----------------------------------------------------------------------------
# activations

def _split(name: str) -> tuple[str, str]:
    """'h.2.attn.q' -> ('h.2.', 'attn.q'); 'logits' -> ('', 'logits')."""
    if name.startswith("h."):
        parts = name.split(".", 2)
        return f"h.{parts[1]}.", parts[2]
    return "", name


def _ln_input(ctx: _Context, ln_name: str) -> str:
    prefix, local = _split(ln_name)
    if local == "ln_2":
        return prefix + "x_attn"
    if local == "ln_1":
        i = int(prefix.split(".")[1])
        return f"h.{i - 1}.x" if i else "x"
    L = ctx.shape.n_layer
    return f"h.{L - 1}.x" if L else "x"


def _matmul(ctx: _Context, value: float, out_text: str, w_name: str, w_row: int,
            inp_name: str, inp_idx, n: int, bias_name: str | None, bias_idx: int,
            related: list) -> dict:
    """value = sum_k W[w_row, k] * inp[inp_idx + (k,)] (+ bias[bias_idx])."""
    W = ctx.param_tensor(w_name)
    X = ctx.trace[inp_name]
    terms = []
    for k in range(n):
        a, b = float(W[(w_row, k)]), float(X[tuple(inp_idx) + (k,)])
        terms.append({"label": f"{w_name}[{w_row},{k}] \u00b7 {inp_name}[{k}]", "value": a * b,
                      "factors": [a, b]})
    bias = None
    if bias_name is not None and ctx.has_param(bias_name):
        bias = ctx.p(bias_name, bias_idx)
        terms.append({"label": f"{bias_name}[{bias_idx}]", "value": bias})
    text = (f"{out_text} = {_f(value)}: the dot product of row {w_row} of {w_name} with "
            f"{inp_name} at this position, over {n} terms: {_sum_text(terms[:n], bias)}.")
    return {"value": value, "op": "sum", "terms": terms, "text": text, "related": related}


def _describe_activation(ctx: _Context, block: dict, full: tuple) -> dict:
    name = block["trace"]
    prefix, local = _split(name)
    value = ctx.t(name, *full)
    C, hs = ctx.C, ctx.hs
    bid = block["id"]

    if local == "idx":
        _, t = full
        tok = int(value)
        return {"value": value, "op": "input", "terms": [],
                "text": f"the input token at position {t} has index {tok}.",
                "related": [ctx.rel("wte.weight", (tok, 0), (tok, C - 1)),
                            ctx.rel("tok_emb", (t, 0), (t, C - 1))]}
    if local == "tok_emb":
        _, t, c = full
        tok = int(ctx.t("idx", 0, t))
        return {"value": value, "op": "lookup",
                "terms": [{"label": f"wte[{tok},{c}]", "value": ctx.p("wte.weight", tok, c)}],
                "text": f"token embedding: row {tok} (the token at position {t}) of wte, "
                        f"feature {c} = {_f(value)}.",
                "related": [ctx.rel("idx", (t,)), ctx.rel("wte.weight", (tok, c))]}
    if local == "pos_emb":
        t, c = full
        return {"value": value, "op": "lookup",
                "terms": [{"label": f"wpe[{t},{c}]", "value": ctx.p("wpe.weight", t, c)}],
                "text": f"position embedding: row {t} of wpe, feature {c} = {_f(value)}.",
                "related": [ctx.rel("wpe.weight", (t, c))]}
    if name == "x":
        _, t, c = full
        tok, pos = ctx.t("tok_emb", 0, t, c), ctx.t("pos_emb", t, c)
        tid = int(ctx.t("idx", 0, t))
        return {"value": value, "op": "sum",
                "terms": [{"label": "tok_emb", "value": tok}, {"label": "pos_emb", "value": pos}],
                "text": f"x = token embedding {_f(tok)} + position embedding {_f(pos)} = "
                        f"{_f(value)} (token {tid} at position {t}, feature {c}).",
                "related": [ctx.rel("tok_emb", (t, c)), ctx.rel("pos_emb", (t, c)),
                            ctx.rel("wte.weight", (tid, c)), ctx.rel("wpe.weight", (t, c))]}

    # layer norms: h.i.ln_1, h.i.ln_2, ln_f and their aggregates
    if local in ("ln_1", "ln_2", "ln_f"):
        _, t, c = full
        src = _ln_input(ctx, name)
        x = ctx.t(src, 0, t, c)
        mean, rstd = ctx.t(name + ".mean", 0, t), ctx.t(name + ".rstd", 0, t)
        gamma = ctx.p(name + ".weight", c)
        terms = [{"label": "input", "value": x}, {"label": "mean", "value": mean},
                 {"label": "rstd", "value": rstd}, {"label": "gamma", "value": gamma}]
        related = [ctx.rel(src, (t, 0), (t, C - 1)), ctx.rel(name + ".mean", (t,)),
                   ctx.rel(name + ".rstd", (t,)), ctx.rel(name + ".weight", (c,))]
        text = (f"layer norm: (input {_f(x)} - mean {_f(mean)}) \u00d7 rstd {_f(rstd)} "
                f"\u00d7 gamma {_f(gamma)}")
        if ctx.has_param(name + ".bias"):
            beta = ctx.p(name + ".bias", c)
            terms.append({"label": "beta", "value": beta})
            related.append(ctx.rel(name + ".bias", (c,)))
            text += f" + beta {_f(beta)}"
        text += f" = {_f(value)}; mean and rstd come from all {C} features of {src} at position {t}."
        return {"value": value, "op": "layernorm", "terms": terms, "text": text,
                "related": related}
    if local.endswith((".mean", ".rstd")) and local.split(".")[0] in ("ln_1", "ln_2", "ln_f"):
        ln = name.rsplit(".", 1)[0]
        _, t = full
        src = _ln_input(ctx, ln)
        xs = [ctx.t(src, 0, t, k) for k in range(C)]
        related = [ctx.rel(src, (t, 0), (t, C - 1))]
        if local.endswith(".mean"):
            terms = [{"label": f"{src}[{k}] / {C}", "value": v / C} for k, v in enumerate(xs)]
            return {"value": value, "op": "sum", "terms": terms, "related": related,
                    "text": f"mean of the {C} features of {src} at position {t} = {_f(value)}."}
        mean = sum(xs) / C
        var = sum((v - mean) ** 2 for v in xs) / C
        return {"value": value, "op": "rstd",
                "terms": [{"label": "variance", "value": var}, {"label": "eps", "value": EPS}],
                "related": related + [ctx.rel(ln + ".mean", (t,))],
                "text": f"1/sqrt(variance {_f(var)} + {EPS:g}) = {_f(value)}, over the {C} "
                        f"features of {src} at position {t}."}

    # attention, per head
    if local in ("attn.q", "attn.k", "attn.v"):
        _, h, t, d = full
        kind = local[-1]
        row = ctx.shape.c_attn_rows(kind, h)[0] + d
        wid = f"{prefix}attn.c_attn.{kind}.weight[{h}]"
        related = [ctx.rel(wid, (d, 0), (d, C - 1)), ctx.rel(prefix + "ln_1", (t, 0), (t, C - 1))]
        bias_name = f"{prefix}attn.c_attn.bias"
        if ctx.has_param(bias_name):
            related.append(ctx.rel(f"{prefix}attn.c_attn.{kind}.bias[{h}]", (d,)))
        return _matmul(ctx, value, f"{kind.upper()} of head {h}, position {t}, feature {d}",
                       f"{prefix}attn.c_attn.weight", row, prefix + "ln_1", (0, t),
                       C, bias_name, row, related)
    if local == "attn.scores":
        _, h, tq, tk = full
        scale = 1.0 / math.sqrt(hs)
        q, k = ctx.trace[prefix + "attn.q"], ctx.trace[prefix + "attn.k"]
        terms = []
        for d in range(hs):
            a, b = float(q[0, h, tq, d]), float(k[0, h, tk, d])
            terms.append({"label": f"q[{d}] \u00b7 k[{d}] / sqrt({hs})", "value": a * b * scale,
                          "factors": [a, b]})
        masked = (" Masked: position %d is after %d, so the softmax ignores it." % (tk, tq)
                  if tk > tq else "")
        return {"value": value, "op": "sum", "terms": terms,
                "text": f"score of query {tq} for key {tk}, head {h} = Q\u00b7K / sqrt({hs}) = "
                        f"({_sum_text(terms)}) / {_f(math.sqrt(hs))} = {_f(value)}.{masked}",
                "related": [ctx.rel(f"{prefix}attn.q[{h}]", (tq, 0), (tq, hs - 1)),
                            ctx.rel(f"{prefix}attn.k[{h}]", (tk, 0), (tk, hs - 1))]}
    if local in ("attn.att.max", "attn.att.sum"):
        _, h, t = full
        sc = [ctx.t(prefix + "attn.scores", 0, h, t, j) for j in range(t + 1)]
        related = [ctx.rel(f"{prefix}attn.scores[{h}]", (t, 0), (t, t))]
        if local.endswith("max"):
            return {"value": value, "op": "max",
                    "terms": [{"label": f"score[{t},{j}]", "value": s} for j, s in enumerate(sc)],
                    "related": related,
                    "text": f"the largest score of row {t} (keys 0..{t}), head {h} = {_f(value)}."}
        m = ctx.t(prefix + "attn.att.max", 0, h, t)
        terms = [{"label": f"exp(score[{t},{j}] - max)", "value": math.exp(s - m)}
                 for j, s in enumerate(sc)]
        return {"value": value, "op": "sum", "terms": terms,
                "related": related + [ctx.rel(f"{prefix}attn.att.max[{h}]", (t,))],
                "text": f"sum over keys 0..{t} of exp(score - row max {_f(m)}), head {h} = "
                        f"{_f(value)}."}
    if local == "attn.att":
        _, h, tq, tk = full
        related = [ctx.rel(f"{prefix}attn.scores[{h}]", (tq, 0), (tq, tq)),
                   ctx.rel(f"{prefix}attn.att.max[{h}]", (tq,)),
                   ctx.rel(f"{prefix}attn.att.sum[{h}]", (tq,))]
        if tk > tq:
            return {"value": value, "op": "softmax", "terms": [], "related": related,
                    "text": f"0: key {tk} comes after query {tq}, so the causal mask hides it."}
        s = ctx.t(prefix + "attn.scores", 0, h, tq, tk)
        m = ctx.t(prefix + "attn.att.max", 0, h, tq)
        z = ctx.t(prefix + "attn.att.sum", 0, h, tq)
        return {"value": value, "op": "softmax",
                "terms": [{"label": "input", "value": s}, {"label": "max", "value": m},
                          {"label": "sum", "value": z}],
                "related": related + [ctx.rel(f"{prefix}attn.scores[{h}]", (tq, tk))],
                "text": f"softmax: exp(score {_f(s)} - row max {_f(m)}) / row sum {_f(z)} = "
                        f"{_f(value)}: how much query {tq} attends to key {tk} in head {h}."}
    if local == "attn.head_out":
        _, h, t, d = full
        att, v = ctx.trace[prefix + "attn.att"], ctx.trace[prefix + "attn.v"]
        terms = []
        for j in range(t + 1):
            a, b = float(att[0, h, t, j]), float(v[0, h, j, d])
            terms.append({"label": f"att[{t},{j}] \u00b7 v[{j},{d}]", "value": a * b,
                          "factors": [a, b]})
        return {"value": value, "op": "sum", "terms": terms,
                "text": f"head {h} output at position {t}, feature {d} = the attention weights "
                        f"of row {t} times V's feature {d} at positions 0..{t}: "
                        f"{_sum_text(terms)} = {_f(value)}.",
                "related": [ctx.rel(f"{prefix}attn.att[{h}]", (t, 0), (t, t)),
                            ctx.rel(f"{prefix}attn.v[{h}]", (0, d), (t, d))]}
    if local == "attn.y":
        _, t, c = full
        h, d = divmod(c, hs)
        v = ctx.t(prefix + "attn.head_out", 0, h, t, d)
        return {"value": value, "op": "sum", "terms": [{"label": f"head {h} output", "value": v}],
                "text": f"feature {c} of y is feature {d} of head {h}'s output at position {t}: "
                        f"{_f(v)}.",
                "related": [ctx.rel(f"{prefix}attn.head_out[{h}]", (t, d))]}
    if local in ("attn.out", "mlp.out") or name == "logits":
        _, t, c = full
        if name == "logits":
            w, inp, n, bias, text = "lm_head.weight", "ln_f", C, None, f"logit of token {c} at position {t}"
            wid = "lm_head.weight"
        elif local == "attn.out":
            w = f"{prefix}attn.c_proj.weight"
            inp, n, bias = prefix + "attn.y", C, f"{prefix}attn.c_proj.bias"
            wid, text = w, f"attention output at position {t}, feature {c}"
        else:
            w = f"{prefix}mlp.c_proj.weight"
            inp, n, bias = prefix + "mlp.gelu", 4 * C, f"{prefix}mlp.c_proj.bias"
            wid, text = w, f"MLP output at position {t}, feature {c}"
        related = [ctx.rel(wid, (c, 0), (c, n - 1)), ctx.rel(inp, (t, 0), (t, n - 1))]
        if bias and ctx.has_param(bias):
            related.append(ctx.rel(bias, (c,)))
        return _matmul(ctx, value, text, w, c, inp, (0, t), n, bias, c, related)
    if local == "mlp.fc":
        _, t, j = full
        w, b = f"{prefix}mlp.c_fc.weight", f"{prefix}mlp.c_fc.bias"
        related = [ctx.rel(w, (j, 0), (j, C - 1)), ctx.rel(prefix + "ln_2", (t, 0), (t, C - 1))]
        if ctx.has_param(b):
            related.append(ctx.rel(b, (j,)))
        return _matmul(ctx, value, f"MLP hidden unit {j} at position {t}", w, j, prefix + "ln_2",
                       (0, t), C, b, j, related)
    if local == "mlp.gelu":
        _, t, j = full
        x = ctx.t(prefix + "mlp.fc", 0, t, j)
        approx = ctx.shape.gelu
        form = ("0.5\u00b7x\u00b7(1 + tanh(\u221a(2/\u03c0)\u00b7(x + 0.044715\u00b7x\u00b3)))"
                if approx == "tanh" else "0.5\u00b7x\u00b7(1 + erf(x/\u221a2))")
        return {"value": value, "op": "gelu", "terms": [{"label": "input", "value": x}],
                "text": f"GELU of {_f(x)} = {form} = {_f(value)}.",
                "related": [ctx.rel(prefix + "mlp.fc", (t, j))]}
    if local in ("x_attn", "x"):
        _, t, c = full
        if local == "x_attn":
            i = int(prefix.split(".")[1])
            a_name, b_name = (f"h.{i - 1}.x" if i else "x"), prefix + "attn.out"
            what = "attention output"
        else:
            a_name, b_name, what = prefix + "x_attn", prefix + "mlp.out", "MLP output"
        a, b = ctx.t(a_name, 0, t, c), ctx.t(b_name, 0, t, c)
        return {"value": value, "op": "sum",
                "terms": [{"label": a_name, "value": a}, {"label": b_name, "value": b}],
                "text": f"residual: {a_name} {_f(a)} + {what} {_f(b)} = {_f(value)}.",
                "related": [ctx.rel(a_name, (t, c)), ctx.rel(b_name, (t, c))]}
    if name in ("probs.max", "probs.sum"):
        _, t = full
        ls = [ctx.t("logits", 0, t, v) for v in range(ctx.V)]
        related = [ctx.rel("logits", (t, 0), (t, ctx.V - 1))]
        if name == "probs.max":
            return {"value": value, "op": "max",
                    "terms": [{"label": f"logit[{v}]", "value": x} for v, x in enumerate(ls)],
                    "related": related,
                    "text": f"the largest logit at position {t} = {_f(value)}."}
        m = ctx.t("probs.max", 0, t)
        return {"value": value, "op": "sum",
                "terms": [{"label": f"exp(logit[{v}] - max)", "value": math.exp(x - m)}
                          for v, x in enumerate(ls)],
                "related": related + [ctx.rel("probs.max", (t,))],
                "text": f"sum over the {ctx.V} tokens of exp(logit - max {_f(m)}) at position "
                        f"{t} = {_f(value)}."}
    if name == "probs":
        _, t, v = full
        x, m, z = ctx.t("logits", 0, t, v), ctx.t("probs.max", 0, t), ctx.t("probs.sum", 0, t)
        return {"value": value, "op": "softmax",
                "terms": [{"label": "input", "value": x}, {"label": "max", "value": m},
                          {"label": "sum", "value": z}],
                "related": [ctx.rel("logits", (t, v)), ctx.rel("probs.max", (t,)),
                            ctx.rel("probs.sum", (t,))],
                "text": f"softmax: exp(logit {_f(x)} - max {_f(m)}) / sum {_f(z)} = {_f(value)}: "
                        f"the probability that token {v} comes after position {t}."}
    raise KeyError(f"no description for block {bid!r}")


# ----------------------------------------------------------------------------
# parameters

def _describe_param(ctx: _Context, block: dict, full: tuple) -> dict:
    pname = block["param"]
    value = ctx.p(pname, *full)
    info = ctx.shape.param_info(pname)
    short = info.short
    prefix = "" if info.layer is None else f"h.{info.layer}."
    where = f"{short}[{', '.join(str(i) for i in full)}]"
    T = ctx.T
    related: list = []
    role = ""
    if short == "wte.weight":
        tok, c = full
        role = f"feature {c} of the embedding of token {tok}"
        for t in range(T):
            if int(ctx.t("idx", 0, t)) == tok:
                related.append(ctx.rel("tok_emb", (t, c)))
    elif short == "wpe.weight":
        t, c = full
        role = f"feature {c} of the embedding of position {t}"
        if t < T:
            related.append(ctx.rel("pos_emb", (t, c)))
    elif info.kind == "LayerNorm":
        (c,) = full
        ln = short_name(info.module)
        role = (f"{'gamma (scale)' if short.endswith('weight') else 'beta (shift)'} of feature {c} "
                f"in {ln}")
        related.append(ctx.rel(ln, (0, c), (T - 1, c)))
    elif info.local == "attn.c_attn":
        kind, h, d = ctx.shape.c_attn_split(full[0])
        role = f"{kind.upper()} of head {h}, feature {d}"
        related.append(ctx.rel(f"{prefix}attn.{kind}[{h}]", (0, d), (T - 1, d)))
        if len(full) == 2:
            role += f", times input feature {full[1]}"
            related.append(ctx.rel(prefix + "ln_1", (0, full[1]), (T - 1, full[1])))
    elif info.kind == "Linear":   # the other Linears: c_proj, c_fc, lm_head
        r = full[0]
        if info.local == "lm_head":
            out, inp, what = "logits", "ln_f", f"the logit of token {r}"
        elif info.local == "attn.c_proj":
            out, inp, what = prefix + "attn.out", prefix + "attn.y", f"attention output feature {r}"
        elif info.local == "mlp.c_proj":
            out, inp, what = prefix + "mlp.out", prefix + "mlp.gelu", f"MLP output feature {r}"
        else:
            out, inp, what = prefix + "mlp.fc", prefix + "ln_2", f"MLP hidden unit {r}"
        role = what
        related.append(ctx.rel(out, (0, r), (T - 1, r)))
        if len(full) == 2:
            role += f", times input feature {full[1]}"
            related.append(ctx.rel(inp, (0, full[1]), (T - 1, full[1])))
    text = f"parameter {where} = {_f(value)}" + (f": {role}." if role else ".")
    return {"value": value, "op": "parameter", "terms": [], "text": text, "related": related}
