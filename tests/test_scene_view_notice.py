"""The 3D view says on the page, in the page's language, which blocks it draws as shape only."""
import pytest

from llmviz.locales import Catalogue
from llmviz.page.ui.scene_view import SceneView


class _Renderer:
    def __init__(self, missing):
        self.missing = missing

    def overflow(self):
        return list(self.missing)


class _Bridge:     # js/stage/bridge.js's api, as the view sees it
    def __init__(self, missing):
        self.renderer = _Renderer(missing)


class _App:
    def __init__(self, lang):
        self.words = Catalogue(lang)
        self.notices = []

    def say(self, key, **values):
        return self.words.text(key, **values)

    def emit(self, event, **payload):
        self.notices.append((event, payload))


def _view(lang, missing):
    view = SceneView.__new__(SceneView)     # no page here: only what report_overflow reads
    view.app, view.api = _App(lang), _Bridge(missing)
    return view


@pytest.mark.parametrize("lang", ["en", "es", "zh"])
def test_blocks_drawn_as_shape_only_are_named_in_the_page_language(lang):
    missing = [f"h.{i}.mlp.fc" for i in range(6)]
    view = _view(lang, missing)
    view.report_overflow()
    [(event, payload)] = view.app.notices
    text = payload["text"]
    assert event == "notice" and "{{" not in text
    assert all(m in text for m in missing[:4]) and missing[4] not in text and "(+2)" in text
    assert text == Catalogue(lang).text("notice.shape_only", blocks=", ".join(missing[:4]) + " \u2026 (+2)")
    if lang == "en":
        assert "shape only" in text


def test_nothing_is_said_when_every_block_has_its_values():
    view = _view("en", [])
    view.report_overflow()
    assert view.app.notices == []
