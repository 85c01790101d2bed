"""A PNG mosaic of images with their boxes and labels (``finishscan dataset preview``).

Drawn with OpenCV's built-in Hershey font: nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from datasets.formats._common import atomic_write_bytes, read_image
from datasets.types import Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["PALETTE", "pick_images", "draw_tile", "render_mosaic", "write_preview"]

# BGR, distinct on grey walls and tiles; class i uses PALETTE[i % len(PALETTE)]
PALETTE = [
    (40, 40, 255),
    (255, 160, 0),
    (0, 200, 255),
    (200, 0, 200),
    (0, 220, 0),
    (255, 80, 160),
    (0, 128, 255),
    (160, 255, 80),
]


def pick_images(dataset: Dataset, n: int, seed: int = 0) -> list[LabeledImage]:
    """``n`` images chosen deterministically (sorted by path, then a seeded sample)."""
    images = sorted(dataset.images, key=lambda im: str(im.path))
    if len(images) <= n:
        return images
    idx = np.random.default_rng(seed).choice(len(images), size=n, replace=False)
    return [images[i] for i in sorted(idx)]


def _text_box(img: np.ndarray, text: str, bottom_left: tuple[int, int], bg: tuple) -> None:
    """``text`` on a filled ``bg`` box whose bottom-left corner is ``bottom_left``."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.4
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    x, y = bottom_left
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 3, y), bg, -1)
    luma = 0.114 * bg[0] + 0.587 * bg[1] + 0.299 * bg[2]
    fg = (0, 0, 0) if luma > 150 else (255, 255, 255)
    cv2.putText(img, text, (x + 1, y - base - 1), font, scale, fg, 1, cv2.LINE_AA)


def draw_tile(image: np.ndarray, im: LabeledImage, names: list[str], size: int) -> np.ndarray:
    """``image`` (BGR) scaled into a ``size``×``size`` tile with ``im.boxes`` drawn on it."""
    h, w = image.shape[:2]
    s = size / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    tile = np.full((size, size, 3), 40, np.uint8)
    ox, oy = (size - nw) // 2, (size - nh) // 2
    tile[oy : oy + nh, ox : ox + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    # boxes are in the labelled size; scale from it (the file may differ, e.g. EXIF)
    sx, sy = nw / im.width, nh / im.height
    for b in im.boxes:
        color = PALETTE[b.class_id % len(PALETTE)]
        p0 = (ox + round(b.x0 * sx), oy + round(b.y0 * sy))
        p1 = (ox + round(b.x1 * sx) - 1, oy + round(b.y1 * sy) - 1)
        cv2.rectangle(tile, p0, p1, color, 2 if size >= 320 else 1, cv2.LINE_8)
        label = names[b.class_id] if 0 <= b.class_id < len(names) else str(b.class_id)
        _text_box(tile, label, (p0[0], max(p0[1], 12)), color)
    _text_box(tile, Path(im.path).name[-40:], (0, size), (32, 32, 32))
    return tile


def render_mosaic(
    dataset: Dataset, *, n: int = 16, seed: int = 0, tile: int = 320, cols: int | None = None
) -> np.ndarray:
    """A BGR mosaic of up to ``n`` images, ``cols`` per row (default: about square)."""
    if n < 1 or tile < 32:
        raise DatasetError("preview needs n >= 1 and a tile size >= 32 px")
    chosen = pick_images(dataset, n, seed)
    if not chosen:
        raise DatasetError("the dataset has no images to preview")
    cols = cols or int(np.ceil(np.sqrt(len(chosen))))
    rows = int(np.ceil(len(chosen) / cols))
    gap = 4
    canvas = np.full(
        (rows * tile + (rows + 1) * gap, cols * tile + (cols + 1) * gap, 3), 255, np.uint8
    )
    for k, im in enumerate(chosen):
        r, c = divmod(k, cols)
        y, x = gap + r * (tile + gap), gap + c * (tile + gap)
        canvas[y : y + tile, x : x + tile] = draw_tile(read_image(im.path), im, dataset.names, tile)
    return canvas


def write_preview(dataset: Dataset, out: Path, **kwargs) -> Path:
    """Render :func:`render_mosaic` and write it as a PNG (atomic)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise DatasetError(f"preview output must be a .png file, got {out.name}")
    ok, buf = cv2.imencode(".png", render_mosaic(dataset, **kwargs))
    if not ok:  # pragma: no cover - OpenCV always encodes a uint8 BGR image
        raise DatasetError("could not encode the preview PNG")
    atomic_write_bytes(out, buf.tobytes())
    return out
