"""The detection JSON record of INTERFACE.md, built from Detections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detector.quality import PhotoQuality
from detector.types import Detections, ModelInfo


def to_record(
    detections: Detections,
    names: Sequence[str],
    *,
    image: str,
    width: int,
    height: int,
    model: ModelInfo,
    quality: PhotoQuality | None = None,
) -> dict[str, Any]:
    """``{"image", "width", "height", "defects": [{"label", "confidence", "box"}], "model"}``
    (and ``"quality"``, :func:`detector.quality.photo_quality`'s figures, when given),
    defects best first, ``box`` = [x0, y0, x1, y1] in photo pixels (2 decimals, x0 < x1 and
    y0 < y1: boxes clipped to zero area are left out), confidence rounded to 4 decimals.

    >>> info = ModelInfo("m", "1", ["crack"], (640, 640))
    >>> to_record(Detections.empty(), ["crack"], image="a.jpg", width=4, height=3, model=info)["defects"]
    []
    """
    order = np.argsort(-detections.confidence, kind="stable")
    defects = []
    for k in order:
        x0, y0, x1, y1 = detections.xyxy[k]
        if not (x1 > x0 and y1 > y0):  # clipped to nothing at the photo's edge: not a defect
            continue
        cid = int(detections.class_id[k])
        defects.append(
            {
                "label": names[cid] if 0 <= cid < len(names) else f"class{cid}",
                "confidence": round(float(detections.confidence[k]), 4),
                "box": [round(float(v), 2) for v in detections.xyxy[k]],
            }
        )
    record: dict[str, Any] = {
        "image": image,
        "width": int(width),
        "height": int(height),
        "defects": defects,
        "model": {"name": model.name, "version": model.version},
    }
    if quality is not None:
        record["quality"] = quality.to_dict()
    return record


def error_record(image: str, reason: str, *, model: ModelInfo | None = None) -> dict[str, Any]:
    """The record of a photo that could not be read: ``{"image", "error"}`` and no defects."""
    rec: dict[str, Any] = {"image": image, "error": reason}
    if model is not None:
        rec["model"] = {"name": model.name, "version": model.version}
    return rec
