"""`dataset tile` with exact (RLE) masks and cue masks: a hollow tile's label stays in a tile
only where the tile shows its cue (lifted/shifted edge, inspector's ring).

Hand-built 300x300 photos cut into nine 100-px tiles (overlap 0), and the synthetic writer's
COCO file checked against the renderer's own masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.formats import coco, yolo
from datasets.synthetic.writer import cue_band
from datasets.tools.tile import DefectMask, DefectShape, clip_masks, coco_masks, tile_dataset
from datasets.types import Box

from .conftest import tile_cli

GRID = [(x, y, x + 100, y + 100) for y in (0, 100, 200) for x in (0, 100, 200)]


def _box_of(mask: np.ndarray, class_id: int) -> Box:
    ys, xs = np.nonzero(mask)
    return Box(class_id, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _big_tile() -> tuple[np.ndarray, np.ndarray]:
    """A 260-px hollow tile (x, y 20-279) and its cue: the 5-px band along its edges."""
    m = np.zeros((300, 300), bool)
    m[20:280, 20:280] = True
    return m, cue_band(m, 5)


def _ringed_tile() -> tuple[np.ndarray, np.ndarray]:
    """A 240-px tile (x, y 30-269) and a 3-px marker stroke above it (x 40-89, y 9-11), the
    stroke alone being the cue (as a renderer that knows its ring would write it)."""
    m = np.zeros((300, 300), bool)
    m[30:270, 30:270] = True
    ring = np.zeros_like(m)
    ring[9:12, 40:90] = True
    return m | ring, ring


@pytest.mark.parametrize(
    ("width", "row", "want"),
    [
        (2, 4, [0, 1, 1, 0, 0, 0, 1, 1, 0]),  # 2 px in from each side
        (1, 4, [0, 1, 0, 0, 0, 0, 0, 1, 0]),
        (2, 1, [0, 1, 1, 1, 1, 1, 1, 1, 0]),  # the top edge
    ],
)
def test_cue_band_by_hand(width, row, want):
    m = np.zeros((9, 9), bool)
    m[1:8, 1:8] = True
    assert cue_band(m, width)[row].astype(int).tolist() == want
    # the photo's border is no edge: a mask cut off by it has no band there
    cut = np.zeros((9, 9), bool)
    cut[:5] = True
    assert np.flatnonzero(cue_band(cut, 1).any(axis=1)).tolist() == [4]


def test_plain_interior_piece_of_a_hollow_tile_gets_no_label():
    m, cue = _big_tile()
    d = DefectMask.from_full(m, cue)
    assert d is not None and (d.pixels, d.cue_pixels) == (260 * 260, 260 * 260 - 250 * 250)
    got = [
        clip_masks([_box_of(m, 1)], [d], w, min_pixels=24, min_visible=0.2, min_side=3)
        for w in GRID
    ]
    assert [g.boxes for g in got] == [
        [Box(1, 20, 20, 100, 100)], [Box(1, 0, 20, 100, 100)], [Box(1, 0, 20, 80, 100)],
        [Box(1, 20, 0, 100, 100)], [],                         [Box(1, 0, 0, 80, 100)],
        [Box(1, 20, 0, 100, 80)],  [Box(1, 0, 0, 100, 80)],    [Box(1, 0, 0, 80, 80)],
    ]  # fmt: skip
    assert [g.no_cue for g in got] == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert [g.dropped for g in got] == [0] * 9  # cue drops are counted apart
    # without the cue the centre tile (all tile, no edge) is labelled as before
    plain = DefectMask.from_full(m)
    assert clip_masks([_box_of(m, 1)], [plain], GRID[4], min_pixels=24, min_visible=0.2,
                      min_side=3).boxes == [Box(1, 0, 0, 100, 100)]  # fmt: skip


def test_only_the_tile_with_the_marker_ring_is_labelled():
    m, ring = _ringed_tile()
    d = DefectMask.from_full(m, ring)
    assert d is not None and d.cue_pixels == 150
    got = [
        clip_masks([_box_of(m, 1)], [d], w, min_pixels=24, min_visible=0.2, min_side=3)
        for w in GRID
    ]
    # top left: the stroke and the tile's corner; the eight others show plain tile only
    assert got[0].boxes == [Box(1, 30, 9, 100, 100)]
    assert [len(g.boxes) for g in got] == [1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert [g.no_cue for g in got] == [0, 1, 1, 1, 1, 1, 1, 1, 1]


def test_a_small_cue_counts_when_half_of_it_is_in_the_tile():
    m = np.zeros((300, 300), bool)
    m[40:60, 60:140] = True  # a 80x20 tile across the x = 100 border
    cue = np.zeros_like(m)
    cue[59, 88:108] = True  # a 20-px edge: 12 px left of the border, 8 right of it
    d = DefectMask.from_full(m, cue)
    left, right = (
        clip_masks([_box_of(m, 1)], [d], w, min_pixels=24, min_visible=0.2, min_side=3)
        for w in GRID[:2]
    )
    assert left.boxes == [Box(1, 60, 40, 100, 60)] and left.no_cue == 0  # 12 of 20: half
    assert right.boxes == [] and right.no_cue == 1  # 8 of 20
    # a generous min_pixels does not lower the bar below half of a small cue
    assert clip_masks([_box_of(m, 1)], [d], GRID[1], min_pixels=5, min_visible=0.2,
                      min_side=3).boxes == [Box(1, 0, 40, 40, 60)]  # fmt: skip


def _photo(tmp_path: Path, anns: list[tuple[np.ndarray, np.ndarray | None, int]]) -> Path:
    """A 300x300 photo in a YOLO folder and a COCO file with RLE masks (and cues)."""
    root = tmp_path / "src"
    img = root / "images" / "train" / "floor.png"
    img.parent.mkdir(parents=True)
    assert cv2.imwrite(str(img), np.random.default_rng(1).integers(0, 255, (300, 300, 3), np.uint8))
    boxes = [_box_of(m, c) for m, _cue, c in anns]
    lab = yolo.label_path_for(img)
    lab.parent.mkdir(parents=True)
    lab.write_text("".join(x + "\n" for x in yolo.format_yolo_lines(boxes, 300, 300)))
    yolo.write_data_yaml(root, ["crack", "hollow_tile"], {"train": "images/train"})
    annotations = []
    for k, ((m, cue, _c), b) in enumerate(zip(anns, boxes, strict=True)):
        a = {
            "id": k + 1,
            "image_id": 1,
            "category_id": b.class_id + 1,
            "bbox": [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0],
            "iscrowd": 0,
            "segmentation": coco.encode_rle(m),
        }
        if cue is not None:
            a["cue"] = coco.encode_rle(cue)
        annotations.append(a)
    doc = {
        "images": [{"id": 1, "file_name": "images/train/floor.png", "width": 300, "height": 300}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "crack"}, {"id": 2, "name": "hollow_tile"}],
    }
    (root / "annotations.coco.json").write_text(json.dumps(doc))
    return root


def test_tiling_with_rle_and_cue_end_to_end(tmp_path):
    tile, cue = _big_tile()
    crack = np.zeros((300, 300), bool)  # a crack network: a square loop around a 40-px cell
    crack[130:132, 130:172] = crack[170:172, 130:172] = True
    crack[130:172, 130:132] = crack[130:172, 170:172] = True
    root = _photo(tmp_path, [(tile, cue, 1), (crack, None, 0)])
    ds = yolo.load(root)
    shapes = coco_masks(root / "annotations.coco.json", ds)
    (per,) = shapes.values()
    assert all(isinstance(p, DefectShape) for p in per)
    assert per[1].decode().pixels == 4 * 42 * 2 - 4 * 4  # the loop, its cell not filled
    s = tile_dataset(ds, tmp_path / "t", size=100, overlap=0.0, polygons=shapes)
    assert (s.tiles, s.boxes_out, s.dropped, s.dropped_cue) == (9, 9, 0, 1)
    centre = yolo.label_path_for(tmp_path / "t" / "images" / "train" / "floor_x100_y100.png")
    # the centre tile keeps the crack (tight box of the loop), not the plain piece of tile
    assert centre.read_text() == "0 0.510000 0.510000 0.420000 0.420000\n"
    out = tile_cli(root, tmp_path / "c")
    assert "9 tiles of 100 px, 9 boxes (9 placed by their defect's pixels" in out


def test_crowd_annotations_lend_no_mask(tmp_path):
    m, cue = _big_tile()
    root = _photo(tmp_path, [(m, cue, 1)])
    path = root / "annotations.coco.json"
    doc = json.loads(path.read_text())
    doc["annotations"][0]["iscrowd"] = 1
    path.write_text(json.dumps(doc))
    assert coco_masks(path, yolo.load(root)) == {}


def test_synthetic_coco_masks_are_the_renderers_masks(tmp_path):
    from datasets.synthetic.composer import render_sample
    from datasets.synthetic.config import SynthConfig
    from datasets.synthetic.writer import write_dataset

    cfg = SynthConfig(class_weights={"hollow_tile": 1.0, "crack": 1.0}, empty_fraction=0.0)
    write_dataset(tmp_path / "s", 6, seed=8, imgsz=320, config=cfg)
    doc = json.loads((tmp_path / "s" / "annotations.coco.json").read_text())
    by_image: dict[int, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    hollow = 0
    for i, im in enumerate(doc["images"]):
        s = render_sample(np.random.default_rng([8, i]), 320, cfg)
        anns = by_image.get(im["id"], [])
        assert len(anns) == len(s.masks)
        for a, m, b, cue in zip(anns, s.masks, s.boxes, s.cues, strict=True):
            got = coco.decode_segmentation(a["segmentation"], 320, 320)
            assert np.array_equal(got, m)  # exact: holes and 1-px pieces as rendered
            assert a["area"] == int(m.sum()) and a["iscrowd"] == 0
            assert a["bbox"] == [b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0]
            if doc["categories"][a["category_id"] - 1]["name"] == "hollow_tile":
                hollow += 1
                # the renderer's own cue pixels (ring, edge, shadow), inside the mask
                c = coco.decode_segmentation(a["cue"], 320, 320)
                assert cue is not None and np.array_equal(c, cue)
                assert c.any() and not (c & ~m).any() and c.sum() < m.sum()
            else:
                assert "cue" not in a
    assert hollow > 0
