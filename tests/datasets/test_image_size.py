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


def _segment(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


_XMP = _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")
_ICC = _segment(0xE2, b"ICC_PROFILE\x00" + bytes(65000))  # a near-maximal APP segment


def _sof_end(data: bytes) -> int:
    i = data.index(b"\xff\xc0")
    return i + 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]


@pytest.mark.parametrize(
    "layout",
    [
        "exif6+xmp",  # XMP after EXIF (editors write both): the EXIF orientation still holds
        "xmp+exif6",
        "exif6+exif1",  # OpenCV takes the first EXIF block
        "exif1+exif6",
        "exif6-after-frame-header",
        "fill-bytes+exif6",
        "icc+icc+exif8",  # the segments before the scan run past the first 64 KiB read
    ],
)
def test_jpeg_size_agrees_with_opencv_on_segment_layouts(tmp_path, monkeypatch, layout):
    """Layouts where the former datasets-only parser disagreed with OpenCV (XMP after EXIF
    reset the orientation; a later EXIF block overrode the first; an EXIF after the frame
    header was not seen). image_size now uses detector.image.jpeg_header, as inference does."""
    from detector.image import decode_image, jpeg_header

    img = np.random.default_rng(1).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    body = data[2:]
    if layout == "exif6+xmp":
        data = data[:2] + _exif_app1(6) + _XMP + body
    elif layout == "xmp+exif6":
        data = data[:2] + _XMP + _exif_app1(6, ">") + body
    elif layout == "exif6+exif1":
        data = data[:2] + _exif_app1(6) + _exif_app1(1) + body
    elif layout == "exif1+exif6":
        data = data[:2] + _exif_app1(1) + _exif_app1(6) + body
    elif layout == "exif6-after-frame-header":
        end = _sof_end(data)
        data = data[:end] + _exif_app1(6) + data[end:]
    elif layout == "fill-bytes+exif6":
        data = data[:2] + b"\xff\xff" + _exif_app1(6) + body
    else:
        data = data[:2] + _ICC + _ICC + _exif_app1(8) + body
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    decoded = cv2.imread(str(path))
    expected = (decoded.shape[1], decoded.shape[0])
    assert decode_image(data).shape[:2] == decoded.shape[:2]
    assert jpeg_header(data).size == expected
    monkeypatch.setattr(
        "datasets.formats._common.read_image", lambda *a: pytest.fail("pixels were decoded")
    )
    assert image_size(path) == expected


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "JPEG"])
@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_rotated_png_webp_tiff_read_from_the_header_as_opencv_decodes(
    tmp_path, monkeypatch, fmt, orientation
):
    """PNG (eXIf), WebP (EXIF) and TIFF (Orientation) are rotated by OpenCV too; the header
    says so, and no pixel is decoded."""
    pil = pytest.importorskip("PIL.Image")
    img = np.random.default_rng(2).integers(0, 255, (30, 50, 3), dtype=np.uint8)
    exif = pil.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"x.{fmt.lower()}"
    kwargs = {"tiffinfo": {0x0112: orientation}} if fmt == "TIFF" else {"exif": exif.tobytes()}
    pil.fromarray(img).save(path, fmt, **kwargs)
    # (imdecode: cv2.imread of OpenCV 5.0.0 fails on a TIFF turned 90 degrees, imdecode does not)
    decoded = read_image(path)
    expected = (decoded.shape[1], decoded.shape[0])
    assert expected == ((30, 50) if orientation >= 5 else (50, 30))  # OpenCV really rotated
    monkeypatch.setattr(
        "datasets.formats._common.read_image", lambda *a: pytest.fail("pixels were decoded")
    )
    assert image_size(path) == expected


def test_empty_file_and_unknown_header_fall_back_to_decoding(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError, match="unreadable image"):
        image_size(tmp_path / "empty.png")
    # a PNG whose IHDR claims no pixels: the header is not trusted, OpenCV decides
    data = bytearray(cv2.imencode(".png", np.zeros((17, 23, 3), np.uint8))[1].tobytes())
    data[16:24] = bytes(8)
    (tmp_path / "zero.png").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="unreadable image"):
        image_size(tmp_path / "zero.png")
