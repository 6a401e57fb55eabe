"""Where the nanoGPT ``model.py`` that the code panel quotes comes from.

The page shows lines of Karpathy's nanoGPT next to each step, but this repository
never holds a copy of that file. At build time ``get_source`` reads it from a
local checkout (``--nanogpt PATH`` or ``$LLMVIZ_NANOGPT``), from a cached download,
or downloads it from GitHub at the pinned commit. Without any of those the build
goes on without nanoGPT snippets and says so in one line.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

PINNED_COMMIT = "3adf61e154c3fe3fca428ad6bc3818b27a3b8291"
PINNED_SHA256 = "7c01703240dbec5d554527dc666e35b3df8391d0b117fddc07afcf325a21d11c"
REPO_URL = "https://github.com/karpathy/nanoGPT"
RAW_URL = f"https://raw.githubusercontent.com/karpathy/nanoGPT/{PINNED_COMMIT}/model.py"
ENV_VAR = "LLMVIZ_NANOGPT"

__all__ = ["PINNED_COMMIT", "PINNED_SHA256", "RAW_URL", "get_source", "github_url"]


def github_url(first: int, last: int | None = None) -> str:
    """A link to lines ``first..last`` of model.py at the pinned commit."""
    anchor = f"#L{first}" if last is None or last == first else f"#L{first}-L{last}"
    return f"{REPO_URL}/blob/{PINNED_COMMIT}/model.py{anchor}"


def _info(status: str, data: bytes | None, path: str | None, message: str) -> dict:
    sha = hashlib.sha256(data).hexdigest() if data is not None else None
    return {"status": status, "sha256": sha, "path": path, "message": message}


def _checked(data: bytes, path: str, origin: str) -> tuple[str, dict]:
    """Decode ``data`` and say whether it is the pinned file."""
    text = data.decode("utf-8")
    sha = hashlib.sha256(data).hexdigest()
    if sha == PINNED_SHA256:
        return text, _info("pinned", data, path, f"nanoGPT model.py at {PINNED_COMMIT[:7]} ({origin})")
    return text, _info("other", data, path,
                       f"warning: {path} is not nanoGPT's model.py at commit {PINNED_COMMIT[:7]} "
                       f"(sha256 {sha[:12]}..., expected {PINNED_SHA256[:12]}...); using it anyway, "
                       f"line links to GitHub are left out")


def get_source(path: str | os.PathLike | None = None, cache_dir: str | os.PathLike = ".cache",
               timeout: float = 5) -> tuple[str | None, dict]:
    """nanoGPT's model.py as text, and where it came from.

    ``path``: a nanoGPT checkout (a folder holding model.py) or the file itself;
    when None, ``$LLMVIZ_NANOGPT``, then ``cache_dir``, then a download of the
    pinned commit. Returns ``(text or None, info)`` with ``info`` =
    ``{"status": "pinned"|"other"|"missing", "sha256", "path", "message"}``.
    A file with another sha256 is still used ("other"; the message warns).
    Never raises for a missing file or a failed download: status is "missing".
    """
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    if path is not None:
        p = Path(path)
        if p.is_dir():
            p = p / "model.py"
        if not p.is_file():
            return None, _info("missing", None, str(p), f"no nanoGPT model.py at {p}; "
                               f"give a nanoGPT checkout folder or its model.py")
        return _checked(p.read_bytes(), str(p), "local file")

    cached = Path(cache_dir) / f"nanogpt-{PINNED_COMMIT}" / "model.py"
    if cached.is_file():
        return _checked(cached.read_bytes(), str(cached), "cached download")

    try:
        from urllib.request import urlopen

        with urlopen(RAW_URL, timeout=timeout) as response:
            data = response.read()
    except Exception as exc:  # no network, DNS, HTTP error, Pyodide without sockets...
        reason = str(getattr(exc, "reason", "") or exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None, _info("missing", None, None,
                           f"nanoGPT model.py not available (download failed: {reason}); "
                           f"nanoGPT snippets left out, pass --nanogpt PATH to use a checkout")
    text, info = _checked(data, RAW_URL, "downloaded")
    if info["status"] == "pinned":
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_bytes(data)
            info["path"] = str(cached)
        except OSError:
            pass
    return text, info
