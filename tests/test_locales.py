"""The catalogues (``py/llmviz/locales/<lang>.toml``): every language has exactly English's keys,
every text keeps English's placeholders, and the whole tour renders in every language with
every number equal to the trace (as ``test_walkthrough`` checks for English)."""
from __future__ import annotations

import json
import re

import pytest

import llmviz.walkthrough as wt
from llmviz import locales
from llmviz.locales import catalogue

from test_walkthrough import check_block_ids, check_numbers, sort_case_for, text_case_for

LANGS = [code for code in locales.languages() if code != "en"]

# what a text must keep from English: values, sizes, block references, conditions
_VALUE = re.compile(r"\{\{\s*(?!#if\b|else\b|/if\b)\(?\s*([^{}()]+?)\s*\)?\s*\}\}")
_REF = re.compile(r"\[\[([^|\[\]]+(?:\[[^\]|]+\])?)(?:\|.*?)?\]\]")
_COND = re.compile(r"\{\{\s*(?:#if|else\s+if)\s+([^{}]+?)\s*\}\}")


def placeholders(value) -> dict[str, list]:
    """The names, block ids and conditions a text uses (sorted, with repeats: word order may
    change, the set of things filled in may not). A list or a table of variants: all of it."""
    if isinstance(value, dict):
        value = [f"{{{{#if {k}}}}}" + v for k, v in value.items()]
    if isinstance(value, list):
        value = "\n".join(value)
    return {"values": sorted(set(_VALUE.findall(value))), "refs": sorted(set(_REF.findall(value))),
            "conditions": sorted(set(" & ".join(sorted(p.strip() for p in c.split("&"))) for c in _COND.findall(value)))}


def test_there_are_more_languages_than_english():
    assert {"en", "es", "zh"} <= set(locales.languages())
    assert locales.languages()["es"] == "Español" and locales.languages()["zh"] == "中文"


@pytest.mark.parametrize("lang", LANGS)
def test_a_catalogue_has_exactly_the_keys_of_english(lang):
    en, other = catalogue("en").entries, catalogue(lang).entries
    assert not sorted(set(en) - set(other)), f"{lang} lacks {sorted(set(en) - set(other))}"
    assert not sorted(set(other) - set(en)), f"{lang} has keys English lacks: {sorted(set(other) - set(en))}"


@pytest.mark.parametrize("lang", LANGS)
def test_a_text_keeps_the_placeholders_of_english(lang):
    en, other = catalogue("en").entries, catalogue(lang).entries
    bad = {}
    for key in set(en) & set(other):
        if key == "meta.name":
            continue
        assert type(other[key]) is type(en[key]), (lang, key)
        if isinstance(en[key], list):
            assert len(other[key]) == len(en[key]), (lang, key)
        if placeholders(en[key]) != placeholders(other[key]):
            bad[key] = (placeholders(en[key]), placeholders(other[key]))
    assert not bad, f"{lang}: placeholders differ from English in {json.dumps(bad, ensure_ascii=False, indent=1)}"


@pytest.mark.parametrize("lang", LANGS)
def test_a_catalogue_is_translated(lang):
    """Most texts differ from English (code names, 'MLP', 'softmax' and the like may stay)."""
    en, other = catalogue("en").entries, catalogue(lang).entries
    texts = [k for k in en if k.endswith(".text")]
    same = [k for k in texts if other[k] == en[k]]
    assert not same, f"{lang}: these tour texts are still English: {same}"
    page = [k for k in en if k.startswith(("ui.", "notice.", "scene.", "figure.", "code.", "live.", "stored."))]
    same_page = [k for k in page if other[k] == en[k]]     # names such as "MLP", "softmax" may stay
    assert len(same_page) <= len(page) // 10, same_page


def test_the_checks_catch_a_missing_key_and_a_changed_placeholder(monkeypatch):
    """The two tests above fail on a catalogue that lost a key or renamed a value."""
    es = dict(catalogue("es").entries)
    key = "attention.one_score.text"
    broken = es[key].replace("{{dot}}", "{{punto}}")
    assert placeholders(broken) != placeholders(catalogue("en").entries[key])
    cond = es[key] + "{{#if bias}}x{{/if}}"
    assert placeholders(cond)["conditions"] != placeholders(catalogue("en").entries[key])["conditions"]
    ref = es[key].replace("[[h.{L}.attn.scores[{h}]|", "[[h.{L}.attn.att[{h}]|")
    assert placeholders(ref)["refs"] != placeholders(catalogue("en").entries[key])["refs"]
    del es[key]
    assert set(catalogue("en").entries) - set(es) == {key}


def test_an_unknown_language_is_english_and_a_missing_key_falls_back():
    assert catalogue("xx").lang == "en" and catalogue(None).lang == "en"
    words = catalogue("es")
    assert words.text("ui.nav.step_of", phase="MLP", n=2, of=9) == "MLP, paso 2 de 9"
    with pytest.raises(KeyError):
        words.get("no.such.key")


def test_the_javascript_gets_the_page_keys_of_each_language():
    for lang in locales.languages():
        keys = locales.js_keys(lang)
        assert keys["lang"] == lang and keys["languages"] == locales.languages()
        assert keys["text"]["ui.nav.contents"] == catalogue(lang).get("ui.nav.contents")
        assert not any(k.startswith(("intro.", "figure.")) for k in keys["text"])


# ------------------------------------------------------------------ the tour in every language

@pytest.fixture(scope="module", params=[f"{kind}-{lang}" for lang in LANGS for kind in ("sort", "text")])
def case(request):
    kind, lang = request.param.split("-")
    c = (sort_case_for if kind == "sort" else text_case_for)(kind == "text")
    c["ctx"]["lang"] = lang
    c["lang"] = lang
    c["steps"] = wt.render_all(c["ctx"])
    return c


def test_every_step_renders_in_every_language_with_the_numbers_of_the_trace(case):
    """The numbers of every step, in every language, are the trace's (the same check as for English)."""
    assert check_numbers(case) > 100
    check_block_ids(case)


def test_a_language_shows_the_same_numbers_and_blocks_as_english(case):
    english = wt.render_all(dict(case["ctx"], lang="en"))
    assert len(english) == len(case["steps"])
    for en, other in zip(english, case["steps"]):
        assert (en["phase"], en["id"]) == (other["phase"], other["id"])
        assert sorted(n["text"] for n in en["numbers"]) == sorted(n["text"] for n in other["numbers"]), en["id"]
        assert sorted(set(en["refs"])) == sorted(set(other["refs"])), en["id"]
        assert other["html"] != en["html"], en["id"]      # (a title may be a name: "MLP", "GELU")
        if en["figure"]:
            assert [c["texts"] for c in en["figure"]["columns"]] == [c["texts"] for c in other["figure"]["columns"]]


def test_the_table_of_contents_is_in_the_language(case):
    titles = [p["title"] for p in wt.phases(case["lang"])]
    assert titles != [p["title"] for p in wt.phases("en")]
    assert [p["id"] for p in wt.phases(case["lang"])] == [p["id"] for p in wt.phases("en")]


def test_every_code_reference_has_a_title_and_the_panel_speaks_the_language():
    """Each key of the code panel's CATALOGUE has its title in the catalogues; a step's
    snippets carry the language's titles, roles and GPTConfig notes."""
    from llmviz.codepanel import code_refs
    assert {k[len("code.title."):] for k in catalogue("en").entries if k.startswith("code.title.")} \
        == set(code_refs.CATALOGUE)
    config = {"n_embd": 48, "n_head": 3, "n_layer": 2, "block_size": 11, "vocab_size": 3, "bias": True}
    snippet = code_refs.resolve_all(None)["config"]["port"]
    for lang in LANGS:
        notes = code_refs.config_notes(snippet, config, lang)
        assert notes and all(n in {catalogue(lang).text("code.note.this_model", value=repr(v)) for v in config.values()}
                             | {catalogue(lang).text("code.note.training_only")} for n in notes.values())
        assert catalogue(lang).text("code.note.this_model", value="48") != catalogue("en").text("code.note.this_model", value="48")


def test_numbers_are_grouped_as_the_language_writes_them():
    """The tour's big numbers (the weights' count) group their thousands by the catalogue's
    ``words.thousands``: Spanish with a no-break space, not English's comma."""
    ctx = sort_case_for(False)["ctx"]
    n = f"{sum(int(v.size) for v in ctx['params'].values()):,}"
    for lang in ("en", "es", "zh"):
        sep = catalogue(lang).text("words.thousands")
        text = wt.render_step("intro", "welcome", dict(ctx, lang=lang))["html"]
        assert n.replace(",", sep) in text, (lang, n)
    assert catalogue("es").text("words.thousands") == "\u00a0"
