"""Reading photos: RGB uint8 (H, W, 3), EXIF orientation applied, size refused from the header.

Decoding is OpenCV's ``imdecode(IMREAD_COLOR)`` (as ultralytics reads photos), so grayscale,
RGBA (alpha dropped), 16-bit (high byte kept) and CMYK JPEGs all arrive as RGB uint8. The pixel
count is read from the file header first, so a huge (or lying) header is refused before any
pixel is decoded. :func:`read_header` also reads the orientation OpenCV applies (EXIF in JPEG,
PNG ``eXIf`` and WebP ``EXIF``; the TIFF Orientation tag), so its ``size`` is the decoded size,
and, in the same walk over the file's segments or chunks, the EXIF capture time (``taken_at``).
"""

from __future__ import annotations

import functools
import mmap
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple, TypeAlias

import cv2
import numpy as np

from finishscan.errors import ImageError

DEFAULT_MAX_PIXELS = 150_000_000  # a 200 MP phone photo is refused, a 108 MP one is read

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # markers without a length field

# the file's bytes; a read-only mmap lets a header be read from a file without reading the pixels
ImageBytes: TypeAlias = bytes | mmap.mmap


class ImageHeader(NamedTuple):
    """What an image file says before its pixels: format, stored size, applied orientation and
    when the photo was taken."""

    format: str  # "jpeg", "png", "webp", "bmp" or "tiff"
    width: int  # as stored, before orientation
    height: int
    orientation: int  # 1-8 as OpenCV applies it (1: as stored); 5-8 swap width and height
    # EXIF DateTimeOriginal with OffsetTimeOriginal (else UTC), timezone-aware; None: not readable
    taken_at: datetime | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as :func:`decode_image` returns the image (orientation applied)."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def read_header(data: ImageBytes) -> ImageHeader:
    """Format, stored size, orientation and capture time from an image file's bytes, decoding
    no pixels.

    ``read_header(data).size`` is the ``(width, height)`` that ``cv2.imdecode(IMREAD_COLOR)``
    (and so :func:`decode_image`) produces: the orientation is read where OpenCV 5 reads it and
    as leniently (EXIF in JPEG APP1, PNG ``eXIf``, WebP ``EXIF`` chunks; the TIFF Orientation
    tag; none in BMP). ``taken_at`` is the first EXIF block's ``DateTimeOriginal`` with its
    ``OffsetTimeOriginal`` (UTC without one); None without EXIF, in BMP, or when the date is
    blank, impossible or cut. Raises ImageError for an empty file, an unknown format or a header
    cut short; a garbled EXIF block never raises, it only gives no date.

    >>> png = b"\\x89PNG\\r\\n\\x1a\\n\\0\\0\\0\\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big")
    >>> read_header(png)
    ImageHeader(format='png', width=640, height=480, orientation=1, taken_at=None)
    """
    if not len(data):
        raise ImageError("the file is empty (0 bytes)")
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            w, h = struct.unpack(">II", data[16:24])
            orientation, exif = _png_exif(data)
            return ImageHeader("png", w, h, orientation, _exif_taken_at(exif))
        if data[:2] == b"\xff\xd8":
            (w, h, orientation, _), exif = _jpeg_segments(data)
            return ImageHeader("jpeg", w, h, orientation, _exif_taken_at(exif))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            w, h = _webp_size(data)
            orientation, exif = _webp_exif(data)
            return ImageHeader("webp", w, h, orientation, _exif_taken_at(exif))
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return ImageHeader("bmp", abs(w), abs(h), 1)
        if data[:4] in (b"II*\0", b"MM\0*"):
            return ImageHeader("tiff", *_tiff_header(data), _exif_taken_at(data))
    except (struct.error, IndexError) as e:
        raise ImageError("the image header is truncated or corrupt") from e
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        raise ImageError("HEIC/AVIF photos are not supported; export the photo as JPEG or PNG")
    raise ImageError("not a supported image (JPEG, PNG, WebP, BMP or TIFF expected)")


def image_header(data: ImageBytes) -> tuple[str, int, int]:
    """``(format, width, height)`` as stored (before orientation); see :func:`read_header`.

    >>> image_header(b"\\x89PNG\\r\\n\\x1a\\n" + b"\\0\\0\\0\\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big"))
    ('png', 640, 480)
    """
    header = read_header(data)
    return header.format, header.width, header.height


class JpegHeader(NamedTuple):
    """What a JPEG says before its pixels: stored size, EXIF orientation, where the scan starts.

    (:func:`read_header` gives the same size and orientation for every format.)
    """

    width: int  # as stored, before EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1-8 (1: as stored); 5-8 swap width and height
    scan: int  # offset of the first SOS marker, -1 when ``data`` ends before it

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` as ``cv2.imdecode`` returns the image (orientation applied)."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


def jpeg_header(data: ImageBytes) -> JpegHeader:
    """Parse the JPEG segments before the first scan (``data`` starts with FF D8).

    As OpenCV does, the size is the first frame header's and the orientation the first one
    read from the ``Exif`` APP1 blocks in file order (a later XMP APP1 or EXIF block does not
    override it; a block without a readable one is passed over). Raises ImageError when
    ``data`` ends or breaks before a frame header.
    """
    return _jpeg_segments(data)[0]


def _jpeg_segments(data: ImageBytes) -> tuple[JpegHeader, bytes | None]:
    """:func:`jpeg_header` and the first ``Exif`` APP1 block before the scan (its TIFF part,
    where the capture time is read), from one walk over the segments."""
    i, size, orientation, exif, n = 2, None, None, None, len(data)
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
            elif (
                marker == 0xE1
                and (orientation is None or exif is None)
                and data[i + 4 : i + 10] == b"Exif\0\0"
            ):
                block = data[i + 10 : i + 2 + length]
                exif = block if exif is None else exif
                if orientation is None:
                    orientation = _exif_orientation(block)
            elif marker == 0xDA:  # start of scan: pixels follow
                if size is None:
                    break
                return JpegHeader(size[0], size[1], _applied(orientation), i), exif
            i += 2 + length
    except struct.error as e:
        raise ImageError("the JPEG header is truncated or corrupt") from e
    if size is None:
        raise ImageError("the JPEG file is truncated or corrupt (no frame header)")
    return JpegHeader(size[0], size[1], _applied(orientation), -1), exif


def _applied(orientation: int | None) -> int:
    """The orientation OpenCV applies for a tag value: 1-8 as is, anything else (or none) as 1."""
    return orientation if orientation is not None and 1 <= orientation <= 8 else 1


_EXIF_IFD = 0x8769  # IFD0's pointer to the Exif IFD
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_ASCII = 2
_OFFSET_TYPES = (4, 13)  # LONG, or IFD as some writers type the Exif IFD pointer


def _exif_taken_at(tiff: ImageBytes | None) -> datetime | None:
    """The capture time in an EXIF TIFF block (``II*\\0`` or ``MM\\0*``...): the Exif IFD's
    ``DateTimeOriginal`` with its ``OffsetTimeOriginal`` (UTC without one or with an unreadable
    one), timezone-aware. None when there is no block, no ``DateTimeOriginal``, a blank or
    impossible one (``0000:00:00 00:00:00``), or the block is cut or garbled; never raises.

    >>> _exif_taken_at(b"II*\\0" + bytes(4)) is None
    True
    """
    if tiff is None:
        return None
    try:
        taken = _date_time_original(tiff)
        if taken is not None:
            taken.astimezone(UTC)  # 0001-01-01 at +09:00 is before datetime.min in UTC
        return taken
    except (struct.error, IndexError, ValueError, OverflowError):  # (UnicodeDecodeError too)
        return None


def _date_time_original(tiff: ImageBytes) -> datetime | None:
    if tiff[:2] not in (b"II", b"MM"):
        return None
    e = "<" if tiff[:2] == b"II" else ">"
    if struct.unpack_from(e + "H", tiff, 2)[0] != 42:
        return None
    (pointer,) = _ifd_entries(tiff, e, struct.unpack_from(e + "I", tiff, 4)[0], _EXIF_IFD)
    if pointer is None or pointer[0] not in _OFFSET_TYPES:
        return None
    exif = struct.unpack_from(e + "I", tiff, pointer[2])[0]
    date, offset = _ifd_entries(tiff, e, exif, _DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL)
    text = _ifd_ascii(tiff, e, date)
    if text is None:
        return None
    return _exif_datetime(text[:19]).replace(tzinfo=_zone(_ifd_ascii(tiff, e, offset)))


def _ifd_entries(
    tiff: ImageBytes, e: str, offset: int, *tags: int
) -> list[tuple[int, int, int] | None]:
    """The first entry of each of ``tags`` in the IFD at ``offset``: (type, count, offset of
    its 4-byte value field), None when absent. struct.error when the IFD runs past the block."""
    (count,) = struct.unpack_from(e + "H", tiff, offset)
    table = tiff[offset + 2 : offset + 2 + 12 * count]
    if len(table) < 12 * count - 4:  # (the last entry's value field may be cut)
        raise struct.error("the IFD runs past the EXIF block")
    found = [tag for (tag,) in struct.iter_unpack(e + "H10x", table.ljust(12 * count, b"\0"))]
    out: list[tuple[int, int, int] | None] = []
    for tag in tags:
        if tag not in found:
            out.append(None)
            continue
        at = offset + 2 + 12 * found.index(tag)
        kind, n = struct.unpack_from(e + "HI", tiff, at + 2)
        out.append((kind, n, at + 8))
    return out


def _exif_datetime(text: str) -> datetime:
    """``"2024:05:01 10:20:30"`` as a naive datetime; ValueError when it is not a date."""
    if len(text) == 19 and text[4] == text[7] == text[13] == text[16] == ":" and text[10] == " ":
        digits = text[0:4], text[5:7], text[8:10], text[11:13], text[14:16], text[17:19]
        if "".join(digits).isdigit():  # the form cameras write (the text is ASCII)
            year, month, day, hour, minute, second = map(int, digits)
            return datetime(year, month, day, hour, minute, second)
    return datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # e.g. one-digit fields


def _ifd_ascii(tiff: ImageBytes, e: str, entry: tuple[int, int, int] | None) -> str | None:
    """An ASCII entry's text up to its first NUL, stripped; None if not ASCII, out of the block
    or blank."""
    if entry is None or entry[0] != _ASCII:
        return None
    _, n, at = entry
    start = at if n <= 4 else struct.unpack_from(e + "I", tiff, at)[0]
    if start + n > len(tiff):
        return None
    return tiff[start : start + n].split(b"\0", 1)[0].decode("ascii").strip() or None


@functools.lru_cache(maxsize=128)
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


# IFD0 tags whose values OpenCV's ExifReader reads (and may fail on) besides the orientation:
# ASCII strings, and rationals with how many it reads
_EXIF_STRINGS = frozenset({0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x8298})
_EXIF_RATIONALS = {0x011A: 1, 0x011B: 1, 0x013E: 2, 0x013F: 6, 0x0211: 3, 0x0214: 6}
_EXIF_SHORTS = frozenset({0x0112, 0x0128, 0x0213})  # orientation, resolution unit, YCbCr pos.


def _exif_orientation(tiff: bytes) -> int | None:
    """The orientation value in the first IFD of an EXIF TIFF block, read as OpenCV's ExifReader
    reads it; None when it has none or the reader stops before it.

    The reader takes big-endian unless the block starts ``II``, needs the 42 mark, and walks
    the IFD0 entries in order, reading the value of each tag it knows: one that points outside
    the block ends the walk, so an orientation after it is never seen. The first orientation
    entry wins.
    """
    e = "<" if tiff[:2] == b"II" else ">"
    n = len(tiff)
    try:
        if struct.unpack_from(e + "H", tiff, 2)[0] != 42:
            return None
        (ifd,) = struct.unpack_from(e + "I", tiff, 4)
        (count,) = struct.unpack_from(e + "H", tiff, ifd)
        for k in range(count):
            at = ifd + 2 + 12 * k
            (tag,) = struct.unpack_from(e + "H", tiff, at)
            if tag in _EXIF_SHORTS:
                (value,) = struct.unpack_from(e + "H", tiff, at + 8)
                if tag == 0x0112:
                    return value
            elif tag in _EXIF_STRINGS:
                (length,) = struct.unpack_from(e + "I", tiff, at + 4)
                start = 8 if length <= 4 else struct.unpack_from(e + "I", tiff, at + 8)[0]
                if start + length > n:  # (an inline string is checked at offset 8, as OpenCV does)
                    return None
            elif tag in _EXIF_RATIONALS:
                (start,) = struct.unpack_from(e + "I", tiff, at + 8)
                if start + 8 * _EXIF_RATIONALS[tag] > n:
                    return None
    except struct.error:
        return None
    return None


def _png_exif(data: ImageBytes) -> tuple[int, bytes | None]:
    """``(orientation, first eXIf chunk)`` from one walk over the chunks up to IEND.

    The orientation is that of the first ``eXIf`` chunk libpng accepts (CRC right, ``II*\\0``
    or ``MM\\0*`` header), before or after the pixels: libpng reads up to IEND and OpenCV asks
    for eXIf after decoding. The capture time is read from the first ``eXIf`` chunk as is."""
    i, n, exif = 8, len(data), None
    while i + 12 <= n:
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        if kind == b"IEND":
            break
        if kind == b"eXIf":
            body = data[i + 8 : i + 8 + length]
            exif = body if exif is None else exif
            if i + 12 + length <= n:
                (crc,) = struct.unpack(">I", data[i + 8 + length : i + 12 + length])
                if zlib.crc32(kind + body) == crc and body[:4] in (b"II*\0", b"MM\0*"):
                    return _applied(_exif_orientation(body)), exif
        i += 12 + length
    return 1, exif


def _webp_exif(data: ImageBytes) -> tuple[int, bytes | None]:
    """``(orientation, first EXIF chunk)`` from one walk over the chunks.

    The orientation is that of the first ``EXIF`` chunk of an extended (VP8X) WebP whose EXIF
    flag is set, within the RIFF's size, as libwebp's demuxer hands it to OpenCV (1 for a
    simple WebP). The capture time is read from the first ``EXIF`` chunk of any WebP, without
    the ``Exif\\0\\0`` prefix some writers put before the TIFF header."""
    flagged = data[12:16] == b"VP8X" and bool(data[20] & 0x08)
    end = 8 + struct.unpack("<I", data[4:8])[0]  # the RIFF's end
    i, n = 12, len(data)
    while i + 8 <= n:
        kind, length = struct.unpack("<4sI", data[i : i + 8])
        if kind == b"EXIF":
            orientation = 1
            if flagged and i + 8 <= end:
                orientation = _applied(_exif_orientation(data[i + 8 : min(i + 8 + length, end)]))
            body = data[i + 8 : i + 8 + length]
            return orientation, body[6:] if body[:6] == b"Exif\0\0" else body
        i += 8 + length + (length & 1)
    return 1, None


def _webp_size(data: ImageBytes) -> tuple[int, int]:
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


# TIFF field types libtiff converts to the 16-bit Orientation: (struct code, signed)
_TIFF_INTS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i"}


def _tiff_header(data: ImageBytes) -> tuple[int, int, int]:
    """``(width, height, orientation)`` from the first IFD; libtiff takes an Orientation of
    any integer type with one value, and ignores one outside 1-8."""
    e = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(e + "I", data[4:8])
    (count,) = struct.unpack(e + "H", data[offset : offset + 2])
    found: dict[int, int] = {}
    for k in range(count):
        tag, typ, n, value = struct.unpack(
            e + "HHI4s", data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        )
        if tag in (256, 257):
            fmt = e + ("H" if typ == 3 else "I")
            found[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
        elif tag == 274 and tag not in found and n == 1 and typ in _TIFF_INTS:
            fmt = e + _TIFF_INTS[typ]
            found[tag] = struct.unpack(fmt, value[: struct.calcsize(fmt)])[0]
    if 256 not in found or 257 not in found:
        raise ImageError("the TIFF file has no image size")
    return found[256], found[257], _applied(found.get(274))


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode photo bytes to RGB uint8 (H, W, 3) as the user sees it (EXIF orientation applied).

    Raises ImageError; ``too_large=True`` when the header claims more than ``max_pixels``.

    >>> decode_image(cv2.imencode(".png", np.zeros((2, 3, 3), np.uint8))[1].tobytes()).shape
    (2, 3, 3)
    """
    fmt, w, h, *_ = read_header(data)
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
