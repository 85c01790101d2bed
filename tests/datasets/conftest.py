"""Fixtures for dataset-format tests: tiny real image files written with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    """A small noisy image (distinct bytes per seed) at ``path``; PNG or JPEG by suffix."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


@pytest.fixture
def make_image():
    return write_image
