"""YOLO → COCO → VOC → YOLO keeps every box within 1 px (issue 3, "Must show")."""

from __future__ import annotations

import numpy as np

from datasets.formats import coco, voc, yolo
from datasets.types import Box, Dataset, LabeledImage


def _random_dataset(root, make_image, rng: np.random.Generator) -> Dataset:
    names = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]
    images = []
    for i in range(12):
        w, h = int(rng.integers(40, 300)), int(rng.integers(40, 300))
        split = "val" if i % 4 == 0 else "train"
        path = make_image(
            root / "src" / split / f"img_{i:02d}.jpg"
            if i % 3
            else root / "src" / split / f"img_{i:02d}.png",
            w,
            h,
            seed=i,
        )
        boxes = []
        for _ in range(int(rng.integers(0, 6))):
            x0, x1 = sorted(rng.uniform(0, w, 2))
            y0, y1 = sorted(rng.uniform(0, h, 2))
            if x1 - x0 > 1.5 and y1 - y0 > 1.5:
                boxes.append(
                    Box(int(rng.integers(0, 6)), float(x0), float(y0), float(x1), float(y1))
                )
        boxes.append(Box(0, 0.0, 0.0, float(w), float(h)))  # touches every border
        images.append(LabeledImage(path, w, h, boxes))
    return Dataset(names, images)


def test_yolo_coco_voc_yolo_within_one_pixel(tmp_path, make_image):
    original = _random_dataset(tmp_path, make_image, np.random.default_rng(3))
    yolo.save(original, tmp_path / "yolo1")
    d1 = yolo.load(tmp_path / "yolo1")
    coco.save(d1, tmp_path / "yolo1" / "annotations.json")
    d2 = coco.load(tmp_path / "yolo1" / "annotations.json")
    voc.save(d2, tmp_path / "voc")
    d3 = voc.load(tmp_path / "voc", names=original.names)
    splits = voc.split_lists(tmp_path / "voc")
    yolo.save(d3, tmp_path / "yolo2", split_fn=lambda im: splits[im.path.stem])
    final = yolo.load(tmp_path / "yolo2")

    assert final.names == original.names
    by_name = {im.path.name: im for im in final.images}
    assert sorted(by_name) == sorted(im.path.name for im in original.images)
    n_boxes = 0
    worst = 0.0
    for im in original.images:
        back = by_name[im.path.name]
        assert (back.width, back.height) == (im.width, im.height)
        assert back.path.parent.name == im.path.parent.name  # split kept
        assert len(back.boxes) == len(im.boxes)
        key = lambda b: (b.class_id, round(b.x0), round(b.y0))  # noqa: E731
        for a, b in zip(sorted(im.boxes, key=key), sorted(back.boxes, key=key), strict=True):
            assert a.class_id == b.class_id
            err = max(abs(u - v) for u, v in zip(a.xyxy, b.xyxy, strict=True))
            worst = max(worst, err)
            assert err <= 1.0, (im.path.name, a, b)
            n_boxes += 1
    assert n_boxes > 20
    assert worst > 0.0  # VOC's integer pixels really do move edges (by <= 0.5 px + rounding)
