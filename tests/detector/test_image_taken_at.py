"""``read_header(data).taken_at``: the EXIF capture time, read in the same walk over a file's
segments or chunks as the orientation (DateTimeOriginal with OffsetTimeOriginal, else UTC;
None when absent, blank, impossible or garbled), and a garbled EXIF block never makes the
header reader raise."""

from __future__ import annotations

import io
import mmap
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from detector.image import ImageHeader, decode_image, read_header
from finishscan.errors import ImageError

from ..exif_blocks import DATE_TIME_ORIGINAL as DTO
from ..exif_blocks import OFFSET_TIME_ORIGINAL as OTO
from ..exif_blocks import exif_tiff, seeded_image, with_exif
from .test_image_orientation import png, png_chunk, riff_chunk, webp

DATE = b"2024:05:01 10:20:30\0"
TAKEN = datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)


def _tiff_image(block: bytes) -> bytes:
    """``exif_tiff``'s block made a TIFF file's header: a new IFD0 after it with a 32x24 size
    and the block's Exif IFD pointer (no strips: the header reader reads none)."""
    e = "<" if block[:2] == b"II" else ">"
    ifd0 = struct.pack(e + "H", 3) + struct.pack(e + "HHIHH", 256, 3, 1, 32, 0)
    ifd0 += struct.pack(e + "HHIHH", 257, 3, 1, 24, 0) + block[10:22] + bytes(4)
    at = len(block) + (len(block) & 1)
    return block[:4] + struct.pack(e + "I", at) + block[8:].ljust(at - 8, b"\0") + ifd0


@pytest.mark.parametrize(
    ("fmt", "endian", "tags", "pointer_type", "want"),
    [
        (".jpg", "<", {DTO: DATE}, 4, TAKEN),
        (
            ".jpg",
            ">",
            {DTO: DATE, OTO: b"+08:00\0"},
            4,
            datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC),
        ),
        (
            ".png",
            "<",
            {DTO: DATE, OTO: b"-05:30\0"},
            4,
            datetime(2024, 5, 1, 15, 50, 30, tzinfo=UTC),
        ),
        (".png", ">", {DTO: DATE}, 13, TAKEN),  # the pointer typed IFD
        (
            "tiff",
            ">",
            {DTO: b"1999:12:31 23:59:59\0"},
            4,
            datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        (
            "tiff",
            "<",
            {DTO: DATE, OTO: b"+01:00\0"},
            13,
            datetime(2024, 5, 1, 9, 20, 30, tzinfo=UTC),
        ),
        (".jpg", "<", {DTO: DATE, OTO: b"+25:00\0"}, 4, TAKEN),  # impossible offset: UTC
        (".jpg", "<", {DTO: DATE, OTO: b"+8\0"}, 4, TAKEN),  # unreadable offset: UTC
        (".jpg", "<", {DTO: b"0000:00:00 00:00:00\0"}, 4, None),  # "unknown" as cameras write it
        (".jpg", "<", {DTO: b"                   \0"}, 4, None),
        (".jpg", "<", {DTO: b"2024:13:01 10:20:30\0"}, 4, None),  # month 13
        # fine as written, but not expressible in UTC (the register stores UTC)
        (".jpg", "<", {DTO: b"0001:01:01 00:00:00\0", OTO: b"+09:00\0"}, 4, None),
        (".jpg", "<", {DTO: b"9999:12:31 23:59:59\0", OTO: b"-01:00\0"}, 4, None),
        (".jpg", "<", {DTO: b"0001:01:01 00:00:00\0"}, 4, datetime(1, 1, 1, tzinfo=UTC)),
        (".jpg", "<", {DTO: b"2024:05:01\xff10:20:30\0"}, 4, None),  # not ASCII
        (".jpg", "<", {OTO: b"+08:00\0"}, 4, None),  # no DateTimeOriginal
        (".jpg", "<", {DTO: DATE}, 3, None),  # the pointer is not an offset (SHORT)
    ],
)
def test_taken_at_table(
    fmt: str, endian: str, tags: dict[int, bytes], pointer_type: int, want: datetime | None
) -> None:
    tiff = exif_tiff(tags, endian=endian, pointer_type=pointer_type)
    data = _tiff_image(tiff) if fmt == "tiff" else with_exif(seeded_image(fmt), tiff)
    got = read_header(data).taken_at
    assert got == want
    if got is not None:
        assert got.utcoffset() is not None


def test_no_readable_exif_gives_no_date_and_the_same_header() -> None:
    tiff = exif_tiff({DTO: DATE})
    for fmt in (".jpg", ".png", ".bmp", ".webp"):
        assert read_header(seeded_image(fmt)).taken_at is None, fmt
    jpg = seeded_image(".jpg")
    cut = with_exif(jpg, tiff[:30])  # the block ends inside the Exif IFD
    assert read_header(cut) == read_header(jpg)  # same size and orientation, no date
    assert decode_image(cut).shape == decode_image(jpg).shape


def test_the_header_reader_still_refuses_what_it_refused() -> None:
    """A cut or empty file is ImageError, whatever EXIF it carries (it cannot be decoded)."""
    with pytest.raises(ImageError, match="empty"):
        read_header(b"")
    with pytest.raises(ImageError, match="no frame header"):
        read_header(with_exif(seeded_image(".jpg"), exif_tiff({DTO: DATE}))[:40])  # cut in the APP1


def test_the_first_exif_block_dates_the_photo() -> None:
    """JPEG: the first Exif APP1 (even when a later one gives the orientation); PNG: the first
    eXIf chunk; WebP: the first EXIF chunk, ``Exif\\0\\0`` prefix or not."""
    first, second = exif_tiff({DTO: DATE}), exif_tiff({DTO: b"2025:01:01 00:00:00\0"})
    jpg = with_exif(with_exif(seeded_image(".jpg"), second), first)
    assert read_header(jpg).taken_at == TAKEN
    eexif = png_chunk(b"eXIf", first), png_chunk(b"eXIf", second)
    assert read_header(png(eexif)).taken_at == TAKEN
    assert read_header(png(after_idat=eexif)).taken_at == TAKEN  # after the pixels too
    for body in (first, b"Exif\0\0" + first):
        data = webp(riff_chunk(b"EXIF", body), riff_chunk(b"EXIF", second))
        assert read_header(data).taken_at == TAKEN
        assert read_header(data).size == (10, 6)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_taken_at_reads_what_pillow_writes(fmt: str) -> None:
    image = pytest.importorskip("PIL.Image")
    exif = image.Exif()
    exif[0x0110] = "a camera"  # an IFD0 entry before the pointer
    exif[0x0112] = 6
    exif.get_ifd(0x8769)[DTO] = "2023:02:28 07:08:09"
    exif.get_ifd(0x8769)[OTO] = "+09:00"
    buf = io.BytesIO()
    image.new("RGB", (32, 24), (90, 120, 150)).save(buf, fmt, exif=exif)
    header = read_header(buf.getvalue())
    assert header.taken_at == datetime(2023, 2, 28, 7, 8, 9, tzinfo=timezone(timedelta(hours=9)))
    assert header.size == (24, 32)  # the orientation read in the same walk


def test_taken_at_from_a_memory_map(tmp_path: Path) -> None:
    tiff = exif_tiff({DTO: DATE, OTO: b"+02:00\0"})
    for name, data in [
        ("a.jpg", with_exif(seeded_image(".jpg"), tiff)),
        ("a.tif", _tiff_image(tiff)),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert read_header(mm) == read_header(data)
            assert read_header(mm).taken_at == datetime(2024, 5, 1, 8, 20, 30, tzinfo=UTC)


def _containers(tiff: bytes) -> dict[str, tuple[bytes, int, int]]:
    """Files carrying ``tiff``: name -> (bytes, where the block starts, where it ends)."""
    jpg = with_exif(seeded_image(".jpg"), tiff)
    png_data = with_exif(seeded_image(".png"), tiff)
    webp_data = webp(riff_chunk(b"EXIF", tiff))
    out = {}
    for name, data in [("jpeg", jpg), ("png", png_data), ("webp", webp_data)]:
        start = data.index(tiff[:8])
        out[name] = (data, start, start + len(tiff))
    return out


def test_garbled_exif_blocks_never_raise_and_change_only_the_date() -> None:
    """Seeded byte flips and cuts inside the EXIF block (the container intact): the header
    reader returns the same format and size, and a date that is None or timezone-aware."""
    rng = np.random.default_rng(31)
    tiff = exif_tiff({DTO: DATE, OTO: b"+08:00\0"}, endian=">")
    for name, (data, start, end) in _containers(tiff).items():
        clean = read_header(data)
        assert clean.taken_at == datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC), name
        for trial in range(400):
            garbled = bytearray(data)
            if trial % 4 == 0:  # zero the block's tail: as good as a cut inside it
                cut = int(rng.integers(start, end))
                garbled[cut:end] = bytes(end - cut)
            for _ in range(int(rng.integers(1, 5))):
                garbled[int(rng.integers(start, end))] = int(rng.integers(0, 256))
            header = read_header(bytes(garbled))
            assert isinstance(header, ImageHeader)
            assert header[:3] == clean[:3], (name, trial)
            assert header.taken_at is None or header.taken_at.utcoffset() is not None


def test_truncated_files_raise_only_image_error() -> None:
    """Every cut of files with EXIF: a header or ImageError, nothing else; the date is the
    whole one, the one without its offset (cut between the two values) or none."""
    tiff = exif_tiff({DTO: DATE, OTO: b"-03:00\0"})
    dates = (None, TAKEN, datetime(2024, 5, 1, 13, 20, 30, tzinfo=UTC))
    files = {name: data for name, (data, _, _) in _containers(tiff).items()}
    files["tiff"] = _tiff_image(tiff)
    for name, data in files.items():
        for cut in range(len(data) if len(data) < 1500 else 600):
            try:
                header = read_header(data[:cut])
            except ImageError:
                continue
            assert header.taken_at in dates, (name, cut)
