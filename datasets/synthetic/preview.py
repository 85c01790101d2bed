"""A PNG mosaic of synthetic samples with their boxes drawn (for docs and eyeballing)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.synthetic.composer import Sample, render_sample
from datasets.synthetic.config import SynthConfig

COLORS = [
    (230, 40, 40),
    (40, 120, 240),
    (250, 170, 0),
    (40, 190, 60),
    (200, 60, 220),
    (0, 200, 200),
]


def draw(sample: Sample, names: list[str] | tuple[str, ...]) -> np.ndarray:
    """The sample's image with its boxes and class names drawn (RGB uint8)."""
    img = sample.image.copy()
    for b in sample.boxes:
        col = COLORS[b.class_id % len(COLORS)]
        cv2.rectangle(img, (int(b.x0), int(b.y0)), (int(b.x1) - 1, int(b.y1) - 1), col, 2)
        cv2.putText(
            img,
            names[b.class_id],
            (int(b.x0) + 2, max(12, int(b.y0) - 3)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            col,
            1,
            cv2.LINE_AA,
        )
    return img


def mosaic(
    out: Path,
    n: int = 16,
    *,
    seed: int = 0,
    imgsz: int = 640,
    cols: int = 4,
    tile: int = 320,
    config: SynthConfig | None = None,
    boxes: bool = True,
) -> Path:
    """Render ``n`` samples and save a ``cols``-wide mosaic PNG of ``tile``-px thumbnails."""
    cfg = config or SynthConfig()
    thumbs = []
    for i in range(n):
        s = render_sample(np.random.default_rng([seed, i]), imgsz, cfg)
        img = draw(s, cfg.names) if boxes else s.image
        thumbs.append(cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA))
    rows = (n + cols - 1) // cols
    canvas = np.full((rows * tile + (rows - 1) * 4, cols * tile + (cols - 1) * 4, 3), 255, np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, cols)
        canvas[r * (tile + 4) : r * (tile + 4) + tile, c * (tile + 4) : c * (tile + 4) + tile] = t
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    return out
