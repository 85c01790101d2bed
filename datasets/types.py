"""In-memory labelled data shared by every format and the synthetic generator.

Boxes are in pixels of the image as stored (x0 < x1, y0 < y1, float). Every format module
loads into :class:`Dataset` and saves from it, so conversions go through one type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Box:
    class_id: int
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@dataclass
class LabeledImage:
    """One image file and its boxes. ``group`` keeps photos of one unit together in splits."""

    path: Path
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)
    group: str | None = None


@dataclass
class Dataset:
    names: list[str]
    images: list[LabeledImage] = field(default_factory=list)
