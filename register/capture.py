"""When a photo was taken, from its own EXIF: ``DateTimeOriginal`` (with ``OffsetTimeOriginal``
when the camera wrote one, else read as UTC, like a manifest's ``taken_at`` without an offset).

Pure and header-only: the EXIF block of a JPEG (``Exif`` APP1 before the scan), PNG (``eXIf``),
WebP (``EXIF`` chunk) or TIFF file; no pixels are decoded. None when there is no readable one.

    >>> exif_taken_at(b"\\x89PNG\\r\\n\\x1a\\n") is None
    True
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["exif_taken_at"]

_EXIF_IFD = 0x8769  # IFD0's pointer to the Exif IFD
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ASCII = 2
_OFFSET_TYPES = (4, 13)  # LONG, or IFD as some writers type the Exif IFD pointer


def exif_taken_at(data: bytes) -> datetime | None:
    """The capture time in ``data``'s EXIF as an aware datetime, else None (no EXIF, no
    ``DateTimeOriginal``, a blank or impossible one such as ``0000:00:00 00:00:00``)."""
    try:
        tiff = _exif_block(data)
        return _date_time_original(tiff) if tiff else None
    except (struct.error, IndexError, ValueError):
        return None


def _exif_block(data: bytes) -> bytes | None:
    """The EXIF TIFF block (starting ``II*\\0`` or ``MM\\0*``) of a JPEG, PNG, WebP or TIFF."""
    if data[:2] == b"\xff\xd8":  # the marker segments before the scan (SOS) or the end (EOI)
        i = 2
        while i + 10 <= len(data) and data[i] == 0xFF and data[i + 1] not in (0xDA, 0xD9):
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if data[i + 1] == 0xE1 and data[i + 4 : i + 10] == b"Exif\0\0":
                return data[i + 10 : i + 2 + length]
            i += 2 + length
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        i = 8
        while i + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[i : i + 8])
            if kind == b"eXIf":
                return data[i + 8 : i + 8 + length]
            if kind == b"IEND":
                return None
            i += 12 + length
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        i = 12
        while i + 8 <= len(data):
            kind, length = struct.unpack("<4sI", data[i : i + 8])
            if kind == b"EXIF":
                body = data[i + 8 : i + 8 + length]
                return body[6:] if body[:6] == b"Exif\0\0" else body
            i += 8 + length + (length & 1)
        return None
    if data[:4] in (b"II*\0", b"MM\0*"):
        return data
    return None


def _entries(tiff: bytes, e: str, offset: int) -> dict[int, tuple[int, int, int]]:
    """An IFD's entries: tag -> (type, count, offset of the 4-byte value field)."""
    (count,) = struct.unpack_from(e + "H", tiff, offset)
    out: dict[int, tuple[int, int, int]] = {}
    for k in range(count):
        at = offset + 2 + 12 * k
        tag, kind, n = struct.unpack_from(e + "HHI", tiff, at)
        out.setdefault(tag, (kind, n, at + 8))
    return out


def _ascii(tiff: bytes, e: str, entry: tuple[int, int, int] | None) -> str | None:
    if entry is None or entry[0] != _ASCII:
        return None
    _, n, at = entry
    start = at if n <= 4 else struct.unpack_from(e + "I", tiff, at)[0]
    if start + n > len(tiff):
        return None
    return tiff[start : start + n].split(b"\0", 1)[0].decode("ascii").strip() or None


def _date_time_original(tiff: bytes) -> datetime | None:
    if tiff[:2] not in (b"II", b"MM"):
        return None
    e = "<" if tiff[:2] == b"II" else ">"
    if struct.unpack_from(e + "H", tiff, 2)[0] != 42:
        return None
    ifd0 = _entries(tiff, e, struct.unpack_from(e + "I", tiff, 4)[0])
    pointer = ifd0.get(_EXIF_IFD)
    if pointer is None or pointer[0] not in _OFFSET_TYPES:
        return None
    exif = _entries(tiff, e, struct.unpack_from(e + "I", tiff, pointer[2])[0])
    text = _ascii(tiff, e, exif.get(_DATE_TIME_ORIGINAL))
    if text is None:
        return None
    taken = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")  # ValueError: not a date
    return taken.replace(tzinfo=_zone(_ascii(tiff, e, exif.get(_OFFSET_TIME_ORIGINAL))))


def _zone(offset: str | None) -> timezone:
    """``"+09:00"`` / ``"-05:30"`` as a zone; UTC when absent or unreadable."""
    if offset is None or len(offset) != 6 or offset[0] not in "+-" or offset[3] != ":":
        return UTC
    try:
        minutes = int(offset[1:3]) * 60 + int(offset[4:6])
    except ValueError:
        return UTC
    if minutes >= 24 * 60:
        return UTC
    return timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))
