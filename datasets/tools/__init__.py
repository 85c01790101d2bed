"""Dataset tooling behind ``finishscan dataset ...``: pure functions with thin I/O.

``check`` (validate a YOLO dataset), ``stats`` (counts and sizes), ``merge`` (class
remapping by name), ``split`` (deterministic, by group), ``preview`` (PNG mosaic),
``convert`` (any supported format → YOLO/COCO/VOC).
"""

from datasets.tools import check, convert, merge, preview, split, stats, tile

__all__ = ["check", "convert", "merge", "preview", "split", "stats", "tile"]
