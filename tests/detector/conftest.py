"""Fixtures of the detector tests: tiny YOLO ONNX models exported offline, photo writers."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from ..textures import texture

__all__ = ["texture"]  # the detector tests import it from here

NAMES = {0: "crack", 1: "stain", 2: "tile_chip"}
FIXTURE_IMGSZ = 320


def export_tiny(arch: str, out_dir: Path, *, imgsz: int = FIXTURE_IMGSZ) -> Path:
    """Export a random-weights (torch seed 0) ``arch`` (a YAML shipped with ultralytics) with 3
    classes to ONNX, dynamic batch and size; YOLO26 as its end-to-end ``(N, 6)`` graph."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    torch = pytest.importorskip("torch")
    ultralytics = pytest.importorskip("ultralytics")
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = ultralytics.YOLO(arch)
    model.model = DetectionModel(arch, nc=len(NAMES), verbose=False)
    model.model.names = dict(NAMES)
    model.model.task = "detect"
    model.model.args = {"imgsz": imgsz, "data": "", "task": "detect"}
    end2end = "26" in arch
    with warnings.catch_warnings():  # torch's tracer warns; pytest runs with warnings as errors
        warnings.simplefilter("ignore")
        out = model.export(
            format="onnx",
            imgsz=imgsz,
            dynamic=True,
            simplify=True,
            verbose=False,
            nms=False if end2end else None,
        )
    target = out_dir / f"{Path(arch).stem}.onnx"
    Path(out).replace(target)
    return target


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"yolo11": classic (1, 7, N) model, "yolo26": end-to-end (1, 300, 6) model}``."""
    out = tmp_path_factory.mktemp("tiny_models")
    cwd = os.getcwd()
    os.chdir(out)  # ultralytics writes next to the YAML name; keep it in tmp
    try:
        return {
            "yolo11": export_tiny("yolo11n.yaml", out),
            "yolo26": export_tiny("yolo26n.yaml", out),
        }
    finally:
        os.chdir(cwd)


def write_rgb(path: Path, rgb: np.ndarray, **params: int) -> Path:
    flags = [cv2.IMWRITE_JPEG_QUALITY, params["quality"]] if "quality" in params else []
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), flags)
    return path
