"""The page in Spanish and Chinese (Debian's Chromium): ``?lang=es`` and ``?lang=zh`` set
``<html lang>``, every step (walked by id) shows its title and text in that language, the
controls, a notice and the live bar (its rule, status line and typing messages) are in it too,
links keep ``lang=``, and without ``?lang=`` the browser's language (navigator.languages) is
the default.

"In that language" is checked against the catalogues themselves (``llmviz.locales``): where a
language's text differs from English, the page shows the language's words and not English's.
Screenshots (1400x900) of a few steps land in $LLMVIZ_SHOTS (default /tmp/llmviz-shots).
Every test fails on a page error or a console error.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from page_log import record_errors

from llmviz.locales import catalogue

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
SHOTS = Path(os.environ.get("LLMVIZ_SHOTS", "/tmp/llmviz-shots"))
SHOT_STEPS = {("intro", "welcome"), ("attention", "one_score"), ("mlp", "gelu"), ("output", "choose")}
GOTO_AND_READ = """async ([p, s]) => {
  await window.llmviz.goto({phase: p, step: s});
  const el = document.getElementById("commentary");
  return {state: window.llmviz.state(), text: el.innerText, href: location.href,
          title: el.querySelector(".wv-title").textContent,
          kicker: el.querySelector(".wv-kicker").textContent};
}"""


def plain_lead(text: str) -> str:
    """The words a text starts with, before its first value, reference, code or condition
    (spaces as the page joins lines): what the page must show as it is written."""
    lead = re.split(r"\{\{|\[\[|`|\*|\n\s*\n|\n-", text.strip(), maxsplit=1)[0]
    return re.sub(r"\s+", " ", lead).strip()


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


class Visit:
    def __init__(self, browser, url: str, **options):
        self.context = browser.new_context(**{"viewport": {"width": 1400, "height": 900}, **options})
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        record_errors(self.page, self.errors)
        self.page.goto(url)
        result = self.page.evaluate("() => window.llmviz.ready.then(() => true, e => String(e))")
        assert result is True, result
        self.page.wait_for_function("() => window.llmviz.state().settled === true")


@pytest.fixture
def visit(browser, built_dist, serve_dist):
    server = serve_dist(built_dist)
    made: list[Visit] = []

    def open_(path: str, **options) -> Visit:
        v = Visit(browser, server.url + path, **options)
        made.append(v)
        return v
    yield open_
    errors = [e for v in made for e in v.errors]
    for v in made:
        v.context.close()
    assert not errors, errors


@pytest.mark.parametrize("lang", ["es", "zh"])
def test_every_step_control_and_notice_in_the_language(visit, lang):
    words, english = catalogue(lang), catalogue("en")
    v = visit(f"?lang={lang}", reduced_motion="reduce")
    page = v.page
    assert page.evaluate("() => document.documentElement.lang").split("-")[0] == lang
    assert page.evaluate("() => window.llmviz.lang") == lang
    assert page.locator("#lang-menu").input_value() == lang
    assert page.title() == words.text("ui.page.title")

    # the controls: Python's and the static markup's, in the language
    for selector, key in ((".wv-toc-toggle", "ui.nav.contents"), (".wv-pause", "ui.nav.pause"),
                          (".wv-skip", "ui.nav.skip"), ("#live-next", "ui.live.next"),
                          ("#live-reset", "ui.live.reset"), ("label.live-label", "ui.live.input"),
                          ("#cv-tab-port", "ui.code.port_tab"), (".wv-follow-label", "ui.nav.follow")):
        shown = page.locator(selector).inner_text().strip()
        assert shown == words.text(key) != english.text(key), (selector, shown)
    assert page.locator(".wv-prev").get_attribute("title") == words.text("ui.nav.prev_title")
    toc_map = page.evaluate("() => document.querySelector('.wv-toc-map').textContent")
    assert words.text("ui.map.input") in toc_map and english.text("ui.map.input") not in toc_map

    listed = page.evaluate("() => window.llmviz.phases()")
    assert [p["title"] for p in listed] == [words.text(f"{p['id']}.title") for p in listed]
    leads = 0
    for ph in listed:
        for n, step in enumerate(ph["step_ids"]):
            r = page.evaluate(GOTO_AND_READ, [ph["id"], step])
            where = f"{lang}: {ph['id']}/{step}"
            assert (r["state"]["phase"], r["state"]["step"]) == (ph["id"], step), where
            assert r["title"] == ph["step_titles"][n], where
            key = f"{ph['id']}.{step}"
            if "{{" not in words.get(key + ".title") and words.get(key + ".title") != english.get(key + ".title"):
                assert r["title"] == words.text(key + ".title") and r["title"] != english.text(key + ".title"), where
            assert r["kicker"].startswith(words.text(f"{ph['id']}.title")), where
            text = squash(r["text"])
            mine, theirs = plain_lead(words.get(key + ".text")), plain_lead(english.get(key + ".text"))
            if len(mine) >= 6 and mine != theirs:
                assert mine in text, (where, mine)
                leads += 1
            if len(theirs) >= 12 and theirs != mine:
                assert theirs not in text, (where, "English shown", theirs)
            assert f"lang={lang}" in r["href"], where            # the address keeps the language
            if (ph["id"], step) in SHOT_STEPS:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / f"lang_{lang}_{ph['id']}_{step}.png"))
    assert leads > 40, leads

    # a notice in the language: a link to a step that does not exist
    page.evaluate("() => { location.hash = '#phase=attention&step=no_such_step'; }")
    page.wait_for_function("() => document.getElementById('notice').innerText.length > 0")
    notice = page.locator("#notice").inner_text()
    assert plain_lead(words.get("notice.no_such_step")) in notice, notice
    assert plain_lead(english.get("notice.no_such_step")) not in notice, notice

    check_live_bar(page, lang)


def said(lang: str, key: str, **values) -> str:
    """The catalogue's text of ``key`` in ``lang``, which must not be English's."""
    mine = catalogue(lang).text(key, **values)
    assert mine != catalogue("en").text(key, **values), (lang, key)
    return mine


def check_live_bar(page, lang: str) -> None:
    """The live bar speaks the language: the field's rule, and, with numpy, the status line and
    the messages of typing an input (a sorted answer, a text too long, an empty field), the
    token chips' and the Next token button's titles (``live.*`` keys of the catalogue)."""
    page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
    field = page.locator("#live-input")
    msg = "() => document.getElementById('live-msg').textContent"
    if not page.evaluate("() => window.llmviz.info.numpy"):   # a build without numpy: the field says why
        assert field.get_attribute("title") == said(lang, "live.no_numpy")
        assert page.evaluate(msg) == said(lang, "live.no_numpy")
        return
    assert field.get_attribute("placeholder") == said(lang, "live.rule.sort_placeholder", n=6)
    assert field.get_attribute("title") == said(lang, "live.rule.sort_title", n=6, allowed="A, B, C")
    field.fill("CCBAAB")
    page.wait_for_function("() => document.getElementById('live-seq').dataset.text === 'CCBAABAABBCC'")
    page.wait_for_function("() => document.getElementById('live').dataset.busy !== '1'")
    answer = said(lang, "live.answer.reset_hint", line=said(lang, "live.answer.sorted", answer="AABBCC"))
    assert page.locator("#live-choice").inner_text().strip() == answer
    assert page.locator("#live-next").get_attribute("title") == said(lang, "live.strip.next_complete")
    assert page.locator("#live-seq .tok.in").first.get_attribute("title") == said(lang, "live.strip.input")
    assert page.locator("#live-seq .tok.gen").first.get_attribute("title") == said(lang, "live.strip.generated")
    # the longer words of the language keep the bar on one row at 1400 px: every control beside the field
    row = page.evaluate("""() => { const f = document.getElementById('live-input').getBoundingClientRect();
        return ['#live-next', '#live-reset', '#live-sample', '#live-load', '#live-startover'].filter((s) => {
            const r = document.querySelector(s).getBoundingClientRect();
            return !(r.top < f.bottom && r.bottom > f.top); }); }""")
    assert row == [], f"not on the field's row in {lang}: {row}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"lang_{lang}_live.png"))
    field.fill("CCBAABA")
    page.wait_for_function("() => document.getElementById('live-msg').classList.contains('error')")
    assert page.evaluate(msg) == said(lang, "live.typed.too_many", count=said(lang, "live.rule.letters_many", n=7),
                                      reason=said(lang, "live.rule.sorts_exactly", n=6))
    field.fill("")
    want = said(lang, "live.typed.box_empty", shown="CCBAAB")
    page.wait_for_function(f"(want) => ({msg})() === want", arg=want)


def test_links_embeds_and_the_browsers_language(visit):
    # an embed in Spanish links to the full page in Spanish, at the same step
    v = visit("?lang=es&embed=1#phase=attention&step=one_score", reduced_motion="reduce")
    href = v.page.locator("#wv-embed-bar .wv-full").get_attribute("href")
    assert href == "./index.html?lang=es#phase=attention&step=one_score", href
    assert v.page.locator("#wv-embed-bar .wv-full").inner_text().strip() == catalogue("es").text("ui.embed.full_page")
    # no ?lang=: the browser's language decides (a Chinese browser gets Chinese)
    v = visit("", locale="zh-CN", reduced_motion="reduce")
    assert v.page.evaluate("() => navigator.languages[0]").startswith("zh")
    assert v.page.evaluate("() => document.documentElement.lang").startswith("zh")
    assert v.page.locator(".wv-toc-toggle").inner_text().strip() == catalogue("zh").text("ui.nav.contents")
    # a language this build lacks: English
    v = visit("?lang=xx", locale="en-US", reduced_motion="reduce")
    assert v.page.evaluate("() => document.documentElement.lang") == "en"
    assert v.page.locator(".wv-toc-toggle").inner_text().strip() == "Contents"
    # the language menu reloads the page in the chosen language, at the same step
    v.page.evaluate("() => window.llmviz.goto({phase: 'mlp', step: 'gelu'})")
    with v.page.expect_navigation():
        v.page.select_option("#lang-menu", "es")
    v.page.wait_for_function("() => window.llmviz.ready && window.llmviz.state && window.llmviz.state().settled === true")
    assert "lang=es" in v.page.url and v.page.url.endswith("#phase=mlp&step=gelu"), v.page.url
    assert v.page.evaluate("() => window.llmviz.state().step") == "gelu"
    assert v.page.locator(".wv-title").inner_text() == catalogue("es").text("mlp.gelu.title")


CODE_AND_LABELS = """async ([p, s]) => {
  await window.llmviz.goto({phase: p, step: s});
  const label = (id) => { const el = document.querySelector(`.llmviz-label[data-block="${CSS.escape(id)}"] > div`);
                          return el ? el.textContent : null; };
  const all = (sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.trim());
  return {roles: all("#code .cv-role"), notes: all("#code .note"), titles: all("#code .cv-title"),
          labels: Object.fromEntries(["h.0.x", "h.0.attn.q[0]", "h.0.attn.scores[0]", "h.0.attn.att.max[0]",
                                      "h.0.ln_1.mean", "idx"].map((id) => [id, label(id)]))};
}"""


@pytest.mark.parametrize("lang", ["es", "zh"])
def test_the_code_panel_and_the_3d_labels_in_the_language(visit, lang):
    """The code panel's roles, titles and GPTConfig notes, and the 3D view's block labels
    (read from their HTML elements), are the language's words, not English's."""
    words, english = catalogue(lang), catalogue("en")
    page = visit(f"?lang={lang}", reduced_motion="reduce").page
    r = page.evaluate(CODE_AND_LABELS, ["prelim", "sizes"])
    roles = {words.text(f"code.role.{k}") for k in ("init", "one_line", "excerpt", "forward", "config", "outline")}
    english_roles = {english.text(f"code.role.{k}") for k in ("init", "one_line", "excerpt", "forward", "config", "outline")}
    assert r["roles"] and set(r["roles"]) <= roles and not set(r["roles"]) & english_roles, r["roles"]
    assert words.text("code.title.config") in r["titles"] and english.text("code.title.config") not in r["titles"]
    mine = words.text("code.note.this_model", value="").strip()
    theirs = english.text("code.note.this_model", value="").strip()
    notes = [n.lstrip("# ") for n in r["notes"]]
    assert any(n.startswith(mine) for n in notes), notes
    assert not any(n.startswith(theirs) for n in notes), notes
    labels = r["labels"]
    want = {"h.0.x": words.text("scene.label.after_block", name="x", n=0),
            "h.0.attn.q[0]": words.text("scene.label.head", name="q", h=0),
            "h.0.attn.scores[0]": words.text("scene.label.head", name=words.text("scene.label.scores"), h=0),
            "h.0.attn.att.max[0]": words.text("scene.label.head", name=words.text("scene.label.row_max"), h=0),
            "h.0.ln_1.mean": words.text("scene.label.mean", name="ln_1"),
            "idx": words.text("scene.label.tokens", name="idx")}
    assert labels == want, labels
    assert "after block" not in labels["h.0.x"] and "head" not in labels["h.0.attn.q[0]"]
