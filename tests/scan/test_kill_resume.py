"""Kill -9 in the middle of a scan, run it again: the register equals one uninterrupted run.

Two drivers: the scan library with a deterministic fake detector (varied labels, so several
warning rules fire; 1 and 2 worker processes) and the real ``finishscan scan`` command with
the shipped placeholder model.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import (
    LOW_CONF,
    PLACEHOLDER,
    add_broken,
    finishscan_cli,
    make_archive,
    same_register,
    snapshot,
)

HERE = Path(__file__).resolve().parent


def _fake_argv(root: Path, db: Path, out: Path, workers: int, batch: int) -> list[str]:
    opts = {
        "root": str(root),
        "layout": "{project}/{unit}/...",
        "db": f"sqlite:///{db}",
        "json_out": str(out),
        "workers": workers,
        "batch_size": batch,
        "progress": False,
    }
    return [sys.executable, str(HERE / "run_fake_scan.py"), json.dumps(opts), "0.02"]


def _cli_argv(root: Path, db: Path, out: Path, workers: int, batch: int) -> list[str]:
    return [
        *finishscan_cli(),
        "scan",
        str(root),
        "--layout",
        "{project}/{unit}/...",
        "--db",
        f"sqlite:///{db}",
        "--conf",
        str(LOW_CONF),
        "--model",
        str(PLACEHOLDER),
        "--json",
        str(out),
        "--workers",
        str(workers),
        "--batch-size",
        str(batch),
        "--no-progress",
    ]


def _photos(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM photo").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:
        return 0  # not created / migrated yet


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc; empty elsewhere)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _run_and_kill(argv: list[str], db: Path, at_least: int) -> int:
    """Start the scan, SIGKILL its main process once ``at_least`` photos are committed."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while _photos(db) < at_least:
            if proc.poll() is not None:
                pytest.fail(f"the scan ended before it could be killed: {proc.stderr.read()!r}")
            assert time.monotonic() < deadline, "scan too slow"
            time.sleep(0.005)
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)  # the main process only, as a crash would
        proc.wait(30)
        gone_by = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < gone_by:
            time.sleep(0.1)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "orphaned workers"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # worker processes the kill left behind
        if proc.stderr:
            proc.stderr.close()
    return _photos(db)


def _lines(out: Path) -> list[str]:
    return [
        json.dumps(json.loads(line), sort_keys=True)
        for line in out.read_text().splitlines()
        if line.strip()
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("driver", "n", "workers", "batch"),
    [("fake", 24, 1, 3), ("fake", 24, 2, 3), ("cli", 10, 1, 2)],
)
def test_kill_and_resume_equals_one_clean_run(
    tmp_path: Path, driver: str, n: int, workers: int, batch: int
) -> None:
    argv = _fake_argv if driver == "fake" else _cli_argv
    root = tmp_path / "archive"
    make_archive(root, n, size=(60, 80), seed=1)
    add_broken(root)

    clean_db, clean_out = tmp_path / "clean.db", tmp_path / "clean.jsonl"
    r = subprocess.run(
        argv(root, clean_db, clean_out, workers, batch), capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert f"scanned {n} photo(s)" in r.stdout and "unreadable: 3" in r.stdout
    clean = snapshot(f"sqlite:///{clean_db}")
    if driver == "fake":
        assert len({rule for _p, _u, _level, rule in clean["warnings"]}) >= 2

    db, out = tmp_path / "killed.db", tmp_path / "killed.jsonl"
    first = _run_and_kill(argv(root, db, out, workers, batch), db, at_least=2)
    second = _run_and_kill(argv(root, db, out, workers, batch), db, at_least=first + batch + 1)
    assert 0 < first < second < n, (first, second)
    r = subprocess.run(
        argv(root, db, out, workers, batch), capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    assert (
        f"scanned {n - second} photo(s)" in r.stdout
        and f"skipped {second} already recorded" in r.stdout
    )

    # same photos, defects, scans and active warnings; with one worker the recording order is
    # the same too, so also the same warning rows and raise/clear events
    same_register(snapshot(f"sqlite:///{db}"), clean, history=workers == 1)
    killed_lines, clean_lines = _lines(out), _lines(clean_out)
    assert len(killed_lines) == len(set(killed_lines)) == n + 3
    assert sorted(killed_lines) == sorted(clean_lines)
