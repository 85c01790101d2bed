"""`dataset tile`: a piece of a label cut by a tile's edge is labelled only if its tile shows it,
by the generator's label rule (gray step >= 16 levels; a crack's line contrast >= 0.8; a hollow
tile judged on its cue). Hand-built photos and masks; 100-px tiles, overlap 0."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.formats import coco, yolo
from datasets.tools.tile import DefectMask, PieceRule, clip_masks, coco_masks, tile_dataset
from datasets.types import Box
from finishscan.errors import DatasetError

from .conftest import tile_cli

LEFT, RIGHT = (0, 0, 100, 100), (100, 0, 200, 100)
RULE = PieceRule(16.0, 0.8, frozenset({0}))  # class 0 is a line class (crack), 1 is not
KW = {"min_pixels": 24, "min_visible": 0.2, "min_side": 3}


def _box_of(mask: np.ndarray, class_id: int) -> Box:
    ys, xs = np.nonzero(mask)
    return Box(class_id, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _crack() -> np.ndarray:
    """A 2-px horizontal crack, x 20-179 at y 50-51: 80 px in each 100-px tile of a row."""
    m = np.zeros((100, 200), bool)
    m[50:52, 20:180] = True
    return m


def _clip(gray, mask, window, class_id=0, rule=RULE, cue=None):
    d = DefectMask.from_full(mask, cue)
    wx0, wy0, wx1, wy1 = window
    g = None if gray is None else gray[wy0:wy1, wx0:wx1]
    return clip_masks([_box_of(mask, class_id)], [d], window, gray=g, rule=rule, **KW)


def test_a_crack_drawn_only_in_the_left_tile_is_labelled_only_there():
    m = _crack()
    g = np.full((100, 200), 120, np.uint8)
    g[50:52, 20:100] = 60  # step 60 on a flat wall; the right half: 2 levels (118)
    g[50:52, 100:180] = 118
    left, right = _clip(g, m, LEFT), _clip(g, m, RIGHT)
    assert left.boxes == [Box(0, 20, 50, 100, 52)] and left.faint == 0
    assert right.boxes == [] and right.faint == 1 and right.dropped == 0
    # without the photo's pixels or without a rule: geometry only, as before
    assert _clip(None, m, RIGHT).boxes == [Box(0, 0, 50, 80, 52)]
    assert _clip(g, m, RIGHT, rule=None).boxes == [Box(0, 0, 50, 80, 52)]
    # a rule of 2 levels keeps it (the step is exactly 2)
    assert _clip(g, m, RIGHT, rule=PieceRule(2.0, 0.0)).boxes == [Box(0, 0, 50, 80, 52)]


def test_an_uncut_label_is_not_judged():
    m = np.zeros((100, 200), bool)
    m[50:52, 20:80] = True  # wholly in the left tile, not drawn at all
    got = _clip(np.full((100, 200), 120, np.uint8), m, LEFT)
    assert got.boxes == [Box(0, 20, 50, 80, 52)] and got.faint == 0


@pytest.mark.parametrize(
    ("class_id", "kept"),
    [
        (0, False),  # a crack: step sqrt(25^2 + 20^2) = 32, line contrast 20 / 38.1 = 0.53
        (1, True),  # another class: the gray step alone (32 >= 16)
    ],
)
def test_the_line_rule_applies_to_line_classes_only(class_id, kept):
    g = np.tile(np.where(np.arange(200) % 2 == 0, 95, 145), (100, 1)).astype(np.uint8)  # +-25
    m = _crack()
    g[m] -= 20
    got = _clip(g, m, RIGHT, class_id=class_id)
    assert (got.boxes != []) is kept and got.faint == (0 if kept else 1)


def test_a_hollow_tile_piece_is_judged_on_its_cue():
    m = np.zeros((100, 200), bool)
    m[20:90, 60:140] = True  # a tile across the x = 100 border
    cue = np.zeros_like(m)
    cue[20:23, 60:140] = True  # its lifted top edge, 40 px on each side
    g = np.full((100, 200), 120, np.uint8)
    g[20:23, 60:100] = 200  # the highlight drawn on the left only
    left, right = (_clip(g, m, w, class_id=1, cue=cue) for w in (LEFT, RIGHT))
    assert left.boxes == [Box(1, 60, 20, 100, 90)] and left.faint == 0
    assert right.boxes == [] and right.faint == 1 and right.no_cue == 0


def _dataset(tmp_path: Path, drawn_to: int) -> Path:
    """A 300x100 photo (a 110-130 wall) with a crack x 20-279 at y 50-51 drawn at gray 40 for
    x < ``drawn_to``; its YOLO folder and a COCO file with the crack's RLE mask."""
    root = tmp_path / "src"
    img = root / "images" / "train" / "wall.png"
    img.parent.mkdir(parents=True)
    m = np.zeros((100, 300), bool)
    m[50:52, 20:280] = True
    pixels = np.random.default_rng(3).integers(110, 131, (100, 300, 3), np.uint8)
    pixels[50:52, 20:drawn_to] = 40
    assert cv2.imwrite(str(img), pixels)
    box = _box_of(m, 0)
    lab = yolo.label_path_for(img)
    lab.parent.mkdir(parents=True)
    lab.write_text("".join(x + "\n" for x in yolo.format_yolo_lines([box], 300, 100)))
    yolo.write_data_yaml(root, ["crack", "stain"], {"train": "images/train"})
    doc = {
        "images": [{"id": 1, "file_name": "images/train/wall.png", "width": 300, "height": 100}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0],
                "iscrowd": 0,
                "segmentation": coco.encode_rle(m),
            }
        ],
        "categories": [{"id": 1, "name": "crack"}, {"id": 2, "name": "stain"}],
    }
    (root / "annotations.coco.json").write_text(json.dumps(doc))
    return root


def test_tiling_drops_the_piece_its_tile_does_not_show(tmp_path):
    root = _dataset(tmp_path, drawn_to=200)  # the third tile's 80 px are not drawn
    ds = yolo.load(root)
    masks = coco_masks(root / "annotations.coco.json", ds)
    s = tile_dataset(ds, tmp_path / "t", size=100, overlap=0.0, polygons=masks)
    assert (s.tiles, s.boxes_out, s.dropped, s.dropped_faint) == (3, 2, 0, 1)
    labels = tmp_path / "t" / "labels" / "train"
    assert (labels / "wall_x200_y0.txt").read_text() == ""
    assert (labels / "wall_x100_y0.txt").read_text() == "0 0.500000 0.510000 1.000000 0.020000\n"
    # the rule off: every piece labelled, as before
    s = tile_dataset(ds, tmp_path / "o", size=100, overlap=0.0, polygons=masks, min_step=0.0,
                     min_line_contrast=0.0)  # fmt: skip
    assert (s.boxes_out, s.dropped_faint) == (3, 0)
    # drawn all along: all three pieces labelled
    whole = _dataset(tmp_path / "w", drawn_to=280)
    ds = yolo.load(whole)
    s = tile_dataset(ds, tmp_path / "wt", size=100, overlap=0.0,
                     polygons=coco_masks(whole / "annotations.coco.json", ds))  # fmt: skip
    assert (s.boxes_out, s.dropped_faint) == (3, 0)


def test_cli_summary_counts_the_pieces_dropped_as_faint(tmp_path):
    root = _dataset(tmp_path, drawn_to=200)
    out = tile_cli(root, tmp_path / "c")
    assert "3 tiles of 100 px, 2 boxes" in out
    assert "1 cut pieces their tile does not show" in out


def test_rule_thresholds_are_validated(tmp_path):
    root = _dataset(tmp_path, drawn_to=280)
    with pytest.raises(DatasetError, match="min_step"):
        tile_dataset(yolo.load(root), tmp_path / "t", min_step=-1.0)
