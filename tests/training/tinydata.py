"""A tiny hand-made YOLO dataset for training tests (no dependency on the generator)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

NAMES = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]


def make_image(
    rng: np.random.Generator, size: int
) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    """A plaster-like image with a dark line (crack) and/or a dark disc (stain)."""
    img = np.full((size, size, 3), rng.integers(150, 220), np.uint8)
    img = np.clip(img.astype(np.int16) + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    boxes = []
    if rng.random() < 0.8:
        x0, y0 = rng.integers(4, size // 3, 2)
        x1, y1 = rng.integers(2 * size // 3, size - 4, 2)
        cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), (40, 40, 40), 2)
        boxes.append((0, float(x0 - 1), float(y0 - 1), float(x1 + 1), float(y1 + 1)))
    if rng.random() < 0.6:
        cx, cy = rng.integers(size // 4, 3 * size // 4, 2)
        r = int(rng.integers(size // 10, size // 6))
        cv2.circle(img, (int(cx), int(cy)), r, (90, 110, 130), -1)
        boxes.append((5, float(cx - r), float(cy - r), float(cx + r), float(cy + r)))
    return img, boxes


def write_tiny_dataset(
    root: Path, *, n_train: int = 16, n_val: int = 8, size: int = 96, seed: int = 0
) -> Path:
    """Write ``root/images/{train,val}``, ``root/labels/...`` and ``root/data.yaml``; return the YAML."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, boxes = make_image(rng, size)
            cv2.imwrite(str(root / "images" / split / f"{i:03d}.jpg"), img[:, :, ::-1])
            lines = [
                f"{c} {(x0 + x1) / 2 / size:.6f} {(y0 + y1) / 2 / size:.6f} {(x1 - x0) / size:.6f} {(y1 - y0) / size:.6f}"
                for c, x0, y0, x1, y1 in boxes
            ]
            (root / "labels" / split / f"{i:03d}.txt").write_text(
                "\n".join(lines) + ("\n" if lines else "")
            )
    data = root / "data.yaml"
    data.write_text(
        yaml.safe_dump({"path": ".", "train": "images/train", "val": "images/val", "names": NAMES})
    )
    return data
