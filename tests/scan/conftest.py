"""Fixtures of the scan tests: a tiny seeded photo archive and a register snapshot."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from finishscan.paths import MODELS

# The placeholder model has random weights; at this threshold it returns a few dozen boxes
# on noise photos (all of one class), enough to create defects and raise warnings. Tests
# name it explicitly so a new default model does not change what they measure.
LOW_CONF = 0.001
PLACEHOLDER = MODELS / "finishscan-placeholder.onnx"


def finishscan_cli() -> list[str]:
    """The argv prefix that runs this environment's ``finishscan`` command in a subprocess."""
    exe = Path(sys.executable).parent / "finishscan"
    return (
        [str(exe)]
        if exe.exists()
        else [sys.executable, "-c", "from serving.cli import main; main()"]
    )


def make_archive(
    root: Path, n: int, *, size: tuple[int, int] = (96, 128), seed: int = 0
) -> list[str]:
    """``n`` seeded noise JPEGs spread over P1/101, P1/102/kitchen and P2/201; returns rel paths."""
    rng = np.random.default_rng(seed)
    dirs = ["P1/101", "P1/102/kitchen", "P2/201"]
    rels = []
    for i in range(n):
        rel = f"{dirs[i % 3]}/img{i:03d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        img = cv2.GaussianBlur(img, (5, 5), 0)
        assert cv2.imwrite(str(root / rel), img)
        rels.append(rel)
    return rels


def add_broken(root: Path) -> dict[str, str]:
    """A zero-byte, a text and a truncated JPEG file; returns rel path -> expected reason part."""
    (root / "P1/101").mkdir(parents=True, exist_ok=True)
    (root / "P1/101/empty.jpg").write_bytes(b"")
    (root / "P1/101/notes.jpg").write_text("tapped tiles in the bathroom")
    ok = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    (root / "P2/201").mkdir(parents=True, exist_ok=True)
    (root / "P2/201/cut.jpg").write_bytes(ok[: len(ok) // 2])
    return {
        "P1/101/empty.jpg": "empty",
        "P1/101/notes.jpg": "not a supported image",
        "P2/201/cut.jpg": "truncated",
    }


def snapshot(url: str) -> dict[str, object]:
    """The register's content without ids and timestamps: photos, defects, scans, warnings."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            photos = Counter(
                tuple(r)
                for r in c.execute(
                    text(
                        "SELECT p.code, u.code, ph.sha256, ph.width, ph.height FROM photo ph "
                        "JOIN unit u ON ph.unit_id = u.id JOIN project p ON u.project_id = p.id"
                    )
                )
            )
            defects = Counter(
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    round(r[4], 4),
                    tuple(round(v, 2) for v in r[5:9]),
                    r[9],
                    r[10],
                )
                for r in c.execute(
                    text(
                        "SELECT p.code, u.code, ph.sha256, d.label, d.confidence, d.x0, d.y0, d.x1, d.y1, "
                        "d.status, d.tier FROM defect d JOIN photo ph ON d.photo_id = ph.id "
                        "JOIN unit u ON d.unit_id = u.id JOIN project p ON u.project_id = p.id"
                    )
                )
            )
            history = c.execute(text("SELECT count(*) FROM defect_history")).scalar_one()
            scans = Counter(
                tuple(r)
                for r in c.execute(
                    text(
                        "SELECT ph.sha256, s.model_name, s.model_version, s.detections FROM scan s "
                        "JOIN photo ph ON s.photo_id = ph.id"
                    )
                )
            )
            rows = [
                tuple(r)
                for r in c.execute(
                    text(
                        "SELECT p.code, u.code, w.level, w.rule, w.cleared_at IS NULL FROM warning w "
                        "JOIN project p ON w.project_id = p.id LEFT JOIN unit u ON w.unit_id = u.id"
                    )
                )
            ]
            events = Counter(
                tuple(r)
                for r in c.execute(
                    text(
                        "SELECT w.rule, w.level, e.kind FROM warning_event e "
                        "JOIN warning w ON e.warning_id = w.id"
                    )
                )
            )
    finally:
        engine.dispose()
    return {
        "photos": photos,
        "defects": defects,
        "history": history,
        "scans": scans,
        "warnings": Counter(r[:4] for r in rows if r[4]),
        "warning_rows": Counter(rows),
        "warning_events": events,
    }


def same_register(a: dict[str, object], b: dict[str, object], *, history: bool = True) -> None:
    """Assert two snapshots hold the same register (``history``: also the warning rows and
    events, which depend on the order photos were recorded in)."""
    keys = ["photos", "defects", "history", "scans", "warnings"]
    keys += ["warning_rows", "warning_events"] if history else []
    for k in keys:
        assert a[k] == b[k], f"registers differ in {k}"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    make_archive(root, 9)
    return root
