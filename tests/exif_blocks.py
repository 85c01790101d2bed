"""Hand-built EXIF for tests (``from ..exif_blocks import exif_tiff, with_exif``): a TIFF block
whose IFD0 points to an Exif IFD with the given ASCII tags, put into a JPEG or PNG."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np

DATE_TIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011


def exif_tiff(tags: dict[int, bytes], *, endian: str = "<", pointer_type: int = 4) -> bytes:
    """A TIFF block: header, IFD0 with one entry (the Exif IFD pointer, of ``pointer_type``)
    at 8, the Exif IFD at 26 with ``tags`` (ASCII, NUL included by the caller; values over 4
    bytes after the IFD), each IFD ending with a zero next-IFD offset."""
    e = endian
    head = (b"II" if e == "<" else b"MM") + struct.pack(e + "HI", 42, 8)
    ifd0 = struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x8769, pointer_type, 1, 26)
    ifd0 += struct.pack(e + "I", 0)
    data_at = 26 + 2 + 12 * len(tags) + 4
    entries, values = b"", b""
    for tag, value in sorted(tags.items()):
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(e + "I", data_at + len(values))
            values += value
        entries += struct.pack(e + "HHI", tag, 2, len(value)) + field
    exif = struct.pack(e + "H", len(tags)) + entries + struct.pack(e + "I", 0)
    return head + ifd0 + exif + values


def with_exif(image: bytes, tiff: bytes) -> bytes:
    """``image`` (JPEG or PNG bytes) with ``tiff`` as its EXIF: a JPEG ``Exif`` APP1 right
    after SOI, a PNG ``eXIf`` chunk right after IHDR. The pixels are unchanged."""
    if image[:2] == b"\xff\xd8":
        body = b"Exif\0\0" + tiff
        return image[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + image[2:]
    assert image[:8] == b"\x89PNG\r\n\x1a\n" and image[12:16] == b"IHDR"
    chunk = struct.pack(">I", len(tiff)) + b"eXIf" + tiff
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + tiff))
    return image[:33] + chunk + image[33:]


def seeded_image(fmt: str) -> bytes:
    """A seeded 32x24 noise image encoded as ``fmt`` (".jpg", ".png", ".webp", ...), no EXIF."""
    img = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(fmt, img)
    assert ok
    return buf.tobytes()
