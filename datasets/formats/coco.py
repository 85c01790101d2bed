"""COCO detection JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]`` in pixels,
``categories``).

Class ``i`` of the dataset is written as category id ``i + 1`` (COCO ids start at 1).
On reading, categories are sorted by id and renumbered 0..n-1; an image's ``file_name``
is resolved against ``image_root`` (default: the JSON's folder). An annotation without a
``bbox`` gets the bounding box of its ``segmentation``. Crowd annotations (``iscrowd: 1``,
a region holding many objects, which COCO evaluation ignores) are not read as boxes, as
ultralytics' converter and mmdetection treat them. An image may carry a ``group`` key.

``segmentation`` takes the COCO forms (``decode_segmentation``): polygons (a list of flat
``[x0, y0, x1, y1, ...]`` rings, their union; vertices are taken at pixel centres as
``cv2.findContours`` traces a mask, boundary pixels included) or run-length encoding
``{"size": [h, w], "counts": ...}`` over the column-major pixels, first run zeros, with
``counts`` a list of run lengths (uncompressed) or pycocotools' compressed string. COCO writes
polygons for single objects and RLE for crowds, but pycocotools decodes either for either; the
synthetic generator writes RLE with ``iscrowd: 0`` (exact masks: holes and 1-px pieces kept).
Its hollow-tile annotations also carry a ``cue`` mask in the same forms: the pixels that show
the defect (see ``datasets.synthetic.writer``), read by ``dataset tile``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from datasets.formats._common import atomic_write_text, read_text
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = [
    "to_coco",
    "from_coco",
    "load",
    "save",
    "encode_rle",
    "decode_segmentation",
    "counts_to_string",
    "counts_from_string",
]


def to_coco(dataset: Dataset, image_root: Path | None = None) -> dict[str, Any]:
    """The COCO document of ``dataset``; ``file_name`` relative to ``image_root`` if given.

    ``to_coco(Dataset(["crack"], [LabeledImage(Path("a.jpg"), 100, 80, [Box(0, 10, 20, 30, 60)])]))["annotations"][0]["bbox"] == [10, 20, 20, 40]``
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i, im in enumerate(dataset.images, start=1):
        if image_root is not None:
            file_name = Path(
                os.path.relpath(Path(im.path).absolute(), Path(image_root).absolute())
            ).as_posix()
        else:
            file_name = Path(im.path).as_posix()
        entry: dict[str, Any] = {
            "id": i,
            "file_name": file_name,
            "width": im.width,
            "height": im.height,
        }
        if im.group is not None:
            entry["group"] = im.group
        images.append(entry)
        for b in im.boxes:
            w, h = b.x1 - b.x0, b.y1 - b.y0
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": int(b.class_id) + 1,
                    "bbox": [_num(b.x0), _num(b.y0), _num(w), _num(h)],
                    "area": _num(w * h),
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    categories = [
        {"id": i + 1, "name": n, "supercategory": "defect"} for i, n in enumerate(dataset.names)
    ]
    return {
        "info": {"description": "finishscan dataset"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def _num(v: float) -> float | int:
    r = round(float(v), 3)
    return int(r) if r == int(r) else r


def counts_to_string(counts: Sequence[int]) -> str:
    """pycocotools' compressed RLE string of run lengths (maskApi.c ``rleToString``): from the
    third run on, each count is stored as its difference to the count two runs earlier, then
    in 5-bit groups, least significant first, as characters 48 + group (+ 32 when more follow).

    >>> counts_to_string([0, 3, 2, 4])
    '0321'
    """
    x = np.asarray(counts, np.int64).copy()
    x[3:] -= np.asarray(counts, np.int64)[1:-2]
    # One row per 5-bit group (7 cover any 32-bit count): row k holds each count's k-th
    # character, or 0 once it has ended; read count by count, the 0s dropped.
    rows = np.zeros((7, len(x)), np.uint8)
    live = np.ones(len(x), bool)
    for k in range(7):
        ch = x & 0x1F
        x >>= 5  # arithmetic shift: a negative difference ends at -1
        more = np.where(ch & 0x10, x != -1, x != 0) & live
        rows[k] = np.where(live, ch + 48 + 0x20 * more, 0)
        live = more
        if not live.any():
            break
    flat = rows.T.ravel()
    return flat[flat > 0].tobytes().decode("ascii")


def counts_from_string(s: str) -> list[int]:
    """Run lengths of a compressed RLE string (maskApi.c ``rleFrString``); inverse of
    :func:`counts_to_string`. Raises DatasetError on characters outside 48-111 or a
    truncated or negative count."""
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x = k = 0
        more = True
        while more:
            if p >= n:
                raise DatasetError("compressed RLE ends inside a count")
            c = ord(s[p]) - 48
            if not 0 <= c < 64:
                raise DatasetError(f"compressed RLE has a character outside '0'-'o': {s[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            raise DatasetError("compressed RLE decodes to a negative run length")
        counts.append(x)
    return counts


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Compressed COCO RLE ``{"size": [h, w], "counts": str}`` of a 2-D mask (nonzero = in).

    Runs go down the columns (column-major, as pycocotools), alternating out/in from an "out"
    run (0 when the top-left pixel is in).

    >>> encode_rle(np.array([[0, 1], [0, 1], [1, 1]], bool))
    {'size': [3, 2], 'counts': '24'}
    """
    if mask.ndim != 2:
        raise DatasetError(f"a mask must be 2-D, got shape {mask.shape}")
    h, w = mask.shape
    cols = np.flatnonzero(np.asarray(mask, bool).any(axis=0))
    if not len(cols):
        return {"size": [int(h), int(w)], "counts": counts_to_string([h * w])}
    # Only the columns holding pixels are scanned; the empty ones before and after them add
    # to the first and last "out" runs.
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    flat = np.asarray(mask[:, c0:c1], bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate(([0], edges, [flat.size])))
    if flat[0]:
        counts = np.concatenate(([0], counts))
    counts[0] += c0 * h
    if not flat[-1]:
        counts[-1] += (w - c1) * h
    else:
        counts = np.concatenate((counts, [(w - c1) * h])) if c1 < w else counts
    return {"size": [int(h), int(w)], "counts": counts_to_string(counts.tolist())}


def _rle_mask(rle: dict, height: int, width: int) -> np.ndarray:
    size = rle.get("size")
    if not (isinstance(size, list) and len(size) == 2):
        raise DatasetError("RLE 'size' must be [height, width]")
    h, w = int(size[0]), int(size[1])
    if (h, w) != (height, width):
        raise DatasetError(f"RLE size {h}x{w} (h x w) differs from the image's {height}x{width}")
    raw = rle.get("counts")
    if isinstance(raw, str):
        counts = counts_from_string(raw)
    elif isinstance(raw, bytes):
        counts = counts_from_string(raw.decode("ascii"))
    elif isinstance(raw, list):
        counts = [int(c) for c in raw]
        if any(c < 0 for c in counts):
            raise DatasetError("RLE has a negative run length")
    else:
        raise DatasetError("RLE 'counts' must be a list of run lengths or a compressed string")
    if sum(counts) != h * w:
        raise DatasetError(f"RLE runs cover {sum(counts)} pixels, the image has {h * w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(w, h).T


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """The bool (height, width) mask of a COCO ``segmentation``: polygons or RLE (module doc).

    >>> decode_segmentation({"size": [3, 2], "counts": [2, 4]}, 3, 2).astype(int).tolist()
    [[0, 1], [0, 1], [1, 1]]
    >>> decode_segmentation([[1, 0, 2, 0, 2, 1]], 2, 4).astype(int).tolist()
    [[0, 1, 1, 0], [0, 0, 1, 0]]
    """
    if isinstance(seg, dict):
        return _rle_mask(seg, height, width)
    if not isinstance(seg, list) or not all(isinstance(p, list) for p in seg):
        raise DatasetError("'segmentation' must be a list of polygons or an RLE dict")
    import cv2

    out = np.zeros((height, width), np.uint8)
    for poly in seg:
        pts = np.asarray(poly, np.float64)
        if pts.size < 2 or pts.size % 2:
            raise DatasetError("a polygon needs an even number of coordinates")
        ring = np.round(pts.reshape(-1, 2)).astype(np.int32)
        one = np.zeros_like(out)  # each ring filled on its own: COCO polygons are a union
        cv2.fillPoly(one, [ring], 1)
        out |= one
    return out.astype(bool)


def _bbox_of(ann: dict, where: str, height: int, width: int) -> tuple[float, float, float, float]:
    bbox = ann.get("bbox")
    seg = ann.get("segmentation")
    if bbox is None and isinstance(seg, list) and seg:
        pts = [float(v) for poly in seg for v in poly]
        xs, ys = pts[0::2], pts[1::2]
        return min(xs), min(ys), max(xs), max(ys)
    if bbox is None and isinstance(seg, dict):
        try:
            m = decode_segmentation(seg, height, width)
        except DatasetError as e:
            raise DatasetError(f"{where}: {e}") from e
        cols, rows = np.flatnonzero(m.any(axis=0)), np.flatnonzero(m.any(axis=1))
        if not len(cols):
            raise DatasetError(f"{where}: empty RLE mask and no 'bbox'")
        return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise DatasetError(f"{where}: 'bbox' must be [x, y, width, height]")
    x, y, w, h = (float(v) for v in bbox)
    return x, y, x + w, y + h


def from_coco(doc: dict[str, Any], image_root: Path, *, source: str = "<coco>") -> Dataset:
    """A Dataset from a parsed COCO document; raises DatasetError naming the bad entry."""
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise DatasetError(f"{source} is not a COCO file: no 'images' list")
    try:
        cats = sorted(doc.get("categories") or [], key=lambda c: int(c["id"]))
        cat_index = {int(c["id"]): i for i, c in enumerate(cats)}
        names = [str(c["name"]) for c in cats]
    except (KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{source}: each category needs an integer 'id' and a 'name'") from e
    if not names:
        raise DatasetError(f"{source}: no 'categories'")
    image_root = Path(image_root)
    by_id: dict[int, LabeledImage] = {}
    ordered: list[LabeledImage] = []
    for k, entry in enumerate(doc["images"]):
        try:
            im = LabeledImage(
                path=image_root / str(entry["file_name"]),
                width=int(entry["width"]),
                height=int(entry["height"]),
                group=entry.get("group"),
            )
            by_id[int(entry["id"])] = im
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(
                f"{source}: images[{k}] needs 'id', 'file_name', 'width' and 'height'"
            ) from e
        ordered.append(im)
    for k, ann in enumerate(doc.get("annotations") or []):
        where = f"{source}: annotations[{k}]"
        if isinstance(ann, dict) and ann.get("iscrowd"):
            continue  # a crowd region, not one defect (module doc)
        try:
            im = by_id[int(ann["image_id"])]
            cat = int(ann["category_id"])
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{where} refers to a missing image or has no 'category_id'") from e
        if cat not in cat_index:
            raise DatasetError(f"{where}: unknown category_id {cat}")
        try:
            x0, y0, x1, y1 = _bbox_of(ann, where, im.height, im.width)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{where}: 'bbox' is not numeric") from e
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
            raise DatasetError(f"{where}: NaN or infinite bbox")
        if not (x1 > x0 and y1 > y0):
            raise DatasetError(f"{where}: bbox has zero area")
        im.boxes.append(Box(cat_index[cat], x0, y0, x1, y1))
    return Dataset(names=names, images=ordered)


def load(path: Path, image_root: Path | None = None) -> Dataset:
    """Read a COCO JSON file; images resolve against ``image_root`` (default: its folder)."""
    path = Path(path)
    try:
        doc = json.loads(read_text(path, "COCO file"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from e
    return from_coco(doc, image_root if image_root is not None else path.parent, source=str(path))


def save(dataset: Dataset, path: Path, *, image_root: Path | None = None) -> Path:
    """Write ``dataset`` as COCO JSON at ``path`` (atomic); file names relative to
    ``image_root`` (default: the JSON's folder)."""
    path = Path(path)
    doc = to_coco(dataset, image_root if image_root is not None else path.parent)
    atomic_write_text(path, json.dumps(doc, indent=1))
    return path
