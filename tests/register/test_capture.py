"""A photo is dated by its own capture time (manifest/caller ``taken_at``, else EXIF
``DateTimeOriginal``), by when it was recorded only when it has neither; defects and their
workflow stay dated by when the register learnt of them."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

import register as R
from register.capture import exif_taken_at
from register.models import Inspection, Photo

from ..exif_blocks import DATE_TIME_ORIGINAL as DTO
from ..exif_blocks import OFFSET_TIME_ORIGINAL as OTO
from ..exif_blocks import exif_tiff, with_exif

DATE = b"2024:05:01 10:20:30\0"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _image(fmt: str) -> bytes:
    img = np.random.default_rng(3).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(fmt, img)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    ("fmt", "endian", "tags", "pointer_type", "want"),
    [
        (".jpg", "<", {DTO: DATE}, 4, datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),
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
        (".png", ">", {DTO: DATE}, 13, datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC)),  # IFD type
        (
            "tiff",
            ">",
            {DTO: b"1999:12:31 23:59:59\0"},
            4,
            datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        (
            ".jpg",
            "<",
            {DTO: DATE, OTO: b"+25:00\0"},
            4,
            datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
        ),
        (".jpg", "<", {DTO: b"0000:00:00 00:00:00\0"}, 4, None),  # "unknown" as cameras write it
        (".jpg", "<", {DTO: b"                   \0"}, 4, None),
        (".jpg", "<", {OTO: b"+08:00\0"}, 4, None),  # no DateTimeOriginal
        (".jpg", "<", {DTO: DATE}, 3, None),  # the pointer is not an offset (SHORT)
    ],
)
def test_exif_taken_at_table(
    fmt: str, endian: str, tags: dict[int, bytes], pointer_type: int, want: datetime | None
) -> None:
    tiff = exif_tiff(tags, endian=endian, pointer_type=pointer_type)
    data = tiff if fmt == "tiff" else with_exif(_image(fmt), tiff)
    got = exif_taken_at(data)
    assert got == want
    if got is not None:
        assert got.utcoffset() is not None


def test_exif_taken_at_without_readable_exif_is_none() -> None:
    tiff = exif_tiff({DTO: DATE})
    assert exif_taken_at(_image(".jpg")) is None
    assert exif_taken_at(_image(".png")) is None
    assert exif_taken_at(_image(".bmp")) is None
    assert exif_taken_at(b"") is None
    assert exif_taken_at(with_exif(_image(".jpg"), tiff[:30])) is None  # cut in the Exif IFD
    assert exif_taken_at(with_exif(_image(".jpg"), tiff)[:40]) is None  # file cut in the APP1


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_taken_at_reads_what_pillow_writes(fmt: str) -> None:
    image = pytest.importorskip("PIL.Image")
    exif = image.Exif()
    exif[0x0110] = "a camera"  # an IFD0 entry before the pointer
    exif.get_ifd(0x8769)[DTO] = "2023:02:28 07:08:09"
    exif.get_ifd(0x8769)[OTO] = "+09:00"
    buf = io.BytesIO()
    image.new("RGB", (32, 24), (90, 120, 150)).save(buf, fmt, exif=exif)
    assert exif_taken_at(buf.getvalue()) == datetime(
        2023, 2, 28, 7, 8, 9, tzinfo=timezone(timedelta(hours=9))
    )


def _jpeg_taken(date: bytes) -> bytes:
    return with_exif(_image(".jpg"), exif_tiff({DTO: date}))


def test_record_photo_dates_the_photo_by_exif_else_taken_at_else_received(
    reg: R.Register, project: str, det: Callable[..., R.DetectedDefect]
) -> None:
    photos = {
        "exif": (_jpeg_taken(b"2024:05:01 10:20:30\0"), None),
        "given": (_jpeg_taken(b"2024:05:02 11:00:00\0"), datetime(2024, 6, 1, 8, 0, tzinfo=UTC)),
        "none": (_image(".png"), None),
    }
    ids = {}
    with reg.session() as s:
        for name, (data, taken_at) in photos.items():
            r = R.record_photo(
                session=s,
                store=reg.store,
                rules=reg.rules,
                project=project,
                unit=f"U-{name}",
                data=data,
                width=32,
                height=24,
                defects=[det("crack", 1, 2, 30, 20)],
                model_name="m",
                model_version="1",
                stage="acceptance",
                inspector="ann",
                taken_at=taken_at,
                now=NOW,
            )
            ids[name] = r.photo_id
    with reg.session(readonly=True) as s:
        got = {n: R.get_photo(session=s, photo_id=i) for n, i in ids.items()}
        days = {n: s.get(Inspection, s.get(Photo, i).inspection_id).day for n, i in ids.items()}
    assert {n: p.taken_at for n, p in got.items()} == {
        "exif": datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
        "given": datetime(2024, 6, 1, 8, 0, tzinfo=UTC),  # the caller's (manifest's) wins
        "none": None,  # dated by when it was recorded
    }
    assert days == {"exif": "2024-05-01", "given": "2024-06-01", "none": "2026-12-03"}
    assert {p.created_at for p in got.values()} == {NOW}
    # the defects and their rectification clock start when the register learns of them
    for p in got.values():
        assert [(d.created_at, d.deadline is None or d.deadline > NOW) for d in p.defects] == [
            (NOW, True)
        ]
