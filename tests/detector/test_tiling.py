"""Slice grid, merge across slice borders and the tiler, with a fake detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from detector import Detections, merge_slices, should_tile, slice_grid, tiled_detect
from detector.tiling import detect_slices


@pytest.mark.parametrize(
    ("h", "w", "sh", "sw", "overlap", "expected"),
    [
        (10, 25, 10, 10, 0.2, [[0, 0, 10, 10], [8, 0, 18, 10], [15, 0, 25, 10]]),
        # image smaller than a slice: one slice, the image
        (5, 7, 10, 10, 0.2, [[0, 0, 7, 5]]),
        # exact fit, no overlap, row by row
        (20, 20, 10, 10, 0.0, [[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20], [10, 10, 20, 20]]),
        # tall image: columns of one, last row shifted back inside
        (25, 10, 10, 10, 0.2, [[0, 0, 10, 10], [0, 8, 10, 18], [0, 15, 10, 25]]),
        # non-square slices (h=4, w=10) on 6x15 with 50%: steps 2 down, 5 across
        (6, 15, 4, 10, 0.5, [[0, 0, 10, 4], [5, 0, 15, 4], [0, 2, 10, 6], [5, 2, 15, 6]]),
    ],
)
def test_slice_grid(h, w, sh, sw, overlap, expected) -> None:
    assert slice_grid(h, w, sh, sw, overlap).tolist() == expected


def test_slice_grid_phone_photo() -> None:
    g = slice_grid(3000, 4000, 640, 640, 0.2)
    assert len(g) == 48  # 6 rows x 8 columns
    assert g[0].tolist() == [0, 0, 640, 640] and g[-1].tolist() == [3360, 2360, 4000, 3000]


@pytest.mark.parametrize(
    ("h", "w"), [(3000, 4000), (4000, 3000), (641, 641), (1000, 5000), (700, 300), (100, 100)]
)
def test_slice_grid_covers_image_with_full_size_slices(h, w) -> None:
    g = slice_grid(h, w, 640, 640, 0.2)
    covered = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in g:
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert (y1 - y0, x1 - x0) == (min(640, h), min(640, w))
        covered[y0:y1, x0:x1] = True
    assert covered.all()


@pytest.mark.parametrize(
    ("bad", "args"), [("zero size", (0, 10, 5, 5, 0.2)), ("overlap 1", (10, 10, 5, 5, 1.0))]
)
def test_slice_grid_rejects(bad, args) -> None:
    with pytest.raises(ValueError):
        slice_grid(*args)


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    a = np.array(rows, np.float32).reshape(-1, 6)
    return Detections(a[:, :4], a[:, 4], a[:, 5].astype(np.int64))


TWO = [[0, 0, 100, 100], [80, 0, 180, 100]]
THREE = [[0, 0, 100, 100], [80, 0, 180, 100], [160, 0, 260, 100]]


@pytest.mark.parametrize(
    ("parts", "regions", "expected"),
    [
        # object cut by the border: both halves agree inside the shared strip 80..100 -> union
        (
            [dets((50, 10, 100, 30, 0.9, 0)), dets((80, 10, 150, 30, 0.7, 0))],
            TWO,
            [(50, 10, 150, 30, 0.9, 0)],
        ),
        # same geometry, different classes: two objects
        (
            [dets((50, 10, 100, 30, 0.9, 0)), dets((80, 10, 150, 30, 0.7, 1))],
            TWO,
            [(50, 10, 100, 30, 0.9, 0), (80, 10, 150, 30, 0.7, 1)],
        ),
        # overlapping boxes from the SAME slice are NMS's business: untouched
        (
            [dets((10, 10, 50, 50, 0.9, 0), (12, 10, 52, 50, 0.8, 0)), dets()],
            TWO,
            [(10, 10, 50, 50, 0.9, 0), (12, 10, 52, 50, 0.8, 0)],
        ),
        # clipped to the shared strip the IoU is 5*20/20*20 = 0.25 < 0.5: two objects
        (
            [dets((60, 0, 100, 20, 0.9, 0)), dets((95, 0, 150, 20, 0.8, 0))],
            TWO,
            [(60, 0, 100, 20, 0.9, 0), (95, 0, 150, 20, 0.8, 0)],
        ),
        # disjoint in y: two objects
        (
            [dets((90, 10, 100, 30, 0.6, 0)), dets((80, 50, 100, 70, 0.8, 0))],
            TWO,
            [(80, 50, 100, 70, 0.8, 0), (90, 10, 100, 30, 0.6, 0)],
        ),
        # a crack across three slices becomes one box (transitive)
        (
            [
                dets((50, 10, 100, 30, 0.5, 0)),
                dets((80, 10, 180, 30, 0.9, 0)),
                dets((160, 10, 220, 30, 0.4, 0)),
            ],
            THREE,
            [(50, 10, 220, 30, 0.9, 0)],
        ),
        # the same crack when the best box is at one end: the search passes on through the middle
        (
            [
                dets((50, 10, 100, 30, 0.9, 0)),
                dets((80, 10, 180, 30, 0.5, 0)),
                dets((160, 10, 220, 30, 0.4, 0)),
            ],
            THREE,
            [(50, 10, 220, 30, 0.9, 0)],
        ),
        # a box inside its slice (not cut: it ends at 95, more than CUT_TOL short of 100) is not
        # stretched by a weaker box that agrees in the strip (clipped IoU 13/18) but reaches on
        # to 140: one object, 0.9's box
        (
            [dets((82, 10, 95, 30, 0.9, 0)), dets((82, 10, 140, 30, 0.3, 0))],
            TWO,
            [(82, 10, 95, 30, 0.9, 0)],
        ),
        # a thin crack's box that ends 3 px short of the border it crosses (within CUT_TOL) was
        # cut there: the next slice's view (clipped IoU 17/20) continues it
        (
            [dets((50, 10, 97, 30, 0.9, 0)), dets((80, 10, 150, 30, 0.7, 0))],
            TWO,
            [(50, 10, 150, 30, 0.9, 0)],
        ),
        # a cut box takes the best agreeing view of the next slice (to 150), not the union with a
        # weak duplicate there that also agrees (to 178); the duplicate is dropped
        (
            [
                dets((50, 10, 100, 30, 0.9, 0)),
                dets((80, 10, 150, 30, 0.7, 0), (80, 12, 178, 30, 0.01, 0)),
            ],
            TWO,
            [(50, 10, 150, 30, 0.9, 0)],
        ),
        # a defect across two slices, also seen by the whole-photo pass (region = photo) with a
        # coarser box that agrees: the slices' views join, the coarse one widens nothing (it did
        # up to session 18, which made (30, 30, 320, 170))
        (
            [
                dets((30, 30, 320, 170, 0.6, 2)),
                dets((40, 40, 200, 150, 0.7, 2)),
                dets((160, 40, 300, 150, 0.65, 2)),
            ],
            [[0, 0, 360, 200], [0, 0, 200, 200], [160, 0, 360, 200]],
            [(40, 40, 300, 150, 0.7, 2)],
        ),
        # a large defect the whole-photo pass is surest of keeps its box and takes the slice's
        # piece of it as a duplicate
        (
            [dets((40, 40, 300, 300, 0.8, 2)), dets((40, 40, 200, 200, 0.7, 2))],
            [[0, 0, 400, 400], [0, 0, 200, 200]],
            [(40, 40, 300, 300, 0.8, 2)],
        ),
        ([dets(), dets()], TWO, []),
    ],
)
def test_merge_slices(parts, regions, expected) -> None:
    out = merge_slices(parts, np.array(regions))
    exp = dets(*expected)
    np.testing.assert_allclose(out.xyxy, exp.xyxy)
    np.testing.assert_allclose(out.confidence, exp.confidence)
    assert out.class_id.tolist() == exp.class_id.tolist()


@pytest.mark.parametrize(
    ("shape", "imgsz", "expected"),
    [((3000, 4000), (640, 640), True), ((1280, 960), (640, 640), False), ((1281, 100), (640, 640), True),
     ((700, 700), (320, 320), True), ((640, 640), (320, 320), False)],
)  # fmt: skip
def test_should_tile(shape, imgsz, expected) -> None:
    assert should_tile(shape, imgsz) is expected


class BrightBlobDetector:
    """A fake batch detector: every 8-connected blob of pixels > 128 is a class-0 box (conf 0.9).
    Records the batches it was called with."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, crops: list[np.ndarray]) -> list[Detections]:
        self.calls.append([c.shape[:2] for c in crops])
        return [blobs(c) for c in crops]


def blobs(image: np.ndarray) -> Detections:
    mask = (image[..., 0] > 128).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = [(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:n]]
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4), np.full(n - 1, 0.9), np.zeros(n - 1)
    )


def test_tiled_detect_merges_objects_cut_by_borders() -> None:
    img = np.zeros((700, 1100, 3), np.uint8)
    truth = [
        (100, 300, 1000, 310),  # a long horizontal "crack" across four slice columns
        (500, 100, 506, 650),  # a long vertical one across three rows
        (20, 20, 30, 30),  # small objects inside single slices
        (240, 240, 260, 260),  # sits in the overlap of slices
        (1080, 680, 1100, 700),  # in the corner
    ]
    for x0, y0, x1, y1 in truth:
        img[y0:y1, x0:x1] = 255
    # make the two long ones not touch each other
    img[295:315, 490:516] = 0
    truth_boxes = [
        (100, 300, 490, 310),
        (516, 300, 1000, 310),
        (500, 100, 506, 295),
        (500, 315, 506, 650),
    ]
    truth_boxes += truth[2:]
    fake = BrightBlobDetector()
    out = tiled_detect(img, fake, (256, 256), overlap=0.2, whole=True)
    assert len(fake.calls) == 1, "all slices must go to the model as ONE batch"
    assert len(fake.calls[0]) == 1 + len(slice_grid(700, 1100, 256, 256, 0.2))
    assert sorted(map(tuple, out.xyxy.astype(int).tolist())) == sorted(truth_boxes)


def test_tiled_detect_without_whole_pass_and_one_slice() -> None:
    img = np.zeros((100, 120, 3), np.uint8)
    img[10:20, 30:50] = 255
    fake = BrightBlobDetector()
    out = tiled_detect(img, fake, (256, 256), whole=False)
    assert fake.calls == [[(100, 120)]]
    assert out.xyxy.tolist() == [[30, 10, 50, 20]]


def test_tiled_detect_checks_callback_result_length() -> None:
    with pytest.raises(ValueError):
        tiled_detect(np.zeros((10, 10, 3), np.uint8), lambda crops: [], (5, 5))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("whole", [True, False])
def test_tiled_equals_whole_image_for_random_rectangles(seed: int, whole: bool) -> None:
    """Seeded scenes of separated bright rectangles (many cut by slice borders): tiling with the
    fake detector finds exactly the boxes a single whole-image pass finds."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(300, 900)), int(rng.integers(300, 900))
    img = np.zeros((h, w, 3), np.uint8)
    taken = np.zeros((h, w), bool)
    for _ in range(12):
        rw, rh = int(rng.integers(2, 300)), int(rng.integers(2, 60))
        if rng.random() < 0.5:
            rw, rh = rh, rw
        x0, y0 = int(rng.integers(0, max(1, w - rw))), int(rng.integers(0, max(1, h - rh)))
        if taken[max(0, y0 - 2) : y0 + rh + 2, max(0, x0 - 2) : x0 + rw + 2].any():
            continue  # keep rectangles separated so each is one blob
        taken[y0 : y0 + rh, x0 : x0 + rw] = True
        img[y0 : y0 + rh, x0 : x0 + rw] = 255
    expected = blobs(img)
    out = tiled_detect(img, BrightBlobDetector(), (128, 160), overlap=0.25, whole=whole)
    assert sorted(map(tuple, out.xyxy.tolist())) == sorted(map(tuple, expected.xyxy.tolist()))


def test_detect_slices_gives_each_slice_its_own_boxes_in_photo_pixels() -> None:
    img = np.zeros((300, 500, 3), np.uint8)
    img[100:120, 400:430] = 255  # whole in every slice of the right-hand columns, none in the left
    fake = BrightBlobDetector()
    parts, regions = detect_slices(img, fake, (256, 256), overlap=0.2)
    assert regions.tolist() == [[0, 0, 500, 300], *slice_grid(300, 500, 256, 256, 0.2).tolist()]
    assert len(fake.calls) == 1 and len(parts) == len(regions)
    for part, (x0, y0, x1, y1) in zip(parts, regions, strict=True):
        inside = x0 <= 400 and x1 >= 430 and y0 <= 100 and y1 >= 120
        assert part.xyxy.tolist() == ([[400, 100, 430, 120]] if inside else [])
    assert (
        merge_slices(parts, regions).xyxy.tolist()
        == tiled_detect(img, fake, (256, 256), overlap=0.2).xyxy.tolist()
    )
