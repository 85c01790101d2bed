"""The local engine end to end: real detector (placeholder model), real SQLite register."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from serving.scan import ScanOptions, read_jsonl, run_scan

from .conftest import LOW_CONF, PLACEHOLDER, add_broken, finishscan_cli, same_register, snapshot


def _options(root: Path, db: Path, **kw: object) -> ScanOptions:
    base: dict[str, object] = dict(
        root=root,
        layout="{project}/{unit}/...",
        db=f"sqlite:///{db}",
        conf=LOW_CONF,
        progress=False,
        model=str(PLACEHOLDER),
    )
    base.update(kw)
    return ScanOptions(**base)  # type: ignore[arg-type]


def test_broken_files_are_skipped_reported_and_resume_is_idempotent(
    archive: Path, tmp_path: Path
) -> None:
    broken = add_broken(archive)
    db, out = tmp_path / "r.db", tmp_path / "out.jsonl"
    first = run_scan(_options(archive, db, json_out=out))
    assert first.scanned == 9 and first.skipped == 0
    assert {p: e for p, e in first.unreadable}.keys() == broken.keys()
    for path, err in first.unreadable:
        assert broken[path] in err
    assert first.defects > 0 and sum(first.defects_by_label.values()) == first.defects
    assert first.warnings_raised, "the low threshold should push units over the warning rules"
    text = first.to_text()
    assert "unreadable: 3" in text and "P1/101/empty.jpg" in text and "scanned 9 photo(s)" in text
    lines = read_jsonl(out)
    assert len(lines) == 12 and sum("error" in r for r in lines) == 3
    good = [r for r in lines if "error" not in r]
    assert sum(len(r["defects"]) for r in good) == first.defects
    assert {(r["project"], r["unit"]) for r in good} == {
        ("P1", "101"),
        ("P1", "102"),
        ("P2", "201"),
    }
    snap = snapshot(f"sqlite:///{db}")
    assert sum(snap["photos"].values()) == 9
    assert sum(snap["defects"].values()) == first.defects

    again = run_scan(_options(archive, db, json_out=out))
    assert (again.scanned, again.skipped, len(again.unreadable)) == (0, 9, 3)
    assert again.warnings_raised == [] and again.defects == 0
    assert len(read_jsonl(out)) == 12
    same_register(snapshot(f"sqlite:///{db}"), snap)


def test_two_worker_processes_give_the_register_of_one(archive: Path, tmp_path: Path) -> None:
    one = run_scan(_options(archive, tmp_path / "one.db", workers=1, batch_size=1))
    two = run_scan(_options(archive, tmp_path / "two.db", workers=2, batch_size=4))
    assert one.scanned == two.scanned == 9
    assert one.defects_by_label == two.defects_by_label
    same_register(
        snapshot(f"sqlite:///{tmp_path / 'one.db'}"),
        snapshot(f"sqlite:///{tmp_path / 'two.db'}"),
        history=False,
    )


def test_manifest_metadata_and_duplicates(archive: Path, tmp_path: Path) -> None:
    shutil.copy(archive / "P1/101/img000.jpg", archive / "P1/101/copy.jpg")  # same bytes, same unit
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,project,unit,building,room,stage,taken_at\n"
        "P1/101/,P1,3-2-1701,B3,kitchen,acceptance,2024-05-01T10:00:00\n"
        "P1/101/img000.jpg,P9,9-9-0901,,,,\n"  # the same photo for another unit: recorded there too
        "P2/201/img002.jpg,P2,201,,,,\n"
    )
    s = run_scan(_options(archive, tmp_path / "r.db", layout=None, manifest=manifest))
    assert s.duplicates == 1 and s.scanned == 5 and s.unlisted  # P1/102 is not in the manifest
    snap = snapshot(f"sqlite:///{tmp_path / 'r.db'}")
    units = {(p, u) for p, u, *_ in snap["photos"]}
    assert units == {("P1", "3-2-1701"), ("P9", "9-9-0901"), ("P2", "201")}
    from sqlalchemy import create_engine, text

    eng = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    with eng.connect() as c:
        rows = c.execute(
            text(
                "SELECT r.name, b.code, ph.taken_at FROM photo ph JOIN unit u ON ph.unit_id = u.id "
                "LEFT JOIN room r ON ph.room_id = r.id LEFT JOIN building b ON u.building_id = b.id "
                "WHERE u.code = '3-2-1701'"
            )
        ).all()
    eng.dispose()
    assert len(rows) == 3 and {(r[0], r[1]) for r in rows} == {("kitchen", "B3")}
    assert all(str(r[2]).startswith("2024-05-01 10:00:00") for r in rows)


@pytest.mark.parametrize(
    ("args", "manifest", "message"),
    [
        (
            ["--manifest", "{m}"],
            "path,project,unit\na.jpg,P1,101\nb.jpg,P1\n",
            "error: m.csv line 3: empty 'unit'",
        ),
        (["--manifest", "{m}"], "path,project\n", "error: m.csv line 1: missing column(s) unit"),
        (
            ["--manifest", "{m}", "--layout", "{{project}}/{{unit}}/..."],
            "path,project,unit\n",
            "error: give either --manifest CSV or --layout TEMPLATE",
        ),
        (
            ["--layout", "{{project}}/..."],
            None,
            "error: layout '{project}/...' must contain {unit}",
        ),
        (
            ["--manifest", "{m}", "--workers", "0"],
            "path,project,unit\n",
            "error: --workers must be at least 1",
        ),
        (
            ["--manifest", "{m}", "--select", "3"],
            "path,project,unit\n",
            "error: --select N needs --tasks",
        ),
        (
            ["--manifest", "{m}", "--tasks", "{d}/t.json"],
            "path,project,unit\n",
            "error: --tasks needs --select",
        ),
        (
            ["--manifest", "{m}", "--engine", "spark"],
            "path,project,unit\n",
            "error: --engine must be local or ray",
        ),
        (["--manifest", "{d}/nope.csv"], None, "error: manifest not found"),
        (
            ["--manifest", "{m}", "--model", "{d}/none.onnx"],
            "path,project,unit\n",
            "error: model file not found",
        ),
    ],
)
def test_cli_user_mistakes_are_one_line(
    archive: Path, tmp_path: Path, args: list[str], manifest: str | None, message: str
) -> None:
    m = tmp_path / "m.csv"
    if manifest is not None:
        m.write_text(manifest)
    argv = [a.format(m=m, d=tmp_path) for a in args]
    r = subprocess.run(
        [*finishscan_cli(), "scan", str(archive), *argv, "--db", f"sqlite:///{tmp_path / 'r.db'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith(message), (
        r.stderr
    )


def test_cli_scan_with_select_writes_label_studio_tasks(archive: Path, tmp_path: Path) -> None:
    out, tasks = tmp_path / "o.jsonl", tmp_path / "tasks.json"
    r = subprocess.run(
        [
            *finishscan_cli(),
            "scan",
            str(archive),
            "--layout",
            "{project}/{unit}/...",
            "--db",
            f"sqlite:///{tmp_path / 'r.db'}",
            "--conf",
            str(LOW_CONF),
            "--json",
            str(out),
            "--model",
            str(PLACEHOLDER),
            "--select",
            "4",
            "--tasks",
            str(tasks),
            "--summary-json",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["scanned"] == 9 and summary["defects"] == sum(
        summary["defects_by_label"].values()
    )
    chosen = json.loads(tasks.read_text())
    assert len(chosen) == 4
    records = {r["image"]: r for r in read_jsonl(out)}
    for t in chosen:
        rec = records[t["data"]["image"].removeprefix("/data/local-files/?d=")]
        assert len(t["predictions"][0]["result"]) == len(rec["defects"])
        assert (t["data"]["project"], t["data"]["unit"]) == (rec["project"], rec["unit"])
    select = pytest.importorskip("training.select")
    expected = select.select_records(list(records.values()), 4, threshold=LOW_CONF)
    assert [t["data"]["image"] for t in chosen] == [
        "/data/local-files/?d=" + s.record["image"] for s in expected
    ]
