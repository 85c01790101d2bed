"""CVAT for images 1.1 XML (``annotations.xml`` of a task, job or project export).

    <annotations><version>1.1</version>
      <meta><task><labels><label><name>crack</name>...</label></labels></task></meta>
      <image id="0" name="photo.jpg" subset="train" width="4000" height="3000">
        <box label="crack" xtl="10.5" ytl="20" xbr="80" ybr="44" rotation="0" occluded="0" .../>
        <polygon label="stain" points="x,y;x,y;..."/>  <mask label=".." left top width height rle/>
      </image>
    </annotations>

Every shape becomes its axis-aligned box: ``box`` (a ``rotation`` about its centre gives
the envelope), ``polygon``/``polyline`` (bounding box of the points; a polyline with no
height or width, e.g. a straight horizontal crack, is widened to 1 px), ``mask`` (its
``rle`` decoded inside ``left, top, width, height`` for the tight box), ``ellipse`` (``cx±rx, cy±ry``). ``points``, ``tag``,
``cuboid`` and ``skeleton`` are ignored. Class names come from ``<meta>`` labels in
order, unless given.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from datasets.formats._common import read_text
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["parse_xml", "shape_box", "load", "subsets"]


def _points(text: str) -> list[tuple[float, float]]:
    pts = []
    for pair in text.strip().split(";"):
        x, y = pair.split(",")
        pts.append((float(x), float(y)))
    if not pts:
        raise ValueError("no points")
    return pts


def _rle_box(
    rle: str, left: int, top: int, w: int, h: int
) -> tuple[float, float, float, float] | None:
    """Tight box of a CVAT mask: ``rle`` counts alternate background/foreground pixels,
    starting with background, row by row over the ``w``×``h`` box at ``(left, top)``."""
    runs = [int(v) for v in rle.replace(" ", "").split(",") if v]
    if sum(runs) > w * h or any(r < 0 for r in runs):
        raise ValueError("rle longer than its box")
    flat = np.zeros(w * h, dtype=bool)
    pos = 0
    for k, r in enumerate(runs):
        if k % 2:
            flat[pos : pos + r] = True
        pos += r
    ys, xs = np.nonzero(flat.reshape(h, w))
    if xs.size == 0:
        return None
    return (
        float(left + xs.min()),
        float(top + ys.min()),
        float(left + xs.max() + 1),
        float(top + ys.max() + 1),
    )


def shape_box(el: ET.Element) -> tuple[float, float, float, float] | None:
    """The pixel box ``(x0, y0, x1, y1)`` of one CVAT shape element, None if ignored.

    ``shape_box(ET.fromstring('<polygon points="1,2;5,2;3,9"/>')) == (1.0, 2.0, 5.0, 9.0)``
    """
    a = el.attrib
    if el.tag == "box":
        x0, y0, x1, y1 = (float(a[k]) for k in ("xtl", "ytl", "xbr", "ybr"))
        angle = math.radians(float(a.get("rotation", 0) or 0))
        if angle:
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
            ex = abs(hw * math.cos(angle)) + abs(hh * math.sin(angle))
            ey = abs(hw * math.sin(angle)) + abs(hh * math.cos(angle))
            return cx - ex, cy - ey, cx + ex, cy + ey
        return x0, y0, x1, y1
    if el.tag in ("polygon", "polyline"):
        pts = _points(a["points"])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if el.tag == "polyline":
            if x1 - x0 < 1:
                x0, x1 = (x0 + x1) / 2 - 0.5, (x0 + x1) / 2 + 0.5
            if y1 - y0 < 1:
                y0, y1 = (y0 + y1) / 2 - 0.5, (y0 + y1) / 2 + 0.5
        return x0, y0, x1, y1
    if el.tag == "mask":
        left, top, w, h = (float(a[k]) for k in ("left", "top", "width", "height"))
        if a.get("rle", "").strip():
            return _rle_box(a["rle"], int(left), int(top), int(w), int(h))
        return left, top, left + w, top + h
    if el.tag == "ellipse":
        cx, cy, rx, ry = (float(a[k]) for k in ("cx", "cy", "rx", "ry"))
        return cx - rx, cy - ry, cx + rx, cy + ry
    return None


def _meta_labels(root: ET.Element) -> list[str]:
    names: list[str] = []
    meta = root.find("meta")
    if meta is None:
        return names
    for label in meta.iter("label"):
        name = label.findtext("name")
        if name and name not in names:
            names.append(name)
    return names


def parse_xml(
    text: str, *, names: list[str] | None = None, source: str = "<cvat>"
) -> tuple[list[str], list[tuple[str, int, int, str | None, list[Box]]]]:
    """``(names, [(image name, width, height, subset, boxes), ...])`` from CVAT XML text."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DatasetError(f"{source} is not valid XML ({e})") from e
    if root.tag != "annotations":
        raise DatasetError(f"{source}: root element is <{root.tag}>, expected <annotations>")
    if root.find("track") is not None:
        raise DatasetError(
            f"{source} is a 'CVAT for video' export; export as 'CVAT for images 1.1'"
        )
    if names is None:
        names = _meta_labels(root)
        for shape in root.iter():
            label = shape.get("label")
            if label and shape.tag != "tag" and label not in names:
                names.append(label)
    index = {n: i for i, n in enumerate(names)}
    images = []
    for k, im in enumerate(root.iter("image")):
        where = f"{source}: image {im.get('name') or k}"
        try:
            name, width, height = (
                im.attrib["name"],
                int(float(im.attrib["width"])),
                int(float(im.attrib["height"])),
            )
        except (KeyError, ValueError) as e:
            raise DatasetError(f"{where} needs 'name', 'width' and 'height'") from e
        boxes = []
        for shape in im:
            try:
                xyxy = shape_box(shape)
            except (KeyError, ValueError) as e:
                raise DatasetError(
                    f"{where}: <{shape.tag}> has missing or non-numeric coordinates"
                ) from e
            if xyxy is None:
                continue
            label = shape.get("label")
            if label not in index:
                raise DatasetError(f"{where}: unknown class {label!r} (known: {', '.join(names)})")
            x0, y0 = max(xyxy[0], 0.0), max(xyxy[1], 0.0)
            x1, y1 = min(xyxy[2], float(width)), min(xyxy[3], float(height))
            if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
                raise DatasetError(f"{where}: <{shape.tag}> has a non-finite coordinate")
            if x1 > x0 and y1 > y0:
                boxes.append(Box(index[label], x0, y0, x1, y1))
        images.append((name, width, height, im.get("subset"), boxes))
    return list(names), images


def _resolve(name: str, image_root: Path, where: str) -> Path:
    for cand in (
        image_root / name,
        image_root / "images" / name,
        image_root / Path(name).name,
        image_root / "images" / Path(name).name,
    ):
        if cand.is_file():
            return cand
    raise DatasetError(f"{where}: image {name!r} not found under {image_root}")


def load(path: Path, image_root: Path | None = None, *, names: list[str] | None = None) -> Dataset:
    """Read a CVAT for images 1.1 XML file (or a folder holding ``annotations.xml``).

    Images resolve against ``image_root`` (default: the XML's folder, then its ``images/``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "annotations.xml"
    text = read_text(path, "CVAT annotations file")
    names, parsed = parse_xml(text, names=names, source=str(path))
    root = Path(image_root) if image_root is not None else path.parent
    images = [
        LabeledImage(path=_resolve(name, root, str(path)), width=w, height=h, boxes=boxes)
        for name, w, h, _subset, boxes in parsed
    ]
    return Dataset(names=names, images=images)


def subsets(path: Path) -> dict[str, str]:
    """``{image file name: subset}`` for images with a ``subset`` attribute (project exports)."""
    path = Path(path)
    if path.is_dir():
        path = path / "annotations.xml"
    _names, parsed = parse_xml(read_text(path, "CVAT annotations file"), source=str(path))
    return {Path(name).name: subset.lower() for name, _w, _h, subset, _b in parsed if subset}
