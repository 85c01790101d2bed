"""``detector``'s public names: what other packages import comes from ``detector`` itself."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import cv2
import numpy as np

import detector

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("datasets", "register", "serving", "training", "benchmarks")


def test_every_name_in_all_is_importable() -> None:
    for name in detector.__all__:
        assert getattr(detector, name) is not None, name


def test_read_header_is_public_and_gives_the_decoded_size() -> None:
    assert {"read_header", "ImageHeader"} <= set(detector.__all__)
    # a 60x40 JPEG with EXIF orientation 6 (rotate 90): decoded 40 wide, 60 high
    ok, jpg = cv2.imencode(".jpg", np.zeros((40, 60, 3), np.uint8))
    assert ok
    tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0)
    app1 = b"Exif\0\0" + tiff
    data = jpg[:2].tobytes() + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    data += jpg[2:].tobytes()
    header = detector.read_header(data)
    assert isinstance(header, detector.ImageHeader)
    assert header == ("jpeg", 60, 40, 6, None) and header.size == (40, 60)
    assert detector.decode_image(data).shape[:2] == (60, 40)


def test_other_packages_do_not_reach_into_detector_image_for_public_names() -> None:
    """``from detector.image import X`` outside detector/ only for names ``detector`` does not export."""
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "detector.image":
                    public = [a.name for a in node.names if a.name in detector.__all__]
                    if public:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {public}")
    assert offenders == []
