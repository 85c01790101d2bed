"""Reading photos: formats, bad inputs, EXIF orientation, pixel limit before decoding."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import detector.image
from detector import decode_image, image_header, load_image
from finishscan.errors import ImageError


def encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` with one tiny (zlib) IDAT: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("ext", "fmt"),
    [(".png", "png"), (".jpg", "jpeg"), (".webp", "webp"), (".bmp", "bmp"), (".tiff", "tiff")],
)
def test_header_sizes(ext, fmt) -> None:
    data = encode(ext, np.zeros((37, 53, 3), np.uint8))
    assert image_header(data) == (fmt, 53, 37)
    assert decode_image(data).shape == (37, 53, 3)


def test_lossless_webp_header() -> None:
    data = encode(".webp", np.zeros((37, 53, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert image_header(data) == ("webp", 53, 37)


def test_rgb_channel_order() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR
    assert decode_image(encode(".png", bgr))[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is a text file\n", "not a supported image"),
        (b"\x00\x00\x00\x18ftypheic" + b"\0" * 20, "HEIC"),
        (b"\x89PNG\r\n\x1a\n\0\0", "truncated"),
    ],
)
def test_bad_bytes(data, message) -> None:
    with pytest.raises(ImageError, match=message) as e:
        decode_image(data)
    assert e.value.too_large is False


def test_zero_byte_and_text_files(tmp_path: Path) -> None:
    (tmp_path / "zero.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("not a photo")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "zero.jpg")
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(tmp_path / "notes.jpg")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_jpeg(cut) -> None:
    rng = np.random.default_rng(0)
    data = encode(".jpg", rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    decode_image(data)  # the whole file is fine
    with pytest.raises(ImageError, match="truncated"):
        decode_image(data[: int(len(data) * cut)])


def test_truncated_png() -> None:
    rng = np.random.default_rng(0)
    data = encode(".png", rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_huge_png_refused_from_header_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(detector.image.cv2, "imdecode", no_decoding)
    with pytest.raises(ImageError, match="40000x40000") as e:
        decode_image(png_claiming(40000, 40000))
    assert e.value.too_large is True


def test_pixel_limit_is_configurable() -> None:
    data = encode(".png", np.zeros((100, 100, 3), np.uint8))
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageError) as e:
        decode_image(data, max_pixels=9_999)
    assert e.value.too_large


def test_grayscale_rgba_and_16bit() -> None:
    gray = np.full((5, 6), 77, np.uint8)
    assert decode_image(encode(".png", gray)).tolist() == np.full((5, 6, 3), 77).tolist()
    bgra = np.zeros((5, 6, 4), np.uint8)
    bgra[..., :3] = (10, 20, 30)
    bgra[..., 3] = 0  # fully transparent: colour kept, alpha dropped
    assert decode_image(encode(".png", bgra))[0, 0].tolist() == [30, 20, 10]
    deep = np.full((5, 6, 3), 51400, np.uint16)  # 16-bit: the high byte is kept (51400 >> 8 = 200)
    assert decode_image(encode(".png", deep))[0, 0].tolist() == [200, 200, 200]


def test_cmyk_jpeg() -> None:
    pil = pytest.importorskip("PIL.Image")
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 30)
    rgb[:, 20:] = (30, 30, 200)
    buf = io.BytesIO()
    pil.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=95)
    out = decode_image(buf.getvalue())
    assert out.shape == (20, 40, 3)
    np.testing.assert_allclose(out[10, 5], (200, 30, 30), atol=6)
    np.testing.assert_allclose(out[10, 35], (30, 30, 200), atol=6)


def exif_jpeg(rgb: np.ndarray, orientation: int) -> bytes:
    pil = pytest.importorskip("PIL.Image")
    exif = pil.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pil.fromarray(rgb).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def bright_box(image: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(image[..., 0] > 128)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@pytest.mark.parametrize(
    ("orientation", "shape", "box"),
    [
        (1, (20, 40), [0, 0, 8, 8]),  # as stored
        (3, (20, 40), [32, 12, 40, 20]),  # rotated 180: bottom-right
        (6, (40, 20), [12, 0, 20, 8]),  # rotated 90 clockwise: top-right
        (8, (40, 20), [0, 32, 8, 40]),  # rotated 90 counter-clockwise: bottom-left
    ],
)
def test_exif_orientation(orientation, shape, box) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:8, :8] = 255  # bright square at the top-left of the stored pixels
    out = decode_image(exif_jpeg(stored, orientation))
    assert out.shape[:2] == shape
    assert bright_box(out) == box


def _seg(code: int, payload: bytes) -> bytes:
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def _exif(orientation: int) -> bytes:
    tiff = (
        b"MM" + struct.pack(">HIH", 42, 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    )
    return _seg(0xE1, b"Exif\0\0" + tiff + b"\0\0\0\0")


_SOF0 = _seg(0xC0, struct.pack(">BHHB", 8, 37, 53, 1) + b"\x01\x11\x00")  # height 37, width 53
_SOS = _seg(0xDA, b"\x01\x01\x00\x00\x3f\x00")


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        ([_SOF0, _SOS], (53, 37, 1, 2 + len(_SOF0))),
        ([_exif(6), _SOF0, _SOS], (53, 37, 6, 2 + len(_exif(6)) + len(_SOF0))),
        ([_exif(3), _exif(6), _SOF0, _SOS], (53, 37, 3, 2 + 2 * len(_exif(3)) + len(_SOF0))),
        ([_exif(0), _SOF0], (53, 37, 1, -1)),  # out-of-range orientation; data ends before SOS
        ([b"\xff\xff", _SOF0, _exif(8), _SOS], (53, 37, 8, 4 + len(_SOF0) + len(_exif(8)))),
    ],
)
def test_jpeg_header_table(segments, expected) -> None:
    header = detector.image.jpeg_header(b"\xff\xd8" + b"".join(segments))
    assert tuple(header) == expected
    assert header.size == ((37, 53) if expected[2] >= 5 else (53, 37))


@pytest.mark.parametrize(
    "data", [b"\xff\xd8" + _exif(6), b"\xff\xd8" + _SOF0[:6], b"\xff\xd8\x00\x00\x00\x00"]
)
def test_jpeg_header_without_frame_header(data) -> None:
    with pytest.raises(ImageError, match="corrupt"):
        detector.image.jpeg_header(data)
