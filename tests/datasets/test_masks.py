from __future__ import annotations

import cv2
import numpy as np
import pytest

from datasets.formats import masks
from datasets.types import Box
from finishscan.errors import DatasetError


def _mask(h: int, w: int, *rects: tuple[int, int, int, int], value: int = 255) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for x0, y0, x1, y1 in rects:  # pixel edges, like the boxes
        m[y0:y1, x0:x1] = value
    return m


def _diag_crack() -> np.ndarray:
    """A 1-px staircase crack from (2, 2) to (9, 9): 8-connected, never 4-connected."""
    m = np.zeros((12, 12), np.uint8)
    for i in range(2, 10):
        m[i, i] = 255
    return m


@pytest.mark.parametrize(
    ("mask", "kwargs", "expected"),
    [
        # one rectangle: columns 3..7, rows 2..3 -> edges x 3..8, y 2..4
        (_mask(10, 10, (3, 2, 8, 4)), {"min_area": 1}, [(3, 2, 8, 4)]),
        # a diagonal one-pixel crack stays one component (8-connectivity)
        (_diag_crack(), {"min_area": 1}, [(2, 2, 10, 10)]),
        # a 2x2 speckle (4 px) is dropped by min_area=5, the 3x3 blob (9 px) stays
        (_mask(20, 20, (1, 1, 3, 3), (10, 10, 13, 13)), {"min_area": 5}, [(10, 10, 13, 13)]),
        # two fragments 3 px apart: separate without merging...
        (
            _mask(10, 20, (0, 4, 5, 5), (8, 4, 14, 6)),
            {"min_area": 1},
            [(0, 4, 5, 5), (8, 4, 14, 6)],
        ),
        # ...one box with merge_gap=3, still two with merge_gap=2
        (
            _mask(10, 20, (0, 4, 5, 5), (8, 4, 14, 6)),
            {"min_area": 1, "merge_gap": 3},
            [(0, 4, 14, 6)],
        ),
        (
            _mask(10, 20, (0, 4, 5, 5), (8, 4, 14, 6)),
            {"min_area": 1, "merge_gap": 2},
            [(0, 4, 5, 5), (8, 4, 14, 6)],
        ),
        # chained merging: a-b close, b-c close, a-c far -> all one box
        (
            _mask(10, 40, (0, 0, 4, 2), (6, 0, 10, 2), (12, 0, 16, 2)),
            {"min_area": 1, "merge_gap": 2},
            [(0, 0, 16, 2)],
        ),
        # 0/1 masks; a colour (3-channel) mask
        (_mask(8, 8, (2, 2, 5, 6), value=1), {"min_area": 1}, [(2, 2, 5, 6)]),
        (np.dstack([_mask(8, 8, (2, 2, 5, 6))] * 3), {"min_area": 1}, [(2, 2, 5, 6)]),
        (np.zeros((5, 5), np.uint8), {}, []),
    ],
)
def test_mask_to_boxes_hand_computed(mask, kwargs, expected):
    got = masks.mask_to_boxes(mask, class_id=0, **kwargs)
    assert [(b.x0, b.y0, b.x1, b.y1) for b in got] == [tuple(float(v) for v in e) for e in expected]
    assert all(b.class_id == 0 for b in got)


@pytest.mark.parametrize(
    ("boxes", "gap", "expected"),
    [
        ([(0, 0, 2, 2), (4, 0, 6, 2), (20, 0, 22, 2)], 2, [(0, 0, 6, 2), (20, 0, 22, 2)]),
        ([(0, 0, 2, 2), (4, 0, 6, 2)], 1, [(0, 0, 2, 2), (4, 0, 6, 2)]),
        # touching (gap 0) and overlapping boxes merge at gap 0
        (
            [(0, 0, 2, 2), (2, 0, 4, 2), (10, 10, 14, 14), (12, 12, 16, 16)],
            0,
            [(0, 0, 4, 2), (10, 10, 16, 16)],
        ),
        # close horizontally but far vertically: kept apart
        ([(0, 0, 2, 2), (3, 10, 5, 12)], 2, [(0, 0, 2, 2), (3, 10, 5, 12)]),
        # the merged box reaches a third one only after the first merge
        ([(0, 0, 10, 2), (11, 0, 12, 20), (0, 21, 2, 22)], 1, [(0, 0, 12, 22)]),
        ([], 3, []),
    ],
)
def test_merge_close_boxes(boxes, gap, expected):
    assert masks.merge_close_boxes(boxes, gap) == expected


def test_noise_below_threshold_is_background():
    m = _mask(8, 8, (2, 2, 5, 6))
    m[0, 7] = 90  # compression noise on a 0/255 mask
    assert [b.xyxy for b in masks.mask_to_boxes(m, min_area=1)] == [(2.0, 2.0, 5.0, 6.0)]


def test_jpeg_compressed_mask_keeps_its_box():
    m = _mask(64, 64, (10, 20, 40, 26))
    ok, buf = cv2.imencode(".jpg", m, [cv2.IMWRITE_JPEG_QUALITY, 60])
    noisy = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    assert noisy.max() > 1 and len(np.unique(noisy)) > 2  # really lossy
    (b,) = masks.mask_to_boxes(noisy, min_area=4)
    assert b.xyxy == (10.0, 20.0, 40.0, 26.0)


def test_class_index_masks():
    m = _mask(10, 10, (0, 0, 2, 2), value=1) + _mask(10, 10, (5, 5, 9, 7), value=3)
    got = masks.mask_to_boxes(m, class_id=None, min_area=1)
    assert got == [Box(0, 0.0, 0.0, 2.0, 2.0), Box(2, 5.0, 5.0, 9.0, 7.0)]


def test_load_folder_with_masks_dir(tmp_path, make_image):
    make_image(tmp_path / "images" / "a.jpg", 20, 10, seed=1)
    make_image(tmp_path / "images" / "b.jpg", 20, 10, seed=2)
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), _mask(10, 20, (1, 1, 6, 3)))
    cv2.imwrite(str(tmp_path / "masks" / "b_mask.png"), np.zeros((10, 20), np.uint8))
    ds = masks.load(tmp_path, min_area=1)
    assert ds.names[0] == "crack"
    got = {im.path.name: im for im in ds.images}
    assert got["a.jpg"].boxes == [Box(0, 1.0, 1.0, 6.0, 3.0)]
    assert got["b.jpg"].boxes == []


def test_load_errors(tmp_path, make_image):
    make_image(tmp_path / "images" / "a.jpg", 20, 10)
    with pytest.raises(DatasetError, match="no mask found"):
        masks.load(tmp_path)
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), np.zeros((5, 5), np.uint8))
    with pytest.raises(DatasetError, match="is 5x5 but its image is 20x10"):
        masks.load(tmp_path)
    with pytest.raises(DatasetError, match="not one of"):
        masks.load(tmp_path, class_name="mould")
