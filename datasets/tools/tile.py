"""Cut a labelled dataset into model-sized tiles (``finishscan dataset tile``).

A detector trained at 320 px sees a 4000x3000 photo as ~170 tiles of 320 px
(``finishscan detect --tile auto``); trained on the same photo shrunk to 320 px it would
learn defects 12x smaller than it meets them. Tiling the training photos with the grid the
detector uses (:func:`detector.tiling.slice_grid`) keeps training and inference at one scale.

A box crossing a tile border is clipped to the tile; it is kept when at least
``min_visible`` of its area (and ``min_side`` px on each side) falls inside, else dropped.
Tiles keep their photo's split folder and take the photo's name as their group, so a later
``dataset split`` keeps the tiles of one photo together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.formats._common import atomic_dir, read_image, split_of, unique_names
from datasets.formats.yolo import label_path_for, write_data_yaml, write_labels
from datasets.types import Box, Dataset, LabeledImage
from detector.tiling import slice_grid
from finishscan.errors import DatasetError

__all__ = ["TileSummary", "clip_boxes", "tile_dataset"]


@dataclass(frozen=True)
class TileSummary:
    photos: int
    tiles: int
    boxes_in: int  # boxes of the photos
    boxes_out: int  # boxes over all tiles (a box on a border can appear in two tiles)
    dropped: int  # box pieces dropped as too small a part of their box


def clip_boxes(
    boxes: list[Box], window: tuple[int, int, int, int], *, min_visible: float, min_side: float
) -> tuple[list[Box], int]:
    """Boxes of ``window`` (x0, y0, x1, y1) in its own coordinates, and how many were dropped.

    A box that touches the window is clipped; it is kept when the clipped area is at least
    ``min_visible`` of the box's area and both clipped sides are at least ``min_side`` px.

    >>> clip_boxes([Box(0, 90, 10, 130, 20)], (0, 0, 100, 100), min_visible=0.2, min_side=2)
    ([Box(class_id=0, x0=90, y0=10, x1=100, y1=20)], 0)
    >>> clip_boxes([Box(0, 95, 10, 135, 20)], (0, 0, 100, 100), min_visible=0.2, min_side=2)
    ([], 1)
    """
    wx0, wy0, wx1, wy1 = window
    kept: list[Box] = []
    dropped = 0
    for b in boxes:
        x0, y0 = max(b.x0, wx0), max(b.y0, wy0)
        x1, y1 = min(b.x1, wx1), min(b.y1, wy1)
        if x1 <= x0 or y1 <= y0:
            continue  # not in this tile at all
        area = (b.x1 - b.x0) * (b.y1 - b.y0)
        if (x1 - x0) * (y1 - y0) < min_visible * area or min(x1 - x0, y1 - y0) < min_side:
            dropped += 1
            continue
        kept.append(Box(b.class_id, x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0))
    return kept, dropped


def tile_dataset(
    dataset: Dataset,
    out: Path,
    *,
    size: int = 320,
    overlap: float = 0.2,
    min_visible: float = 0.2,
    min_side: float = 3.0,
    keep_empty: float = 1.0,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> TileSummary:
    """Write every photo of ``dataset`` as ``size`` x ``size`` PNG tiles in a YOLO folder.

    Photos no larger than ``size`` are copied as one tile. ``keep_empty`` is the share of tiles
    without any box that is kept (chosen with ``seed``; 1.0 keeps all), since a wall photo
    cut into tiles is mostly clean wall. Tiles are PNG so the photo's JPEG is not compressed
    twice. The folder appears only when complete (nothing is written on an error).
    """
    import cv2

    if size < 32:
        raise DatasetError(f"tile size must be at least 32 px, got {size}")
    if not 0.0 <= overlap < 1.0:
        raise DatasetError(f"overlap must be in [0, 1), got {overlap}")
    if not 0.0 < min_visible <= 1.0:
        raise DatasetError(f"min_visible must be in (0, 1], got {min_visible}")
    if not 0.0 <= keep_empty <= 1.0:
        raise DatasetError(f"keep_empty must be in [0, 1], got {keep_empty}")
    if not dataset.images:
        raise DatasetError("the dataset has no images to tile")
    rng = np.random.default_rng(seed)
    stems = unique_names([im.path for im in dataset.images], key=lambda p: split_of(p))
    tiles = boxes_out = dropped = 0
    splits: set[str] = set()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for k, (im, name) in enumerate(zip(dataset.images, stems, strict=True)):
            img = read_image(im.path)  # BGR, EXIF orientation applied like the labels'
            h, w = img.shape[:2]
            if (w, h) != (im.width, im.height):
                raise DatasetError(
                    f"{im.path}: decoded size {w}x{h} differs from its labels' "
                    f"{im.width}x{im.height}"
                )
            split = split_of(im.path)
            splits.add(split)
            stem = Path(name).stem
            for x0, y0, x1, y1 in slice_grid(h, w, size, size, overlap).tolist():
                boxes, n_drop = clip_boxes(
                    im.boxes, (x0, y0, x1, y1), min_visible=min_visible, min_side=min_side
                )
                dropped += n_drop
                if not boxes and keep_empty < 1.0 and rng.random() >= keep_empty:
                    continue
                dst = tmp / "images" / split / f"{stem}_x{x0}_y{y0}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(dst), img[y0:y1, x0:x1]):
                    raise DatasetError(f"could not write tile {dst}")
                tile = LabeledImage(dst, x1 - x0, y1 - y0, boxes, group=stem)
                write_labels(tile, label_path_for(dst))
                tiles += 1
                boxes_out += len(boxes)
            if progress:
                progress(k + 1)
        order: list[str] = [s for s in ("train", "val", "test") if s in splits]
        order += sorted(splits - set(order))
        split_dirs: dict[str, str] = {s: f"images/{s}" for s in order}
        if "val" not in split_dirs:
            split_dirs["val"] = split_dirs[order[0]]  # ultralytics needs a val entry
        write_data_yaml(tmp, dataset.names, split_dirs)
    return TileSummary(
        photos=len(dataset.images),
        tiles=tiles,
        boxes_in=sum(len(im.boxes) for im in dataset.images),
        boxes_out=boxes_out,
        dropped=dropped,
    )
