"""``image_size`` reads headers only, yet agrees with what OpenCV decodes (EXIF applied)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from datasets.formats._common import image_size, read_image
from finishscan.errors import DatasetError


def _exif_app1(orientation: int, endian: str = "<") -> bytes:
    mark = b"II" if endian == "<" else b"MM"
    tiff = mark + struct.pack(endian + "HI", 42, 8)
    tiff += struct.pack(endian + "H", 1)  # one IFD entry
    tiff += struct.pack(endian + "HHIH", 0x0112, 3, 1, orientation) + b"\x00\x00"
    tiff += struct.pack(endian + "I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


@pytest.mark.parametrize(
    ("orientation", "endian", "progressive"),
    [(1, "<", False), (3, ">", False), (6, "<", False), (8, ">", True), (5, "<", True)],
)
def test_jpeg_size_with_exif_matches_opencv(tmp_path, orientation, endian, progressive):
    img = np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])
    data = buf.tobytes()
    path = tmp_path / "x.jpg"
    path.write_bytes(data[:2] + _exif_app1(orientation, endian) + data[2:])
    decoded = cv2.imread(str(path))
    expected = (decoded.shape[1], decoded.shape[0])
    assert expected == ((30, 50) if orientation >= 5 else (50, 30))  # OpenCV really rotated
    assert image_size(path) == expected
    assert read_image(path).shape[:2] == decoded.shape[:2]


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".tif"])
def test_other_formats(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    cv2.imwrite(str(path), np.zeros((17, 23, 3), np.uint8))
    assert image_size(path) == (23, 17)


def test_unreadable(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DatasetError, match="unreadable image"):
        image_size(tmp_path / "bad.jpg")
    with pytest.raises(DatasetError, match="image not found"):
        image_size(tmp_path / "missing.png")
