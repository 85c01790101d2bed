"""`dataset tile`: tiles are exact crops of the photo, boxes are clipped by hand-computed
rules, empty tiles are thinned deterministically, bad input writes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.formats import yolo
from datasets.tools.tile import clip_boxes, tile_dataset
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

from .conftest import tile_cli

CLI = [sys.executable, "-c", "from serving.cli import main; main()"]


def _photo(root: Path, name: str, w: int, h: int, seed: int, rows: list) -> Path:
    """A PNG photo with YOLO rows ``(class, cx, cy, bw, bh)`` (normalised) under root/images/train."""
    path = root / "images" / "train" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    lab = yolo.label_path_for(path)
    lab.parent.mkdir(parents=True, exist_ok=True)
    lab.write_text("".join(" ".join(str(v) for v in r) + "\n" for r in rows))
    return path


def _dataset(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    # 200x100 photo; boxes in pixels: A (10,10)-(40,30) in the left tile only;
    # B (80,20)-(140,60) straddles x=100 (half on each side); C (95,70)-(115,90) is 25% left.
    rows = [
        (0, 25 / 200, 20 / 100, 30 / 200, 20 / 100),
        (1, 110 / 200, 40 / 100, 60 / 200, 40 / 100),
        (2, 105 / 200, 80 / 100, 20 / 200, 20 / 100),
    ]
    _photo(root, "wall.png", 200, 100, 1, rows)
    _photo(root, "clean.png", 200, 100, 2, [])
    yolo.write_data_yaml(root, ["crack", "hollow_tile", "tile_chip"], {"train": "images/train"})
    return root


def _boxes(label: Path, w: int, h: int) -> list[tuple[int, float, float, float, float]]:
    out = []
    for line in label.read_text().split("\n"):
        if line.strip():
            c, cx, cy, bw, bh = (float(v) for v in line.split())
            out.append(
                (int(c), (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
            )
    return out


def test_clip_boxes_by_hand():
    boxes = [Box(0, 10, 10, 40, 30), Box(1, 80, 20, 140, 60), Box(2, 95, 70, 115, 90)]
    left, dropped = clip_boxes(boxes, (0, 0, 100, 100), min_visible=0.3, min_side=3)
    assert left == [Box(0, 10, 10, 40, 30), Box(1, 80, 20, 100, 60)]
    assert dropped == 1  # C: 5x20 of 20x20 = 25% < 30%
    right, dropped = clip_boxes(boxes, (100, 0, 200, 100), min_visible=0.3, min_side=3)
    assert right == [Box(1, 0, 20, 40, 60), Box(2, 0, 70, 15, 90)]  # C: 75% visible
    assert dropped == 0
    thin, dropped = clip_boxes(
        [Box(0, 98, 0, 140, 90)], (0, 0, 100, 100), min_visible=0.01, min_side=3
    )
    assert thin == [] and dropped == 1  # a 2-px sliver is below min_side


def test_tiles_are_exact_crops_with_clipped_boxes(tmp_path):
    src = _dataset(tmp_path)
    out = tmp_path / "tiles"
    s = tile_dataset(yolo.load(src), out, size=100, overlap=0.0, min_visible=0.3)
    assert (s.photos, s.tiles, s.boxes_in, s.boxes_out, s.dropped) == (2, 4, 3, 4, 1)
    photo = cv2.imread(str(src / "images" / "train" / "wall.png"))
    for x0 in (0, 100):
        tile = out / "images" / "train" / f"wall_x{x0}_y0.png"
        assert np.array_equal(cv2.imread(str(tile)), photo[:, x0 : x0 + 100])
    left = _boxes(yolo.label_path_for(out / "images/train/wall_x0_y0.png"), 100, 100)
    right = _boxes(yolo.label_path_for(out / "images/train/wall_x100_y0.png"), 100, 100)
    assert [(c, *np.round(b, 3)) for c, *b in left] == [(0, 10, 10, 40, 30), (1, 80, 20, 100, 60)]
    assert [(c, *np.round(b, 3)) for c, *b in right] == [(1, 0, 20, 40, 60), (2, 0, 70, 15, 90)]
    assert yolo.label_path_for(out / "images/train/clean_x0_y0.png").read_text() == ""
    # the result is a YOLO dataset the rest of the tooling reads back
    back = yolo.load(out)
    assert back.names == ["crack", "hollow_tile", "tile_chip"] and len(back.images) == 4


def test_overlap_follows_the_detector_grid(tmp_path):
    src = _dataset(tmp_path)
    s = tile_dataset(yolo.load(src), tmp_path / "t", size=80, overlap=0.25)
    # detector.tiling.slice_grid(100, 200, 80, 80, 0.25): x at 0, 60, 120; y at 0, 20
    names = sorted(p.name for p in (tmp_path / "t" / "images" / "train").glob("wall_*"))
    assert names == sorted(f"wall_x{x}_y{y}.png" for x in (0, 60, 120) for y in (0, 20))
    assert s.tiles == 12


def test_keep_empty_thins_clean_tiles_deterministically(tmp_path):
    src = _dataset(tmp_path)
    ds = yolo.load(src)
    a = tile_dataset(ds, tmp_path / "a", size=50, overlap=0.0, keep_empty=0.0)
    kept = sorted(p.name for p in (tmp_path / "a" / "images" / "train").iterdir())
    assert all(yolo.label_path_for(tmp_path / "a/images/train" / n).read_text() for n in kept)
    assert a.tiles == len(kept) < 16
    b1 = tile_dataset(ds, tmp_path / "b1", size=50, overlap=0.0, keep_empty=0.5, seed=3)
    b2 = tile_dataset(ds, tmp_path / "b2", size=50, overlap=0.0, keep_empty=0.5, seed=3)
    assert b1 == b2
    assert sorted(p.name for p in (tmp_path / "b1/images/train").iterdir()) == sorted(
        p.name for p in (tmp_path / "b2/images/train").iterdir()
    )
    assert a.tiles < b1.tiles < 16


def test_bad_input_writes_nothing(tmp_path):
    src = _dataset(tmp_path)
    ds = yolo.load(src)
    with pytest.raises(DatasetError, match="at least 32"):
        tile_dataset(ds, tmp_path / "o", size=16)
    with pytest.raises(DatasetError, match="overlap"):
        tile_dataset(ds, tmp_path / "o", overlap=1.0)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")
    bad = Dataset(ds.names, [*ds.images, LabeledImage(broken, 200, 100, [])])
    with pytest.raises(DatasetError, match="unreadable image"):
        tile_dataset(bad, tmp_path / "o", size=100)
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")]


def test_cli_tile(tmp_path):
    src = _dataset(tmp_path)
    out = tile_cli(src, tmp_path / "t")
    # default --min-visible 0.2 keeps C's 25% piece on the left tile too
    assert "2 photos → 4 tiles of 100 px, 5 boxes (0 box pieces dropped as < 20% visible)" in out
    (tmp_path / "t2").mkdir()
    (tmp_path / "t2" / "keep.txt").write_text("mine")
    p = subprocess.run(
        [*CLI, "dataset", "tile", str(src), "--out", str(tmp_path / "t2")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 1 and "not empty" in p.stderr and "Traceback" not in p.stderr
    assert (tmp_path / "t2" / "keep.txt").read_text() == "mine"
