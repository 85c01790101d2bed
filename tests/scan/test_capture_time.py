"""``finishscan scan`` dates each photo by the manifest's ``taken_at``, else by the photo's
EXIF capture time (read with the detector's header reader), else by when it was recorded;
defects count from when the register records them. Through the real CLI."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

import register as R

from ..exif_blocks import DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL, exif_tiff, with_exif
from .conftest import PLACEHOLDER, finishscan_cli


def _jpeg(seed: int, date: bytes | None = None) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    if date is None:
        return data
    return with_exif(data, exif_tiff({DATE_TIME_ORIGINAL: date, OFFSET_TIME_ORIGINAL: b"+08:00\0"}))


def test_scan_dates_photos_by_manifest_else_exif_else_receipt(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    photos = {
        "exif.jpg": _jpeg(1, b"2024:05:01 10:20:30\0"),
        "given.jpg": _jpeg(2, b"2024:05:02 10:20:30\0"),  # the manifest's taken_at wins
        "plain.jpg": _jpeg(3),
    }
    for name, data in photos.items():
        (archive / name).write_bytes(data)
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,project,unit,taken_at\n"
        "exif.jpg,P1,101,\n"
        "given.jpg,P1,101,2024-06-01T08:00:00\n"
        "plain.jpg,P1,101,\n"
    )
    db = f"sqlite:///{tmp_path / 'r.db'}"
    before = datetime.now(UTC)
    r = subprocess.run(
        [
            *finishscan_cli(),
            "scan",
            str(archive),
            "--manifest",
            str(manifest),
            "--db",
            db,
            "--model",
            str(PLACEHOLDER),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    sha = {hashlib.sha256(d).hexdigest(): name for name, d in photos.items()}
    reg = R.open_register(db)
    try:
        with reg.session(readonly=True) as s:
            got = {sha[p.sha256]: p for p in R.unit_photos(session=s, project="P1", unit="101")}
    finally:
        reg.dispose()
    assert {n: p.taken_at for n, p in got.items()} == {
        "exif.jpg": datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC),
        "given.jpg": datetime(2024, 6, 1, 8, 0, tzinfo=UTC),
        "plain.jpg": None,  # dated by when it was recorded
    }
    assert all(p.created_at >= before for p in got.values())
    assert all(d.created_at >= before for p in got.values() for d in p.defects)
