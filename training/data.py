"""YOLO-layout datasets as training needs them: the data YAML, split image lists, labels.

``read_data_yaml`` resolves a relative ``path:`` against the YAML's own folder (ultralytics
would resolve it against its global datasets dir), so a dataset folder can be moved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from datasets.formats import yolo
from datasets.formats._common import read_text
from finishscan.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class DataSpec:
    """A YOLO data YAML with absolute paths. ``splits["val"]`` is a folder or a .txt list."""

    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]]

    def images(self, split: str) -> list[Path]:
        """The image files of one split (``"all"``: every split, deduplicated), sorted."""
        if split == "all":
            return sorted({p for k in self.splits for p in self.images(k)})
        if split not in self.splits:
            raise DatasetError(
                f"{self.yaml_path} has no {split!r} split (has {sorted(self.splits)})"
            )
        out: list[Path] = []
        for src in self.splits[split]:
            out.extend(_list_images(src))
        return sorted(out)


def _list_images(src: Path) -> list[Path]:
    if src.is_dir():
        return sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if src.suffix == ".txt" and src.is_file():
        lines = [s.strip() for s in src.read_text().splitlines() if s.strip()]
        return [(src.parent / s).resolve() if not Path(s).is_absolute() else Path(s) for s in lines]
    raise DatasetError(f"dataset split not found: {src}")


def parse_names(raw: object) -> list[str]:
    """``names`` as a list in id order from a list or an ``{id: name}`` mapping."""
    if isinstance(raw, list):
        return [str(n) for n in raw]
    if isinstance(raw, dict):
        ids = sorted(int(k) for k in raw)
        if ids != list(range(len(ids))):
            raise DatasetError(f"class ids must be 0..n-1, got {ids}")
        return [str(raw[k] if k in raw else raw[str(k)]) for k in ids]
    raise DatasetError("data YAML needs 'names' as a list or an {id: name} mapping")


def read_data_yaml(path: str | Path) -> DataSpec:
    """Read a YOLO data YAML. ``read_data_yaml("data/synth/data.yaml").images("val")``."""
    yp = Path(path).expanduser().resolve()
    try:
        doc = yaml.safe_load(yp.read_text()) or {}
    except FileNotFoundError as e:
        raise DatasetError(f"data YAML not found: {path}") from e
    except yaml.YAMLError as e:
        raise DatasetError(f"data YAML {path} is not valid YAML: {e}") from e
    if not isinstance(doc, dict):
        raise DatasetError(f"data YAML {path} is not a mapping")
    root = Path(doc.get("path") or ".")
    root = root if root.is_absolute() else (yp.parent / root).resolve()
    splits: dict[str, list[Path]] = {}
    for split in ("train", "val", "test"):
        v = doc.get(split)
        if not v:
            continue
        items = v if isinstance(v, list) else [v]
        splits[split] = [(root / str(i)).resolve() for i in items]
    if "names" not in doc:
        raise DatasetError(f"data YAML {path} has no 'names'")
    return DataSpec(yp, root, parse_names(doc["names"]), splits)


def write_data_yaml(out: Path, *, names: list[str], splits: dict[str, Path | list[Path]]) -> Path:
    """Write a data YAML with absolute paths (what ultralytics is given)."""
    doc: dict[str, object] = {"path": str(out.parent.resolve())}
    for k, v in splits.items():
        doc[k] = [str(p) for p in v] if isinstance(v, list) else str(v)
    doc["names"] = dict(enumerate(names))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return out


def label_path(image: Path) -> Path:
    """Ultralytics' convention: the last ``images`` folder becomes ``labels``, suffix ``.txt``."""
    return yolo.label_path_for(image)


def load_labels(image: Path, wh: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The labels of one image as ``(class_id (N,) int64, xyxy (N, 4) float64 pixels)``.

    Read by :func:`datasets.formats.yolo.parse_yolo_lines` (``wh`` is the image's size as
    shown, EXIF applied); none when the label file is missing (a negative photo). Raises
    DatasetError naming the file and line for a bad row.
    """
    lp = label_path(image)
    if not lp.exists():
        return np.zeros(0, np.int64), np.zeros((0, 4))
    boxes = yolo.parse_yolo_lines(
        read_text(lp, "label file").splitlines(), wh[0], wh[1], source=str(lp)
    )
    cls = np.asarray([b.class_id for b in boxes], dtype=np.int64)
    return cls, np.asarray([b.xyxy for b in boxes], dtype=np.float64).reshape(-1, 4)


def dataset_sha256(images: list[Path]) -> str:
    """A content hash of images and their labels (order-independent by sorted path)."""
    h = hashlib.sha256()
    for img in sorted(images):
        h.update(img.name.encode())
        h.update(hashlib.sha256(img.read_bytes()).digest())
        lp = label_path(img)
        h.update(hashlib.sha256(lp.read_bytes()).digest() if lp.exists() else b"-")
    return h.hexdigest()
