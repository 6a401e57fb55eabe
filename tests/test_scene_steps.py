"""The scene view's pure-Python parts (llmviz.page.ui.scene_steps): every walkthrough step
turned into what the renderer takes, and the hover read-out."""
from __future__ import annotations

import json

import numpy as np
import pytest

from llmviz.viz import layout, provenance
from llmviz import walkthrough
from llmviz.core.model import GPT, GPTConfig
from llmviz.page.ui import scene_steps

CONFIG = GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=3, n_embd=48)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(1)
    model = GPT(CONFIG)
    state = {k: (rng.standard_normal(v.shape) * 0.2).astype(np.float32) for k, v in model.state_dict().items()}
    model = GPT.from_state_dict(state, CONFIG)
    ids = [0, 2, 1, 1, 0, 2, 1, 0, 1, 2, 2]
    trace = model.trace([ids])
    scene = layout.scene(CONFIG, T=len(ids))
    ctx = {"trace": trace, "params": model.state_dict(), "config": CONFIG, "vocab": ["A", "B", "C"],
           "task": None}
    return {"model": model, "trace": trace, "scene": scene, "ctx": ctx}


def test_half_open_adds_one_to_the_far_corner():
    assert scene_steps.half_open([0, 10, 47, 10]) == [0, 10, 48, 11]
    assert scene_steps.half_open([3, 4, 3, 4]) == [3, 4, 4, 5]
    assert scene_steps.half_open([5, 2, 1, 0]) == [1, 0, 6, 3]     # corners in either order


def test_every_step_becomes_a_valid_renderer_step(world):
    scene = world["scene"]
    blocks = {b["id"]: b for b in scene["blocks"]}
    groups = {b.get("group") for b in scene["blocks"]}

    def known(name):
        return (name in blocks or name in groups or name == "*"
                or any(i.startswith(name + "[") or (b.get("group") or "").startswith(name + ".")
                       for i, b in blocks.items()))

    kinds = set()
    for phase in walkthrough.phases():
        for i in range(phase["steps"]):
            step = walkthrough.render_step(phase["id"], i, world["ctx"])
            out = scene_steps.scene_step(step, scene, {"speed": 2, "reduced": False})
            where = f"{phase['id']} {i}"
            json.dumps(out, allow_nan=False)        # what the page's JSON.parse reads: no NaN, no Infinity
            if out["figure"]:                       # a worked example's columns name blocks of the scene
                for col in out["figure"]["columns"]:
                    assert col["block"] is None or col["block"] in blocks, (where, col["label"], col["block"])
            assert all(known(n) for n in out["focus"]), (where, out["focus"])
            assert all(known(n) for n in out["dim"]), (where, out["dim"])
            for block_id, ranges in out["cells"].items():
                b = blocks[block_id]
                for r0, c0, r1, c1 in ranges:
                    assert 0 <= r0 < r1 <= b["rows"] and 0 <= c0 < c1 <= b["cols"], (where, block_id, ranges)
            # the inclusive ranges of the walkthrough cover the same cells as the half-open ones
            for block_id, ranges in step["cells"].items():
                for src, dst in zip(ranges, out["cells"].get(block_id, [])):
                    assert (dst[2] - dst[0]) == abs(src[2] - src[0]) + 1
            cam = out["camera"]
            assert cam is not None, where
            if "center" in cam:
                assert cam["direction"] == scene_steps.VIEW_DIRECTION and cam["distance"] > 0
            else:
                assert cam["ids"] and all(known(n) for n in cam["ids"])
            assert out["speed"] == 2.0 and out["reduced"] is False
            anim = out["animation"]
            if anim:
                kinds.add(anim["kind"])
                spec = walkthrough.ANIMATION_KINDS[anim["kind"]]
                for field in spec["ids"]:
                    names = anim.get(field)
                    for name in names if isinstance(names, list) else ([names] if names else []):
                        assert known(name), (where, field, name)
                for key, block_key in (("a_cells", "a"), ("b_cells", "b")):
                    if key in anim:
                        b = blocks[anim[block_key]]
                        r0, c0, r1, c1 = anim[key]
                        assert 0 <= r0 < r1 <= b["rows"] and 0 <= c0 < c1 <= b["cols"], (where, key)
                        assert (r1 - r0) * (c1 - c0) > 1      # a vector, not one cell
    # the kinds the page must animate are all used by the tour
    assert {"sweep", "add", "dot", "softmax", "residual"} <= kinds


def test_dim_others_and_views(world):
    scene = world["scene"]
    out = scene_steps.scene_step({"focus": ["h.0.attn.qkv"], "cells": {}, "camera": {"view": "h.0.attn"},
                                  "dim": "others", "animation": None}, scene)
    assert out["dim"] == ["*"]
    assert out["focus"] == ["h.0.attn.q", "h.0.attn.k", "h.0.attn.v"]     # drawn through its q, k, v blocks
    assert out["camera"]["center"] == scene["views"]["h.0.attn"]["center"]
    missing = scene_steps.scene_step({"focus": [], "camera": {"view": "nowhere"}, "dim": None}, scene)
    assert missing["camera"]["center"] == scene["views"]["overview"]["center"] and missing["dim"] == []
    # named views are framed by the page as the groups they show (the fixed view stays the fallback)
    assert out["camera"]["ids"] == ["h.0.ln_1", "h.0.attn"] and out["camera"]["view"] == "h.0.attn"
    assert missing["camera"]["ids"] == ["*"]
    for name in scene["views"]:
        groups = scene_steps.view_groups(name, scene)
        assert groups, name
        assert all(g == "*" or g in scene["groups"] for g in groups), (name, groups)
    assert scene_steps.view_groups("h.1", scene) == ["h.1.ln_1", "h.1.attn", "h.1.proj", "h.1.ln_2", "h.1.mlp"]
    assert scene_steps.view_groups("output", scene) == ["ln_f", "output"]
    assert scene_steps.view_groups("nowhere", scene) is None


def test_tooltip_parts_carry_the_trace_value_and_terms(world):
    scene, trace = world["scene"], world["trace"]
    blocks = {b["id"]: b for b in scene["blocks"]}
    info = provenance.describe("x", 5, 3, trace, world["model"].state_dict(), CONFIG, T=scene["T"])
    parts = scene_steps.tooltip_parts(info, blocks["x"], ["A", "B", "C"])
    assert float(parts["value"]) == pytest.approx(float(trace["x"][0, 3, 5]), abs=1e-4)
    labels = [label for label, _ in parts["terms"]]
    assert labels == ["tok_emb", "pos_emb"]
    assert float(parts["terms"][0][1]) == pytest.approx(float(trace["tok_emb"][0, 3, 5]), abs=1e-4)
    assert parts["title"].endswith("[5, 3]")
    token = scene_steps.tooltip_parts(provenance.describe("idx", 0, 1, trace, world["model"].state_dict(), CONFIG), blocks["idx"],
                                      ["A", "B", "C"])
    assert token["value"] == "2 ('C')"
    assert scene_steps.fmt(1.5e-5) == "1.5000e-05" and scene_steps.fmt(None) == "–"
