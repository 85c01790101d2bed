"""The Detections type: shape checks, indexing, concat, and the JSON record."""

from __future__ import annotations

import numpy as np
import pytest

from detector import Detections, ModelInfo, to_record


def three() -> Detections:
    return Detections(
        np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 2, 3, 4]]),
        np.array([0.5, 0.9, 0.2]),
        np.array([0, 2, 1]),
    )


def test_dtypes_and_len() -> None:
    d = three()
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int64 and len(d) == 3


@pytest.mark.parametrize(
    ("xyxy", "conf", "cls"),
    [
        (np.zeros((2, 3)), np.zeros(2), np.zeros(2)),  # not 4 coordinates
        (np.zeros((2, 4)), np.zeros(3), np.zeros(2)),  # confidence length
        (np.zeros((2, 4)), np.zeros(2), np.zeros((2, 1))),  # class_id shape
    ],
)
def test_shape_checked(xyxy, conf, cls) -> None:
    with pytest.raises(ValueError):
        Detections(xyxy, conf, cls)


def test_indexing_returns_new_detections() -> None:
    d = three()
    hi = d[d.confidence > 0.4]
    assert isinstance(hi, Detections) and hi.class_id.tolist() == [0, 2]
    assert d[np.array([2, 0])].confidence.tolist() == pytest.approx([0.2, 0.5])
    assert d[1].xyxy.tolist() == [[5, 5, 20, 20]]
    assert len(d) == 3  # the original is untouched


def test_empty_concat_shift() -> None:
    e = Detections.empty()
    assert len(e) == 0 and e.xyxy.shape == (0, 4)
    assert len(Detections.concat([])) == 0
    both = Detections.concat([three(), e, three()])
    assert len(both) == 6 and both.class_id.tolist() == [0, 2, 1, 0, 2, 1]
    assert three().shift(10, 100).xyxy[0].tolist() == [10, 100, 20, 110]


def test_to_record() -> None:
    info = ModelInfo("finishscan-x", "abc123", ["crack", "stain", "tile_chip"], (640, 640))
    d = Detections(
        np.array([[1.234, 2.0, 3.0, 4.0], [10, 20, 30, 40], [4000, 5, 4000, 9]]),
        np.array([0.3, 0.87654, 0.99]),
        np.array([1, 0, 0]),
    )  # the third was clipped to zero width at the right edge: left out
    rec = to_record(d, info.names, image="a/b.jpg", width=4000, height=3000, model=info)
    assert rec == {
        "image": "a/b.jpg",
        "width": 4000,
        "height": 3000,
        "defects": [
            {"label": "crack", "confidence": 0.8765, "box": [10.0, 20.0, 30.0, 40.0]},
            {"label": "stain", "confidence": 0.3, "box": [1.23, 2.0, 3.0, 4.0]},
        ],
        "model": {"name": "finishscan-x", "version": "abc123"},
    }
