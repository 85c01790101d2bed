"""Several scan processes writing one PostgreSQL register at once (as several machines would)
end with the register of one run: no photo or defect twice."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from .conftest import add_broken, make_archive, same_register, snapshot

HERE = Path(__file__).resolve().parent


@pytest.fixture
def pg_db(pg_url: str) -> Iterator[str]:
    """A fresh database on the test server (dropped afterwards), so nothing else interferes."""
    import psycopg

    name = f"scan_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _argv(root: Path, db: str, workers: int) -> list[str]:
    opts = {
        "root": str(root),
        "layout": "{project}/{unit}/...",
        "db": db,
        "workers": workers,
        "batch_size": 2,
        "progress": False,
    }
    return [sys.executable, str(HERE / "run_fake_scan.py"), json.dumps(opts), "0.01"]


@pytest.mark.postgres
@pytest.mark.slow
def test_concurrent_scans_into_postgres_equal_one_run(pg_db: str, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    make_archive(root, 18, size=(48, 64), seed=3)
    add_broken(root)
    r = subprocess.run(
        _argv(root, f"sqlite:///{tmp_path / 'one.db'}", 1),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr

    pg = (
        pg_db.replace("postgresql://", "postgresql+psycopg://", 1)
        if pg_db.startswith("postgresql://")
        else pg_db
    )
    procs = [
        subprocess.Popen(
            _argv(root, pg_db, w), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for w in (1, 2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    scanned = sum(int(out.split("scanned ")[1].split(" ")[0]) for out, _ in outs)
    assert scanned >= 18  # together they detected every photo (some perhaps twice)
    same_register(snapshot(pg), snapshot(f"sqlite:///{tmp_path / 'one.db'}"), history=False)
