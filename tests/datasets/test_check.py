"""`finishscan dataset check` names every problem with its file and exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datasets.formats import yolo
from datasets.tools.check import Problem, check_dataset, check_label_lines

NAMES = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]
CLI = [sys.executable, "-c", "from serving.cli import main; main()"]


@pytest.mark.parametrize(
    ("line", "severity", "message"),
    [
        ("9 0.5 0.5 0.1 0.1", "error", "unknown class id 9 (the dataset has 6 classes, ids 0-5)"),
        ("1.5 0.5 0.5 0.1 0.1", "error", "unknown class id 1.5"),
        ("0 0.95 0.5 0.2 0.1", "error", "box outside the image"),
        ("0 0.5 -0.01 0.2 0.01", "error", "box outside the image"),
        ("0 nan 0.5 0.2 0.1", "error", "NaN"),
        ("0 0.5 0.5 inf 0.1", "error", "infinite value"),
        ("0 0.5 0.5 0 0.1", "error", "zero-area box"),
        ("0 0.5 0.5 0.1", "error", "expected 'class cx cy w h', got 4 fields"),
        ("0 0.5 zero 0.1 0.1", "error", "not a number"),
        ("0 0.5 0.5 0.1 0.1 0.2", "error", "got 6 fields"),
        ("1 0.1 0.1 0.3 0.1 0.2 0.4", "error", "a polygon row in a file of box rows"),
    ],
)
def test_check_label_lines_table(line, severity, message):
    (p,) = check_label_lines(["0 0.5 0.5 0.2 0.2", line], 6, source=Path("l.txt"))
    assert (p.path, p.line, p.severity) == (Path("l.txt"), 2, severity)
    assert message in p.message


def test_clean_lines_and_edges_pass():
    # boxes touching the borders (6-decimal rounding) are fine; so is a file of polygons
    lines = ["0 0.5 0.5 1.0 1.0", "5 0.050000 0.950000 0.100000 0.100000", ""]
    assert check_label_lines(lines, 6, source=Path("l.txt")) == []
    polygons = ["2 0.1 0.1 0.3 0.1 0.2 0.4", "0 0 0 1 0 1 1 0 1"]
    assert check_label_lines(polygons, 6, source=Path("l.txt")) == []
    (dup,) = check_label_lines(["0 0.5 0.5 0.2 0.2", "0 0.5 0.5 0.2 0.2"], 6, source=Path("l.txt"))
    assert dup.severity == "warning" and "duplicate of line 1" in dup.message


def _clean(root: Path, make_image) -> Path:
    for i, split in enumerate(["train", "train", "val"]):
        make_image(root / "images" / split / f"p{i}.jpg", 64, 48, seed=i)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split / f"p{i}.txt").write_text(f"{i} 0.5 0.5 0.25 0.25\n")
    yolo.write_data_yaml(root, NAMES)
    return root


def test_clean_dataset_exits_zero(tmp_path, make_image):
    root = _clean(tmp_path / "ds", make_image)
    assert check_dataset(root) == []
    r = subprocess.run(
        [*CLI, "dataset", "check", str(root)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and "0 error(s), 0 warning(s)" in r.stderr


def test_warnings_alone_exit_zero(tmp_path, make_image):
    root = _clean(tmp_path / "ds", make_image)
    make_image(root / "images" / "train" / "negative.jpg", 32, 32, seed=9)
    r = subprocess.run(
        [*CLI, "dataset", "check", str(root)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0
    assert r.stdout.strip() == (
        f"{root / 'images/train/negative.jpg'}: warning: image without label file "
        f"(expected {root / 'labels/train/negative.txt'})"
    )


def test_seeded_broken_dataset_names_every_problem(tmp_path, make_image):
    root = _clean(tmp_path / "ds", make_image)
    lab = root / "labels" / "train"
    (lab / "p0.txt").write_text("0 0.5 0.5 0.25 0.25\n7 0.5 0.5 0.1 0.1\n")  # unknown class, line 2
    (lab / "p1.txt").write_text("1 0.9 0.5 0.4 0.2\n1 nan 0.5 0.1 0.1\n2 0.5 0.5 0.0 0.3\n")
    (lab / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # label without image
    make_image(root / "images" / "train" / "nolabel.jpg", 30, 30, seed=5)  # warning only
    (root / "images" / "train" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (lab / "broken.txt").write_text("")
    dup = root / "images" / "val" / "copy_of_p0.jpg"
    dup.write_bytes((root / "images" / "train" / "p0.jpg").read_bytes())
    (root / "labels" / "val" / "copy_of_p0.txt").write_text("0 0.5 0.5 0.25 0.25\n")

    r = subprocess.run(
        [*CLI, "dataset", "check", str(root)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    out = r.stdout.splitlines()
    expected = [
        (f"{lab / 'p0.txt'}:2: error:", "unknown class id 7"),
        (f"{lab / 'p1.txt'}:1: error:", "box outside the image"),
        (f"{lab / 'p1.txt'}:2: error:", "NaN"),
        (f"{lab / 'p1.txt'}:3: error:", "zero-area box"),
        (f"{lab / 'orphan.txt'}: error:", "label without image"),
        (f"{root / 'images/train/broken.jpg'}: error:", "unreadable image"),
        (f"{dup}: error:", f"duplicate image: same SHA-256 as {root / 'images/train/p0.jpg'}"),
        (f"{root / 'images/train/nolabel.jpg'}: warning:", "image without label file"),
    ]
    for prefix, text in expected:
        assert any(line.startswith(prefix) and text in line for line in out), (prefix, text, out)
    assert len(out) == len(expected), out
    assert "7 error(s), 1 warning(s)" in r.stderr


def test_missing_dir_and_bad_yaml(tmp_path):
    r = subprocess.run(
        [*CLI, "dataset", "check", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: dataset not found: {tmp_path / 'nope'}"
    (tmp_path / "data.yaml").write_text("names: {0: crack, 2: stain}\ntrain: images/train\n")
    (problem,) = check_dataset(tmp_path)
    assert problem == Problem(tmp_path / "data.yaml", None, "error", "'names' ids must be 0..1")
