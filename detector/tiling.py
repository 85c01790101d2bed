"""Tiled inference for large photos: a slice grid, a batch callback, a merge across borders.

All pure except :func:`tiled_detect`, which only calls the ``predict`` callback it is given
(``Detector.batch`` in production, a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.geometry import box_area
from detector.types import Detections

BatchPredict = Callable[[list[np.ndarray]], list[Detections]]

TILE_FACTOR = 2.0  # tile="auto" tiles when the long side > TILE_FACTOR x the model's long side


def should_tile(
    shape: tuple[int, int], imgsz: tuple[int, int], factor: float = TILE_FACTOR
) -> bool:
    """The ``tile="auto"`` rule: the photo's long side is more than ``factor`` times the model
    input's long side (a 4000x3000 photo at 640: yes; 1280x960: no).

    >>> should_tile((3000, 4000), (640, 640)), should_tile((960, 1280), (640, 640))
    (True, False)
    """
    return max(shape) > factor * max(imgsz)


def slice_grid(height: int, width: int, slice_h: int, slice_w: int, overlap: float) -> np.ndarray:
    """Slices (K, 4) int xyxy covering a ``height`` x ``width`` image, row by row, as sahi's
    ``get_slice_bboxes``: steps of ``slice - int(overlap * slice)``, the last row/column shifted
    back inside the image (so it overlaps more), slices clipped to small images.

    >>> slice_grid(10, 25, 10, 10, 0.2).tolist()
    [[0, 0, 10, 10], [8, 0, 18, 10], [15, 0, 25, 10]]
    """
    if min(height, width, slice_h, slice_w) <= 0:
        raise ValueError("image and slice sizes must be positive")
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    y_overlap, x_overlap = int(overlap * slice_h), int(overlap * slice_w)
    out: list[list[int]] = []
    y_min = y_max = 0
    while y_max < height:
        x_min = x_max = 0
        y_max = y_min + slice_h
        while x_max < width:
            x_max = x_min + slice_w
            if y_max > height or x_max > width:
                xmax, ymax = min(width, x_max), min(height, y_max)
                out.append([max(0, xmax - slice_w), max(0, ymax - slice_h), xmax, ymax])
            else:
                out.append([x_min, y_min, x_max, y_max])
            x_min = x_max - x_overlap
        y_min = y_max - y_overlap
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def _clip(boxes: np.ndarray, regions: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            np.maximum(boxes[..., :2], regions[..., :2]),
            np.minimum(boxes[..., 2:], regions[..., 2:]),
        ],
        axis=-1,
    )


def merge_slices(parts: list[Detections], regions: np.ndarray, *, iou: float = 0.5) -> Detections:
    """Merge detections made on overlapping slices (boxes already in photo pixels).

    ``parts[k]`` was detected on ``regions[k]`` (xyxy). Two boxes of the same class from
    different slices are the same object when, clipped to the area both slices saw, their
    IoU is >= ``iou``: an object cut by a slice border appears in that shared strip in both
    slices. Linked boxes (transitively, e.g. a crack across three slices) become one box: their
    union, with the highest confidence. Result sorted by confidence, best first.

    >>> a = Detections(np.array([[50, 0, 100, 10]]), np.array([0.9]), np.array([0]))
    >>> b = Detections(np.array([[80, 0, 150, 10]]), np.array([0.8]), np.array([0]))
    >>> merge_slices([a, b], np.array([[0, 0, 100, 100], [80, 0, 180, 100]])).xyxy.tolist()
    [[50.0, 0.0, 150.0, 10.0]]
    """
    regions = np.asarray(regions, np.float32).reshape(-1, 4)
    if len(parts) != len(regions):
        raise ValueError(f"{len(parts)} detection parts for {len(regions)} regions")
    dets = Detections.concat(parts)
    if not len(dets):
        return dets
    source = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)])
    parent = np.arange(len(dets))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for c in np.unique(dets.class_id):
        idx = np.flatnonzero(dets.class_id == c)
        boxes, src = dets.xyxy[idx], source[idx]
        for a in range(len(idx) - 1):
            rest = np.arange(a + 1, len(idx))
            rest = rest[src[rest] != src[a]]
            if not rest.size:
                continue
            # boxes that intersect at all are the only candidates
            lt = np.maximum(boxes[a, :2], boxes[rest, :2])
            rb = np.minimum(boxes[a, 2:], boxes[rest, 2:])
            rest = rest[((rb - lt) > 0).all(1)]
            if not rest.size:
                continue
            shared = _clip(regions[src[a]][None], regions[src[rest]])
            ba, bb = _clip(boxes[a][None], shared), _clip(boxes[rest], shared)
            inter = box_area(_clip(ba, bb))
            union = box_area(ba) + box_area(bb) - inter
            ok = (union > 0) & (inter >= iou * np.where(union > 0, union, 1))
            for b in rest[ok]:
                ra, rb_ = find(int(idx[a])), find(int(idx[b]))
                if ra != rb_:
                    parent[max(ra, rb_)] = min(ra, rb_)
    roots = np.array([find(i) for i in range(len(dets))])
    groups = np.unique(roots)
    xyxy = np.stack(
        [
            np.concatenate([dets.xyxy[roots == g, :2].min(0), dets.xyxy[roots == g, 2:].max(0)])
            for g in groups
        ]
    )
    conf = np.array([dets.confidence[roots == g].max() for g in groups], np.float32)
    merged = Detections(xyxy, conf, dets.class_id[groups])
    return merged[np.argsort(-merged.confidence, kind="stable")]


def tiled_detect(
    image: np.ndarray,
    predict: BatchPredict,
    slice_hw: tuple[int, int],
    *,
    overlap: float = 0.2,
    whole: bool = True,
    iou: float = 0.5,
    max_det: int | None = None,
) -> Detections:
    """Detect on ``slice_hw`` slices of ``image`` (plus the whole image when ``whole``, so large
    defects are still found) with ONE call ``predict(crops)``, then :func:`merge_slices`.
    ``max_det`` keeps the best after merging (None: all)."""
    h, w = image.shape[:2]
    regions = slice_grid(h, w, slice_hw[0], slice_hw[1], overlap)
    crops = [image[y0:y1, x0:x1] for x0, y0, x1, y1 in regions]
    if whole:
        regions = np.concatenate([np.array([[0, 0, w, h]]), regions])
        crops = [image, *crops]
    results = predict(crops)
    if len(results) != len(crops):
        raise ValueError(f"predict returned {len(results)} results for {len(crops)} crops")
    parts = [d.shift(float(r[0]), float(r[1])) for d, r in zip(results, regions, strict=True)]
    merged = merge_slices(parts, regions, iou=iou)
    return merged if max_det is None else merged[:max_det]
