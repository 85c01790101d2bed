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


def _linked_pairs(
    boxes: np.ndarray, regions: np.ndarray, source: np.ndarray, iou: float, block: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) from different slices whose boxes, clipped to the area both slices
    saw, have IoU >= ``iou``."""
    n = len(boxes)
    firsts, seconds = [], []
    cols = np.arange(n)
    for start in range(0, n, block):
        a = np.arange(start, min(start + block, n))
        # candidates: later boxes from another slice that intersect at all
        lt = np.maximum(boxes[a, None, :2], boxes[None, :, :2])
        rb = np.minimum(boxes[a, None, 2:], boxes[None, :, 2:])
        cand = ((rb - lt) > 0).all(-1) & (source[a, None] != source[None]) & (a[:, None] < cols)
        i, j = np.nonzero(cand)
        i = a[i]
        shared = _clip(regions[i], regions[j])
        bi, bj = _clip(boxes[i], shared), _clip(boxes[j], shared)
        inter = box_area(_clip(bi, bj))
        union = box_area(bi) + box_area(bj) - inter
        ok = (inter > 0) & (inter >= iou * np.where(union > 0, union, 1))
        firsts.append(i[ok])
        seconds.append(j[ok])
    if not firsts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(firsts), np.concatenate(seconds)


# px: a box edge this close to its slice's edge was cut by the slice border. A thin crack's box
# often ends a few pixels short of the border it crosses; at 1 px its pieces were left apart
# (benchmarks/RESULTS.md, tile_merge_whole).
CUT_TOL = 4.0


def _reaches_past_cut(
    box: np.ndarray, region: np.ndarray, other: np.ndarray, other_region: np.ndarray
) -> bool:
    """``box`` touches an edge of its slice ``region`` (it was cut there) and ``other``, seen
    from a slice that does not contain ``region``, reaches past that edge: it saw part of the
    object that ``box``'s slice could not. A view from a region containing ``region`` (the
    whole-photo pass) never widens a slice's box: the photo shrunk to the model's input gives
    coarse boxes, and a crack's grew far too large through them (tile_merge_whole)."""
    if (other_region[:2] <= region[:2]).all() and (other_region[2:] >= region[2:]).all():
        return False
    lo = (box[:2] <= region[:2] + CUT_TOL) & (other[:2] < region[:2])
    hi = (box[2:] >= region[2:] - CUT_TOL) & (other[2:] > region[2:])
    return bool(lo.any() or hi.any())


def _merge_class(
    boxes: np.ndarray, conf: np.ndarray, regions: np.ndarray, source: np.ndarray, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`merge_slices` for the boxes of one class, sorted by confidence (best first)."""
    n = len(boxes)
    i, j = _linked_pairs(boxes, regions, source, iou)
    a, b = np.concatenate([i, j]), np.concatenate([j, i])
    order = np.lexsort((b, a))  # neighbours of each box, best (lowest index) first
    a, b = a[order], b[order]
    starts = np.searchsorted(a, np.arange(n + 1))
    free = np.ones(n, bool)
    out_boxes, out_conf = [], []
    for lead in range(n):
        if not free[lead]:
            continue
        free[lead] = False
        box = boxes[lead].copy()
        seen = {int(source[lead])}
        frontier = [lead]
        while frontier:
            k = frontier.pop()
            for m in b[starts[k] : starts[k + 1]]:
                if not free[m]:
                    continue
                free[m] = False  # agrees with the object where both slices looked: taken
                if int(source[m]) in seen:
                    continue  # that slice's best view is already in: a duplicate
                seen.add(int(source[m]))
                if _reaches_past_cut(boxes[k], regions[k], boxes[m], regions[m]):
                    box[:2] = np.minimum(box[:2], boxes[m, :2])
                    box[2:] = np.maximum(box[2:], boxes[m, 2:])
                    frontier.append(int(m))
        out_boxes.append(box)
        out_conf.append(conf[lead])
    return np.array(out_boxes, np.float32).reshape(-1, 4), np.array(out_conf, np.float32)


def merge_slices(parts: list[Detections], regions: np.ndarray, *, iou: float = 0.5) -> Detections:
    """Merge detections made on overlapping slices (boxes already in photo pixels).

    ``parts[k]`` was detected on ``regions[k]`` (xyxy). Two boxes of the same class from
    different slices *agree* when, clipped to the area both slices saw, their IoU is >= ``iou``:
    an object cut by a slice border appears in that shared strip in both slices. Per class, boxes
    are taken best first; each box not yet taken starts an object and takes every box that agrees
    with it. From each other slice the best of those is that slice's view of the object; it widens
    the object's box only where the box was cut by its own slice's border (ends within
    :data:`CUT_TOL` px of it) and the view reaches past it (what the first slice could not see),
    and then passes the search on, so a crack across three slices becomes one box. Only views
    from neighbouring slices widen a box: one from a region that contains the box's own (the
    whole-photo pass, whose boxes are coarse) can start an object and take its duplicates but
    does not widen it. The rest are duplicates. An object keeps its first box's confidence.
    Growing only past cut borders keeps a confident box from being stretched by weak boxes it
    happens to agree with in a thin strip (at conf 0.001 a union of every agreeing box made most
    boxes useless: benchmarks/RESULTS.md, ``tile_merge``). Result sorted by confidence, best
    first.

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
    xyxy, conf, class_id = [], [], []
    for c in np.unique(dets.class_id):
        idx = np.flatnonzero(dets.class_id == c)
        idx = idx[np.argsort(-dets.confidence[idx], kind="stable")]
        boxes, scores = _merge_class(
            dets.xyxy[idx], dets.confidence[idx], regions[source[idx]], source[idx], iou
        )
        xyxy.append(boxes)
        conf.append(scores)
        class_id.append(np.full(len(boxes), c))
    merged = Detections(np.concatenate(xyxy), np.concatenate(conf), np.concatenate(class_id))
    return merged[np.argsort(-merged.confidence, kind="stable")]


def detect_slices(
    image: np.ndarray,
    predict: BatchPredict,
    slice_hw: tuple[int, int],
    *,
    overlap: float = 0.2,
    whole: bool = True,
) -> tuple[list[Detections], np.ndarray]:
    """Detections on each ``slice_hw`` slice of ``image`` (the whole image first when ``whole``),
    boxes shifted into the image's pixels, with ONE call ``predict(crops)``; and the regions (K, 4)
    xyxy they were made on: :func:`tiled_detect` before its merge."""
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
    return parts, regions


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
    defects are still found) with ONE call ``predict(crops)`` (:func:`detect_slices`), then
    :func:`merge_slices`. ``max_det`` keeps the best after merging (None: all)."""
    parts, regions = detect_slices(image, predict, slice_hw, overlap=overlap, whole=whole)
    merged = merge_slices(parts, regions, iou=iou)
    return merged if max_det is None else merged[:max_det]
