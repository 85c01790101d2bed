"""Counts per class and box sizes of a dataset (``finishscan dataset stats``).

Size buckets follow COCO, on box area in pixels of the image as stored: small
``< 32²``, medium ``32²..96²``, large ``>= 96²``.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

from datasets.types import Dataset

__all__ = ["ClassStats", "Stats", "size_bucket", "compute_stats", "format_stats"]

SMALL, MEDIUM = 32**2, 96**2


def size_bucket(area: float) -> str:
    """``"small"``, ``"medium"`` or ``"large"`` for a box area in px²."""
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


@dataclass
class ClassStats:
    name: str
    boxes: int = 0
    images: int = 0
    small: int = 0
    medium: int = 0
    large: int = 0
    median_width: float | None = None  # px
    median_height: float | None = None  # px
    median_rel_size: float | None = None  # sqrt(box area / image area)


@dataclass
class Stats:
    images: int
    boxes: int
    images_without_boxes: int
    sizes: dict[str, int]
    classes: list[ClassStats] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def compute_stats(dataset: Dataset) -> Stats:
    """Stats of an in-memory dataset (pure).

    ``compute_stats(Dataset(["crack"], [LabeledImage(p, 100, 100, [Box(0, 0, 0, 10, 20)])])).classes[0].median_height == 20``
    """
    per = [ClassStats(n) for n in dataset.names]
    widths: list[list[float]] = [[] for _ in dataset.names]
    heights: list[list[float]] = [[] for _ in dataset.names]
    rel: list[list[float]] = [[] for _ in dataset.names]
    sizes = {"small": 0, "medium": 0, "large": 0}
    empty = 0
    for im in dataset.images:
        if not im.boxes:
            empty += 1
        for c in {b.class_id for b in im.boxes}:
            per[c].images += 1
        for b in im.boxes:
            w, h = b.x1 - b.x0, b.y1 - b.y0
            bucket = size_bucket(w * h)
            sizes[bucket] += 1
            cs = per[b.class_id]
            cs.boxes += 1
            setattr(cs, bucket, getattr(cs, bucket) + 1)
            widths[b.class_id].append(w)
            heights[b.class_id].append(h)
            rel[b.class_id].append((w * h / (im.width * im.height)) ** 0.5)
    for i, cs in enumerate(per):
        if widths[i]:
            cs.median_width = statistics.median(widths[i])
            cs.median_height = statistics.median(heights[i])
            cs.median_rel_size = statistics.median(rel[i])
    return Stats(
        images=len(dataset.images),
        boxes=sum(cs.boxes for cs in per),
        images_without_boxes=empty,
        sizes=sizes,
        classes=per,
    )


def format_stats(stats: Stats) -> str:
    """A plain-text table of :class:`Stats`."""
    lines = [
        f"images: {stats.images}  boxes: {stats.boxes}  images without boxes: {stats.images_without_boxes}",
        "sizes (COCO, px²): small <32²: {small}  medium: {medium}  large >=96²: {large}".format(
            **stats.sizes
        ),
        "",
        f"{'class':<16}{'boxes':>7}{'images':>8}{'small':>7}{'medium':>8}{'large':>7}{'med w×h px':>14}{'med rel':>9}",
    ]
    for cs in stats.classes:
        wh = f"{cs.median_width:.0f}×{cs.median_height:.0f}" if cs.median_width is not None else "-"
        rs = f"{cs.median_rel_size:.3f}" if cs.median_rel_size is not None else "-"
        lines.append(
            f"{cs.name:<16}{cs.boxes:>7}{cs.images:>8}{cs.small:>7}{cs.medium:>8}{cs.large:>7}{wh:>14}{rs:>9}"
        )
    return "\n".join(lines)
