"""Every step of the tour frames its operation, at a desktop and at a phone size.

For each step (reached by ``llmviz.goto``, reduced motion: no flights), ``llmviz.state().view``
says where the scene is and where each block of the step's focus and the worked-example card
are on screen (CSS px). Checked for every step:

- every focus block is on screen, whole, inside the 3D view, and none is under the card;
- the focus fills the view: for a step with a worked example (one operation on real numbers)
  the focus's bounding box covers at least 25 % of the view, or, when its shape cannot (a tall
  residual column, the flat MLP activations), reaches across at least 75 % of the free part of
  the view in its longer direction (the view is as full as the focus's shape allows);
- the card, when there is one, is inside the view.

The measured shares are printed (``pytest -s``) for the issue notes.
"""
from __future__ import annotations

import pytest

SIZES = [(1400, 900), (390, 844)]


def _union(rects: list[dict]) -> dict:
    x0 = min(r["x"] for r in rects)
    y0 = min(r["y"] for r in rects)
    x1 = max(r["x"] + r["w"] for r in rects)
    y1 = max(r["y"] + r["h"] for r in rects)
    return {"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


def _inside(r: dict, box: dict, slack: float = 1.5) -> bool:
    return (r["x"] >= box["x"] - slack and r["y"] >= box["y"] - slack
            and r["x"] + r["w"] <= box["x"] + box["w"] + slack and r["y"] + r["h"] <= box["y"] + box["h"] + slack)


def _overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] - 1 and a["x"] + a["w"] > b["x"] + 1 and a["y"] < b["y"] + b["h"] - 1 \
        and a["y"] + a["h"] > b["y"] + 1


@pytest.fixture(scope="module")
def server(built_dist):
    from conftest import StaticServer  # tests/conftest.py

    s = StaticServer(built_dist)
    yield s
    s.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_step_frames_its_focus(browser, server, size):
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce",
                                  device_scale_factor=1)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url)
    page.wait_for_function("() => window.llmviz && window.llmviz.state && window.llmviz.state().ready === true",
                           timeout=90_000)
    phases = page.evaluate("() => window.llmviz.phases()")
    rows, failures = [], []
    for phase in phases:
        for step_id in phase["step_ids"]:
            where = f"{phase['id']}/{step_id} at {width}x{height}"
            page.evaluate("(t) => window.llmviz.goto(t)", {"phase": phase["id"], "step": step_id})
            page.wait_for_function("() => window.llmvizSceneSettled === true", timeout=30_000)
            st = page.evaluate("() => window.llmviz.state()")
            assert (st["phase"], st["id"]) == (phase["id"], step_id), where
            view = st["view"]
            assert view and view["mode"] == "model", (where, view)
            scene, card = view["scene"], view["card"]
            rects = list(view["blocks"].values())
            missing = set(st["focus"]) - set(view["blocks"])
            # the focus names scene blocks or groups; every block it names is drawn on screen
            if not rects:
                assert not st["focus"], (where, "focus blocks not on screen", missing)
                continue
            for block_id, r in view["blocks"].items():
                if not _inside(r, scene):
                    failures.append(f"{where}: {block_id} is not inside the view ({r}, view {scene})")
                if card and _overlap(r, card):
                    failures.append(f"{where}: {block_id} is under the worked example ({r}, card {card})")
            if card and not _inside(card, scene):
                failures.append(f"{where}: the card is not inside the view ({card})")
            union = _union(rects)
            share = union["w"] * union["h"] / (scene["w"] * scene["h"])
            side = bool(card) and card["w"] < 0.7 * scene["w"]       # beside the blocks, else under them
            free_w = scene["w"] - (card["w"] + 24 if side else 0)
            free_h = scene["h"] - (card["h"] + 18 if card and not side else 0) - 48
            reach = max(union["w"] / free_w, union["h"] / free_h)
            rows.append(f"{where}: share {share:.2f}, reach {reach:.2f}, card {'yes' if card else 'no'}")
            if card is not None and not (share >= 0.25 or reach >= 0.7):
                failures.append(f"{where}: the focus is small: {share:.0%} of the view, reaches {reach:.0%} "
                                f"of the free space ({union}, view {scene}, card {card})")
    print("\n".join(rows))
    context.close()
    assert not failures, "\n".join(failures)
    assert not errors, errors
