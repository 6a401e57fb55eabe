"""Which modules of Python's standard library this Python has imported from Pyodide's
``python_stdlib.zip``: build.py ships only those (``tools/stdlib_modules.txt``), so the
page's browser test asks the page for this list after a tour, a generation and a model
load, and fails when a module is missing from the shipped zip or the list.

The same holds for numpy: build.py ships a slim numpy wheel with only the modules the page
imports (``tools/numpy_modules.txt``, ``package_modules("numpy")``).

``?debug=1`` pages expose them as ``window.llmvizDebug.stdlibModules()`` and
``window.llmvizDebug.numpyModules()`` (``app.py``).
"""
from __future__ import annotations

import sys

__all__ = ["stdlib_zip", "loaded", "package_modules"]


def stdlib_zip() -> str | None:
    """The path of the standard library's zip on ``sys.path`` (``/lib/python314.zip``), or None."""
    for entry in sys.path:
        if entry.endswith(".zip") and "/python3" in entry:
            return entry
    return None


def loaded() -> list[str]:
    """The dotted names of every module imported from the standard library's zip, sorted."""
    zip_path = stdlib_zip()
    if zip_path is None:
        return []
    out = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
        if isinstance(origin, str) and origin.startswith(zip_path + "/"):
            out.append(name)
    return sorted(out)


def package_modules(package: str) -> list[str]:
    """The dotted names of ``package`` and every module of it this Python has imported, sorted."""
    return sorted(name for name in list(sys.modules) if name == package or name.startswith(package + "."))
