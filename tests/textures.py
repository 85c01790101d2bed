"""Seeded test images shared by the test folders (``from ..textures import texture``)."""

from __future__ import annotations

import cv2
import numpy as np


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A seeded RGB uint8 photo-like texture: smooth blotches, a few dark lines and rectangles."""
    small = rng.integers(0, 256, (max(2, h // 16), max(2, w // 16), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p0, p1, (20, 20, 20), int(rng.integers(1, 4)))
        cv2.rectangle(img, p0, p1, tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    noise = rng.normal(0, 8, img.shape)
    return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
