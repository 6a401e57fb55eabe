"""Hostile model files, made in memory: shared by tests/test_hostile_core.py (CPython) and
tests/browser/test_hostile_page.py (the page).

Zips are written by hand (``zip_of``) so a member can hold 1 GiB of deflated zeros in about
1 MB (``deflated_zeros`` repeats one fully flushed deflate block) or declare sizes it does
not hold; ``npy_header`` writes the start of a ``.npy`` member with any dtype and shape.
"""
from __future__ import annotations

import functools
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SORT = ROOT / "weights" / "sort.npz"
GIB = 2**30
DEEP = "[" * 100_000 + "]" * 100_000   # 200 KB of nesting: json.loads overflows the stack on it


def zip_of(entries: list[tuple]) -> bytes:
    """A zip of (name, method, crc, payload, size[, declared size]) entries, written by hand.

    ``payload`` is the member's bytes as stored (already deflated for ZIP_DEFLATED); the
    optional declared size is what the central directory claims instead of ``size``.
    """
    out, directory = io.BytesIO(), io.BytesIO()
    for name, method, crc, payload, size, *declared in entries:
        raw = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), size,
                              len(raw), 0) + raw + payload)
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(payload),
                                    declared[0] if declared else size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
    start, cd = out.tell(), directory.getvalue()
    count = len(entries)
    out.write(cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(cd), start, 0))
    return out.getvalue()


def stored(name: str, data: bytes) -> tuple:
    """A zip entry holding ``data`` as it is (ZIP_STORED)."""
    return (name, zipfile.ZIP_STORED, zlib.crc32(data), data, len(data))


@functools.lru_cache(maxsize=4)
def deflated_zeros(prefix: bytes, n_zeros: int) -> tuple[bytes, int]:
    """(raw deflate stream, crc32) of ``prefix`` + ``n_zeros`` zero bytes, in well under a second.

    After a full flush deflate starts afresh, so every 16 MiB block of zeros compresses to
    the same bytes: compress one, repeat it.
    """
    chunk = 16 * 2**20
    assert n_zeros % chunk == 0
    zeros = bytes(chunk)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH) == block
    n_blocks = n_zeros // chunk
    stream = head + block * (n_blocks - 1) + c.compress(zeros) + c.flush()
    crc = zlib.crc32(prefix)
    for _ in range(n_blocks):
        crc = zlib.crc32(zeros, crc)
    return stream, crc


def deflated(name: str, prefix: bytes, n_zeros: int) -> tuple:
    """A zip entry of ``prefix`` + ``n_zeros`` zero bytes, deflated."""
    stream, crc = deflated_zeros(prefix, n_zeros)
    return (name, zipfile.ZIP_DEFLATED, crc, stream, len(prefix) + n_zeros)


def npy_header(descr, shape) -> bytes:
    """The start of a .npy file (magic, version 1.0, the header dict), numpy's layout."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)}).encode("latin1")
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def sort_members(drop: str | None = None) -> list[tuple]:
    """The shipped sort model's members, stored, optionally without one."""
    with zipfile.ZipFile(SORT) as zf:
        return [stored(info.filename, zf.read(info)) for info in zf.infolist() if info.filename != drop]


def sort_card() -> dict:
    return json.loads(SORT.with_suffix(".json").read_text())


def with_gib_of_zeros() -> bytes:
    """F4: the sort model plus an extra member (no .npy suffix) of 1 GiB of deflated zeros (~1 MB)."""
    return zip_of(sort_members() + [deflated("junk", b"", GIB)])


def with_void_member(member: str = "v.npy") -> bytes:
    """F4: the sort model with a member whose header declares 1024 elements of ``|V1048576``
    (1 MiB each), holding 1 GiB of deflated zeros."""
    return zip_of(sort_members(drop=member) + [deflated(member, npy_header("|V1048576", (1024,)), GIB)])
