"""``training.data.read_data_yaml`` reads through ``datasets.formats.yolo`` and gives absolute
paths; ``describe_data`` takes image sizes from the headers, as decoding shows them."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from finishscan.errors import DatasetError
from training.data import dataset_sha256, read_data_yaml


def _image(path: Path, wh: tuple[int, int] = (8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((wh[1], wh[0], 3), np.uint8))
    return path


def _yaml(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_paths_resolve_against_the_yaml_folder(tmp_path) -> None:
    ds = tmp_path / "ds"
    a = _image(ds / "images" / "train" / "a.png")
    b = _image(ds / "images" / "train" / "sub" / "b.jpg")
    _image(ds / "images" / "train" / ".cache" / "hidden.png")  # hidden folder: not listed
    v = _image(ds / "images" / "val" / "v.png")
    other = _image(tmp_path / "elsewhere" / "o.png")
    (ds / "lists").mkdir()
    (ds / "lists" / "val.txt").write_text(f"../images/val/v.png\n\n{other}\n")
    yp = _yaml(
        ds / "cfg" / "data.yaml",
        {"path": "..", "train": "images/train", "val": ["lists/val.txt"], "names": ["x", "y"]},
    )
    spec = read_data_yaml(yp)
    assert spec.yaml_path == yp.resolve() and spec.root == ds.resolve()
    assert spec.names == ["x", "y"]
    assert spec.splits == {
        "train": [ds.resolve() / "images" / "train"],
        "val": [ds.resolve() / "lists" / "val.txt"],
    }
    assert spec.images("train") == [a, b]
    assert spec.images("val") == sorted([v.resolve(), other.resolve()])
    assert spec.images("all") == sorted({a, b, v.resolve(), other.resolve()})
    with pytest.raises(DatasetError, match="no 'test' split"):
        spec.images("test")


def test_without_path_key_the_yaml_folder_is_the_root(tmp_path) -> None:
    a = _image(tmp_path / "images" / "val" / "a.png")
    spec = read_data_yaml(
        _yaml(tmp_path / "data.yaml", {"val": "images/val", "names": {0: "x", 1: "y"}})
    )
    assert spec.root == tmp_path.resolve() and spec.names == ["x", "y"]
    assert spec.images("val") == [a]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"val": "images"}, "no 'names'"),
        ({"val": "images", "names": ["x"], "nc": 2}, "nc is 2 but 1 names"),
        ({"val": "images", "names": {0: "x", 2: "y"}}, "ids must be 0..1"),
        (["not", "a", "mapping"], "not a mapping"),
    ],
)
def test_bad_yaml(tmp_path, doc, message) -> None:
    with pytest.raises(DatasetError, match=message):
        read_data_yaml(_yaml(tmp_path / "data.yaml", doc))


def test_missing_yaml_and_split(tmp_path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        read_data_yaml(tmp_path / "nope.yaml")
    spec = read_data_yaml(_yaml(tmp_path / "data.yaml", {"val": "gone", "names": ["x"]}))
    with pytest.raises(DatasetError, match="split path not found"):
        spec.images("val")


# --------------------------------------------------------------------------- describe_data
def _exif_jpeg(path: Path, wh: tuple[int, int], orientation: int) -> Path:
    """A JPEG stored ``wh`` with an EXIF orientation (APP1 written by hand)."""
    data = cv2.imencode(".jpg", np.zeros((wh[1], wh[0], 3), np.uint8))[1].tobytes()
    tiff = b"II" + struct.pack("<HIH", 42, 8, 1)
    tiff += struct.pack("<HHIH", 0x0112, 3, 1, orientation) + b"\0\0" + b"\0\0\0\0"
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\0\0" + tiff
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def _exif_png(path: Path, wh: tuple[int, int], orientation: int) -> Path:
    pil = pytest.importorskip("PIL.Image")
    info = pil.Exif()
    info[0x0112] = orientation
    buf = io.BytesIO()
    pil.fromarray(np.zeros((wh[1], wh[0], 3), np.uint8)).save(buf, "PNG", exif=info.tobytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def _label(image: Path, text: str) -> None:
    lp = image.parents[2] / "labels" / image.parent.name / (image.stem + ".txt")
    lp.parent.mkdir(parents=True, exist_ok=True)
    lp.write_text(text)


def test_describe_data_sizes_come_from_headers_and_match_decoding(tmp_path, monkeypatch) -> None:
    from training import pipeline

    train = tmp_path / "images" / "train"
    images = [
        _exif_jpeg(train / "rot6.jpg", (40, 24), 6),  # shown 24 x 40
        _exif_jpeg(train / "rot3.jpg", (40, 24), 3),  # shown 40 x 24
        _exif_png(train / "rot8.png", (30, 12), 8),  # shown 12 x 30
        _image(train / "plain.webp", (23, 17)),
        _image(train / "neg.bmp", (9, 5)),
    ]
    _label(images[0], "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.1 0.1\n")
    _label(images[1], "1 0.5 0.5 0.2 0.2\n")
    _label(images[2], "1 0.2 0.2 0.1 0.1\n1 0.7 0.7 0.1 0.1\n")
    _label(images[3], "0 0.5 0.5 0.5 0.5\n")
    yp = _yaml(tmp_path / "data.yaml", {"train": "images/train", "names": ["crack", "stain"]})
    decoded = {}
    for p in images:
        img = cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR)
        decoded[p.name] = (img.shape[1], img.shape[0])
    assert decoded["rot6.jpg"] == (24, 40) and decoded["rot8.png"] == (12, 30)  # really rotated

    seen: dict[str, tuple[int, int]] = {}
    real = pipeline.load_labels

    def spy(image: Path, wh: tuple[int, int]):
        seen[image.name] = wh
        return real(image, wh)

    def no_decoding(*args: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(pipeline, "load_labels", spy)
    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    monkeypatch.setattr(cv2, "imread", no_decoding)
    text, sha = pipeline.describe_data(yp, "train")
    assert seen == decoded
    assert text.startswith(f"5 images of the 'train' split of `{yp.resolve()}` (1 without any")
    assert "boxes per class: crack 2, stain 4." in text
    assert sha == dataset_sha256(read_data_yaml(yp).images("train"))
