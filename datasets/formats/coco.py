"""COCO detection JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]`` in pixels,
``categories``).

Class ``i`` of the dataset is written as category id ``i + 1`` (COCO ids start at 1).
On reading, categories are sorted by id and renumbered 0..n-1; an image's ``file_name``
is resolved against ``image_root`` (default: the JSON's folder). Annotations with only a
polygon ``segmentation`` get its bounding box. An image may carry a ``group`` key.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from datasets.formats._common import atomic_write_text, read_text
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["to_coco", "from_coco", "load", "save"]


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


def _bbox_of(ann: dict, where: str) -> tuple[float, float, float, float]:
    bbox = ann.get("bbox")
    if bbox is None and isinstance(ann.get("segmentation"), list) and ann["segmentation"]:
        pts = [float(v) for poly in ann["segmentation"] for v in poly]
        xs, ys = pts[0::2], pts[1::2]
        return min(xs), min(ys), max(xs), max(ys)
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
        try:
            im = by_id[int(ann["image_id"])]
            cat = int(ann["category_id"])
        except (KeyError, TypeError, ValueError) as e:
            raise DatasetError(f"{where} refers to a missing image or has no 'category_id'") from e
        if cat not in cat_index:
            raise DatasetError(f"{where}: unknown category_id {cat}")
        try:
            x0, y0, x1, y1 = _bbox_of(ann, where)
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
