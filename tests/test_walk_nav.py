"""The walk view's logic without a browser: the tour's order, deep links, the embedding
allow list, key bindings, motion settings, and the SVG pictures (llmviz.page.ui.walk_nav,
llmviz.page.ui.walk_svg). The page itself is tested in tests/browser/test_walk_view.py (this file has another
basename: pytest cannot collect two test modules of the same name without packages)."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
from hypothesis import given, strategies as st

import llmviz.walkthrough as wt
from llmviz.page.ui import walk_nav, walk_svg
from llmviz.page.ui.walk_nav import Tour, Where

SVG = "{http://www.w3.org/2000/svg}"


TOUR = Tour(wt.phases())   # for the hypothesis tests (they take no function fixtures)


@pytest.fixture(scope="module")
def tour() -> Tour:
    return TOUR


# ------------------------------------------------------------------ the tour

def test_tour_walks_every_step_in_reading_order(tour):
    phases = wt.phases()
    assert len(tour) == sum(p["steps"] for p in phases)
    seen, where = [], tour.first()
    while where is not None:
        seen.append(where)
        where = tour.next(where)
    assert seen == [Where(p["id"], i, step_id) for p in phases for i, step_id in enumerate(p["step_ids"])]
    # and back again
    back, where = [], seen[-1]
    while where is not None:
        back.append(where)
        where = tour.prev(where)
    assert back == seen[::-1]
    # crossing a phase boundary
    assert tour.next(tour.resolve("softmax", "why_max")) == tour.resolve("projection", "heads_together")
    assert tour.prev(tour.resolve("projection", "heads_together")) == tour.resolve("softmax", "why_max")


def test_resolve_takes_step_ids_and_still_numbers(tour):
    where = tour.resolve("attention", "scaling")
    assert (where.phase, where.id) == ("attention", "scaling")
    assert where.step == tour.phase("attention")["step_ids"].index("scaling")
    assert tour.resolve("attention", " scaling ") == where
    assert tour.resolve("attention", None) == tour.resolve("attention", "idea")
    # numbers in the phase (old links) give the same steps
    assert tour.resolve("attention", where.step) == where
    assert tour.resolve("attention", str(where.step)) == where
    assert tour.resolve("attention", float(where.step)) == where
    assert tour.resolve(4, 1) == tour.resolve(wt.phases()[4]["id"], wt.phases()[4]["step_ids"][1])


@pytest.mark.parametrize("phase, step, words", [
    ("nowhere", 0, "no walkthrough phase 'nowhere'"),
    ("attention", 99, "has steps 0.."),
    ("attention", -1, "has steps 0.."),
    ("attention", "bogus", "has no step 'bogus'"),
    ("attention", "scores", "has no step 'scores'"),    # an id of no step (one_score, score_row)
    ("attention", "query ", None),                     # spaces around an id are fine
    ("attention", 1.5, "whole number"),
    ("attention", float("inf"), "whole number"),
    ("attention", True, "number or a step id"),
    ("attention", [3], "number or a step id"),
    (None, 0, "say which phase"),
    (42, 0, "out of range"),
    (float("inf"), 0, "whole number"),
])
def test_resolve_refuses_with_a_readable_message(tour, phase, step, words):
    if words is None:
        assert tour.resolve(phase, step).id == step.strip()
        return
    with pytest.raises(ValueError, match=words.replace(".", r"\.").replace("(", r"\(")):
        tour.resolve(phase, step)


# ------------------------------------------------------------------ deep links

def test_links_name_steps_by_id_and_round_trip(tour):
    for where in tour.order:
        text = walk_nav.format_hash(where)
        assert text == f"#phase={where.phase}&step={where.id}"
        link = walk_nav.parse_hash(text)
        assert tour.resolve(link["phase"], link["step"]) == where and link["cam"] is None
    # a link may give the step's number as the page shows it ("step 5 of 8"), counting from 1
    where = tour.resolve("mlp", "gelu")
    assert tour.resolve_nearest("mlp", str(where.step + 1)) == (where, None)


def test_numbers_in_links_count_from_one_as_the_page_shows_them(tour):
    """"step N of M" in the page and step=N in a link name the same step; the API's numbers
    are indexes from 0 (as state().step_index)."""
    for p in tour.phases:
        for n in range(1, int(p["steps"]) + 1):
            shown = tour.where(p["id"], n - 1)   # the page shows it as "step n of ..."
            assert tour.resolve_nearest(p["id"], str(n)) == (shown, None)
            link = walk_nav.parse_hash(f"#phase={p['id']}&step={n}")
            assert tour.resolve(link["phase"], link["step"], base=walk_nav.LINK_BASE) == shown
            assert tour.resolve(p["id"], n - 1) == shown
    attention = tour.phase("attention")
    where, problem = tour.resolve_nearest("attention", "3")
    assert where.id == attention["step_ids"][2] and problem is None
    for beyond in ("0", str(int(attention["steps"]) + 1)):
        where, problem = tour.resolve_nearest("attention", beyond)
        assert where == tour.resolve("attention", None) and "has steps 1..11" in problem, problem
    # a phase's number in a link counts from 1 too
    assert tour.resolve_nearest("1", "2")[0] == tour.resolve(tour.phases[0]["id"], 1)


EXPAND = TOUR.resolve("mlp", "expand")


@given(st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=6, max_size=6))
def test_camera_survives_the_hash_to_a_millimetre(values):
    cam = {"position": values[:3], "target": values[3:]}
    link = walk_nav.parse_hash(walk_nav.format_hash(EXPAND, cam))
    assert (link["phase"], link["step"]) == ("mlp", "expand")
    for key in ("position", "target"):
        assert all(abs(a - b) <= 5e-4 + 1e-9 for a, b in zip(link["cam"][key], cam[key]))


@pytest.mark.parametrize("text", ["#phase=mlp&step=expand&cam=1,2,3", "#phase=mlp&step=expand&cam=a,b,c,d,e,f",
                                  "#phase=mlp&step=expand&cam=1,2,3,4,5,inf", "#phase=mlp&step=expand&cam="])
def test_a_broken_camera_in_the_hash_is_ignored(text):
    link = walk_nav.parse_hash(text)
    assert link == {"phase": "mlp", "step": "expand", "follow": None, "input": None, "cam": None}


def test_empty_or_foreign_hashes():
    assert walk_nav.parse_hash("") == {"phase": None, "step": None, "follow": None, "input": None, "cam": None}
    assert walk_nav.parse_hash("#section-2")["phase"] is None


def test_query_options():
    q = walk_nav.parse_query("?embed=1&lock=1&phase=attention&step=one_score"
                             "&origin=https://a.example&origin=https://b.example,http://localhost:8000")
    assert q == {"embed": True, "lock": True, "controls": False, "phase": "attention", "step": "one_score",
                 "follow": None, "input": None, "lang": None,
                 "origins": ["https://a.example", "https://b.example", "http://localhost:8000"]}
    assert walk_nav.parse_query("?embed=1&lang=zh")["lang"] == "zh"
    assert walk_nav.parse_query("?embed=1&controls=1")["controls"] is True
    assert walk_nav.parse_query("?embed=1&phase=softmax&layer=2&head=1")["follow"] == {"layer": "2", "head": "1"}
    q = walk_nav.parse_query("?embed=0")
    assert not q["embed"] and not q["lock"] and q["origins"] == []
    assert walk_nav.parse_query("")["phase"] is None


@pytest.mark.parametrize("step", ["50", "0", "Infinity", "inf", "-Infinity", "1e999", "NaN", "-1", "3.5", "0x3",
                                  "²", "٣", "scaling" * 300, "9" * 400, "no_such_step", " ", "\x00"])
def test_a_link_to_a_step_the_phase_lacks_opens_its_first_step(tour, step):
    where, problem = tour.resolve_nearest("softmax", step)
    assert where == tour.resolve("softmax", "what") and problem
    assert "softmax" in problem and len(problem) < 400, problem
    # the same through the hash, as the page reads it
    link = walk_nav.parse_hash("#phase=softmax&step=" + quote(step, safe=""))
    assert tour.resolve_nearest(link["phase"], link["step"])[0] == where


def test_a_link_to_no_phase_opens_the_tour(tour):
    where, problem = tour.resolve_nearest("nowhere", "scaling")
    assert where == tour.first() and "no walkthrough phase 'nowhere'" in problem
    assert tour.resolve_nearest("softmax", "max") == (tour.resolve("softmax", "max"), None)


@given(st.one_of(st.text(max_size=60), st.integers(), st.floats(), st.none(), st.booleans()),
       st.one_of(st.text(max_size=60), st.integers(), st.floats(), st.none(), st.booleans()))
def test_any_link_opens_some_step_and_never_raises(phase, step):
    where, problem = TOUR.resolve_nearest(phase, step)
    assert where in TOUR.order
    assert problem is None or isinstance(problem, str)


def test_the_followed_layer_and_head_travel_in_the_hash(tour):
    score, gelu = tour.resolve("attention", "one_score"), tour.resolve("mlp", "idea")
    text = walk_nav.format_hash(score, follow={"layer": 2, "head": 1})
    assert text == "#phase=attention&step=one_score&layer=2&head=1"
    assert walk_nav.parse_hash(text)["follow"] == {"layer": "2", "head": "1"}
    # layer 0 and head 0 are the default: the link stays as short as before
    assert walk_nav.format_hash(score, follow={"layer": 0, "head": 0}) == "#phase=attention&step=one_score"
    assert walk_nav.format_hash(gelu, follow={"layer": 1, "head": 0}) == "#phase=mlp&step=idea&layer=1"
    cam = {"position": [1, 2, 3], "target": [0, 0, 0]}
    link = walk_nav.parse_hash(walk_nav.format_hash(gelu, cam, {"head": 2}))
    assert link["follow"] == {"head": "2"} and link["cam"] == {"position": [1, 2, 3], "target": [0, 0, 0]}
    assert walk_nav.full_page_url("/x/index.html", gelu, {"layer": 2, "head": 0}) == \
        "./index.html#phase=mlp&step=idea&layer=2"


def test_the_input_travels_in_links(tour):
    where = tour.resolve("mlp", "idea")
    text = walk_nav.format_hash(where, follow={"layer": 1}, input_text="CAB BA&C")
    assert text == "#phase=mlp&step=idea&layer=1&input=CAB%20BA%26C"
    assert walk_nav.parse_hash(text)["input"] == "CAB BA&C"
    assert walk_nav.link_input("?embed=1&input=ABC", "") == "ABC"
    assert walk_nav.link_input("?input=ABC", "#phase=mlp&step=idea&input=CBA") == "CBA"   # the hash wins
    assert walk_nav.link_input("", "#phase=mlp&step=idea") is None
    assert walk_nav.full_page_url("/a/", where, None, "BCA") == "./index.html#phase=mlp&step=idea&input=BCA"
    # an embed in another language links to the full page in that language
    assert walk_nav.full_page_url("/a/", where, None, None, "es") == "./index.html?lang=es#phase=mlp&step=idea"


def test_full_page_link_drops_the_embed_options(tour):
    assert walk_nav.full_page_url("/course/llmviz/index.html", tour.resolve("mlp", "gelu")) == \
        "./index.html#phase=mlp&step=gelu"
    assert walk_nav.full_page_url("/course/llmviz/", tour.first()) == "./index.html#phase=intro&step=welcome"


# ------------------------------------------------------------------ embedding: who may send commands

@pytest.mark.parametrize("text, origin", [
    ("https://course.example", "https://course.example"),
    ("https://Course.Example/week3/notes.html?x=1", "https://course.example"),
    ("https://course.example:443", "https://course.example"),
    ("http://course.example:80/", "http://course.example"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("http://[::1]:8080/x", "http://[::1]:8080"),
    ("null", None), ("*", None), ("", None), ("course.example", None),
    ("javascript:alert(1)", None), ("file:///tmp/x.html", None), ("http://host:notaport", None),
])
def test_normalize_origin(text, origin):
    assert walk_nav.normalize_origin(text) == origin


def test_allow_list_and_checks():
    allowed = walk_nav.allowed_origins(["https://course.example/notes", "null", "*", "bogus"],
                                       ["https://lms.example:8443"], "http://127.0.0.1:9000")
    assert allowed == ["https://course.example", "https://lms.example:8443", "http://127.0.0.1:9000"]
    assert walk_nav.is_allowed("https://course.example", allowed)
    assert walk_nav.is_allowed("https://lms.example:8443", allowed)
    # near misses are refused: scheme, port, sub-domain, suffix tricks, opaque origins
    for origin in ("http://course.example", "https://course.example:444", "https://evil.course.example",
                   "https://course.example.evil", "https://lms.example", "null", "", "*"):
        assert not walk_nav.is_allowed(origin, allowed), origin
    assert walk_nav.allowed_origins([], None) == []
    assert walk_nav.allowed_origins(["https://a.example", "https://a.example/x"], []) == ["https://a.example"]


# ------------------------------------------------------------------ keys

@pytest.mark.parametrize("key, kw, action", [
    (" ", {}, "next"), ("ArrowRight", {}, "next"), ("ArrowDown", {}, "next"),
    (" ", {"shift": True}, "prev"), ("ArrowLeft", {}, "prev"), ("ArrowUp", {}, "prev"),
    ("a", {}, None), ("Enter", {}, None),
    (" ", {"target_tag": "INPUT"}, None), ("ArrowRight", {"target_tag": "textarea"}, None),
    ("ArrowLeft", {"target_tag": "SELECT"}, None), (" ", {"editable": True}, None),
    ("ArrowRight", {"in_canvas": True}, None), ("ArrowUp", {"in_canvas": True}, None),
    (" ", {"in_canvas": True}, "next"),               # the camera leaves Space to the page
    (" ", {"on_button": True}, None),                 # Space presses the focused button instead
    ("ArrowRight", {"on_button": True}, "next"),
    ("ArrowRight", {"ctrl": True}, None), ("ArrowLeft", {"alt": True}, None), (" ", {"meta": True}, None),
    ("ArrowRight", {"shift": True}, None),
])
def test_key_bindings(key, kw, action):
    assert walk_nav.key_action(key, **kw) == action


def test_motion_settings_are_clamped():
    assert walk_nav.motion() == {"speed": 1.0, "paused": False, "reduced": False}
    assert walk_nav.motion(10, True, True) == {"speed": 4.0, "paused": True, "reduced": True}
    assert walk_nav.motion(0.1)["speed"] == 0.5
    assert walk_nav.motion(float("nan"))["speed"] == 1.0
    assert min(walk_nav.SPEEDS) == 0.5 and max(walk_nav.SPEEDS) == 4.0


# ------------------------------------------------------------------ pictures

def test_schematic_links_every_phase_and_marks_the_current_one():
    phase_ids = [p["id"] for p in wt.phases()]
    for current in phase_ids:
        svg = ET.fromstring(walk_svg.schematic(3, current))
        parts = [g for g in svg.iter(f"{SVG}g") if "wv-part" in g.get("class", "")]
        assert sorted(g.get("data-phase") for g in parts) == sorted(phase_ids)
        lit = [g.get("data-phase") for g in parts if "current" in g.get("class", "").split()]
        assert lit == [current]
    text = "".join(ET.fromstring(walk_svg.schematic(12)).itertext())
    assert "× 12" in text


def test_schematic_escapes_titles():
    svg = walk_svg.schematic(2, None, {"mlp": "<script>alert(1)</script>"})
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)


def test_gelu_plot_marks_the_input_on_the_curve():
    x = -0.45
    y = x * 0.5 * (1 + math.erf(x / math.sqrt(2)))
    curve = [[v / 8, (v / 8) * 0.5 * (1 + math.erf(v / 8 / math.sqrt(2)))] for v in range(-32, 33)]
    svg_text = walk_svg.gelu_plot({"kind": "gelu", "x": x, "y": y, "range": [-4, 4], "curve": curve})
    svg = ET.fromstring(svg_text)
    mark = next(svg.iter(f"{SVG}circle"))
    points = [tuple(map(float, p.split(","))) for p in next(svg.iter(f"{SVG}polyline")).get("points").split()]
    assert len(points) == len(curve)
    # the mark sits on the drawn curve, between its neighbours, and the label gives both values
    cx, cy = float(mark.get("cx")), float(mark.get("cy"))
    i = max(k for k, (px, _) in enumerate(points) if px <= cx)
    (x0, y0), (x1, y1) = points[i], points[i + 1]
    assert abs(cy - (y0 + (y1 - y0) * (cx - x0) / (x1 - x0))) < 1.0
    label = "".join(t for el in svg.iter(f"{SVG}text") if el.get("class") == "mark-label" for t in el.itertext())
    assert "-0.45" in label and "-0.15" in label
    # x maps linearly: -4 at the left edge of the plot, 4 at the right
    assert points[0][0] < cx < points[-1][0]
    assert abs((cx - points[0][0]) / (points[-1][0] - points[0][0]) - (x + 4) / 8) < 0.01
    # the value axis is labelled with whole numbers from 0 up, each at its height on the curve
    ticks = {float(el.text): float(el.get("y")) - 4 for el in svg.iter(f"{SVG}text")
             if el.get("class") == "tick" and el.get("text-anchor") == "end"}
    assert sorted(ticks) == [0.0, 1.0, 2.0, 3.0], ticks
    at_3 = next(py for (px, py), (vx, _) in zip(points, curve) if vx == 3.0)   # GELU(3) = 2.996
    assert abs(ticks[3.0] - at_3) < 0.5 and ticks[0.0] > ticks[1.0] > ticks[2.0] > ticks[3.0]


def test_gelu_plot_from_the_walkthrough_renders():
    import numpy as np
    from llmviz.core.model import GPT, GPTConfig

    config = GPTConfig(block_size=11, vocab_size=3, n_layer=1, n_head=3, n_embd=48)
    rng = np.random.default_rng(0)
    model = GPT.from_state_dict({k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
                                 for k, v in GPT(config).state_dict().items()}, config)
    ids = [0, 1, 2, 1, 0, 2]
    ctx = {"trace": model.trace(np.array([ids])), "params": model.state_dict(), "config": config,
           "vocab": list("ABC")}
    step = next(s for s in wt.render_all(ctx) if s.get("plot"))
    svg = ET.fromstring(walk_svg.gelu_plot(step["plot"]))
    assert svg.get("class") == "wv-plot"
    label = "".join(t for el in svg.iter(f"{SVG}text") if el.get("class") == "mark-label" for t in el.itertext())
    shown = [n["text"] for n in step["numbers"]][:2]   # GELU(x) = y in the commentary
    assert all(text in label for text in shown), (label, shown)
