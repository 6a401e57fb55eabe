"""A static host for ``python -m llmviz bench --page``: a folder served as a typical static
host serves it, and every response counted.

- text-like files (HTML, JS, CSS, JSON, wasm, .bin, ...) go gzip-compressed (level 6, as
  nginx or Apache's mod_deflate are usually set up) when the browser accepts gzip; files that
  are compressed already (.whl, .zip, .npz, images, fonts) go as they are;
- every response has an ETag and ``Cache-Control: no-cache``, so the browser revalidates each
  file and a file it has gets ``304 Not Modified`` with no body;
- ``take()`` returns what was sent since the last call: one ``Sent(path, status, raw, wire)``
  a response, ``raw`` the file's size when a body went out (0 for a 304), ``wire`` the bytes
  of the body on the wire (gzip-compressed or not).

Compressed bodies are made once a file (at the first request, or all at once with
``warm_up()``), so compressing never shows up in a load time.
"""
from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import http.server
import mimetypes
import os
import threading
from pathlib import Path
from urllib.parse import unquote
from typing import NamedTuple

__all__ = ["Sent", "StaticHost", "COMPRESSED"]

COMPRESSED = (".whl", ".zip", ".npz", ".gz", ".br", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".woff", ".woff2")
GZIP_LEVEL = 6
TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
         ".json": "application/json", ".webmanifest": "application/manifest+json", ".whl": "application/zip",
         ".npz": "application/octet-stream", ".bin": "application/octet-stream", ".svg": "image/svg+xml",
         ".py": "text/plain; charset=utf-8", ".toml": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".css": "text/css"}


class Sent(NamedTuple):
    path: str
    status: int
    raw: int       # the file's size when its body was sent, else 0
    wire: int      # the body's bytes on the wire (compressed or not), 0 for a 304


class _Body(NamedTuple):
    raw: bytes
    gz: bytes | None
    etag: str
    mtime: float


class StaticHost:
    """Serves ``root`` on 127.0.0.1 (a free port) in a thread until ``close()``."""

    def __init__(self, root: Path, port: int = 0):
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._sent: list[Sent] = []
        self._bodies: dict[Path, _Body] = {}
        handler = functools.partial(_Handler, host=self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def warm_up(self) -> None:
        """Read and compress every file now, so no request waits for it."""
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                self.body(path)

    def body(self, path: Path) -> _Body:
        st = path.stat()
        with self._lock:
            cached = self._bodies.get(path)
        if cached is not None and cached.mtime == st.st_mtime and len(cached.raw) == st.st_size:
            return cached
        raw = path.read_bytes()
        gz = None if path.suffix.lower() in COMPRESSED else gzip.compress(raw, GZIP_LEVEL, mtime=0)
        body = _Body(raw, gz, '"' + hashlib.sha256(raw).hexdigest()[:20] + '"', st.st_mtime)
        with self._lock:
            self._bodies[path] = body
        return body

    def record(self, sent: Sent) -> None:
        with self._lock:
            self._sent.append(sent)

    def take(self) -> list[Sent]:
        """The responses since the last call (and forget them)."""
        with self._lock:
            out, self._sent = self._sent, []
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as nginx (tcp_nodelay on) and other static hosts set it on kept-alive
    # connections: without, a response's body waits behind its headers for the browser's
    # delayed ACK (up to 40 ms per request)
    disable_nagle_algorithm = True

    def __init__(self, *args, host: StaticHost, **kwargs):
        self.host = host
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _file(self) -> Path | None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        rel = os.path.normpath(unquote(path)).lstrip("/")
        target = (self.host.root / rel).resolve()
        if target != self.host.root and self.host.root not in target.parents:
            return None
        if target.is_dir():
            target = target / "index.html"
        return target if target.is_file() else None

    def do_HEAD(self):  # noqa: N802 - the base class's name
        self._respond(head=True)

    def do_GET(self):  # noqa: N802 - the base class's name
        self._respond(head=False)

    def _respond(self, head: bool) -> None:
        path = self._file()
        if path is None:
            data = b"not found"
            self.host.record(Sent(self.path, 404, 0, 0 if head else len(data)))
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head:
                self.wfile.write(data)
            return
        body = self.host.body(path)
        common = [("ETag", body.etag), ("Cache-Control", "no-cache"), ("Vary", "Accept-Encoding"),
                  ("Last-Modified", email.utils.formatdate(body.mtime, usegmt=True))]
        if body.etag in (self.headers.get("If-None-Match") or ""):
            self.host.record(Sent(self.path, 304, 0, 0))   # before answering: a caller counts at once
            self.send_response(304)
            for key, value in common:
                self.send_header(key, value)
            self.end_headers()
            return
        gz = body.gz is not None and "gzip" in (self.headers.get("Accept-Encoding") or "")
        data = body.gz if gz else body.raw
        self.host.record(Sent(self.path, 200, 0 if head else len(body.raw), 0 if head else len(data)))
        self.send_response(200)
        kind = TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self.send_header("Content-Type", kind)
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        for key, value in common:
            self.send_header(key, value)
        self.end_headers()
        if not head:
            try:
                self.wfile.write(data)
            except ConnectionError:
                return
