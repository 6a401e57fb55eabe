"""The page's panels, mounted by ``llmviz.page.app`` once Python is up.

``core.App`` holds what the page shows (model, trace, scene) and an event bus; each
view module owns one part of the page and provides ``mount(app)``:

  scene_view   the 3D renderer: values, highlights, camera, hover tooltips, scale views
  walk_view    the walkthrough: commentary, navigation, timeline, deep links, embedding
  code_view    the code panel: nanoGPT's and our port's lines beside each step
  live_view    your input, generation, your own model, the tensor inspector

Shared by the views: ``ffi`` (the one bridge to JavaScript, on ``pyscript.ffi``) and
``dom`` (index.html's templates, text-only builders). The JS modules a view drives
(js/stage/bridge.js, js/live.js, js/boot.js's ``window.llmviz``) come from PyScript's
``js_modules`` (site/pyscript.toml): ``from pyscript.js_modules import scene``.

A view that fails to mount is reported in the page and the others go on.
"""
from __future__ import annotations

import importlib

VIEWS = ("scene_view", "code_view", "walk_view", "live_view")


def start(app) -> list[str]:
    """Mount every view; return the errors of those that failed (the page shows them)."""
    errors = []
    app.on("notice", _show_notice)
    _mark("views-start")
    for name in VIEWS:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue  # not written yet
            errors.append(f"{name}: {type(e).__name__}: {e}")
            continue
        try:
            module.mount(app)
        except Exception as e:  # noqa: BLE001 - one broken view must not take the page down
            errors.append(f"{name}: {type(e).__name__}: {e}")
        _mark(f"mount:{name}")
    app.emit("ready")
    _mark("emit:ready")
    return errors


def _mark(name: str) -> None:
    """``performance.mark("llmviz:<name>")`` in the page (the load-time breakdown); nothing elsewhere."""
    try:
        import js
        js.performance.mark(f"llmviz:{name}")
    except Exception:  # noqa: BLE001 - outside the page, or no Performance API
        pass


def _show_notice(text: str = "") -> None:
    """The "notice" event: a line the user should read, in the bar under the header."""
    from pyscript.js_modules import boot
    boot.llmviz.notice(text)
