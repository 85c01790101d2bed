"""The runtime (detect, serve, scan, register) works with torch and ultralytics unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

BLOCK = """
import sys
for name in ("torch", "torchvision", "ultralytics"):
    sys.modules[name] = None  # any `import torch` now raises ImportError
"""


def test_runtime_imports_and_detects_without_torch(tmp_path: Path, default_model: Path) -> None:
    import cv2

    photo = tmp_path / "wall.jpg"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(photo), rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    code = (
        BLOCK
        + f"""
import detector, register, serving.app, serving.scan, datasets.formats, datasets.tools
from detector import Detector, load_image
from serving.cli import app
det = Detector({str(default_model)!r}, threads=1)
dets = det.detect(load_image({str(photo)!r}), tile="auto")
assert dets.xyxy.shape[1:] == (4,) and det.names == list(det.info.names)
assert not any(m in sys.modules and sys.modules[m] for m in ("torch", "ultralytics"))
print("ok")
"""
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("ok")
