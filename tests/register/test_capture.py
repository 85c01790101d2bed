"""A photo is dated by the capture time its caller gives (a manifest's, or the EXIF one the
service and the scan read with ``detector.read_header``), by when it was recorded only without
one; defects and their workflow stay dated by when the register learnt of them. The register
reads no EXIF itself (see tests/detector/test_image_taken_at.py for the parsing, and the HTTP
and CLI tests in tests/serving and tests/scan for EXIF dating end to end)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import register as R
from register.models import Inspection, Photo

from ..exif_blocks import DATE_TIME_ORIGINAL as DTO
from ..exif_blocks import exif_tiff, seeded_image, with_exif

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def _jpeg_taken(date: bytes) -> bytes:
    return with_exif(seeded_image(".jpg"), exif_tiff({DTO: date}))


def test_record_photo_dates_the_photo_by_taken_at_else_received(
    reg: R.Register, project: str, det: Callable[..., R.DetectedDefect]
) -> None:
    photos = {
        "given": (_jpeg_taken(b"2024:05:02 11:00:00\0"), datetime(2024, 6, 1, 8, 0, tzinfo=UTC)),
        # EXIF in the bytes but no taken_at: the caller decides, the register parses nothing
        "exif-only": (_jpeg_taken(b"2024:05:01 10:20:30\0"), None),
        "none": (seeded_image(".png"), None),
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
        "given": datetime(2024, 6, 1, 8, 0, tzinfo=UTC),  # the caller's
        "exif-only": None,  # dated by when it was recorded
        "none": None,
    }
    assert days == {"given": "2024-06-01", "exif-only": "2026-12-03", "none": "2026-12-03"}
    assert {p.created_at for p in got.values()} == {NOW}
    # the defects and their rectification clock start when the register learns of them
    for p in got.values():
        assert [(d.created_at, d.deadline is None or d.deadline > NOW) for d in p.defects] == [
            (NOW, True)
        ]


def test_record_photos_dates_each_photo_of_a_batch_by_its_taken_at(
    reg: R.Register, project: str
) -> None:
    taken = datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC)
    items = [
        R.PhotoInput(project, "U1", _jpeg_taken(b"2024:05:01 10:20:30\0"), 32, 24, taken_at=taken),
        R.PhotoInput(project, "U1", seeded_image(".png"), 32, 24),
    ]
    with reg.session() as s:
        out = R.record_photos(
            session=s,
            store=reg.store,
            rules=reg.rules,
            items=items,
            model_name="m",
            model_version="1",
            now=NOW,
        )
    with reg.session(readonly=True) as s:
        got = [R.get_photo(session=s, photo_id=r.photo_id).taken_at for r in out]
    assert got == [taken, None]
