"""What a Chromium crash dump says about the crash, in one line.

Chromium (crashpad) writes a minidump for every process that dies, also under Playwright, into
``~/.config/chromium/Crash Reports/`` (``DUMP_DIRS``). Its log often has no word of the reason;
the dump has the signal, the faulting address and the registers of the thread that died. Read
that way, the renderer crashes of the CI storms (fixed by build.py's ``without_stack_switching``)
all showed the same picture: SIGSEGV, access denied just above the stack pointer, the stack
pointer far from the thread's stack (a switched wasm stack).

    summary(path)          "renderer SIGSEGV (access denied) at 0x1203... pc 0x563d... sp 0x1203...
                            (fault sp+0x2700); wasm $wasm-function#3792"
    dumps_since(t)         the dumps written since time t (seconds since the epoch), oldest first

The minidump format: a header, a directory of streams; the exception stream holds the signal
(``code``), ``si_code`` (``flags``), the faulting address and the crashing thread's register
context (x86-64: rsp at 0x98, rip at 0xF8).
"""
from __future__ import annotations

import re
import struct
from pathlib import Path

DUMP_DIRS = (Path.home() / ".config" / "chromium" / "Crash Reports",)
EXCEPTION_STREAM, SYSTEM_INFO_STREAM = 6, 7
AMD64 = 9
SIGNALS = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}
SEGV_CODES = {1: "address not mapped", 2: "access denied"}


def _streams(data: bytes) -> dict[int, bytes]:
    if data[:4] != b"MDMP":
        raise ValueError("not a minidump")
    count, directory = struct.unpack_from("<II", data, 8)
    out = {}
    for k in range(count):
        kind, size, offset = struct.unpack_from("<III", data, directory + 12 * k)
        out[kind] = data[offset:offset + size]
    return out


def read(path: Path) -> dict:
    """The crash's facts: process, signal, si_code, fault, pc and sp (None when unknown), the
    wasm functions named in its crash keys."""
    data = Path(path).read_bytes()
    streams = _streams(data)
    exc = streams[EXCEPTION_STREAM]
    _thread, _, code, flags, _, fault = struct.unpack_from("<IIIIQQ", exc, 0)
    ctx_size, ctx_offset = struct.unpack_from("<II", exc, 8 + 24 + 8 + 15 * 8)
    arch = struct.unpack_from("<H", streams.get(SYSTEM_INFO_STREAM, b"\0\0"), 0)[0]
    pc = sp = None
    if arch == AMD64 and ctx_size >= 0x100:
        sp, pc = (struct.unpack_from("<Q", data, ctx_offset + at)[0] for at in (0x98, 0xF8))
    # the "ptype" crash key: a length-prefixed string after its name
    kind = re.search(rb"ptype\0*(.{4})", data, re.S)
    size = struct.unpack("<I", kind.group(1))[0] if kind else 0
    process = data[kind.end():kind.end() + size].decode(errors="replace") if 0 < size < 40 else "?"
    return {"process": process, "signal": code, "si_code": flags,
            "fault": fault, "pc": pc, "sp": sp,
            "wasm": sorted({m.decode() for m in re.findall(rb"\$wasm-function#\d+", data)})}


def summary(path: Path) -> str:
    try:
        d = read(path)
    except (OSError, ValueError, KeyError, struct.error) as e:
        return f"{Path(path).name}: unreadable ({e})"
    name = SIGNALS.get(d["signal"], f"signal {d['signal']}")
    why = f" ({SEGV_CODES[d['si_code']]})" if d["signal"] == 11 and d["si_code"] in SEGV_CODES else ""
    line = f"{d['process']} {name}{why} at {d['fault']:#x}"
    if d["pc"] is not None:
        line += f" pc {d['pc']:#x} sp {d['sp']:#x} (fault sp{d['fault'] - d['sp']:+#x})"
    if d["wasm"]:
        line += "; wasm " + ", ".join(d["wasm"])
    return line


def dumps_since(t: float, dirs: tuple[Path, ...] = DUMP_DIRS) -> list[Path]:
    found = [p for folder in dirs if folder.is_dir() for p in folder.rglob("*.dmp")
             if p.stat().st_mtime >= t]
    return sorted(found, key=lambda p: p.stat().st_mtime)
