"""`finishscan dataset check` names every problem with its file and exits non-zero."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from datasets.formats import yolo
from datasets.tools.check import Problem, check_dataset, check_image_bytes, check_label_lines

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


# --------------------------------------------------------------------------- image bytes
def _full_decode_verdict(data: bytes, path: Path) -> list[Problem]:
    """The former check: a full ``IMREAD_COLOR`` decode (the reference for the cheaper one)."""
    import cv2

    if not data:
        return [Problem(path, None, "error", "unreadable image (empty file)")]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return [Problem(path, None, "error", "unreadable image (not a decodable image file)")]
    if min(img.shape[:2]) < 10:
        h, w = img.shape[:2]
        msg = f"image is {w}x{h} px; ultralytics ignores images under 10 px"
        return [Problem(path, None, "error", msg)]
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        msg = "JPEG has no end marker (truncated or trailing data)"
        return [Problem(path, None, "warning", msg)]
    return []


def _jpeg(h: int, w: int, *, progressive: bool = False, orientation: int = 1) -> bytes:
    import struct

    import cv2

    img = cv2.GaussianBlur(
        np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2
    )
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    data = buf.tobytes()
    if orientation == 1:
        return data
    tiff = (
        b"II" + struct.pack("<HIH", 42, 8, 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)
    )
    payload = b"Exif\0\0" + tiff + b"\0\0\0\0"
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


_WHOLE = _jpeg(240, 320)
_PROGRESSIVE = _jpeg(240, 320, progressive=True)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (_WHOLE, None),
        (_PROGRESSIVE, None),
        (_WHOLE[: len(_WHOLE) // 2], "unreadable image"),  # cut in half
        (_PROGRESSIVE[: len(_PROGRESSIVE) // 2], "unreadable image"),
        (_WHOLE[: int(len(_WHOLE) * 0.95)], "unreadable image"),
        (_WHOLE[:-2], "JPEG has no end marker"),  # only the end-of-image marker missing
        (_WHOLE[:600], "unreadable image"),  # headers only
        (_WHOLE + b"trailing", "JPEG has no end marker"),
        (b"", "unreadable image (empty file)"),
        (np.random.default_rng(7).bytes(50_000), "unreadable image"),  # random bytes
        (b"\xff\xd8" + np.random.default_rng(8).bytes(50_000), "unreadable image"),
        (_jpeg(5, 7), "image is 7x5 px"),
        (_jpeg(12, 8, orientation=6), "image is 12x8 px"),  # size as shown, EXIF applied
        (_jpeg(8, 12, orientation=6), "image is 8x12 px"),
    ],
)
def test_image_check_matches_a_full_decode(tmp_path, data, expected):
    path = tmp_path / "x.jpg"
    got = check_image_bytes(data, path)
    assert got == _full_decode_verdict(data, path)
    if expected is None:
        assert got == []
    else:
        assert len(got) == 1 and expected in got[0].message


def test_jpeg_check_never_decodes_full_size(monkeypatch, tmp_path):
    import cv2

    real, flags = cv2.imdecode, []

    def spy(buf, flag):
        flags.append(flag)
        return real(buf, flag)

    monkeypatch.setattr(cv2, "imdecode", spy)
    assert check_image_bytes(_WHOLE, tmp_path / "x.jpg") == []
    assert check_image_bytes(_WHOLE[: len(_WHOLE) // 2], tmp_path / "y.jpg")[0].severity == "error"
    assert flags == [cv2.IMREAD_REDUCED_GRAYSCALE_8] * 2


def test_dataset_check_reports_cut_and_random_jpegs(tmp_path, make_image):
    root = _clean(tmp_path / "ds", make_image)
    (root / "images" / "train" / "half.jpg").write_bytes(_WHOLE[: len(_WHOLE) // 2])
    (root / "images" / "train" / "noise.jpg").write_bytes(np.random.default_rng(3).bytes(9000))
    errors = {p.path.name: p.message for p in check_dataset(root) if p.severity == "error"}
    assert errors == {
        "half.jpg": "unreadable image (not a decodable image file)",
        "noise.jpg": "unreadable image (not a decodable image file)",
    }
