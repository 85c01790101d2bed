"""``scan --json FILE`` covers every photo of the scan, also those an earlier run detected.

Two runs into one register (SQLite and PostgreSQL): the second run's file, written after the
first run recorded everything, must hold the same lines as a file written by one run that
detected everything; from the register when it holds the whole result, else detected again
for the file alone (the register untouched).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from serving.scan import ScanOptions, read_jsonl, run_scan

from .conftest import add_broken, make_archive, same_register, snapshot
from .fake_detector import FakeSpec


@dataclass(frozen=True)
class VersionedSpec(FakeSpec):
    """The fake detector under another model version (same detections)."""

    version: str = "1"

    def info(self) -> tuple[str, str]:
        return ("fake-detector", self.version)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    import psycopg

    base = request.getfixturevalue("pg_url")
    name = f"scan_json_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scan(root: Path, db: str, out: Path | None, spec: FakeSpec | None = None, **kw: Any):  # noqa: ANN201
    options = ScanOptions(
        root=root, layout="{project}/{unit}/...", db=db, json_out=out, progress=False, **kw
    )
    return run_scan(options, spec=spec or FakeSpec())


def lines(path: Path) -> list[str]:
    """The file's records, canonical and sorted (the order of lines is not part of the contract)."""
    return sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(path))


def test_a_second_run_writes_every_photo_as_one_run_would(db_url: str, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    make_archive(root, 9)
    broken = add_broken(root)
    shutil.copy(root / "P1/101/img000.jpg", root / "P1/101/copy.jpg")  # a repeat in one unit
    reference = tmp_path / "reference.jsonl"
    scan(root, f"sqlite:///{tmp_path / 'ref.db'}", reference, batch_size=3)

    first = scan(root, db_url, None, batch_size=3)  # no file: every photo recorded
    assert (first.scanned, first.duplicates, len(first.unreadable)) == (9, 1, 3)
    snap = snapshot(db_url)
    out = tmp_path / "second.jsonl"
    second = scan(root, db_url, out, batch_size=3)
    assert (second.scanned, second.skipped, second.duplicates) == (0, 9, 1)
    assert (second.json_from_register, second.json_redetected) == (9, 0)
    assert lines(out) == lines(reference)
    records = read_jsonl(out)
    assert len(records) == 9 + 1 + len(broken)  # every photo, the repeat and the broken ones
    by_image = {r["image"]: r for r in records}
    assert by_image["P1/101/copy.jpg"]["defects"] == by_image["P1/101/img000.jpg"]["defects"]
    same_register(snapshot(db_url), snap)  # writing the file changed nothing in the register

    # a third run with the same file has nothing to add
    third = scan(root, db_url, out, batch_size=3)
    assert (third.json_from_register, third.json_redetected) == (0, 0)
    assert lines(out) == lines(reference)


def test_photos_added_between_runs_come_from_both_sources(tmp_path: Path) -> None:
    root, db = tmp_path / "archive", f"sqlite:///{tmp_path / 'r.db'}"
    make_archive(root, 6, seed=4)
    scan(root, db, tmp_path / "first.jsonl")
    make_archive(tmp_path / "more", 9, seed=5)
    for rel in ("P1/101/img006.jpg", "P1/102/kitchen/img007.jpg", "P2/201/img008.jpg"):
        (root / rel).write_bytes((tmp_path / "more" / rel).read_bytes())
    out = tmp_path / "second.jsonl"
    second = scan(root, db, out)
    assert (second.scanned, second.skipped, second.json_from_register) == (3, 6, 6)
    reference = tmp_path / "reference.jsonl"
    scan(root, f"sqlite:///{tmp_path / 'ref.db'}", reference)
    assert lines(out) == lines(reference) and len(read_jsonl(out)) == 9
    assert set(lines(tmp_path / "first.jsonl")) < set(lines(reference))


def test_a_scan_the_register_did_not_apply_is_detected_again_for_the_file(
    tmp_path: Path,
) -> None:
    """Version 1 after version 2: the register records only the scan (no defects), so the
    file's lines for version 1 come from the detector, and the register stays as it was."""
    root, db = tmp_path / "archive", f"sqlite:///{tmp_path / 'r.db'}"
    make_archive(root, 6, seed=6)
    scan(root, db, None, VersionedSpec(version="2"))
    scan(root, db, None, VersionedSpec(version="1"))  # older: scans recorded, defects not
    snap = snapshot(db)
    engine = create_engine(db)
    with engine.connect() as c:
        counted = c.execute(
            text("SELECT sum(detections) FROM scan WHERE model_version = '1'")
        ).scalar_one()
        stored = c.execute(
            text("SELECT count(*) FROM defect WHERE model_version = '1'")
        ).scalar_one()
    engine.dispose()
    assert counted > 0 and stored == 0

    out = tmp_path / "v1.jsonl"
    again = scan(root, db, out, VersionedSpec(version="1"))
    empty = sum(not r["defects"] for r in read_jsonl(out))  # no detections: nothing is missing
    assert (again.scanned, again.skipped) == (0, 6)
    assert (again.json_redetected, again.json_from_register) == (6 - empty, empty)
    reference = tmp_path / "reference.jsonl"
    scan(root, f"sqlite:///{tmp_path / 'ref.db'}", reference, VersionedSpec(version="1"))
    assert lines(out) == lines(reference)
    same_register(snapshot(db), snap)
