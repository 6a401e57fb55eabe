"""The live bar's words in the page's language: ``llmviz.page.live``'s rules and refusals, the
model worker's refusals, ``live_view.generate_options`` and the inspector's axis titles, for
``lang`` es and zh.

Each message is compared with the catalogue's own text of the key, filled with the values the
situation has (``llmviz.locales``), and must differ from the English one: a message left in
English, or put together from the wrong key, fails. English stays the default (test_live.py
checks its words).
"""
from __future__ import annotations

import json

import pytest

from llmviz.core import sort_task
from llmviz.core.vocab import InputError, Vocab
from llmviz.core.weights import MAX_BYTES, WeightsError
from llmviz.locales import catalogue
from llmviz.page import live
from llmviz.page.ui.live_view import LiveError, generate_options

SORT_CARD = {"task": dict(sort_task.TASK)}
ABC = Vocab(list(sort_task.LETTERS))
TEXT = Vocab(list("\n !abcdefgh"))


@pytest.fixture(params=["es", "zh"])
def lang(request) -> str:
    return request.param


def words(lang: str, key: str, **values) -> str:
    """The catalogue's text of ``key`` in ``lang``; it must not be English's."""
    mine, english = catalogue(lang).text(key, **values), catalogue("en").text(key, **values)
    assert mine != english, (lang, key, mine)
    return mine


def refusal(kind: type, call, *args, **kwargs) -> str:
    with pytest.raises(kind) as info:
        call(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- typing

def test_what_a_keystroke_says(lang):
    six = lambda n: words(lang, "live.rule.letters_many", n=n)   # noqa: E731 - "6 letters" in the language
    got = live.typed("CCBAABA", ABC, SORT_CARD, 11, lang=lang)
    assert (got.run, got.kind) == (None, "error")
    assert got.message == words(lang, "live.typed.too_many", count=six(7),
                                reason=words(lang, "live.rule.sorts_exactly", n=6))
    got = live.typed("CBxA", ABC, SORT_CARD, 11, lang=lang)
    assert got.message == words(lang, "live.typed.not_in_vocab", token="'x'", allowed="A, B, C", count=six(6))
    got = live.typed("cab", ABC, SORT_CARD, 11, lang=lang)
    assert (got.field, got.run, got.kind) == ("CAB", "CAB", "info")
    assert got.message == words(lang, "live.typed.read_as", text="CAB", allowed="A, B, C")
    assert live.typed("", ABC, SORT_CARD, 11, "CBABBC", lang).message == words(lang, "live.typed.box_empty",
                                                                              shown="CBABBC")
    assert live.typed("", ABC, SORT_CARD, 11, lang=lang).message == words(lang, "live.typed.box_empty_last")
    assert live.typed("CAB", ABC, SORT_CARD, 11, lang=lang).message == ""     # fits: nothing to say


def test_the_limit_and_its_reason(lang):
    """A text model's limit is block_size, said so; one letter is singular; no reason: 'at most N'."""
    reason = live.limit_reason({}, 8, lang)
    assert reason == words(lang, "live.rule.at_most_block", n=8)
    message = refusal(InputError, live.check_input, "bad cafe!", TEXT, 8, reason, lang)
    assert message == words(lang, "live.typed.too_many", count=catalogue(lang).text("live.rule.tokens_many", n=9),
                            reason=reason)
    message = refusal(InputError, live.check_input, "AB", ABC, 1, None, lang)
    assert message == words(lang, "live.typed.too_many", count=words(lang, "live.rule.letters_many", n=2),
                            reason=words(lang, "live.rule.at_most", n=1))
    message = refusal(InputError, live.check_input, "x", ABC, 1, None, lang)
    assert message == words(lang, "live.typed.not_in_vocab", token="'x'", allowed="A, B, C",
                            count=catalogue(lang).text("live.rule.letters_one", n=1))
    assert refusal(InputError, live.check_input, "", ABC, 6, None, lang) == words(
        lang, "live.typed.empty", allowed="A, B, C", n=6)
    assert refusal(InputError, live.check_input, ["A"], ABC, 6, None, lang) == words(
        lang, "live.typed.not_text", type="list")


def test_a_long_vocabulary_says_how_many_tokens_it_has(lang):
    vocab = Vocab([chr(0x4E00 + i) for i in range(50)])
    shown = live.allowed(vocab, lang)
    assert shown.endswith(words(lang, "live.rule.in_all", n=50)) and shown.count(", ") == 40
    assert live.allowed(vocab) == vocab.allowed()            # English: the vocabulary's own words


def test_a_model_without_a_token_to_type(lang):
    message = refusal(InputError, live.default_prompt, {}, Vocab(["ab", "cd"]), 4, lang=lang)
    assert message == words(lang, "live.typed.no_single_token")


# ---------------------------------------------------------------- the status line

def test_the_answer_line(lang):
    tokens = list("ABC")
    ids = ABC.encode("CBABBC")
    assert live.answer_line(SORT_CARD, tokens, "CBABBC", ids + ABC.encode("ABBBCC"), lang) == words(
        lang, "live.answer.sorted", answer="ABBBCC")
    assert live.answer_line(SORT_CARD, tokens, "CBABBC", ids + ABC.encode("ABBBCA"), lang) == words(
        lang, "live.answer.not_sorted", answer="ABBBCA", want="ABBBCC")
    assert live.answer_line(SORT_CARD, tokens, "BCA", ABC.encode("BCA"), lang) == words(
        lang, "live.answer.too_short", n=6, got=3)
    assert live.answer_line(SORT_CARD, tokens, "CBABBC", ids, lang) == words(lang, "live.answer.not_written")
    assert live.answer_line({}, list("ab"), "ab", [0, 1], lang) == words(lang, "live.answer.next")


# ---------------------------------------------------------------- your model's files

def test_upload_refusals(lang):
    mb = MAX_BYTES // 2**20
    cases = [([("a.npz", 10), ("b.npz", 10)], "live.model.two_npz", {}),
             ([("a.json", 10), ("b.json", 10)], "live.model.two_json", {}),
             ([("big.npz", MAX_BYTES + 2**20)], "live.model.npz_too_big",
              {"name": "big.npz", "size": f"{(MAX_BYTES + 2**20) / 2**20:.1f}", "limit": mb}),
             ([("m.json", live.MAX_CARD_BYTES + 1)], "live.model.card_too_big",
              {"name": "m.json", "size": f"{(live.MAX_CARD_BYTES + 1) / 2**20:.1f}"}),
             ([("ckpt.pt", 10)], "live.model.wrong_file", {"name": "ckpt.pt"})]
    for files, key, values in cases:
        assert refusal(WeightsError, live.check_upload_sizes, files, lang) == words(lang, key, **values), key
    assert refusal(WeightsError, live.load_model, "not bytes", {}, lang) == words(lang, "live.model.not_bytes")
    size = f"{(MAX_BYTES + 1) / 2**20:.1f}"
    assert refusal(WeightsError, live.load_model, b"\0" * (MAX_BYTES + 1), {}, lang) == words(
        lang, "live.model.weights_too_big", size=size, limit=mb)


def test_the_model_worker_refuses_in_the_language_of_the_job(lang):
    """The worker's "load" job passes the page's ``lang`` on: its refusal is in that language."""
    from llmviz.page import worker
    message = refusal(WeightsError, worker._job, "load", {"card": json.dumps({}), "lang": lang}, None)
    assert message == words(lang, "live.model.not_bytes")


# ---------------------------------------------------------------- the API and the inspector

@pytest.mark.parametrize("opts, key, values", [
    ({"n": "many"}, "live.api.whole", {"value": "'many'"}),
    ({"temperature": -1}, "live.api.temperature", {"value": "-1"}),
    ({"top_k": -2}, "live.api.top_k", {"value": -2}),
    ({"seed": 1.5}, "live.api.whole", {"what": "seed", "value": "1.5"}),
])
def test_generate_options_refuse_in_the_language(lang, opts, key, values):
    values = dict(values)
    values.setdefault("what", catalogue(lang).text("live.api.number_of_tokens"))
    assert refusal(LiveError, generate_options, opts, lang) == words(lang, key, **values)


def test_the_inspector_axis_titles(lang):
    """The code name stays, what it counts is in the language; cell labels do not change."""
    for dims in (["T", "C"], ["vocab", "hs"], ["4C", "block_size"]):
        block = {"dims": dims, "rows": 2, "cols": 3}
        got = live.axis_labels(block, list("AB"), [0, 1], lang)
        english = live.axis_labels(block, list("AB"), [0, 1])
        assert (got["row_title"], got["col_title"]) == (words(lang, f"live.axis.{dims[0]}"),
                                                         words(lang, f"live.axis.{dims[1]}"))
        assert got["row_title"].startswith(dims[0]) and got["col_title"].startswith(dims[1])
        assert (got["rows"], got["cols"]) == (english["rows"], english["cols"])
