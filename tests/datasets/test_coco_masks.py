"""COCO masks: RLE (compressed and uncompressed) and polygons, read and written.

The compressed strings below were produced by pycocotools 2.0.11 (``mask.encode`` of the same
Fortran-ordered uint8 masks); the encoder here must give the same bytes and read them back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.formats import coco
from datasets.types import Box
from finishscan.errors import DatasetError


def _hole() -> np.ndarray:
    """A 3x4 ring with a 1x2 hole, in a 6x5 image."""
    m = np.zeros((6, 5), bool)
    m[1:5, 1:4] = True
    m[2:4, 2] = False
    return m


def _rect_hole() -> np.ndarray:
    m = np.zeros((40, 40), bool)
    m[5:35, 3:30] = True
    m[15:25, 10:20] = False
    return m


def _corners() -> np.ndarray:
    m = np.zeros((8, 8), bool)
    m[0, 7] = m[7, 0] = True
    return m


PYCOCOTOOLS = [
    (np.array([[0, 1], [0, 1], [1, 1]], bool), "24"),
    (np.array([[1, 0, 0], [1, 1, 0]], bool), "021O1"),  # first run empty; a negative delta
    (np.zeros((40, 40), bool), "Pb1"),  # one run of 1600: three characters
    (np.ones((3, 4), bool), "0<"),
    (_hole(), "742M00035"),
    (_corners(), "71`10gN"),
    (
        _rect_hole(),
        "m3n0:000000000000\\O000000000000000000000000000000000000000d0000000000000000000[<",
    ),
]


@pytest.mark.parametrize(("mask", "counts"), PYCOCOTOOLS)
def test_compressed_rle_matches_pycocotools(mask, counts):
    rle = coco.encode_rle(mask)
    assert rle == {"size": list(mask.shape), "counts": counts}
    assert np.array_equal(coco.decode_segmentation(rle, *mask.shape), mask)


def test_run_lengths_by_hand():
    # column-major: 000000 011110 010010 011110 000000
    assert coco.counts_from_string("742M00035") == [7, 4, 2, 1, 2, 1, 2, 4, 7]
    assert coco.counts_to_string([7, 4, 2, 1, 2, 1, 2, 4, 7]) == "742M00035"
    uncompressed = {"size": [6, 5], "counts": [7, 4, 2, 1, 2, 1, 2, 4, 7]}
    assert np.array_equal(coco.decode_segmentation(uncompressed, 6, 5), _hole())
    assert coco.counts_from_string("Pb1") == [1600]


def test_rle_round_trips_random_masks():
    rng = np.random.default_rng(3)
    for k in range(60):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        m = rng.random((h, w)) < rng.random() if k % 3 else np.zeros((h, w), bool)
        rle = coco.encode_rle(m)
        assert np.array_equal(coco.decode_segmentation(rle, h, w), m)
        runs = coco.counts_from_string(rle["counts"])
        assert sum(runs) == h * w and sum(runs[1::2]) == int(m.sum())
        assert np.array_equal(coco.decode_segmentation({"size": [h, w], "counts": runs}, h, w), m)


@pytest.mark.parametrize(
    ("seg", "message"),
    [
        ({"size": [5, 6], "counts": "742M00035"}, "differs from the image"),
        ({"size": [6, 5], "counts": [7, 4]}, "cover 11 pixels"),
        ({"size": [6, 5], "counts": "74\x7f"}, "outside"),
        ({"size": [6, 5], "counts": "7h"}, "ends inside a count"),
        ({"size": [6, 5], "counts": [40, -10]}, "negative"),
        ({"size": [6, 5]}, "'counts' must be"),
        ("abc", "list of polygons or an RLE"),
        ([[1, 2, 3]], "even number"),
    ],
)
def test_bad_segmentations(seg, message):
    with pytest.raises(DatasetError, match=message):
        coco.decode_segmentation(seg, 6, 5)


def test_polygons_are_a_union_with_pixel_centre_vertices():
    # two overlapping squares: an even-odd fill would empty their overlap
    seg = [[1, 1, 4, 1, 4, 4, 1, 4], [3, 3, 6, 3, 6, 6, 3, 6]]
    m = coco.decode_segmentation(seg, 8, 8)
    want = np.zeros((8, 8), bool)
    want[1:5, 1:5] = True
    want[3:7, 3:7] = True
    assert np.array_equal(m, want)


def test_from_coco_reads_rle_boxes_and_skips_crowds():
    m = _rect_hole()
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 40}],
        "categories": [{"id": 1, "name": "crack"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": coco.encode_rle(m)},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [40, 40], "counts": [0, 1600]},
                "bbox": [0, 0, 40, 40],
                "iscrowd": 1,
            },
        ],
    }
    ds = coco.from_coco(doc, Path("/r"))
    assert ds.images[0].boxes == [Box(0, 3.0, 5.0, 30.0, 35.0)]  # crowd region not a box
    doc["annotations"][0]["segmentation"] = {"size": [40, 30], "counts": [1200]}
    with pytest.raises(DatasetError, match=r"annotations\[0\].*differs from the image"):
        coco.from_coco(doc, Path("/r"))
