"""``read_header(data).size`` is the size OpenCV decodes, orientation applied, for every format.

Each file is built here byte by byte (EXIF blocks, PNG chunks, WebP RIFF chunks, a TIFF IFD)
around pixels OpenCV encoded, and the header's size is compared with what ``cv2.imdecode``
really returns. The odd layouts pin down where OpenCV 5 (libpng, libwebp's demuxer, libtiff,
its own EXIF reader) looks for the orientation and what it passes over.
"""

from __future__ import annotations

import io
import mmap
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector.image import decode_image, image_header, jpeg_header, read_header

STORED = (10, 6)  # (width, height) of every test image as stored
ROTATED = (6, 10)


def pixels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (STORED[1], STORED[0], 3), dtype=np.uint8)


def decoded_size(data: bytes) -> tuple[int, int] | None:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if img is None else (img.shape[1], img.shape[0])


# --------------------------------------------------------------------------- builders
def exif(orientation: int, endian: str = "<", before: tuple[bytes, ...] = ()) -> bytes:
    """An EXIF TIFF block: IFD0 holds the ``before`` entries (12 bytes each), then Orientation."""
    mark = b"II" if endian == "<" else b"MM"
    entries = [*before, struct.pack(endian + "HHIH", 0x0112, 3, 1, orientation) + b"\0\0"]
    ifd = struct.pack(endian + "H", len(entries)) + b"".join(entries)
    return mark + struct.pack(endian + "HI", 42, 8) + ifd + b"\0\0\0\0"


def entry(tag: int, typ: int, count: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HHI", tag, typ, count) + value.ljust(4, b"\0")


BAD_STRING = entry(0x010E, 2, 100, struct.pack("<I", 5000))  # description far past the block
BAD_RATIONAL = entry(0x011A, 5, 1, struct.pack("<I", 5000))  # x resolution far past the block
MAKE_ONLY = (  # a valid block without an orientation
    b"II" + struct.pack("<HIH", 42, 8, 1) + entry(0x010F, 2, 4, b"abc\0") + b"\0\0\0\0"
)


def jpeg(*app1: bytes, prefix: bytes = b"Exif\0\0") -> bytes:
    data = cv2.imencode(".jpg", pixels())[1].tobytes()
    segments = b"".join(
        b"\xff\xe1" + struct.pack(">H", len(prefix + t) + 2) + prefix + t for t in app1
    )
    return data[:2] + segments + data[2:]


def png_chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(before_idat: tuple[bytes, ...] = (), after_idat: tuple[bytes, ...] = ()) -> bytes:
    """OpenCV's PNG (IHDR, IDAT, IEND) with extra chunks around its IDAT."""
    data = cv2.imencode(".png", pixels())[1].tobytes()
    iend = data.index(b"IEND") - 4
    return data[:33] + b"".join(before_idat) + data[33:iend] + b"".join(after_idat) + data[iend:]


def riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def webp(*chunks: bytes, lossless: bool = False, flags: int = 0x08) -> bytes:
    """OpenCV's simple WebP turned extended: a VP8X chunk (``flags``), its image, ``chunks``."""
    quality = 101 if lossless else 80
    simple = cv2.imencode(".webp", pixels(), [cv2.IMWRITE_WEBP_QUALITY, quality])[1].tobytes()
    canvas = (STORED[0] - 1).to_bytes(3, "little") + (STORED[1] - 1).to_bytes(3, "little")
    body = b"WEBP" + riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas) + simple[12:]
    body += b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff(orientation: int | None, endian: str = "<", typ: int = 3) -> bytes:
    """An uncompressed RGB TIFF with an Orientation tag of field type ``typ`` (none: no tag)."""
    w, h = STORED
    rgb = pixels()[..., ::-1].tobytes()
    e = endian
    ifd_at = 14 + len(rgb) + (len(rgb) & 1)

    def tag(code: int, typ: int, value: int) -> bytes:
        fmt = {1: "B", 3: "H", 4: "I", 8: "h", 9: "i"}[typ]
        return struct.pack(e + "HHI", code, typ, 1) + struct.pack(e + fmt, value).ljust(4, b"\0")

    tags = [
        tag(256, 3, w),
        tag(257, 3, h),
        struct.pack(e + "HHII", 258, 3, 3, 8),  # bits per sample: 3 values at offset 8
        tag(259, 3, 1),
        tag(262, 3, 2),
        tag(273, 4, 14),
        tag(277, 3, 3),
        tag(278, 3, h),
        tag(279, 4, len(rgb)),
        tag(284, 3, 1),
    ]
    if orientation is not None:
        tags.insert(5, tag(274, typ, orientation))  # tags ascend: 273 < 274 < 277
    head = (b"II" if e == "<" else b"MM") + struct.pack(e + "HI", 42, ifd_at)
    data = (head + struct.pack(e + "HHH", 8, 8, 8) + rgb).ljust(ifd_at, b"\0")
    return data + struct.pack(e + "H", len(tags)) + b"".join(tags) + b"\0\0\0\0"


# --------------------------------------------------------------------------- every orientation
WRITERS = {
    "jpeg-le": lambda o: jpeg(exif(o)),
    "jpeg-be": lambda o: jpeg(exif(o, ">")),
    "png": lambda o: png((png_chunk(b"eXIf", exif(o)),)),
    "png-be-after-idat": lambda o: png(after_idat=(png_chunk(b"eXIf", exif(o, ">")),)),
    "webp-lossy": lambda o: webp(riff_chunk(b"EXIF", exif(o))),
    "webp-lossless-be": lambda o: webp(riff_chunk(b"EXIF", exif(o, ">")), lossless=True),
    "tiff-le": lambda o: tiff(o),
    "tiff-be": lambda o: tiff(o, ">"),
    "tiff-long": lambda o: tiff(o, typ=4),
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_size_matches_opencv_for_each_orientation(kind: str, orientation: int) -> None:
    data = WRITERS[kind](orientation)
    expected = ROTATED if orientation >= 5 else STORED
    assert decoded_size(data) == expected  # OpenCV really applies it
    header = read_header(data)
    assert header.orientation == orientation
    assert header.size == expected
    assert (header.width, header.height) == STORED
    assert image_header(data)[1:] == STORED  # the stored size, as before
    assert decode_image(data).shape[:2] == expected[::-1]


def test_bmp_has_no_orientation() -> None:
    bottom_up = cv2.imencode(".bmp", pixels())[1].tobytes()
    top_down = bottom_up[:22] + struct.pack("<i", -STORED[1]) + bottom_up[26:]
    for data in (bottom_up, top_down):
        assert read_header(data) == ("bmp", *STORED, 1, None)
        assert decoded_size(data) == STORED


# --------------------------------------------------------------------------- odd layouts
E6, E1 = exif(6), exif(1)
LAYOUTS = {
    # JPEG: every Exif APP1 is read, the first orientation read wins
    "jpeg exif6+exif1": (jpeg(E6, E1), True),
    "jpeg exif1+exif6": (jpeg(E1, E6), False),
    "jpeg no-orientation+exif6": (jpeg(MAKE_ONLY, E6), True),
    "jpeg bad-byte-order+exif6": (jpeg(b"IM" + E6[2:], E6), True),
    "jpeg XX + big-endian": (jpeg(b"XX" + exif(6, ">")[2:]), True),  # not II: big-endian
    "jpeg mark 43": (jpeg(E6[:2] + b"\x2b\x00" + E6[4:]), False),
    "jpeg bad string before": (jpeg(exif(6, before=(BAD_STRING,))), False),
    "jpeg bad rational before": (jpeg(exif(6, before=(BAD_RATIONAL,))), False),
    "jpeg good string before": (jpeg(exif(6, before=(entry(0x010F, 2, 4, b"abc\0"),))), True),
    "jpeg unknown tag before": (jpeg(exif(6, before=(entry(0x0100, 4, 1, b"\xff" * 4),))), True),
    "jpeg orientation twice 6, 1": (jpeg(exif(1, before=(entry(0x0112, 3, 1, b"\6\0"),))), True),
    "jpeg Exif\\0\\1 prefix": (jpeg(E6, prefix=b"Exif\0\1"), False),
    "jpeg orientation 9": (jpeg(exif(9)), False),
    # PNG: the first eXIf libpng accepts (CRC, II*\0 / MM\0* header), up to IEND
    "png eXIf bad CRC": (png((png_chunk(b"eXIf", E6, crc=0),)), False),
    "png eXIf bad CRC then good": (png((png_chunk(b"eXIf", E1, 0), png_chunk(b"eXIf", E6))), True),
    "png eXIf Exif\\0\\0-prefixed": (png((png_chunk(b"eXIf", b"Exif\0\0" + E6),)), False),
    "png eXIf mark 43 then good": (
        png((png_chunk(b"eXIf", E6[:2] + b"\x2b\x00" + E6[4:]), png_chunk(b"eXIf", E6))),
        True,
    ),
    "png eXIf too short then good": (png((png_chunk(b"eXIf", b"I"), png_chunk(b"eXIf", E6))), True),
    "png two eXIf 1, 6": (png((png_chunk(b"eXIf", E1), png_chunk(b"eXIf", E6))), False),
    "png eXIf without orientation, then 6": (
        png((png_chunk(b"eXIf", MAKE_ONLY), png_chunk(b"eXIf", E6))),
        False,
    ),
    "png eXIf before and after IDAT": (
        png((png_chunk(b"eXIf", E6),), (png_chunk(b"eXIf", E1),)),
        True,
    ),
    "png eXIf bad string before": (
        png((png_chunk(b"eXIf", exif(6, before=(BAD_STRING,))),)),
        False,
    ),
    "png eXIf after IEND": (png() + png_chunk(b"eXIf", E6), False),
    # WebP: the first EXIF chunk, only when VP8X says there is one
    "webp EXIF flag off": (webp(riff_chunk(b"EXIF", E6), flags=0), False),
    "webp EXIF 1, 6": (webp(riff_chunk(b"EXIF", E1), riff_chunk(b"EXIF", E6)), False),
    "webp bad byte order, then 6": (
        webp(riff_chunk(b"EXIF", b"IM" + E6[2:]), riff_chunk(b"EXIF", E6)),
        False,
    ),
    "webp Exif\\0\\0-prefixed": (webp(riff_chunk(b"EXIF", b"Exif\0\0" + E6)), False),
    "webp odd-length EXIF": (
        webp(riff_chunk(b"EXIF", E6 + b"\0"), riff_chunk(b"XMP ", b"x")),
        True,
    ),
    "webp bad string before": (webp(riff_chunk(b"EXIF", exif(6, before=(BAD_STRING,)))), False),
    # TIFF: libtiff takes any integer type and ignores a value outside 1-8
    "tiff BYTE": (tiff(6, typ=1), True),
    "tiff SSHORT": (tiff(6, typ=8), True),
    "tiff SLONG big-endian": (tiff(6, ">", typ=9), True),
    "tiff no orientation": (tiff(None), False),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_odd_layouts_agree_with_opencv(layout: str) -> None:
    data, rotated = LAYOUTS[layout]
    expected = ROTATED if rotated else STORED
    assert decoded_size(data) == expected
    assert read_header(data).size == expected


def test_pillow_written_files_agree_with_opencv() -> None:
    """Files another writer made: Pillow's EXIF in JPEG, PNG, WebP and its TIFF tag."""
    pil = pytest.importorskip("PIL.Image")
    for orientation in range(1, 9):
        info = pil.Exif()
        info[0x0112] = orientation
        for fmt, kwargs in [
            ("JPEG", {"exif": info.tobytes()}),
            ("PNG", {"exif": info.tobytes()}),
            ("WEBP", {"exif": info.tobytes(), "lossless": True}),
            ("TIFF", {"tiffinfo": {0x0112: orientation}}),
        ]:
            buf = io.BytesIO()
            pil.fromarray(pixels()).save(buf, fmt, **kwargs)
            data = buf.getvalue()
            expected = ROTATED if orientation >= 5 else STORED
            assert decoded_size(data) == expected, (fmt, orientation)
            assert read_header(data).size == expected, (fmt, orientation)


def test_header_from_a_memory_map_reads_the_same(tmp_path: Path) -> None:
    for name, data in [
        ("a.jpg", jpeg(E6)),
        ("a.png", png(after_idat=(png_chunk(b"eXIf", E6),))),
        ("a.webp", webp(riff_chunk(b"EXIF", E6))),
        ("a.tif", tiff(8)),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert read_header(mm) == read_header(data)
            assert read_header(mm).size == ROTATED
            if name == "a.jpg":
                assert jpeg_header(mm) == jpeg_header(data)
