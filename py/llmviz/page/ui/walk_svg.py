"""Small SVG pictures for the walkthrough panel, as strings. Pure Python.

- ``schematic(n_layer, current)``: the model drawn flat, top to bottom (embedding,
  then one block repeated ``n_layer`` times: layer norm, attention with its softmax,
  projection, the MLP, each added back onto the residual stream; then the output).
  Every part is a ``<g class="wv-part" data-phase=...>`` that the page makes a link
  to its phase.
- ``gelu_plot(plot)``: the GELU curve of a step's ``plot`` dict with the marked input.

Every piece of text put into the SVG is escaped.
"""
from __future__ import annotations

import html
import math

from llmviz.walkthrough.numbers import fmt

W = 210  # schematic width (the SVG scales to its box)


def _part(phase: str, current: str | None, x: float, y: float, w: float, h: float, label: str,
          sub: str = "", title: str = "", top: bool = False) -> str:
    cls = "wv-part current" if phase == current else "wv-part"
    text_y = y + 13 if top else y + h / 2 + (-3 if sub else 4)
    out = [f'<g class="{cls}" data-phase="{html.escape(phase)}" tabindex="0" role="link"'
           f' aria-label="{html.escape(title or label)}">',
           f'<title>{html.escape(title or label)}</title>',
           f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4"/>',
           f'<text x="{x + w / 2}" y="{text_y}">{html.escape(label)}</text>']
    if sub:
        out.append(f'<text class="sub" x="{x + w / 2}" y="{text_y + 11}">{html.escape(sub)}</text>')
    out.append("</g>")
    return "".join(out)


def _plus(y: float, x: float = 24) -> str:
    return (f'<g class="wv-add"><circle cx="{x}" cy="{y}" r="6"/>'
            f'<path d="M{x - 3.5} {y}H{x + 3.5}M{x} {y - 3.5}V{y + 3.5}"/></g>')


def schematic(n_layer: int, current: str | None = None, titles: dict | None = None,
              labels: dict | None = None) -> str:
    """The model as a flat diagram whose parts jump to their phases (``current`` lit); ``titles``
    the phases' titles, ``labels`` the parts' words (the catalogue's ``ui.map.*``, by last part)."""
    titles = titles or {}
    t = lambda pid, fallback: titles.get(pid, fallback)  # noqa: E731
    w = lambda key, english: (labels or {}).get(key, english)  # noqa: E731
    aria = html.escape(w("aria", "the model, part by part"))
    sx, bx, bw = 24, 46, 150   # stream x, box x and width
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wv-schematic" viewBox="0 0 {W} 322" role="group" aria-label="{aria}">',
        # the residual stream: from the embedding down to the output
        f'<path class="wv-stream" d="M{sx} 44V266"/>',
        _part("intro", current, bx, 4, bw, 20, w("input", "input tokens"), title=t("intro", "Introduction")),
        _part("embedding", current, bx, 32, bw, 24, w("embedding", "embedding"), w("token_position", "token + position"),
              title=t("embedding", "Embedding")),
        f'<path class="wv-link" d="M{bx} 44H{sx}"/>',
        # one transformer block, repeated
        f'<g class="wv-part wv-stack{" current" if current == "stack" else ""}" data-phase="stack"'
        f' tabindex="0" role="link" aria-label="{html.escape(t("stack", "The stack of blocks"))}">'
        f'<title>{html.escape(t("stack", "The stack of blocks"))}</title>'
        f'<rect class="frame" x="6" y="66" width="{W - 10}" height="176" rx="6"/>'
        f'<text class="times" x="{W - 10}" y="80">× {int(n_layer)}</text></g>',
        _part("layernorm", current, bx, 84, bw - 18, 18, w("layer_norm", "layer norm"), title=t("layernorm", "Layer norm")),
        f'<path class="wv-link" d="M{sx} 93H{bx}"/>',
        _part("attention", current, bx, 108, bw - 18, 44, w("attention", "self-attention"), title=t("attention", "Self-attention"),
              top=True),
        _part("softmax", current, bx + 34, 132, 64, 16, w("softmax", "softmax"), title=t("softmax", "Softmax")),
        _part("projection", current, bx, 158, bw - 18, 18, w("projection", "projection"), title=t("projection", "Projection")),
        f'<path class="wv-link" d="M{bx} 167H{sx + 6}"/>',
        _plus(167, sx),
        _part("mlp", current, bx, 184, bw - 18, 36, w("mlp", "MLP"), w("mlp_sub", "layer norm, expand, GELU, back"),
              title=t("mlp", "MLP")),
        f'<path class="wv-link" d="M{bx} 208H{sx + 6}"/>',
        _plus(208, sx),
        _part("output", current, bx, 254, bw, 30, w("output", "output"), w("output_sub", "layer norm, logits, softmax"),
              title=t("output", "Output")),
        f'<path class="wv-link" d="M{sx} 266H{bx}"/>',
        _part("prelim", current, bx, 294, bw, 20, w("sizes", "sizes and parts"), title=t("prelim", "Preliminaries")),
        "</svg>",
    ]
    return "".join(parts)


def gelu_plot(plot: dict, width: int = 280, height: int = 160) -> str:
    """The GELU curve with the step's input marked (``plot`` from ``render_step``)."""
    curve = [(float(a), float(b)) for a, b in plot.get("curve", [])]
    if len(curve) < 2:
        return ""
    x0, x1 = (float(v) for v in plot.get("range", (curve[0][0], curve[-1][0])))
    ys = [b for _, b in curve] + [0.0]
    y0, y1 = min(ys), max(ys)
    pad_l, pad_r, pad_t, pad_b = 30, 10, 12, 22
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def X(v: float) -> float:
        return round(pad_l + (v - x0) / ((x1 - x0) or 1) * pw, 2)

    def Y(v: float) -> float:
        return round(pad_t + (y1 - v) / ((y1 - y0) or 1) * ph, 2)

    points = " ".join(f"{X(a)},{Y(b)}" for a, b in curve)
    x, y = float(plot["x"]), float(plot["y"])
    name = "GELU (tanh approximation)" if plot.get("approximate") == "tanh" else "GELU"
    label = f"x = {fmt(x)}, {name.split(' ')[0]}(x) = {fmt(y)}"
    ticks = []
    for v in range(math.ceil(x0), math.floor(x1) + 1):
        if v % 2 == 0 or (x1 - x0) <= 8:
            ticks.append(f'<text class="tick" x="{X(v)}" y="{height - 6}">{v}</text>')
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wv-plot" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{html.escape(name)} curve; the marked point is {html.escape(label)}">',
        f'<line class="axis" x1="{pad_l}" y1="{Y(0)}" x2="{width - pad_r}" y2="{Y(0)}"/>',
        f'<line class="axis" x1="{X(0)}" y1="{pad_t}" x2="{X(0)}" y2="{height - pad_b}"/>',
        "".join(ticks),
        "".join(f'<text class="tick" x="{pad_l - 4}" y="{Y(v) + 4}" text-anchor="end">{round(v, 2):g}</text>'
                for v in _y_ticks(y0, y1)),
        f'<polyline class="curve" points="{points}"/>',
        f'<line class="guide" x1="{X(x)}" y1="{Y(0)}" x2="{X(x)}" y2="{Y(y)}"/>',
        f'<circle class="mark" cx="{X(x)}" cy="{Y(y)}" r="4.5"/>',
        f'<text class="name" x="{pad_l + 12}" y="{pad_t + 10}">{html.escape(name)}</text>',
        f'<text class="mark-label" x="{pad_l + 12}" y="{pad_t + 24}">{html.escape(label)}</text>',
        "</svg>",
    ]
    return "".join(out)


def _y_ticks(y0: float, y1: float) -> list[float]:
    """Whole numbers on the value axis (0 included), at most five, or the two ends if none fit."""
    step = 1 if y1 - y0 <= 5 else math.ceil((y1 - y0) / 4)
    ticks = [float(v) for v in range(math.ceil(y0), math.floor(y1) + 1) if v % step == 0]
    return ticks if len(ticks) >= 2 else [y0, y1]
