"""`dataset tile` with polygons: a label is clipped by its defect's pixels in the tile.

Hand-computed cases on 200x200 photos cut into four 100-px tiles (overlap 0), plus a synthetic
dataset round trip (COCO polygons matched to the YOLO boxes, CLI auto-detection).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.formats import yolo
from datasets.tools.tile import (
    DefectMask,
    clip_boxes,
    clip_masks,
    coco_masks,
    coco_polygons,
    tile_dataset,
)
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

from .conftest import tile_cli

TILES = [(0, 0, 100, 100), (100, 0, 200, 100), (0, 100, 100, 200), (100, 100, 200, 200)]


def _traced(mask: np.ndarray) -> list[list[float]]:
    """Outer contours of a bool mask as the synthetic writer stores them (COCO polygons)."""
    cs, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[float(v) for v in c.reshape(-1)] for c in cs if len(c) >= 3]


def _box_of(mask: np.ndarray, class_id: int) -> Box:
    ys, xs = np.nonzero(mask)
    return Box(class_id, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _full(d: DefectMask, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[d.y0 : d.y0 + d.mask.shape[0], d.x0 : d.x0 + d.mask.shape[1]] = d.mask
    return out


def _l_crack() -> np.ndarray:
    """An L: a 4-px arm along the top (x 10-189, y 18-21) and one down the right (x 186-189)."""
    m = np.zeros((200, 200), bool)
    m[18:22, 10:190] = True
    m[18:190, 186:190] = True
    return m


def _diagonal() -> np.ndarray:
    """A 2-px diagonal crack from (40, 0) to (199, 159): pixels (x, x - 40) and (x + 1, x - 40)."""
    m = np.zeros((200, 200), bool)
    xs = np.arange(40, 200)
    m[xs - 40, xs] = True
    m[xs[:-1] - 40, xs[:-1] + 1] = True
    return m


@pytest.mark.parametrize("make", [_l_crack, _diagonal])
def test_polygons_rasterise_back_to_the_mask(make):
    m = make()
    d = DefectMask.from_polygons(_traced(m))
    assert d is not None and np.array_equal(_full(d, m.shape), m)


def test_box_in_tile_without_the_defects_pixels_gets_no_label():
    m = _l_crack()
    box = _box_of(m, 0)
    assert box == Box(0, 10, 18, 190, 190)
    d = DefectMask.from_polygons(_traced(m))
    got = [clip_masks([box], [d], w, min_pixels=24, min_visible=0.2, min_side=3) for w in TILES]
    assert [g[0] for g in got] == [
        [Box(0, 10, 18, 100, 22)],  # the top arm's left part: 90 x 4
        [Box(0, 0, 18, 90, 100)],  # the corner: arm along the top and down the right
        [],  # lower left: the box covers 90 x 90 px of it, the crack none
        [Box(0, 86, 0, 90, 90)],  # the right arm's lower part
    ]
    assert [g[1:6] for g in got] == [
        (0, 0, 1, 0, 0),
        (0, 0, 1, 0, 0),
        (0, 0, 0, 0, 0),
        (0, 0, 1, 0, 0),
    ]
    # the box rule labels the empty lower-left tile with a 90 x 90 box (26 % of the box)
    old, _ = clip_boxes([box], TILES[2], min_visible=0.2, min_side=3)
    assert old == [Box(0, 10, 0, 100, 90)]


def test_diagonal_crack_gets_the_box_of_its_pixels_not_of_its_clipped_box():
    m = _diagonal()
    box = _box_of(m, 0)
    assert box == Box(0, 40, 0, 200, 160)
    d = DefectMask.from_polygons(_traced(m))
    new = [clip_masks([box], [d], w, min_pixels=24, min_visible=0.2, min_side=3)[0] for w in TILES]
    old = [clip_boxes([box], w, min_visible=0.2, min_side=3)[0] for w in TILES]
    # upper right tile: pixels x 100-140, y 59-99; the clipped box is the whole tile
    assert new[1] == [Box(0, 0, 59, 41, 100)] and old[1] == [Box(0, 0, 0, 100, 100)]
    assert new[0] == [Box(0, 40, 0, 100, 60)] and old[0] == [Box(0, 40, 0, 100, 100)]
    assert new[3] == [Box(0, 40, 0, 100, 60)] and old[3] == [Box(0, 0, 0, 100, 60)]
    assert new[2] == old[2] == []  # lower left: 14 % of the box, no pixel


def test_few_pixels_are_dropped_unless_they_are_half_the_defect():
    crack = np.zeros((200, 200), bool)
    crack[50:52, 20:110] = True  # 180 px; 20 of them in the right-hand tiles
    chip = np.zeros((200, 200), bool)
    chip[150:155, 96:100] = True  # 20 px on the left
    chip[150:153, 100:104] = True  # and 12 in the right-hand tiles
    boxes = [_box_of(crack, 0), _box_of(chip, 2)]
    masks = [DefectMask.from_polygons(_traced(x)) for x in (crack, chip)]
    assert [mk.pixels for mk in masks if mk] == [180, 32]
    right, dropped, few, placed, *_ = clip_masks(
        boxes, masks, (100, 0, 200, 200), min_pixels=24, min_visible=0.2, min_side=3
    )
    # crack: 20 < 24 px and under half of 180 -> dropped; chip: 12 < 24, under half of 32
    assert right == [] and (dropped, few, placed) == (2, 2, 0)
    right, dropped, few, placed, *_ = clip_masks(
        boxes, masks, (100, 0, 200, 200), min_pixels=10, min_visible=0.2, min_side=3
    )
    assert right == [Box(0, 0, 50, 10, 52), Box(2, 0, 150, 4, 153)] and (dropped, few) == (0, 0)
    # the chip's left part holds 20 of its 32 px: under 24, but more than half of it
    left, dropped, few, placed, *_ = clip_masks(
        boxes, masks, (0, 0, 100, 200), min_pixels=24, min_visible=0.2, min_side=3
    )
    assert left == [Box(0, 20, 50, 100, 52), Box(2, 96, 150, 100, 155)] and placed == 2


def test_boxes_without_a_mask_keep_the_box_rule():
    boxes = [Box(0, 10, 10, 40, 30), Box(1, 80, 20, 140, 60), Box(2, 95, 70, 115, 90)]
    for w in TILES:
        want = clip_boxes(boxes, w, min_visible=0.3, min_side=3)
        got = clip_masks(boxes, [None] * 3, w, min_pixels=24, min_visible=0.3, min_side=3)
        assert got == (want[0], want[1], 0, 0, 0, 0, ())


def _photo_with(tmp_path: Path, masks: list[np.ndarray]) -> tuple[Dataset, Path]:
    """A 200x200 noisy photo showing the masks (gray 40 on a 100-140 wall: they pass the tiler's
    label rule), its YOLO dataset and a COCO file with the masks' polygons."""
    root = tmp_path / "src"
    img = root / "images" / "train" / "wall.png"
    img.parent.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(100, 140, (200, 200, 3), np.uint8)
    for m in masks:
        pixels[m] = 40
    assert cv2.imwrite(str(img), pixels)
    boxes = [_box_of(m, k) for k, m in enumerate(masks)]
    lab = yolo.label_path_for(img)
    lab.parent.mkdir(parents=True)
    lab.write_text("".join(x + "\n" for x in yolo.format_yolo_lines(boxes, 200, 200)))
    yolo.write_data_yaml(root, ["crack", "stain"], {"train": "images/train"})
    doc = {
        "images": [{"id": 1, "file_name": "images/train/wall.png", "width": 200, "height": 200}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": b.class_id + 1,
                "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
                "segmentation": _traced(m),
            }
            for k, (b, m) in enumerate(zip(boxes, masks, strict=True))
        ],
        "categories": [{"id": 1, "name": "crack"}, {"id": 2, "name": "stain"}],
    }
    (root / "annotations.coco.json").write_text(json.dumps(doc))
    return yolo.load(root), root


def test_coco_polygons_match_boxes_by_class_and_position(tmp_path):
    stain = np.zeros((200, 200), bool)
    stain[120:170, 20:60] = True
    ds, root = _photo_with(tmp_path, [_diagonal(), stain])
    polys = coco_polygons(root / "annotations.coco.json", ds)
    (per,) = polys.values()
    for p, m in zip(per, [_diagonal(), stain], strict=True):
        assert p.segmentation == _traced(m) and p.cue is None
        assert np.array_equal(_full(p.decode(), (200, 200)), m)  # old polygon files still read
    # a box the COCO file does not have (relabelled after export) falls back to the box rule
    im = ds.images[0]
    extra = Dataset(ds.names, [LabeledImage(im.path, 200, 200, [*im.boxes, Box(1, 5, 5, 15, 15)])])
    assert coco_polygons(root / "annotations.coco.json", extra)[im.path][2] is None
    with pytest.raises(DatasetError, match="polygon entries"):
        tile_dataset(extra, tmp_path / "x", size=100, overlap=0.0, polygons=polys)


def test_tile_and_cli_use_the_polygons(tmp_path):
    ds, root = _photo_with(tmp_path, [_l_crack()])
    polys = coco_polygons(root / "annotations.coco.json", ds)
    s = tile_dataset(ds, tmp_path / "t", size=100, overlap=0.0, polygons=polys)
    assert (s.tiles, s.boxes_out, s.by_pixels, s.dropped, s.dropped_pixels) == (4, 3, 3, 0, 0)
    lab = yolo.label_path_for(tmp_path / "t" / "images" / "train" / "wall_x0_y100.png")
    assert lab.read_text() == ""
    out = tile_cli(root, tmp_path / "c")
    assert "4 tiles of 100 px, 3 boxes (3 placed by their defect's pixels" in out
    out = tile_cli(root, tmp_path / "n", "--no-polygons")
    assert "4 tiles of 100 px, 4 boxes (0 box pieces dropped as < 20% visible)" in out


def test_synthetic_dataset_tiles_by_pixels(tmp_path):
    from datasets.synthetic.writer import write_dataset

    write_dataset(tmp_path / "s", 6, seed=5, imgsz=320)
    ds = yolo.load(tmp_path / "s")
    polys = coco_masks(tmp_path / "s" / "annotations.coco.json", ds)
    n_boxes = sum(len(im.boxes) for im in ds.images)
    assert n_boxes > 0
    assert sum(p is not None for per in polys.values() for p in per) == n_boxes
    for im in ds.images:
        masks = [p.decode() for p in polys.get(im.path, [])]
        for b, m in zip(im.boxes, masks, strict=True):
            assert m is not None
            # whole in the window: the pixel box is the photo's box (the tight box of the mask)
            kept, *_ = clip_masks([b], [m], (0, 0, 320, 320), min_pixels=24, min_visible=0.2,
                                  min_side=3)  # fmt: skip
            assert len(kept) == 1
            assert np.allclose(kept[0].xyxy, b.xyxy, atol=0.01)
            # clipped: the pixel box lies inside the clipped box
            for w in [
                (0, 0, 160, 160),
                (160, 0, 320, 160),
                (0, 160, 160, 320),
                (160, 160, 320, 320),
            ]:
                got, *_ = clip_masks([b], [m], w, min_pixels=1, min_visible=0.2, min_side=3)
                if got:
                    g = got[0]
                    assert g.x0 >= max(b.x0, w[0]) - w[0] - 0.01
                    assert g.y0 >= max(b.y0, w[1]) - w[1] - 0.01
                    assert g.x1 <= min(b.x1, w[2]) - w[0] + 0.01
                    assert g.y1 <= min(b.y1, w[3]) - w[1] + 0.01
