"""Every text in the 3D view (block labels, annotations, the worked-example card, the colour
legend, the size buttons and their note) has a contrast of at least 4.5:1 (WCAG AA) against
what is behind it, at several steps and in a scale view.

The page is asked for each visible text element's colour and the colour behind it: its own
background, else its nearest ancestor's, composited over the scene's background (#0e1117,
what the canvas clears to; no text of the view is drawn over cells).
"""
from __future__ import annotations

import pytest

CONTRAST_JS = """() => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map((v) => parseFloat(v)); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, under) => top.slice(0, 3).map((v, k) => v * top[3] + under[k] * (1 - top[3])).concat([1]);
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const SCENE = [14, 17, 23, 1];
  const behind = (el) => {
    const layers = [];
    for (let e = el; e && e.id !== 'scene'; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg && bg[3] > 0) layers.push(bg);
      if (bg && bg[3] >= 1) break;
    }
    return layers.reverse().reduce((acc, c) => over(c, acc), SCENE);
  };
  const out = [];
  const sel = '#scene .llmviz-label, #scene .llmviz-label *, #scene .llmviz-annotation, #scene .llmviz-legend, ' +
              '#scene .llmviz-legend *, #scene .scene-card, #scene .scene-card *, #scene .scene-scales button, #scene .scene-scale-info';
  for (const el of document.querySelectorAll(sel)) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text) continue;
    const r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || cs.visibility === 'hidden' || cs.display === 'none') continue;
    let color = parse(cs.color);
    const opacity = [...function* () { for (let e = el; e; e = e.parentElement) yield parseFloat(getComputedStyle(e).opacity); }()]
      .reduce((a, b) => a * b, 1);
    const bg = behind(el);
    color = over([color[0], color[1], color[2], color[3] * opacity], bg);
    const l1 = lum(color), l2 = lum(bg);
    out.push({ text: text.slice(0, 40), cls: el.className && el.className.baseVal === undefined ? el.className : '',
               ratio: (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05) });
  }
  return out;
}"""

FRAMES = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"   # two frames drawn
STEPS = [("intro", "map"), ("embedding", "sum"), ("attention", "one_score"), ("softmax", "exp"),
         ("projection", "residual"), ("mlp", "gelu"), ("output", "choose")]


@pytest.fixture(scope="module")
def server(built_dist):
    from conftest import StaticServer  # tests/conftest.py

    s = StaticServer(built_dist)
    yield s
    s.close()


def test_every_text_of_the_3d_view_has_contrast(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function("() => window.llmviz && window.llmviz.state && window.llmviz.state().ready === true",
                           timeout=90_000)
    # the legend open too (it folds once the tour starts)
    checked, low = 0, []
    for phase, step in STEPS:
        page.evaluate("(t) => window.llmviz.goto(t)", {"phase": phase, "step": step})
        page.wait_for_function("() => window.llmvizSceneSettled === true", timeout=30_000)
        page.evaluate("() => { const l = document.querySelector('.llmviz-legend'); if (l) l.open = true; }")
        page.evaluate(FRAMES)          # labels and annotations placed for this camera
        for item in page.evaluate(CONTRAST_JS):
            checked += 1
            if item["ratio"] < 4.5:
                low.append((phase, step, item))
    page.locator(".scene-scales button[data-scale='gpt2-small']").click()
    page.wait_for_function("() => window.llmvizScene.mode === 'gpt2-small'")
    page.evaluate(FRAMES)
    for item in page.evaluate(CONTRAST_JS):
        checked += 1
        if item["ratio"] < 4.5:
            low.append(("scale", "gpt2-small", item))
    context.close()
    assert checked > 200, checked
    assert not low, "texts under 4.5:1:\n" + "\n".join(f"{p}/{s}: {i}" for p, s, i in low[:30])
