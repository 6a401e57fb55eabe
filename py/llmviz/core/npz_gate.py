"""The gate an npz passes before any of its arrays is inflated or allocated.

An npz is a zip of ``NAME.npy`` files. A hostile one is small on disk and huge
inside: a member of 1 GiB of deflated zeros (1 MB in the file), or a ``.npy``
header declaring a dtype of a megabyte per element. ``check`` therefore reads
only what the zip and the headers *declare*, and refuses before anything is
inflated beyond a header:

1. the zip's end record and central directory: how many members, how big the
   directory (bounded before ``zipfile`` parses it), stored or deflated only;
2. the member names: exactly ``<param>.npy`` for the parameters the config implies
   (``expected``; the ``optional`` ones may be absent), each once;
3. the declared uncompressed sizes, each member's and their sum (``max_bytes``);
4. each ``.npy`` header, from the member's first bytes (at most ``MAX_HEADER``
   inflated): float16/32/64, little-endian or native, never structured, void or
   object; the shape's element count x itemsize must be what the zip declares, and
   the shape must be the expected one.

``CheckedNpz.read`` then inflates each member's data, exactly the declared bytes.
Every refusal is a ``WeightsError`` naming the member. Pure Python (zipfile, struct,
ast): the page and ``llmviz.load`` share it, and numpy only sees checked bytes.
"""
from __future__ import annotations

import ast
import io
import math
import struct
import sys
import zipfile
from typing import Iterable, Iterator, Mapping, NamedTuple

from llmviz.core.limits import MAX_ARRAY_BYTES, WeightsError
from llmviz.core.safe_json import size_text

NPY_MAGIC = b"\x93NUMPY"
MAX_HEADER = 10_000                  # numpy's own bound on a .npy header it will parse
FLOAT_ITEMSIZE = {"f2": 2, "f4": 4, "f8": 8}
_BYTE_ORDERS = ("<", "=") if sys.byteorder == "little" else ("<",)

_END_RECORD = b"PK\x05\x06"
_END_FORMAT = "<4s4H2LH"              # signature, disks, entries here, entries, size, offset, comment
_END_SIZE = struct.calcsize(_END_FORMAT)
_DIR_ENTRY_BUDGET = 1024             # bytes of central directory allowed per member (46 + name + extras)
_ENCRYPTED = 0x1


class Member(NamedTuple):
    """One checked ``.npy`` member: the array's name, shape and dtype, and where its data starts."""
    name: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    descr: str               # e.g. "<f4"
    fortran_order: bool
    data_offset: int         # bytes of magic + header before the data

    @property
    def nbytes(self) -> int:
        return self.info.file_size - self.data_offset


class CheckedNpz:
    """An npz that passed ``check``: ``members`` by name; ``read`` yields each one's data."""

    def __init__(self, zf: zipfile.ZipFile, members: dict[str, Member]):
        self._zf, self.members = zf, members

    def read(self) -> Iterator[tuple[Member, bytes]]:
        """(member, its data bytes), one member at a time; exactly the declared bytes are inflated."""
        with self._zf:
            for member in self.members.values():
                try:
                    with self._zf.open(member.info) as f:
                        f.read(member.data_offset)
                        data = f.read(member.nbytes)   # the last bytes: zipfile checks the CRC here
                except Exception as e:  # noqa: BLE001 - a damaged member is the file's problem
                    raise WeightsError(f"the weights file's array {member.name!r} is damaged "
                                       f"({type(e).__name__}: {str(e)[:120]})") from None
                if len(data) != member.nbytes:
                    raise WeightsError(f"the weights file's array {member.name!r} is cut short")
                yield member, data


def check(npz_bytes: bytes, expected: Mapping[str, tuple[int, ...]], optional: Iterable[str] = (),
          max_bytes: int = MAX_ARRAY_BYTES) -> CheckedNpz:
    """Check an npz against the parameter shapes ``expected`` (by name), reading no array data.

    ``optional`` names may be missing (a tied lm_head.weight). WeightsError on any misfit.
    """
    optional = frozenset(optional)
    max_files = 2 * len(expected) + 16   # room to name the unexpected ones, never a huge directory
    _check_end_record(npz_bytes, max_files)
    try:
        zf = zipfile.ZipFile(io.BytesIO(npz_bytes))
    except Exception as e:  # noqa: BLE001 - zipfile raises many kinds for a file that is not a zip
        raise WeightsError(f"the weights file is not an .npz archive ({type(e).__name__}: "
                           f"{str(e)[:120]})") from None
    try:
        infos = _check_names(zf.infolist(), expected, max_files)
        _check_sizes(infos, expected, max_bytes)
        members = {name: _check_header(zf, info, name, expected[name]) for name, info in infos.items()}
        missing = [name for name in expected if name not in members and name not in optional]
        if missing:   # after the members that are there: a dangerous one is named first
            raise WeightsError(f"missing key {missing[0]!r}: the weights file has no {missing[0]}.npy")
    except BaseException:
        zf.close()
        raise
    return CheckedNpz(zf, members)


def _check_end_record(data: bytes, max_files: int) -> None:
    """The zip's end record: the member count and directory size, before zipfile reads the directory."""
    at = data.rfind(_END_RECORD, max(0, len(data) - _END_SIZE - 0xFFFF))
    if at < 0 or len(data) - at < _END_SIZE:
        raise WeightsError("the weights file is not an .npz archive (no zip directory at its end)")
    _, _, _, _, entries, dir_size, dir_offset, _ = struct.unpack_from(_END_FORMAT, data, at)
    if entries == 0xFFFF or dir_size == 0xFFFFFFFF or dir_offset == 0xFFFFFFFF:
        raise WeightsError("the weights file uses ZIP64 records, which an npz within the limits never needs")
    if entries > max_files:
        raise WeightsError(f"the weights file holds {entries:,} files; an npz of this model holds at most "
                           f"{max_files // 2 - 8}")
    if dir_size > max_files * _DIR_ENTRY_BUDGET:
        raise WeightsError(f"the weights file's zip directory is {size_text(dir_size)}, far more than "
                           f"{max_files // 2 - 8} arrays need")


def _check_names(infos: list[zipfile.ZipInfo], expected: Mapping, max_files: int) -> dict[str, zipfile.ZipInfo]:
    """The members by array name: only expected names, each once, stored or deflated."""
    if len(infos) > max_files:
        raise WeightsError(f"the weights file holds {len(infos):,} files; an npz of this model holds at most "
                           f"{max_files // 2 - 8}")
    found: dict[str, zipfile.ZipInfo] = {}
    unexpected = []
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if name not in expected:
            unexpected.append(info.filename)
            continue
        if name in found:
            raise WeightsError(f"the weights file holds the array {name!r} twice")
        found[name] = info
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise WeightsError(f"unexpected file {sorted(unexpected)[0][:120]!r} in the weights file{more}: "
                           f"an npz for this model holds only <parameter>.npy arrays")
    for name, info in found.items():
        if info.flag_bits & _ENCRYPTED:
            raise WeightsError(f"the weights file's array {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise WeightsError(f"the weights file's array {name!r} is compressed with method "
                               f"{info.compress_type}; an npz is stored or deflated")
    return found


def _check_sizes(infos: Mapping[str, zipfile.ZipInfo], expected: Mapping, max_bytes: int) -> None:
    """Declared uncompressed sizes, before anything is inflated."""
    total = sum(info.file_size for info in infos.values())
    if total > max_bytes:
        raise WeightsError(f"the weights file declares {size_text(total)} of arrays; "
                           f"llmviz loads at most {size_text(max_bytes)}")
    for name, info in infos.items():
        most = MAX_HEADER + 16 + math.prod(expected[name]) * max(FLOAT_ITEMSIZE.values())
        if info.file_size > most:
            raise WeightsError(f"the weights file's array {name!r} is {size_text(info.file_size)}; a "
                               f"{expected[name]} array of floats is at most {size_text(most)}")


def _check_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
                  want: tuple[int, ...]) -> Member:
    """Parse one member's .npy header from its first bytes; check dtype, size and shape."""
    try:
        with zf.open(info) as f:
            start = f.read(len(NPY_MAGIC) + 2)
            if start[:len(NPY_MAGIC)] != NPY_MAGIC or len(start) < len(NPY_MAGIC) + 2:
                raise ValueError("it does not start like a .npy file")
            version = start[len(NPY_MAGIC)]
            if version not in (1, 2, 3):
                raise ValueError(f".npy format version {version} is unknown")
            length_format = "<H" if version == 1 else "<I"
            raw = f.read(struct.calcsize(length_format))
            (length,) = struct.unpack(length_format, raw)
            if length > MAX_HEADER:
                raise ValueError(f"its header is {length:,} bytes")
            text = f.read(length)
            if len(text) != length:
                raise ValueError("its header is cut short")
        header = ast.literal_eval(text.decode("utf-8" if version == 3 else "latin1"))
    except Exception as e:  # noqa: BLE001 - a broken header is the file's problem
        raise WeightsError(f"the weights file's array {name!r} is unreadable "
                           f"({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise WeightsError(f"the weights file's array {name!r} has a malformed .npy header")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise WeightsError(f"key {name!r} has a structured dtype; expected float16, float32 or float64")
    if descr[:1] not in _BYTE_ORDERS or descr[1:] not in FLOAT_ITEMSIZE:
        raise WeightsError(f"key {name!r} has dtype {descr[:40]!r}; expected float16, float32 or float64 "
                           f"(little-endian)")
    if (not isinstance(shape, tuple) or not isinstance(fortran, bool)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)):
        raise WeightsError(f"the weights file's array {name!r} has a malformed .npy header")
    offset = len(NPY_MAGIC) + 2 + len(raw) + length
    declared = math.prod(shape) * FLOAT_ITEMSIZE[descr[1:]]
    if offset + declared != info.file_size:
        raise WeightsError(f"the weights file's array {name!r} declares shape {shape} of {descr} "
                           f"({size_text(declared)}) but holds {size_text(max(0, info.file_size - offset))}")
    if shape != tuple(want):
        raise WeightsError(f"key {name!r} has shape {shape}, expected {tuple(want)}")
    return Member(name, info, shape, descr, fortran, offset)
