"""YOLO-layout datasets as training needs them: the data YAML, split image lists, labels.

The data YAML, split lists and labels are read by :mod:`datasets.formats.yolo` (one reader
for the project); this module gives training absolute paths. A relative ``path:`` resolves
against the YAML's own folder (ultralytics would resolve it against its global datasets dir),
so a dataset folder can be moved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from datasets.formats import yolo
from datasets.formats._common import IMAGE_SUFFIXES as IMAGE_SUFFIXES  # for training.export
from datasets.formats._common import read_text
from finishscan.errors import DatasetError


@dataclass(frozen=True)
class DataSpec:
    """A YOLO data YAML with absolute paths. ``splits["val"]`` is a folder or a .txt list."""

    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, list[Path]]

    def images(self, split: str) -> list[Path]:
        """The image files of one split (``"all"``: every split, deduplicated), sorted.

        A folder is searched recursively (hidden folders skipped, as ultralytics' glob does);
        a .txt list's lines are relative to the list's folder.
        """
        if split == "all":
            return sorted({p for k in self.splits for p in self.images(k)})
        if split not in self.splits:
            raise DatasetError(
                f"{self.yaml_path} has no {split!r} split (has {sorted(self.splits)})"
            )
        out: list[Path] = []
        for src in self.splits[split]:
            found = yolo.split_images([src])
            out.extend(found if src.is_dir() else (p.resolve() for p in found))
        return sorted(out)


def read_data_yaml(path: str | Path) -> DataSpec:
    """Read a YOLO data YAML. ``read_data_yaml("data/synth/data.yaml").images("val")``.

    Raises DatasetError (from :func:`datasets.formats.yolo.read_data_yaml`) for a missing or
    unreadable file, no class names, or an ``nc`` that disagrees with them.
    """
    yp = Path(path).expanduser().resolve()
    root, names, splits = yolo.read_data_yaml(yp)
    resolved = {k: [p.resolve() for p in v] for k, v in splits.items()}
    return DataSpec(yp, root.resolve(), names, resolved)


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
