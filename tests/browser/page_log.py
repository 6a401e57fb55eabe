"""What went wrong in a page while a browser test drove it: page errors and console errors."""
from __future__ import annotations


def record_errors(page, into: list[str]) -> list[str]:
    """Append every uncaught page error and console error of ``page`` to ``into`` (returned)."""
    page.on("pageerror", lambda e: into.append(f"page error: {e}"))
    page.on("console", lambda m: into.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    return into
