"""The guided walkthrough: phases of steps, as data, rendered against a live Trace.

Pure Python (no numpy), so the page can run it on a bundled trace alone.

A phase is a module ``p<N>_<name>.py`` holding ``PHASE = Phase(id, title, steps)``;
its steps are written in the order the reader meets them, like a script. A ``Step``:

``id``
    the step's name in links (``#phase=attention&step=scaling``) and in the catalogues.
*title and text*
    not in the module: the words of every step are in the catalogues,
    ``llmviz/locales/<lang>.toml``, as ``<phase>.<step>.title`` and ``<phase>.<step>.text``
    (a phase's name is ``<phase>.title``). The title may use ``{{...}}`` values like the text;
    the text is the commentary in the markup of ``llmviz.walkthrough.markup``. Where the text
    differs between models or inputs, write it once with conditionals,
    ``{{#if bias}}…{{else}}…{{/if}}`` (in the title too), on the conditions ``sort`` (the sort model),
    ``small`` (at most numbers.SMALL_PARAMS parameters),
    ``target`` (the next token's target is known), ``bias``, ``multi_layer``,
    ``multi_head``, ``params`` (weights are available), ``nanogpt`` (the code panel
    has nanoGPT's source: ctx ``nanogpt`` is not False), ``gelu_tanh``, or any boolean
    the step's ``values`` returns; ``a & !b`` combines them. Only a step whose text is
    different as a whole for some models may instead give a table of variants keyed by
    such conditions (``"*"``: always), first match wins. The words of worked examples,
    tables and the like come from the catalogue too: ``w.say(key, **values)``.
``values``
    ``values(w) -> dict``: the numbers and tokens the text names with ``{{name}}``,
    computed from the trace when the step is rendered (``w`` is a ``numbers.Walk``).
``focus``, ``cells``
    the block ids to highlight, and cell ranges inside them: ``{"x": ["col {t}"]}``
    where a range is ``"all"``, ``"col N"``, ``"cols A B"``, ``"row N"``,
    ``"rows A B"``, ``"cell R C"`` or ``[r0, c0, r1, c1]`` (inclusive), written in
    the canonical orientation of ``numbers`` (features as rows, positions as
    columns, weights as out x in); the rendered step gives them in the scene's grid.
``camera``
    ``None`` (frame the focus), ``"overview"`` (a named view) or ``{"blocks": [...]}``.
``dim``
    what is dimmed: ``"others"`` (everything outside focus and cells), ``None``, or ids.
``animation``
    a dict with a ``kind`` from ``ANIMATION_KINDS`` (documented there), or ``None``.
``code``
    keys of ``llmviz.codepanel.code_refs`` for the code panel.
``table``, ``plot``
    optional ``table(w) -> {"head": [...], "rows": [[...]]}`` (rendered under the
    text, and returned as plain strings) and ``plot(w) -> dict`` (e.g. the GELU curve).
``figure``
    optional ``figure(w) -> figures.Figure``: the worked example the 3D view shows beside
    the blocks for the whole step (``llmviz.walkthrough.figures``, ``worked``).
``annotate``
    what the 3D view writes over the blocks (``site/js/render/annotations.js``): a dict of
    ``ops``, ``dims``, ``tokens``, ``groups`` (booleans; by default all but ``groups``, which
    named views turn on), e.g. ``{"groups": False}`` for an overview about the input.

A step that works out one cell of a linear layer (weights · input + bias = output: the
query, the projections, the MLP, the logits) gets its ``values``, ``focus``, ``cells`` and
``animation`` from ``linear_steps.linear_step(weight, input, output, bias, row, col)``.

Strings in ``focus``, ``cells``, ``camera``, ``dim`` and ``animation`` are templates
over the step variables ``{t}`` (the position followed: the last one), ``{L}`` (the
layer zoomed into) and ``{h}`` (the head): 0 and 0 unless ``ctx["follow"]`` chooses
others (``{"layer": 1, "head": 2}``; the reader picks them in the page), ``{LL}`` (the last layer), ``{tm}``
(the row the causal-mask step shows), ``{T}``, ``{C}``, ``{hs}``, ``{nh}``; a
template that gives an integer becomes an int. Any of these fields may instead be
a function of ``w`` returning the final value.

``camera`` names a view of the scene (``llmviz.viz.layout``: ``"overview"``, ``"embedding"``,
``"h.{L}"``, ``"h.{L}.attn"``, ``"h.{L}.mlp"``, ``"output"``) or frames blocks.

Editing the tour: change a step's text in ``locales/en.toml`` (and in the other
languages), or add a step in its ``p<N>_*.py`` and its words in every catalogue, and run
``pytest tests/test_walkthrough.py tests/test_locales.py``; the tests render every step
for two model sizes in every language and check that every name in the text is a block
of the model, every number equals the Trace value it names, and every catalogue has
the keys and placeholders of English.

The language is ``ctx["lang"]`` (a code of ``llmviz.locales.languages()``; English by default).

Public API: ``phases(lang)``, ``render_step(phase_id, step_id_or_index, ctx)``, ``render_all(ctx)``,
``ANIMATION_KINDS``, ``Step``, ``Phase``.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import field, dataclass
from typing import Any, Callable

from llmviz.core.shape import ModelShape
from llmviz.locales import catalogue
from llmviz.walkthrough import figures
from llmviz.walkthrough.markup import Renderer, holds, resolve_conditionals
from llmviz.walkthrough.numbers import Html, Num, Walk, geometry

__all__ = ["phases", "render_step", "render_all", "Step", "Phase", "ANIMATION_KINDS",
           "PHASE_MODULES", "follow_of", "Walk", "Num", "Html"]


def follow_of(follow: Any, config: Any) -> dict[str, int]:
    """The layer and head the walkthrough zooms into (``ModelShape.follow``)."""
    return ModelShape.from_config(config).follow(follow)

# The animations the page knows how to play. "ids" lists the fields that hold block
# ids (or lists of ids); everything else is numbers or words. In the rendered step,
# `a_cells`, `b_cells` ([r0, c0, r1, c1]) and `cell` ([r, c]) are in the scene's grid
# of their block; `col` and `at` name a position (or a token, for `lookup`'s
# `col`), `row` a query position (softmax) or a token (pick).
ANIMATION_KINDS: dict[str, dict] = {
    "flow": {"ids": ["path"], "doc":
             "the input travels through the model: each block of `path` lights up in turn"},
    "sweep": {"ids": ["block"], "doc":
              "a highlight runs across `block` one column (axis 'cols') or row ('rows') at a time"},
    "lookup": {"ids": ["table", "to"], "doc":
               "column `col` of the embedding `table` is copied into column `at` of `to`"},
    "add": {"ids": ["from", "to"], "doc":
            "column `col` of the two `from` blocks fly together and add, cell by cell, into `to`"},
    "residual": {"ids": ["from", "to"], "doc":
                 "the update (`from`[1]) is added onto the stream (`from`[0]) giving `to`; "
                 "`col` (optional) plays one column, otherwise all"},
    "normalize": {"ids": ["block", "stats", "weights", "to"], "doc":
                  "column `col` of `block` is centred by the mean, scaled by rstd (`stats`), "
                  "then multiplied and shifted by the layer-norm `weights`, landing in `to`"},
    "dot": {"ids": ["a", "b", "out", "bias"], "doc":
            "cells `a_cells` of `a` multiply cells `b_cells` of `b` pairwise; the products "
            "collapse into one sum (plus `bias`, if given) written into `cell` of `out`"},
    "matmul": {"ids": ["weight", "input", "out", "bias"], "doc":
               "the dot product repeated for every cell of `out`: each row of `weight` "
               "with each column of `input`"},
    "scale": {"ids": ["block"], "doc": "every cell of `block` (row `row`, if given) is multiplied by `factor`"},
    "mask": {"ids": ["block"], "doc":
             "cells right of the diagonal of `block` (row `row`, if given) turn to -inf"},
    "softmax": {"ids": ["block", "max", "sum"], "doc":
                "row `row` of `block` (or the column of position `col`, for `probs`): the max "
                "is taken (into `max`), subtracted, each cell exponentiated and summed (into "
                "`sum`), each divided by the sum"},
    "map": {"ids": ["from", "to"], "doc":
            "function `fn` (e.g. 'gelu') is applied to each cell of `from` (column `col`, "
            "if given), giving the same cell of `to`"},
    "concat": {"ids": ["from", "to"], "doc":
               "the `from` blocks slide together, stacked, to form `to`"},
    "pick": {"ids": ["from"], "doc":
             "in column `col` of `from`, the chosen cell `row` is singled out ('greedy' or "
             "'sample' `mode`)"},
    "append": {"ids": ["to"], "doc":
               "token `token` is written after the input, as column `col` of `to`, and the "
               "pass starts again"},
}

PHASE_MODULES = ["p0_intro", "p1_prelim", "p2_embedding", "p3_layernorm", "p4_attention",
                 "p5_softmax", "p6_projection", "p7_mlp", "p8_stack", "p9_output"]


@dataclass
class Step:
    id: str
    values: Callable[[Walk], dict] | None = None
    focus: Any = field(default_factory=list)
    cells: Any = field(default_factory=dict)
    camera: Any = None
    dim: Any = "others"
    animation: Any = None
    code: list = field(default_factory=list)
    table: Callable[[Walk], dict] | None = None
    plot: Callable[[Walk], dict] | None = None
    figure: Callable[[Walk], Any] | None = None
    annotate: dict | None = None


@dataclass
class Phase:
    id: str
    steps: list[Step]


_PHASES: list[Phase] | None = None


def _all_phases() -> list[Phase]:
    global _PHASES
    if _PHASES is None:
        _PHASES = [importlib.import_module(f".{m}", __name__).PHASE for m in PHASE_MODULES]
    return _PHASES


def _phase(phase_id: str) -> Phase:
    for p in _all_phases():
        if p.id == phase_id:
            return p
    known = ", ".join(p.id for p in _all_phases())
    raise KeyError(f"no walkthrough phase {phase_id!r}; the phases are {known}")


def phases(lang: str | None = None) -> list[dict]:
    """The table of contents: ``[{id, title, steps: n, step_ids}]`` in reading order, the
    titles in ``lang``."""
    words = catalogue(lang)
    return [{"id": p.id, "title": words.text(f"{p.id}.title"), "steps": len(p.steps),
             "step_ids": [s.id for s in p.steps]} for p in _all_phases()]


# ---------------------------------------------------------------- rendering

def _fill(obj: Any, w: Walk, vars_: dict) -> Any:
    """Resolve a step field: call it if it is a function, then fill its string templates."""
    if callable(obj):
        obj = obj(w)
    return _templates(obj, vars_)


def _templates(obj: Any, vars_: dict) -> Any:
    if isinstance(obj, str):
        if "{" not in obj:
            return obj
        s = obj.format_map(vars_)
        return int(s) if re.fullmatch(r"-?\d+", s) else s
    if isinstance(obj, list):
        return [_templates(o, vars_) for o in obj]
    if isinstance(obj, tuple):
        return [_templates(o, vars_) for o in obj]
    if isinstance(obj, dict):
        return {_templates(k, vars_) if isinstance(k, str) else k: _templates(v, vars_) for k, v in obj.items()}
    return obj


def _ranges(block: str, specs: list, w: Walk) -> list[list[int]]:
    """Cell range specs (canonical orientation) as [r0, c0, r1, c1] in the scene's grid."""
    geo = geometry(w.config, w.T)
    if block not in geo.canon:
        raise ValueError(f"cells name {block!r}, which is not a block of this model")
    rows, cols = geo.canon[block]["rows"], geo.canon[block]["cols"]
    return [geo.range_to_scene(block, r) for r in _canonical_ranges(block, specs, rows, cols)]


def _canonical_ranges(block: str, specs: list, rows: int, cols: int) -> list[list[int]]:
    out = []
    for spec in specs:
        if isinstance(spec, (list, tuple)):
            out.append([int(v) for v in spec])
            continue
        parts = str(spec).split()
        kind, nums = parts[0], [int(p) for p in parts[1:]]
        if kind == "all":
            out.append([0, 0, rows - 1, cols - 1])
        elif kind == "col":
            out.append([0, nums[0], rows - 1, nums[0]])
        elif kind == "cols":
            out.append([0, nums[0], rows - 1, nums[1]])
        elif kind == "row":
            out.append([nums[0], 0, nums[0], cols - 1])
        elif kind == "rows":
            out.append([nums[0], 0, nums[1], cols - 1])
        elif kind == "cell":
            out.append([nums[0], nums[1], nums[0], nums[1]])
        else:
            raise ValueError(f"unknown cell range {spec!r} for block {block!r}")
    return out


def _condition(w: Walk, env: dict) -> Callable[[str], bool]:
    """The test of a text condition's names: a boolean value of the step, else ``Walk.cond``."""
    def test(name: str) -> bool:
        return env[name] if isinstance(env.get(name), bool) else w.cond(name)
    return test


def _text(text: str | dict, step: Step, test: Callable[[str], bool]) -> str:
    if isinstance(text, str):
        return text
    for cond, text in text.items():
        if holds(cond, test):
            return text
    raise ValueError(f"step {step.id!r} has no text variant for this model (add a '*' variant)")


def _common_values(w: Walk) -> dict:
    return {"t": w.t, "L": w.L, "h": w.h, "LL": w.LL, "T": w.T, "C": w.C, "V": w.V,
            "nh": w.nh, "hs": w.hs, "n_layer": w.n_layer, "input": w.text_of(w.ids),
            "tok_t": w.tok_at(w.t), "idx_t": w.idx(w.t), "tm": w.mask_row()}


def _step_index(phase: Phase, step: int | str) -> int:
    """A step of ``phase`` by id (``"scaling"``) or by number."""
    if isinstance(step, str):
        for i, s in enumerate(phase.steps):
            if s.id == step:
                return i
        known = ", ".join(s.id for s in phase.steps)
        raise KeyError(f"phase {phase.id!r} has no step {step!r}; its steps are {known}")
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < len(phase.steps):
        raise IndexError(f"phase {phase.id!r} has steps 0..{len(phase.steps) - 1}, not {step!r}")
    return step


def render_step(phase_id: str, step: int | str, ctx: Any) -> dict:
    """Render one step, named by its id or its number in the phase, against ``ctx`` (trace,
    params, config, vocab, task, target_text, and optionally follow: ``{"layer": L, "head": h}``)."""
    phase = _phase(phase_id)
    step_index = _step_index(phase, step)
    step = phase.steps[step_index]
    w = ctx if isinstance(ctx, Walk) else Walk(ctx)
    vars_ = w.vars()
    env = _common_values(w)
    if step.values is not None:
        env.update(step.values(w))
    geo = geometry(w.config, w.T)
    test = _condition(w, env)
    r = Renderer(env, w.dims, vars_, geo, test, w.words)
    key = f"{phase.id}.{step.id}"
    title = r.inline(resolve_conditionals(w.words.get(key + ".title"), test))
    body = r.render(_text(w.words.get(key + ".text"), step, test))

    out: dict[str, Any] = {"phase": phase.id, "step": step_index, "id": step.id,
                           "title": re.sub(r"<[^>]+>", "", title), "html": body}
    if step.table is not None:
        table = step.table(w)
        out["html"] += "\n" + r.table_html(table["head"], table["rows"], r.value)
        out["table"] = {"head": [r.plain(c) for c in table["head"]],
                        "rows": [[r.plain(c) for c in row] for row in table["rows"]]}
    if step.plot is not None:
        out["plot"] = step.plot(w)
    out["figure"] = figures.render(step.figure(w), geo) if step.figure is not None else None
    if out["figure"]:
        out["html"] = _mark_pictured(out["html"], out["figure"])
    out["annotate"] = dict(step.annotate) if step.annotate else None

    focus = list(_fill(step.focus, w, vars_) or [])
    cells_spec = _fill(step.cells, w, vars_) or {}
    cells = {block: _ranges(block, specs, w) for block, specs in cells_spec.items()}
    for block in cells:
        if block not in focus:
            focus.append(block)
    camera = _fill(step.camera, w, vars_)
    if camera is None:
        camera = {"blocks": focus} if focus else {"view": "overview"}
    elif isinstance(camera, str):
        camera = {"view": camera}
    out.update({"focus": focus, "cells": cells, "camera": camera,
                "dim": _fill(step.dim, w, vars_),
                "animation": _animation_to_scene(_fill(step.animation, w, vars_), geo),
                "code": list(step.code), "numbers": r.numbers, "refs": r.refs,
                "vars": {"t": w.t, "L": w.L, "h": w.h}})
    return out


def _mark_pictured(body: str, figure: dict) -> str:
    """Mark the paragraph the 3D view's worked example shows (``<p class="pictured">``): the one
    that names the example's result cell, else the first that names a cell of its columns."""
    paragraphs = body.split("\n")
    result = figure.get("result") or {}
    wanted = []
    if result.get("block") and result.get("cell"):
        wanted.append(f'data-block="{result["block"]}" data-cell="{result["cell"][0]},{result["cell"][1]}"')
    wanted += [f'data-block="{c["block"]}"' for c in figure.get("columns", []) if c.get("block")]
    for needle in wanted:
        for i, para in enumerate(paragraphs):
            if para.startswith("<p>") and needle in para:
                paragraphs[i] = '<p class="pictured">' + para[len("<p>"):]
                return "\n".join(paragraphs)
    return body


def _animation_to_scene(animation: dict | None, geo) -> dict | None:
    """Map an animation's cell fields (canonical orientation) to the scene's grid."""
    if not animation:
        return animation
    out = dict(animation)
    for field_, block_field in (("a_cells", "a"), ("b_cells", "b")):
        if field_ in out and out.get(block_field) in geo.canon:
            out[field_] = geo.range_to_scene(out[block_field], out[field_])
    if "cell" in out and out.get("out") in geo.canon:
        out["cell"] = geo.to_scene(out["out"], *out["cell"])
    return out


def render_all(ctx: Any) -> list[dict]:
    """Every step of every phase, in order (for prerendering and checks)."""
    w = Walk(ctx) if not isinstance(ctx, Walk) else ctx
    return [render_step(p.id, i, w) for p in _all_phases() for i in range(len(p.steps))]


def animation_ids(animation: dict | None) -> list[str]:
    """The block ids an animation names (for checks)."""
    if not animation:
        return []
    spec = ANIMATION_KINDS[animation["kind"]]
    ids: list[str] = []
    for f in spec["ids"]:
        v = animation.get(f)
        if v is None:
            continue
        ids.extend(v if isinstance(v, list) else [v])
    return ids
