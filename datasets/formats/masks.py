"""Binary (or class-index) defect masks → boxes, for crack segmentation sets.

The rule, in order:
1. **Foreground**: pixel value ``> 0`` when the mask holds only 0 and 1, else ``> 127``
   (so 0/255 masks saved as JPEG, with compression noise, still threshold cleanly).
   Colour masks are converted to grey first.
2. **Components**: 8-connected components of the foreground (a one-pixel diagonal crack
   stays one piece).
3. **Speckle filter**: components with fewer than ``min_area`` foreground pixels are dropped.
4. **Fragment merging** (optional, ``merge_gap > 0``): boxes whose gap is at most
   ``merge_gap`` pixels — horizontally and vertically — are merged into their common box,
   repeatedly until no pair is that close; a crack broken into pieces by the annotator or
   by occlusion then gives one box. ``merge_gap=0`` keeps every component separate.
5. Boxes are in pixel edges: a component covering columns 3..7 gives ``x0=3, x1=8``.

Class-index masks (``class_id=None``): value ``v > 0`` is class ``v - 1``, each class
processed on its own.

Folder layout read by :func:`load`: ``ROOT/images/<name>.<ext>`` with
``ROOT/masks/<name>.png`` (also ``<name>_mask``, ``_label``, ``_gt``, ``-mask`` stems and
any image suffix), or masks beside the images with one of those stem suffixes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.formats._common import (
    default_names,
    find_images,
    image_size,
    is_image,
    read_image,
)
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["foreground", "mask_to_boxes", "merge_close_boxes", "find_mask", "load"]

MASK_SUFFIXES = ("", "_mask", "_label", "_gt", "-mask", "_seg")
MASK_DIRS = ("masks", "mask", "labels", "gt", "annotations", "ground_truth")


def foreground(mask: np.ndarray) -> np.ndarray:
    """Boolean foreground of a mask (rule 1 of the module doc)."""
    if mask.ndim == 3:
        mask = cv2.cvtColor(mask, cv2.COLOR_BGR2GRAY)
    if mask.dtype == bool:
        return mask
    return mask > 0 if mask.max(initial=0) <= 1 else mask > 127


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def merge_close_boxes(
    boxes: list[tuple[int, int, int, int]], gap: int
) -> list[tuple[int, int, int, int]]:
    """Merge ``(x0, y0, x1, y1)`` boxes whose horizontal and vertical gaps are both ``<= gap``.

    ``merge_close_boxes([(0, 0, 2, 2), (4, 0, 6, 2), (20, 0, 22, 2)], 2) == [(0, 0, 6, 2), (20, 0, 22, 2)]``
    """
    out = list(boxes)
    while True:  # each pass unions every close pair; merged boxes may reach new ones
        parent = list(range(len(out)))
        arr = np.array(out, dtype=np.int64).reshape(-1, 4)
        for i in range(len(out)):
            gx = np.maximum(arr[i + 1 :, 0] - arr[i, 2], arr[i, 0] - arr[i + 1 :, 2])
            gy = np.maximum(arr[i + 1 :, 1] - arr[i, 3], arr[i, 1] - arr[i + 1 :, 3])
            for j in np.nonzero((gx <= gap) & (gy <= gap))[0]:
                ri, rj = _find(parent, i), _find(parent, i + 1 + int(j))
                if ri != rj:
                    parent[rj] = ri
        groups: dict[int, tuple[int, int, int, int]] = {}
        for i, bx in enumerate(out):
            r = _find(parent, i)
            g = groups.get(r, bx)
            groups[r] = (min(g[0], bx[0]), min(g[1], bx[1]), max(g[2], bx[2]), max(g[3], bx[3]))
        if len(groups) == len(out):
            return sorted(out, key=lambda b: (b[1], b[0], b[3], b[2]))
        out = list(groups.values())


def _binary_boxes(fg: np.ndarray, min_area: int, merge_gap: int) -> list[tuple[int, int, int, int]]:
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    boxes = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area >= min_area:
            boxes.append((x, y, x + w, y + h))
    if merge_gap > 0:
        return merge_close_boxes(boxes, merge_gap)
    return sorted(boxes, key=lambda b: (b[1], b[0], b[3], b[2]))


def mask_to_boxes(
    mask: np.ndarray,
    *,
    class_id: int | None = 0,
    min_area: int = 10,
    merge_gap: int = 0,
) -> list[Box]:
    """Boxes of the defects in a mask (rule in the module doc), sorted top to bottom.

    >>> m = np.zeros((10, 10), np.uint8); m[2:4, 3:8] = 255
    >>> mask_to_boxes(m, min_area=1)
    [Box(class_id=0, x0=3.0, y0=2.0, x1=8.0, y1=4.0)]
    """
    if mask.ndim not in (2, 3) or mask.size == 0:
        raise DatasetError(f"a mask must be a 2-D image, got shape {mask.shape}")
    if min_area < 1 or merge_gap < 0:
        raise DatasetError("min_area must be >= 1 and merge_gap >= 0")
    if class_id is not None:
        return [
            Box(class_id, float(x0), float(y0), float(x1), float(y1))
            for x0, y0, x1, y1 in _binary_boxes(foreground(mask), min_area, merge_gap)
        ]
    if mask.ndim == 3:
        mask = mask[..., 0]
    out = []
    for v in sorted(int(u) for u in np.unique(mask) if u > 0):
        out += [
            Box(v - 1, float(x0), float(y0), float(x1), float(y1))
            for x0, y0, x1, y1 in _binary_boxes(mask == v, min_area, merge_gap)
        ]
    return out


def find_mask(image: Path, root: Path) -> Path | None:
    """The mask file of ``image`` (see the module doc for the names tried), or None."""
    stem = image.stem
    dirs = [root / d for d in MASK_DIRS if (root / d).is_dir()] + [image.parent]
    for d in dirs:
        for suffix in MASK_SUFFIXES:
            if d == image.parent and suffix == "":
                continue
            for cand in sorted(d.glob(f"{stem}{suffix}.*")):
                if is_image(cand) and cand != image:
                    return cand
    return None


def _is_mask_name(p: Path) -> bool:
    return any(p.stem.endswith(s) for s in MASK_SUFFIXES if s)


def load(
    root: Path,
    *,
    names: list[str] | None = None,
    class_name: str | None = "crack",
    min_area: int = 10,
    merge_gap: int = 0,
    require_masks: bool = True,
) -> Dataset:
    """Read ``ROOT/images`` and their masks into boxes.

    ``class_name`` is the class of every foreground pixel (``None``: class-index masks,
    value ``v`` → class ``v - 1``). ``names`` default to configs/classes.yaml. An image
    without a mask is an error when ``require_masks``, else a negative.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset not found: {root}")
    names = default_names(names)
    if class_name is not None and class_name not in names:
        raise DatasetError(f"class {class_name!r} is not one of {', '.join(names)}")
    class_id = None if class_name is None else names.index(class_name)
    img_dir = root / "images" if (root / "images").is_dir() else root
    mask_dirs = {(root / d).resolve() for d in MASK_DIRS}
    images = [
        p
        for p in find_images(img_dir)
        if not _is_mask_name(p) and not any(q in mask_dirs for q in p.resolve().parents)
    ]
    if not images:
        raise DatasetError(f"no images found in {img_dir}")
    out = []
    for path in images:
        mask_path = find_mask(path, root)
        w, h = image_size(path)
        boxes: list[Box] = []
        if mask_path is None:
            if require_masks:
                raise DatasetError(
                    f"no mask found for {path} (looked in {', '.join(MASK_DIRS)} and beside it)"
                )
        else:
            mask = read_image(mask_path, cv2.IMREAD_UNCHANGED)
            if mask.shape[:2] != (h, w):
                raise DatasetError(
                    f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image is {w}x{h}"
                )
            boxes = mask_to_boxes(mask, class_id=class_id, min_area=min_area, merge_gap=merge_gap)
            if class_id is None and boxes and max(b.class_id for b in boxes) >= len(names):
                raise DatasetError(
                    f"mask {mask_path} has class value {max(b.class_id for b in boxes) + 1} but only {len(names)} classes"
                )
        out.append(LabeledImage(path=path, width=w, height=h, boxes=boxes))
    return Dataset(names=list(names), images=out)
