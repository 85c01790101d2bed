"""Pascal VOC XML: one ``Annotations/<stem>.xml`` per image, images in ``JPEGImages/``.

Coordinates: VOC stores 1-based, inclusive pixel indices (a box covering pixel columns
0..9 is ``xmin=1, xmax=10``). As detectron2 does, reading maps them to pixel edges with
``x0 = xmin - 1, x1 = xmax`` (same for y); writing rounds back (``xmin = round(x0) + 1,
xmax = round(x1)``), so a round trip moves an edge by at most half a pixel.
Split lists are written to ``ImageSets/Main/<split>.txt``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from datasets.formats._common import (
    atomic_dir,
    atomic_write_text,
    default_names,
    image_size,
    place_file,
    split_of,
    unique_names,
)
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["to_xml", "parse_xml", "load", "save"]


def to_xml(image: LabeledImage, names: list[str], *, filename: str | None = None) -> str:
    """The VOC XML text of one image (integer 1-based coordinates, see the module doc)."""
    ann = ET.Element("annotation")
    ET.SubElement(ann, "folder").text = "JPEGImages"
    ET.SubElement(ann, "filename").text = filename or Path(image.path).name
    size = ET.SubElement(ann, "size")
    ET.SubElement(size, "width").text = str(image.width)
    ET.SubElement(size, "height").text = str(image.height)
    ET.SubElement(size, "depth").text = "3"
    ET.SubElement(ann, "segmented").text = "0"
    for b in image.boxes:
        x0 = min(max(round(b.x0), 0), image.width - 1)
        y0 = min(max(round(b.y0), 0), image.height - 1)
        x1 = min(max(round(b.x1), x0 + 1), image.width)
        y1 = min(max(round(b.y1), y0 + 1), image.height)
        obj = ET.SubElement(ann, "object")
        ET.SubElement(obj, "name").text = names[b.class_id]
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        bnd = ET.SubElement(obj, "bndbox")
        for tag, v in (("xmin", x0 + 1), ("ymin", y0 + 1), ("xmax", x1), ("ymax", y1)):
            ET.SubElement(bnd, tag).text = str(v)
    ET.indent(ann)
    return ET.tostring(ann, encoding="unicode") + "\n"


def _text(el: ET.Element, path: str, where: str) -> str:
    found = el.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise DatasetError(f"{where}: missing <{path}>")
    return found.text.strip()


def parse_xml(
    text: str, names: list[str], *, source: str = "<voc>"
) -> tuple[str, int, int, list[Box]]:
    """``(filename, width, height, boxes)`` from VOC XML text; names must be in ``names``.

    Width and height are 0 when the file has no ``<size>``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DatasetError(f"{source} is not valid XML ({e})") from e
    if root.tag != "annotation":
        raise DatasetError(f"{source}: root element is <{root.tag}>, expected <annotation>")
    filename = _text(root, "filename", source)
    try:  # <size> is optional in practice; 0 means "read it from the image"
        width = int(float(root.findtext("size/width") or 0))
        height = int(float(root.findtext("size/height") or 0))
    except ValueError as e:
        raise DatasetError(f"{source}: <size> width/height are not numbers") from e
    index = {n: i for i, n in enumerate(names)}
    boxes = []
    for k, obj in enumerate(root.iter("object"), start=1):
        where = f"{source}: object {k}"
        name = _text(obj, "name", where)
        if name not in index:
            raise DatasetError(
                f"{where}: unknown class {name!r} (known: {', '.join(names)}); pass the class list"
            )
        try:
            xmin, ymin, xmax, ymax = (
                float(_text(obj, f"bndbox/{t}", where)) for t in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError as e:
            raise DatasetError(f"{where}: <bndbox> values are not numbers") from e
        x0, y0, x1, y1 = xmin - 1, ymin - 1, xmax, ymax
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or not (x1 > x0 and y1 > y0):
            raise DatasetError(f"{where}: box has zero area or a non-finite value")
        boxes.append(Box(index[name], x0, y0, x1, y1))
    return filename, width, height, boxes


def object_names(text: str, *, source: str = "<voc>") -> list[str]:
    """The object class names in one VOC XML text, in order."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise DatasetError(f"{source} is not valid XML ({e})") from e
    return [(obj.findtext("name") or "").strip() for obj in root.iter("object")]


def _find_image(root: Path, xml_path: Path, filename: str) -> Path:
    for cand in (
        root / "JPEGImages" / filename,
        xml_path.parent / filename,
        root / "images" / filename,
        root / filename,
    ):
        if cand.is_file():
            return cand
    raise DatasetError(f"{xml_path}: image {filename!r} not found beside it or in JPEGImages/")


def load(root: Path, *, names: list[str] | None = None) -> Dataset:
    """Read a VOC folder (``Annotations/*.xml`` or XML files anywhere under ``root``).

    Without ``names``: configs/classes.yaml when every object name is in it, else the
    names found, sorted. Splits are in ``ImageSets/Main/<split>.txt``
    (:func:`split_lists`), not in the returned dataset.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset not found: {root}")
    ann_dir = root / "Annotations"
    xmls = sorted(ann_dir.glob("*.xml")) if ann_dir.is_dir() else sorted(root.rglob("*.xml"))
    if not xmls:
        raise DatasetError(f"no VOC XML files found in {root}")
    texts = []
    for x in xmls:
        try:
            texts.append(x.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise DatasetError(f"{x} is not UTF-8 text") from e
    if names is None:
        found = sorted(
            {n for x, t in zip(xmls, texts, strict=True) for n in object_names(t, source=str(x))}
        )
        default = default_names(None)
        names = default if set(found) <= set(default) else found
    images = []
    for x, text in zip(xmls, texts, strict=True):
        filename, width, height, boxes = parse_xml(text, names, source=str(x))
        path = _find_image(root, x, filename)
        if width <= 0 or height <= 0:
            width, height = image_size(path)
        images.append(LabeledImage(path=path, width=width, height=height, boxes=boxes))
    return Dataset(names=list(names), images=images)


def save(
    dataset: Dataset,
    out: Path,
    *,
    link: bool = True,
    split_fn: Callable[[LabeledImage], str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a VOC folder at ``out`` (Annotations/, JPEGImages/, ImageSets/Main/); returns it."""
    split_fn = split_fn or (lambda im: split_of(im.path))
    file_names = unique_names([im.path for im in dataset.images])
    lists: dict[str, list[str]] = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for im, name in zip(dataset.images, file_names, strict=True):
            place_file(im.path, tmp / "JPEGImages" / name, link=link)
            stem = Path(name).stem
            atomic_write_text(
                tmp / "Annotations" / f"{stem}.xml", to_xml(im, dataset.names, filename=name)
            )
            lists.setdefault(split_fn(im), []).append(stem)
        for split, stems in lists.items():
            atomic_write_text(
                tmp / "ImageSets" / "Main" / f"{split}.txt", "".join(s + "\n" for s in stems)
            )
    return Path(out)


def split_lists(root: Path) -> dict[str, str]:
    """``{stem: split}`` from ``ImageSets/Main/{train,val,test}.txt`` when present."""
    out: dict[str, str] = {}
    main = Path(root) / "ImageSets" / "Main"
    for split in ("train", "val", "test"):
        f = main / f"{split}.txt"
        if f.is_file():
            for line in f.read_text().split():
                out.setdefault(line.strip(), split)
    return out
