"""``training.data.load_labels`` reads labels through ``datasets.formats.yolo`` (one reader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from finishscan.errors import DatasetError
from training.data import label_path, load_labels


def _write(root: Path, text: str | None) -> Path:
    image = root / "ds" / "images" / "val" / "a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"")  # load_labels never opens the image
    if text is not None:
        (root / "ds" / "labels" / "val").mkdir(parents=True)
        (root / "ds" / "labels" / "val" / "a.txt").write_text(text)
    return image


@pytest.mark.parametrize(
    ("text", "wh", "cls", "xyxy"),
    [
        ("1 0.5 0.5 0.2 0.4\n", (100, 50), [1], [[40.0, 15.0, 60.0, 35.0]]),
        (
            "0 0.25 0.5 0.5 1.0\n\n5 0.9 0.1 0.2 0.2\n",
            (200, 100),
            [0, 5],
            [[0.0, 0.0, 100.0, 100.0], [160.0, 0.0, 200.0, 20.0]],
        ),
        ("", (10, 10), [], np.zeros((0, 4))),  # an empty label file: a negative photo
        # a segment row becomes its bounding box, as ultralytics reads it
        ("2 0.1 0.2 0.5 0.2 0.3 0.6\n", (100, 100), [2], [[10.0, 20.0, 50.0, 60.0]]),
    ],
)
def test_load_labels_table(tmp_path, text, wh, cls, xyxy) -> None:
    got_cls, got_xyxy = load_labels(_write(tmp_path, text), wh)
    assert got_cls.dtype == np.int64 and got_xyxy.dtype == np.float64
    assert got_xyxy.shape == (len(cls), 4)
    assert got_cls.tolist() == cls
    np.testing.assert_allclose(got_xyxy, np.asarray(xyxy, dtype=np.float64).reshape(-1, 4))


def test_missing_label_file_is_a_negative(tmp_path) -> None:
    cls, xyxy = load_labels(_write(tmp_path, None), (64, 64))
    assert cls.shape == (0,) and xyxy.shape == (0, 4)


def test_label_path_is_the_ultralytics_one() -> None:
    assert label_path(Path("d/images/train/x.jpg")) == Path("d/labels/train/x.txt")
    assert label_path(Path("images/a/images/b/x.png")) == Path("images/a/labels/b/x.txt")
    assert label_path(Path("flat/x.jpg")) == Path("flat/x.txt")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5", "expected 'class cx cy w h', got 3 fields"),
        ("0 0.5 0.5 0.1 x", "not a number"),
        ("0 0.5 0.5 0.0 0.1", "zero area"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path, line, message) -> None:
    image = _write(tmp_path, "0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DatasetError, match=message) as e:
        load_labels(image, (100, 100))
    assert str(e.value).startswith(f"{label_path(image)}:2:")
