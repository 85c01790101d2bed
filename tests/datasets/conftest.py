"""Fixtures for dataset-format tests: tiny real image files written with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from serving.cli import app


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


def tile_cli(root: Path, out: Path, *extra: str) -> str:
    """Run ``finishscan dataset tile ROOT --out OUT --size 100 --overlap 0 [EXTRA]``; its output."""
    r = CliRunner().invoke(
        app,
        [
            "dataset",
            "tile",
            str(root),
            "--out",
            str(out),
            "--size",
            "100",
            "--overlap",
            "0",
            *extra,
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    return r.output
