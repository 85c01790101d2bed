"""Validate a YOLO dataset and name every problem with its file (``finishscan dataset check``).

Errors: unknown class id, box outside the image, NaN/infinite value, zero-area box,
malformed line, polygon and box rows mixed in one file, label without image, unreadable
image or one under 10 px (ultralytics drops both), duplicate image (same SHA-256), bad
data.yaml. Warnings: image without label file, duplicate line, JPEG without end marker
(truncated or with trailing data). A dataset is clean when there is no error.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from datasets.formats import yolo
from datasets.formats._common import default_names, find_images
from finishscan.errors import DatasetError, ImageError

__all__ = ["Problem", "check_label_lines", "check_image_bytes", "check_dataset", "OUTSIDE_TOL"]

OUTSIDE_TOL = 1e-4  # normalised units: about 0.06 px at 640 px, above 6-decimal rounding


@dataclass(frozen=True, order=True)
class Problem:
    path: Path
    line: int | None
    severity: Literal["error", "warning"]
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        return f"{where}: {self.severity}: {self.message}"


def check_label_lines(lines: Iterable[str], nc: int, *, source: Path) -> list[Problem]:
    """Every problem of one YOLO label file's lines (normalised ``class cx cy w h``).

    ``check_label_lines(["9 0.5 0.5 0.1 0.1"], 6, source=Path("a.txt"))[0].message``
    == ``"unknown class id 9 (the dataset has 6 classes, ids 0-5)"``
    """
    out: list[Problem] = []
    seen: dict[str, int] = {}
    kind: str | None = None

    def err(i: int, msg: str, severity: Literal["error", "warning"] = "error") -> None:
        out.append(Problem(source, i, severity, msg))

    for i, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 5 and (len(fields) < 7 or (len(fields) - 1) % 2):
            err(i, f"expected 'class cx cy w h', got {len(fields)} fields: {line!r}")
            continue
        row_kind = "box" if len(fields) == 5 else "polygon"
        if kind is None:
            kind = row_kind
        elif row_kind != kind:
            err(
                i,
                f"a {row_kind} row in a file of {kind} rows (ultralytics ignores the whole image)",
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            err(i, f"not a number in {line!r}")
            continue
        if any(math.isnan(v) for v in values):
            err(i, f"NaN in {line!r}")
            continue
        if any(math.isinf(v) for v in values):
            err(i, f"infinite value in {line!r}")
            continue
        cls = values[0]
        if cls != int(cls) or not 0 <= cls < nc:
            err(i, f"unknown class id {fields[0]} (the dataset has {nc} classes, ids 0-{nc - 1})")
        if len(values) == 5:
            cx, cy, w, h = values[1:]
            x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
        else:
            xs, ys = values[1::2], values[2::2]
            x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
            w, h = x1 - x0, y1 - y0
        if w <= 0 or h <= 0:
            err(i, f"zero-area box (w={w:g}, h={h:g})")
        elif x0 < -OUTSIDE_TOL or y0 < -OUTSIDE_TOL or x1 > 1 + OUTSIDE_TOL or y1 > 1 + OUTSIDE_TOL:
            err(
                i,
                f"box outside the image (x {x0:.4f}..{x1:.4f}, y {y0:.4f}..{y1:.4f}; must be within 0..1)",
            )
        key = " ".join(fields)
        if key in seen:
            err(i, f"duplicate of line {seen[key]}", "warning")
        else:
            seen[key] = i
    return out


def _decoded_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` once every pixel block of ``data`` has decoded; None when OpenCV cannot.

    A JPEG is decoded DCT-scaled to 1/8 in grayscale (``IMREAD_REDUCED_GRAYSCALE_8``): every
    entropy-coded block is still read, so a truncated or broken stream fails as in a full
    decode, while the inverse DCT and colour work shrink (benchmarks/check_speed.py); its size
    (EXIF applied) comes from the header. Other formats, and a JPEG whose header does not
    parse or claims no pixels, are decoded in full.
    """
    import cv2

    from detector.image import jpeg_header

    buf = np.frombuffer(data, np.uint8)
    if data[:2] == b"\xff\xd8":
        try:
            size = jpeg_header(data).size
        except ImageError:
            size = None  # OpenCV decides below
        if size is not None and min(size) > 0:
            return size if cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None else None
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return None if img is None else (int(img.shape[1]), int(img.shape[0]))


def check_image_bytes(data: bytes, path: Path) -> list[Problem]:
    """Problems of one image file's bytes: unreadable (OpenCV cannot decode) or truncated JPEG."""
    if not data:
        return [Problem(path, None, "error", "unreadable image (empty file)")]
    size = _decoded_size(data)
    if size is None:
        return [Problem(path, None, "error", "unreadable image (not a decodable image file)")]
    if min(size) < 10:
        w, h = size
        return [
            Problem(
                path, None, "error", f"image is {w}x{h} px; ultralytics ignores images under 10 px"
            )
        ]
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return [
            Problem(path, None, "warning", "JPEG has no end marker (truncated or trailing data)")
        ]
    return []


def _labels_dir_for(images_dir: Path) -> Path:
    parts = list(images_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return images_dir


def check_dataset(root: Path) -> list[Problem]:
    """All problems of the YOLO dataset at ``root`` (folder or data.yaml), sorted by file.

    Raises DatasetError only when ``root`` does not exist.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"dataset not found: {root}")
    problems: list[Problem] = []
    yaml_path = (
        root
        if root.is_file()
        else next((root / n for n in yolo.DATA_YAML_NAMES if (root / n).is_file()), None)
    )
    base = root.parent if root.is_file() else root
    image_dirs: list[Path] = []
    images: list[Path] = []
    names: list[str] | None = None
    if yaml_path is not None:
        try:
            _r, names, splits = yolo.read_data_yaml(yaml_path)
        except DatasetError as e:
            return [Problem(yaml_path, None, "error", str(e).replace(f"{yaml_path}: ", ""))]
        seen: set[Path] = set()
        for key, entries in splits.items():
            for entry in entries:
                if not entry.exists():
                    problems.append(
                        Problem(yaml_path, None, "error", f"{key} split path not found: {entry}")
                    )
                    continue
                if entry.is_dir():
                    image_dirs.append(entry)
                for p in yolo.split_images([entry]):
                    if p.resolve() not in seen:
                        seen.add(p.resolve())
                        images.append(p)
        if not splits:
            problems.append(Problem(yaml_path, None, "error", "no train/val/test split listed"))
    else:
        names = default_names(None)
        problems.append(
            Problem(
                base,
                None,
                "warning",
                f"no data.yaml; checking against configs/classes.yaml ({len(names)} classes)",
            )
        )
        img_root = base / "images" if (base / "images").is_dir() else base
        image_dirs.append(img_root)
        images = find_images(img_root)
    nc = len(names or [])
    if not images:
        problems.append(Problem(base, None, "error", "no images found"))

    expected_labels: set[Path] = set()
    by_hash: dict[str, Path] = {}
    for img in images:
        label = yolo.label_path_for(img)
        expected_labels.add(label.resolve())
        try:
            data = img.read_bytes()
        except OSError as e:
            problems.append(Problem(img, None, "error", f"unreadable image ({e.strerror})"))
            continue
        problems += check_image_bytes(data, img)
        digest = hashlib.sha256(data).hexdigest()
        if digest in by_hash:
            problems.append(
                Problem(img, None, "error", f"duplicate image: same SHA-256 as {by_hash[digest]}")
            )
        else:
            by_hash[digest] = img
        if not label.is_file():
            problems.append(
                Problem(img, None, "warning", f"image without label file (expected {label})")
            )
            continue
        try:
            text = label.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(Problem(label, None, "error", f"unreadable label file ({e})"))
            continue
        problems += check_label_lines(text.splitlines(), nc, source=label)

    for d in image_dirs:
        ldir = _labels_dir_for(d)
        if not ldir.is_dir():
            continue
        for txt in sorted(ldir.rglob("*.txt")):
            if txt.name == "classes.txt" or txt.resolve() in expected_labels:
                continue
            problems.append(Problem(txt, None, "error", "label without image"))
    return sorted(set(problems), key=lambda p: (str(p.path), p.line or 0, p.message))
