"""Reading photos: RGB uint8 (H, W, 3), EXIF orientation applied, size refused from the header.

Decoding is OpenCV's ``imdecode(IMREAD_COLOR)`` (as ultralytics reads photos), so grayscale,
RGBA (alpha dropped), 16-bit (high byte kept) and CMYK JPEGs all arrive as RGB uint8. The pixel
count is read from the file header first, so a huge (or lying) header is refused before any
pixel is decoded.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from finishscan.errors import ImageError

DEFAULT_MAX_PIXELS = 150_000_000  # a 200 MP phone photo is refused, a 108 MP one is read

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # markers without a length field


def image_header(data: bytes) -> tuple[str, int, int]:
    """``(format, width, height)`` from the first bytes of an image file, decoding no pixels.

    Raises ImageError for an empty file, an unknown format or a header cut short.

    >>> image_header(b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0\\0\\0\\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big"))
    ('png', 640, 480)
    """
    if not data:
        raise ImageError("the file is empty (0 bytes)")
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            w, h = struct.unpack(">II", data[16:24])
            return "png", w, h
        if data.startswith(b"\xff\xd8"):
            w, h, _, _ = jpeg_header(data)
            return "jpeg", w, h
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return ("webp", *_webp_size(data))
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return "bmp", abs(w), abs(h)
        if data[:4] in (b"II*\0", b"MM\0*"):
            return ("tiff", *_tiff_size(data))
    except (struct.error, IndexError) as e:
        raise ImageError("the image header is truncated or corrupt") from e
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        raise ImageError("HEIC/AVIF photos are not supported; export the photo as JPEG or PNG")
    raise ImageError("not a supported image (JPEG, PNG, WebP, BMP or TIFF expected)")


class JpegHeader(NamedTuple):
    """What a JPEG says before its pixels: stored size, EXIF orientation, where the scan starts."""

    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1-8 (1: as stored); 5-8 swap width and height
    scan: int  # offset of the first SOS marker, -1 when ``data`` ends before it

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as ``cv2.imdecode`` returns the image (orientation applied)."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def jpeg_header(data: bytes) -> JpegHeader:
    """Parse the JPEG segments before the first scan (``data`` starts with FF D8).

    As OpenCV does, the size is the first frame header's and the orientation the first
    ``Exif`` APP1's (a later XMP APP1 or second EXIF block does not override it). Raises
    ImageError when ``data`` ends or breaks before a frame header.
    """
    i, size, orientation, n = 2, None, None, len(data)
    try:
        while i + 4 <= n:
            if data[i] != 0xFF:
                raise ImageError("the JPEG file is corrupt (bad marker)")
            marker = data[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker in _STANDALONE:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if marker in _SOF and size is None:
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                size = (w, h)
            elif marker == 0xE1 and orientation is None and data[i + 4 : i + 10] == b"Exif\0\0":
                orientation = _exif_orientation(data[i + 10 : i + 2 + length])
            elif marker == 0xDA:  # start of scan: pixels follow
                if size is None:
                    break
                return JpegHeader(size[0], size[1], orientation or 1, i)
            i += 2 + length
    except struct.error as e:
        raise ImageError("the JPEG header is truncated or corrupt") from e
    if size is None:
        raise ImageError("the JPEG file is truncated or corrupt (no frame header)")
    return JpegHeader(size[0], size[1], orientation or 1, -1)


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (1-8) of the first IFD of an EXIF TIFF block; 1 when absent or bad."""
    try:
        endian = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(endian + "I", tiff[4:8])
        (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
        for k in range(count):
            entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
            tag, _type, _n = struct.unpack(endian + "HHI", entry[:8])
            if tag == 0x0112:
                (value,) = struct.unpack(endian + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        return 1
    return 1


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":
        b = data[21:25]
        bits = int.from_bytes(b, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    raise ImageError("the WebP file is corrupt (unknown chunk)")


def _tiff_size(data: bytes) -> tuple[int, int]:
    e = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(e + "I", data[4:8])
    (count,) = struct.unpack(e + "H", data[offset : offset + 2])
    found: dict[int, int] = {}
    for k in range(count):
        tag, typ, _, value = struct.unpack(
            e + "HHI4s", data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        )
        if tag in (256, 257):
            fmt = e + ("H" if typ == 3 else "I")
            found[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
    if 256 not in found or 257 not in found:
        raise ImageError("the TIFF file has no image size")
    return found[256], found[257]


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode photo bytes to RGB uint8 (H, W, 3) as the user sees it (EXIF orientation applied).

    Raises ImageError; ``too_large=True`` when the header claims more than ``max_pixels``.

    >>> decode_image(cv2.imencode(".png", np.zeros((2, 3, 3), np.uint8))[1].tobytes()).shape
    (2, 3, 3)
    """
    fmt, w, h = image_header(data)
    if w <= 0 or h <= 0:
        raise ImageError(f"the {fmt.upper()} header claims an empty image ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(
            f"the image is {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of {max_pixels / 1e6:.0f} MP",
            too_large=True,
        )
    if fmt == "jpeg" and data.rfind(b"\xff\xd9") < jpeg_header(data).scan:
        raise ImageError("the JPEG file is truncated (no end-of-image marker)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageError(f"the {fmt.upper()} file is corrupt or truncated and cannot be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a photo file to RGB uint8 (H, W, 3); see :func:`decode_image`.

    >>> load_image("missing.jpg")
    Traceback (most recent call last):
    finishscan.errors.ImageError: photo not found: missing.jpg
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as e:
        raise ImageError(f"photo not found: {path}") from e
    except IsADirectoryError as e:
        raise ImageError(f"not a file but a directory: {path}") from e
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror}") from e
    return decode_image(data, max_pixels=max_pixels)
