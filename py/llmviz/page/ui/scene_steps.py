"""Pure helpers of the scene view (no numpy, no browser): a rendered walkthrough step
turned into what the renderer takes, and the hover read-out of a cell.

The walkthrough writes cell ranges inclusive (``[r0, c0, r1, c1]`` = rows r0..r1,
cols c0..c1, in the scene's grid); the renderer's are half-open like Python slices.
``scene_step`` converts them (the step's ``cells`` and an animation's ``a_cells`` /
``b_cells``), resolves the camera to a list of blocks (a named view: the groups it
shows) that the page frames for its real size, and turns ``dim`` into renderer names.
"""
from __future__ import annotations

import math
from typing import Any

STEP_SECONDS = 1.0          # one camera flight at speed 1
VIEW_DIRECTION = [0.12, 0.1, 1]  # steps look at the blocks a little from the right and above: their depth shows
MAX_TERMS = 6               # terms listed in a tooltip; beyond that, the text sums them up


def half_open(rng: list) -> list[int]:
    """An inclusive [r0, c0, r1, c1] as the renderer's half-open range."""
    r0, c0, r1, c1 = (int(v) for v in rng)
    return [min(r0, r1), min(c0, c1), max(r0, r1) + 1, max(c0, c1) + 1]


def expand(names: list, scene: dict) -> list[str]:
    """Block names with Trace names that the scene draws through other blocks replaced."""
    shown_as = scene.get("shown_as") or {}
    out: list[str] = []
    for name in names or []:
        out.extend(shown_as.get(name, [name]))
    return out


def view_groups(name: str, scene: dict) -> list[str] | None:
    """The scene groups a named view of ``llmviz.viz.layout`` shows (None: not a view we know).

    "overview" is everything, "h.N" the layer's groups, "h.N.attn" its ln_1 and
    attention, "h.N.mlp" its ln_2 and MLP, "output" ln_f and the output."""
    groups = scene.get("groups") or {}
    if name == "overview":
        return ["*"]
    parts = name.split(".")
    if name in ("embedding",):
        wanted = ["embedding"]
    elif name == "output":
        wanted = ["ln_f", "output"]
    elif len(parts) == 2 and parts[0] == "h":
        wanted = [g for g in groups if g.startswith(name + ".")]
    elif len(parts) == 3 and parts[0] == "h" and parts[2] in ("attn", "mlp"):
        p = f"h.{parts[1]}."
        wanted = [p + "ln_1", p + "attn"] if parts[2] == "attn" else [p + "ln_2", p + "mlp"]
    else:
        return None
    wanted = [g for g in wanted if g in groups]
    return wanted or None


def camera_target(camera: Any, scene: dict, step: dict | None = None) -> dict | None:
    """A step's camera as a renderer target, framed by ``js/stage/framing.js`` for the view's
    real size: ``{ids, direction}`` (blocks, all of which the view shows) or ``{ids, view,
    center, distance, direction}`` (a named view: the groups it shows, with the layout's fixed
    view as the fallback)."""
    views = scene.get("views") or {}
    if isinstance(camera, str):
        camera = {"view": camera}
    if not isinstance(camera, dict):
        return None
    if "view" in camera:
        name = camera["view"] if camera["view"] in views else "overview"
        view = views.get(name)
        if view is None:
            return {"ids": ["*"], "direction": VIEW_DIRECTION, "view": name}
        out = {"center": list(view["center"]), "distance": view["distance"], "direction": VIEW_DIRECTION}
        groups = view_groups(name, scene)
        if groups:
            out.update({"ids": groups, "view": name})
        return out
    if camera.get("blocks"):
        return {"ids": expand(camera["blocks"], scene), "direction": VIEW_DIRECTION}
    return None


def animation_to_renderer(animation: dict | None) -> dict | None:
    """An animation spec with its cell ranges made half-open."""
    if not animation:
        return None
    out = dict(animation)
    for key in ("a_cells", "b_cells"):
        if key in out and out[key] is not None:
            out[key] = half_open(out[key])
    return out


def scene_step(step: dict, scene: dict, motion: dict | None = None) -> dict:
    """What ``llmvizScene.playStep`` takes for a step from ``walkthrough.render_step``."""
    motion = motion or {}
    ids = {b["id"] for b in scene.get("blocks", [])}
    cells = {block: [half_open(r) for r in ranges]
             for block, ranges in (step.get("cells") or {}).items() if block in ids}
    dim = step.get("dim")
    if dim == "others":
        dim_names = ["*"]            # the focus is highlighted, and highlighted blocks are never dimmed
    elif not dim:
        dim_names = []
    else:
        dim_names = expand(dim if isinstance(dim, list) else [dim], scene)
    speed = motion.get("speed") or 1
    return {"focus": expand(step.get("focus") or [], scene), "cells": cells, "dim": dim_names,
            "camera": camera_target(step.get("camera"), scene, step),
            "animation": animation_to_renderer(step.get("animation")),
            "figure": step.get("figure"), "annotate": step.get("annotate"),
            "speed": float(speed), "seconds": STEP_SECONDS,
            "reduced": bool(motion.get("reduced"))}


# ---------------------------------------------------------------- tooltips

def fmt(value: Any) -> str:
    """A cell's value for the tooltip: 4 decimals (or 4 significant digits when tiny or huge)."""
    if value is None:
        return "–"
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    a = abs(v)
    if a != 0 and (a < 1e-3 or a >= 1e5):
        return f"{v:.4e}"
    return f"{v:.4f}"


def tooltip_parts(info: dict, block: dict | None, vocab: list[str] | None = None, lang: str = "en") -> dict:
    """The tooltip's content as plain strings (the view puts them in the page as text); the
    block's label in ``lang``."""
    from llmviz.viz.layout import block_label
    label = block_label(block, lang, info.get("id", ""))
    title = f"{label} [{info.get('row')}, {info.get('col')}]"
    where = info.get("tensor") or ""
    if info.get("index") is not None and where:
        where += "[" + ", ".join(str(i) for i in info["index"]) + "]"
    value = fmt(info.get("value"))
    if info.get("op") == "input" and vocab and info.get("value") is not None:
        token = int(info["value"])
        if 0 <= token < len(vocab):
            value = f"{token} ({vocab[token]!r})"
    terms = []
    raw = info.get("terms") or []
    if 0 < len(raw) <= MAX_TERMS:
        for t in raw:
            terms.append([str(t.get("label", "")), fmt(t.get("value"))])
    return {"title": title, "where": where, "value": value, "text": info.get("text") or "",
            "terms": terms, "op": info.get("op") or ""}
