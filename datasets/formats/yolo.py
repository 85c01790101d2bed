"""YOLO (ultralytics) detection layout.

    ROOT/data.yaml                 names, nc and split directories (no ``path`` key, so
    ROOT/images/<split>/x.jpg      ultralytics resolves splits against the yaml's folder)
    ROOT/labels/<split>/x.txt      one ``class cx cy w h`` line per box, normalised to 0..1

The label of ``.../images/.../x.jpg`` is ``.../labels/.../x.txt`` (last ``images``
component swapped, as ultralytics does); without an ``images`` component the label sits
beside the image. An image without a label file has no boxes (a negative).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import yaml

from datasets.formats._common import (
    atomic_dir,
    atomic_write_text,
    default_names,
    find_images,
    image_size,
    place_file,
    read_text,
    split_of,
    unique_names,
)
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = [
    "format_yolo_lines",
    "parse_yolo_lines",
    "label_path_for",
    "write_labels",
    "write_data_yaml",
    "read_data_yaml",
    "split_images",
    "load",
    "save",
]

DATA_YAML_NAMES = ("data.yaml", "dataset.yaml", "data.yml", "dataset.yml")


def format_yolo_lines(boxes: Iterable[Box], width: int, height: int) -> list[str]:
    """Boxes in pixels → YOLO lines (``"0 0.500000 0.500000 0.250000 0.100000"``).

    Boxes are clipped to the image; a box with no area left after clipping is dropped.
    ``format_yolo_lines([Box(0, 10, 20, 30, 60)], 100, 100) == ["0 0.200000 0.400000 0.200000 0.400000"]``
    """
    if width <= 0 or height <= 0:
        raise DatasetError(f"image size must be positive, got {width}x{height}")
    lines = []
    for b in boxes:
        x0, x1 = min(max(b.x0, 0.0), width), min(max(b.x1, 0.0), width)
        y0, y1 = min(max(b.y0, 0.0), height), min(max(b.y1, 0.0), height)
        if not (x1 > x0 and y1 > y0):
            continue
        cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
        w, h = (x1 - x0) / width, (y1 - y0) / height
        lines.append(f"{int(b.class_id)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def parse_yolo_lines(
    lines: Iterable[str],
    width: int,
    height: int,
    *,
    nc: int | None = None,
    source: str = "<labels>",
) -> list[Box]:
    """YOLO lines → boxes in pixels. Blank lines are skipped.

    Raises DatasetError naming ``source`` and the 1-based line for a wrong field count,
    a non-numeric or non-finite value, a negative (or ``>= nc``) class id, or a box with
    no area. Segment lines (``class x1 y1 x2 y2 x3 y3 ...``, three or more points) become
    their bounding box; a file must not mix them with box lines (ultralytics rule).
    ``parse_yolo_lines(["0 0.5 0.5 0.2 0.4"], 100, 100) == [Box(0, 40.0, 30.0, 60.0, 70.0)]``
    """
    boxes = []
    kind = None
    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"{source}:{i}"
        fields = line.split()
        if len(fields) != 5 and (len(fields) < 7 or (len(fields) - 1) % 2):
            raise DatasetError(f"{where}: expected 'class cx cy w h', got {len(fields)} fields")
        row_kind = "box" if len(fields) == 5 else "polygon"
        if kind is not None and row_kind != kind:
            raise DatasetError(
                f"{where}: a {row_kind} row in a file of {kind} rows (ultralytics drops such images)"
            )
        kind = row_kind
        try:
            cls_f = float(fields[0])
            nums = [float(v) for v in fields[1:]]
        except ValueError as e:
            raise DatasetError(f"{where}: not a number in {line!r}") from e
        if not all(math.isfinite(v) for v in [cls_f, *nums]):
            raise DatasetError(f"{where}: NaN or infinite value in {line!r}")
        if cls_f != int(cls_f) or cls_f < 0:
            raise DatasetError(f"{where}: class id must be a non-negative integer, got {fields[0]}")
        cls = int(cls_f)
        if nc is not None and cls >= nc:
            raise DatasetError(f"{where}: unknown class id {cls} (the dataset has {nc} classes)")
        if len(nums) == 4:
            cx, cy, w, h = nums
            x0, x1 = (cx - w / 2) * width, (cx + w / 2) * width
            y0, y1 = (cy - h / 2) * height, (cy + h / 2) * height
        else:
            xs, ys = nums[0::2], nums[1::2]
            x0, x1 = min(xs) * width, max(xs) * width
            y0, y1 = min(ys) * height, max(ys) * height
        if not (x1 > x0 and y1 > y0):
            raise DatasetError(f"{where}: box has zero area")
        boxes.append(Box(cls, x0, y0, x1, y1))
    return boxes


def label_path_for(image_path: Path) -> Path:
    """``a/images/train/x.jpg`` → ``a/labels/train/x.txt``; ``a/x.jpg`` → ``a/x.txt``."""
    parts = list(Path(image_path).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return Path(image_path).with_suffix(".txt")


def write_labels(image: LabeledImage, label_path: Path) -> None:
    """Write ``image.boxes`` as a YOLO label file (atomic; an empty file for no boxes)."""
    lines = format_yolo_lines(image.boxes, image.width, image.height)
    atomic_write_text(Path(label_path), "".join(line + "\n" for line in lines))


def write_data_yaml(
    root: Path,
    names: Sequence[str],
    splits: dict[str, str] | None = None,
) -> Path:
    """Write ``root/data.yaml`` (``names`` as an id→name map, ``nc``, split dirs); returns it.

    ``splits`` defaults to ``{"train": "images/train", "val": "images/val"}``; paths are
    relative to ``root`` and no ``path`` key is written, so the folder can be moved.
    """
    splits = {"train": "images/train", "val": "images/val"} if splits is None else splits
    doc: dict = dict(splits)
    doc["nc"] = len(names)
    doc["names"] = {i: str(n) for i, n in enumerate(names)}
    path = Path(root) / "data.yaml"
    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def _names_from_doc(doc: dict, source: Path) -> list[str]:
    names = doc.get("names")
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError) as e:
            raise DatasetError(f"{source}: 'names' keys must be class ids") from e
        if keys != list(range(len(keys))):
            raise DatasetError(f"{source}: 'names' ids must be 0..{len(keys) - 1}")
        return [str(names[k] if k in names else names[str(k)]) for k in keys]
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise DatasetError(f"{source}: no 'names' list of class names")


def read_data_yaml(path: Path) -> tuple[Path, list[str], dict[str, list[Path]]]:
    """``(root, names, {split: [dir or list file, ...]})`` from a data.yaml."""
    path = Path(path)
    try:
        doc = yaml.safe_load(read_text(path, "data.yaml"))
    except yaml.YAMLError as e:
        raise DatasetError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise DatasetError(f"{path} is not a mapping with 'names' and split directories")
    names = _names_from_doc(doc, path)
    if "nc" in doc and doc["nc"] != len(names):
        raise DatasetError(f"{path}: nc is {doc['nc']} but {len(names)} names are listed")
    base = path.parent
    root = base
    if doc.get("path"):
        p = Path(str(doc["path"])).expanduser()
        root = p if p.is_absolute() else base / p
        if not root.exists() and p.exists():
            root = p
    splits: dict[str, list[Path]] = {}
    for key in ("train", "val", "test"):
        value = doc.get(key)
        if not value:
            continue
        items = value if isinstance(value, list) else [value]
        splits[key] = [
            (root / str(v)) if not Path(str(v)).is_absolute() else Path(v) for v in items
        ]
    return root, names, splits


def split_images(entries: list[Path]) -> list[Path]:
    """Images of one split: each entry is a directory (searched recursively) or a list file."""
    out: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            out.extend(find_images(entry))
        elif entry.is_file() and entry.suffix == ".txt":
            for line in read_text(entry, "image list").splitlines():
                if line.strip():
                    p = Path(line.strip())
                    out.append(p if p.is_absolute() else entry.parent / p)
        else:
            raise DatasetError(f"split path not found: {entry}")
    return out


def _find_data_yaml(root: Path) -> Path | None:
    for name in DATA_YAML_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def _load_image(path: Path, nc: int) -> LabeledImage:
    width, height = image_size(path)
    label = label_path_for(path)
    boxes = []
    if label.is_file():
        boxes = parse_yolo_lines(
            read_text(label, "label file").splitlines(), width, height, nc=nc, source=str(label)
        )
    return LabeledImage(path=path, width=width, height=height, boxes=boxes)


def load(root_or_data_yaml: Path, *, names: list[str] | None = None) -> Dataset:
    """Read a YOLO dataset from its data.yaml or its root folder.

    A folder without a data.yaml is read as ``images/**`` (or all images in it) with
    ``names`` (default: configs/classes.yaml); with a data.yaml its names are used and
    ``names`` is ignored. Raises DatasetError on the first bad label.
    """
    src = Path(root_or_data_yaml)
    if src.is_file():
        yaml_path: Path | None = src
    elif src.is_dir():
        yaml_path = _find_data_yaml(src)
    else:
        raise DatasetError(f"dataset not found: {src}")
    if yaml_path is not None:
        _root, yaml_names, splits = read_data_yaml(yaml_path)
        names = yaml_names  # the file's names win; remap by name afterwards if needed
        seen: set[Path] = set()
        paths: list[Path] = []
        for key in ("train", "val", "test"):
            for p in split_images(splits.get(key, [])):
                if p.resolve() not in seen:
                    seen.add(p.resolve())
                    paths.append(p)
    else:
        names = default_names(names)
        base = src / "images" if (src / "images").is_dir() else src
        paths = find_images(base)
    if not paths:
        raise DatasetError(f"no images found in {src}")
    return Dataset(names=list(names), images=[_load_image(p, len(names)) for p in paths])


def save(
    dataset: Dataset,
    out: Path,
    *,
    link: bool = True,
    split_fn: Callable[[LabeledImage], str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``dataset`` as a YOLO folder at ``out`` (images linked or copied); returns data.yaml.

    Each image goes to ``images/<split>/`` with ``split_fn(image)`` (default: a parent
    folder named train/val/test in its current path, else ``train``). Clashing file names
    within a split get a short hash. The folder appears only when complete.
    """
    split_fn = split_fn or (lambda im: split_of(im.path))
    splits = [split_fn(im) for im in dataset.images]
    keyed = {im.path: s for im, s in zip(dataset.images, splits, strict=True)}
    names_out = unique_names([im.path for im in dataset.images], key=lambda p: keyed[p])
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for im, split, name in zip(dataset.images, splits, names_out, strict=True):
            dst = tmp / "images" / split / name
            place_file(im.path, dst, link=link)
            write_labels(im, label_path_for(dst))
        present: list[str] = [s for s in ("train", "val", "test") if s in set(splits)]
        present += sorted(set(splits) - set(present))
        split_dirs: dict[str, str] = {s: f"images/{s}" for s in present}
        if "val" not in split_dirs and "train" in split_dirs:
            split_dirs["val"] = split_dirs["train"]  # ultralytics needs a val entry
        write_data_yaml(tmp, dataset.names, split_dirs)
    return Path(out) / "data.yaml"


def is_yolo_dir(path: Path) -> bool:
    """True when ``path`` is a data.yaml or a folder with one or with ``images/``/``labels/``."""
    path = Path(path)
    if path.is_file():
        return path.suffix in (".yaml", ".yml")
    return path.is_dir() and (_find_data_yaml(path) is not None or (path / "labels").is_dir())
