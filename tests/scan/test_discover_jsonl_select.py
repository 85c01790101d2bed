from __future__ import annotations

import json
from pathlib import Path

import pytest

from finishscan.errors import ConfigError
from serving.scan.discover import discover_images, plan_from_layout, plan_from_manifest
from serving.scan.jsonl import JsonlLog, read_jsonl
from serving.scan.layout import Layout
from serving.scan.manifest import parse_manifest
from serving.scan.select import ambiguity, rank, to_task


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_discover_recursive_by_suffix(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "P1/101/a.jpg",
        "P1/101/b.PNG",
        "P1/101/deep/c.jpeg",
        "P1/notes.txt",
        "P1/.hidden/d.jpg",
        "P1/101/.e.jpg",
        "z.tiff",
        "y.webp",
    )
    assert discover_images(tmp_path) == [
        "P1/101/a.jpg",
        "P1/101/b.PNG",
        "P1/101/deep/c.jpeg",
        "y.webp",
        "z.tiff",
    ]


def test_discover_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="scan folder not found"):
        discover_images(tmp_path / "nope")


def test_manifest_folder_rows_expand_and_unlisted_are_reported(tmp_path: Path) -> None:
    _touch(tmp_path, "P1/101/a.jpg", "P1/101/k/b.jpg", "P1/102/c.jpg", "other/d.jpg")
    rows = parse_manifest(
        "path,project,unit,room\nP1/101/,P1,101,\nP1/102/c.jpg,P1,102,bath\nP1/101/a.jpg,P1,101,\n"
        "missing.jpg,P1,103,\n"
    )
    plan = plan_from_manifest(tmp_path, rows)
    assert [(i.rel, i.unit, i.room) for i in plan.items] == [
        ("P1/101/a.jpg", "101", None),
        ("P1/101/k/b.jpg", "101", None),
        ("P1/102/c.jpg", "102", "bath"),
        ("missing.jpg", "103", None),
    ]
    assert plan.unlisted == ["other/d.jpg"]


def test_layout_plan(tmp_path: Path) -> None:
    _touch(tmp_path, "P1/101/a.jpg", "P1/b.jpg", "P2/7/x/c.jpg")
    plan = plan_from_layout(tmp_path, Layout.parse("{project}/{unit}/..."))
    assert [(i.rel, i.project, i.unit) for i in plan.items] == [
        ("P1/101/a.jpg", "P1", "101"),
        ("P2/7/x/c.jpg", "P2", "7"),
    ]
    assert plan.unlisted == ["P1/b.jpg"]


def test_jsonl_recovers_a_torn_line_and_never_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    with JsonlLog(out) as log:
        assert (
            log.write(
                [
                    {"image": "a", "project": "P", "unit": "1"},
                    {"image": "b", "project": "P", "unit": "1"},
                ]
            )
            == 2
        )
    with out.open("a") as fh:  # a kill in the middle of a write
        fh.write('{"image": "c", "proj')
    with JsonlLog(out) as log:
        assert out.read_text().endswith('"unit": "1"}\n')
        assert (
            log.write(
                [
                    {"image": "a", "project": "P", "unit": "1"},
                    {"image": "c", "project": "P", "unit": "1"},
                    {"image": "a", "project": "P", "unit": "2"},
                ]
            )
            == 2
        )
    assert [(r["image"], r["unit"]) for r in read_jsonl(out)] == [
        ("a", "1"),
        ("b", "1"),
        ("c", "1"),
        ("a", "2"),
    ]


@pytest.mark.parametrize(
    ("confs", "score"),
    [([], 0.0), ([0.5], 1.0), ([0.9], 0.2), ([0.1], 0.2), ([0.95, 0.3], 0.6), ([1.0, 0.0], 0.0)],
)
def test_ambiguity(confs: list[float], score: float) -> None:
    assert ambiguity(confs) == pytest.approx(score)


def test_rank_and_task() -> None:
    def rec(image: str, *confs: float) -> dict:
        return {
            "image": image,
            "project": "P",
            "unit": "1",
            "width": 200,
            "height": 100,
            "defects": [
                {"label": "crack", "confidence": c, "box": [20, 10, 70, 60]} for c in confs
            ],
            "model": {"name": "m", "version": "1"},
            "sha256": "ab",
        }

    records = [
        rec("sure.jpg", 0.95),
        rec("none.jpg"),
        rec("unsure.jpg", 0.9, 0.55),
        {"image": "bad.jpg", "project": "P", "unit": "1", "error": "empty"},
        rec("also.jpg", 0.45),
    ]
    assert [r["image"] for r in rank(records)] == ["unsure.jpg", "also.jpg", "sure.jpg", "none.jpg"]
    task = to_task(rec("a.jpg", 0.6))
    value = task["predictions"][0]["result"][0]["value"]
    # box 20..70 x 10..60 in a 200x100 photo: x 10 %, y 10 %, width 25 %, height 50 %
    assert (value["x"], value["y"], value["width"], value["height"]) == (10.0, 10.0, 25.0, 50.0)
    assert value["rectanglelabels"] == ["crack"]
    assert task["data"]["image"] == "/data/local-files/?d=a.jpg"
    assert task["predictions"][0]["score"] == pytest.approx(0.8)
    json.dumps(task)
