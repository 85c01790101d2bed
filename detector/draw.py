"""Annotated copies of photos: boxes and readable labels with OpenCV's built-in font."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from detector.types import Detections

# distinct, colour-blind-friendly RGB colours (Okabe-Ito), one per class id
PALETTE = [
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66),
    (0, 114, 178), (213, 94, 0), (204, 121, 167), (120, 120, 120),
]  # fmt: skip


def class_color(class_id: int) -> tuple[int, int, int]:
    return PALETTE[int(class_id) % len(PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, names: Sequence[str]) -> np.ndarray:
    """An RGB copy of ``image`` with each box and a ``label 0.87`` tag on a filled background;
    line width and text size grow with the photo so labels stay readable on 4000 px photos.

    >>> draw_detections(np.zeros((8, 8, 3), np.uint8), Detections.empty(), []).shape
    (8, 8, 3)
    """
    out = np.ascontiguousarray(image).copy()
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 600))
    scale = max(0.4, max(h, w) / 1600)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for k in np.argsort(detections.confidence, kind="stable"):  # best drawn last, on top
        x0, y0, x1, y1 = (round(float(v)) for v in detections.xyxy[k])
        cid = int(detections.class_id[k])
        color = class_color(cid)
        cv2.rectangle(out, (x0, y0), (x1, y1), color, thick, cv2.LINE_AA)
        name = names[cid] if 0 <= cid < len(names) else f"class{cid}"
        text = f"{name} {float(detections.confidence[k]):.2f}"
        (tw, th), base = cv2.getTextSize(text, font, scale, max(1, thick - 1))
        tag_h = th + base + 2
        ty = y0 - tag_h if y0 - tag_h >= 0 else max(0, min(y0, h - tag_h))  # above, else inside
        tx = min(max(x0, 0), max(w - tw - 2, 0))
        cv2.rectangle(out, (tx, ty), (tx + tw + 2, ty + th + base + 2), color, -1)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(
            out, text, (tx + 1, ty + th + 1), font, scale, ink, max(1, thick - 1), cv2.LINE_AA
        )
    return out
