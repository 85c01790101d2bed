"""Letterbox, scale-back, NMS and decoding: hand-computed tables."""

from __future__ import annotations

import numpy as np
import pytest

from detector.geometry import (
    Letterbox,
    box_iou,
    decode_classic,
    decode_end2end,
    letterbox,
    letterbox_params,
    nms,
    scale_boxes,
)


@pytest.mark.parametrize(
    ("shape", "new_shape", "auto", "expected"),
    [
        # landscape into a square: pad top/bottom 80
        (
            (480, 640),
            (640, 640),
            False,
            Letterbox((480, 640), (640, 640), (640, 480), 80, 80, 0, 0),
        ),
        # the same with auto: 160 % 32 == 0, no padding at all
        ((480, 640), (640, 640), True, Letterbox((480, 640), (480, 640), (640, 480), 0, 0, 0, 0)),
        # portrait: pad left/right, never top/bottom (a swapped w/h shows up here)
        (
            (640, 480),
            (640, 640),
            False,
            Letterbox((640, 480), (640, 640), (480, 640), 0, 0, 80, 80),
        ),
        # 240x320 at 320, auto: 80 % 32 = 16 -> 8 + 8
        ((240, 320), (320, 320), True, Letterbox((240, 320), (256, 320), (320, 240), 8, 8, 0, 0)),
        # phone photo: r = 0.16
        (
            (3000, 4000),
            (640, 640),
            False,
            Letterbox((3000, 4000), (640, 640), (640, 480), 80, 80, 0, 0),
        ),
        # odd padding 549 -> 274 top, 275 bottom (ultralytics' -0.1/+0.1 rounding)
        (
            (100, 700),
            (640, 640),
            False,
            Letterbox((100, 700), (640, 640), (640, 91), 274, 275, 0, 0),
        ),
        # auto: 549 % 32 = 5 -> 2 top, 3 bottom
        ((100, 700), (640, 640), True, Letterbox((100, 700), (96, 640), (640, 91), 2, 3, 0, 0)),
        # small images are scaled up
        ((100, 100), (640, 640), False, Letterbox((100, 100), (640, 640), (640, 640), 0, 0, 0, 0)),
        # r = 320/517; h = round(206.11) = 206; 114 -> 57 + 57
        (
            (333, 517),
            (320, 320),
            False,
            Letterbox((333, 517), (320, 320), (320, 206), 57, 57, 0, 0),
        ),
        # a 1-px strip stays 1 px high
        ((1, 3000), (640, 640), False, Letterbox((1, 3000), (640, 640), (640, 1), 319, 320, 0, 0)),
        # non-square model input (h=384, w=640)
        (
            (480, 640),
            (384, 640),
            False,
            Letterbox((480, 640), (384, 640), (512, 384), 0, 0, 64, 64),
        ),
    ],
)
def test_letterbox_params(shape, new_shape, auto, expected) -> None:
    assert letterbox_params(shape, new_shape, auto=auto) == expected


def test_letterbox_pixels() -> None:
    img = np.full((480, 640, 3), 7, np.uint8)
    out = letterbox(img, letterbox_params((480, 640), (640, 640)))
    assert out.shape == (640, 640, 3)
    assert (out[:80] == 114).all() and (out[560:] == 114).all() and (out[80:560] == 7).all()


@pytest.mark.parametrize(
    ("box", "input_shape", "shape", "expected"),
    [
        ([0, 80, 640, 560], (640, 640), (480, 640), [0, 0, 640, 480]),
        # 4000x3000 at 640: gain 0.16, pad_y 80
        ([64, 96, 128, 176], (640, 640), (3000, 4000), [400, 100, 800, 600]),
        # clipped to the photo
        ([-10, 70, 700, 600], (640, 640), (480, 640), [0, 0, 640, 480]),
        # rect input, no padding: identity
        ([10, 20, 30, 40], (640, 480), (640, 480), [10, 20, 30, 40]),
        # 100x700: gain_x = 640/700, gain_y = 91/100, pad_y = 274
        ([64, 283.1, 128, 319.5], (640, 640), (100, 700), [70, 10, 140, 50]),
    ],
)
def test_scale_boxes(box, input_shape, shape, expected) -> None:
    out = scale_boxes(np.array([box], np.float32), input_shape, shape)
    np.testing.assert_allclose(out[0], expected, atol=1e-3)


@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (100, 700), (333, 517), (3000, 4000)])
@pytest.mark.parametrize("auto", [False, True])
def test_letterbox_then_scale_back_is_identity(shape, auto) -> None:
    p = letterbox_params(shape, (640, 640), auto=auto)
    h, w = shape
    box = np.array([[0.1 * w, 0.2 * h, 0.7 * w, 0.9 * h]], np.float32)
    sx, sy = p.new_unpad[0] / w, p.new_unpad[1] / h
    forward = box * np.array([sx, sy, sx, sy], np.float32) + np.array(
        [p.left, p.top, p.left, p.top], np.float32
    )
    np.testing.assert_allclose(
        scale_boxes(forward, p.input_shape, shape), box, rtol=1e-5, atol=1e-2
    )


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "iou", "max_det", "expected"),
    [
        # identical boxes, one class: only the best survives
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.9], [0, 0], 0.5, None, [1]),
        # identical boxes, different classes: both (class-aware)
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.9], [0, 1], 0.5, None, [1, 0]),
        # class-agnostic when no classes are given
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.9], None, 0.5, None, [1]),
        # IoU exactly 0.75 is not > 0.75: kept; > 0.74: suppressed
        ([[0, 0, 4, 1], [1, 0, 4, 1]], [0.9, 0.8], [0, 0], 0.75, None, [0, 1]),
        ([[0, 0, 4, 1], [1, 0, 4, 1]], [0.9, 0.8], [0, 0], 0.74, None, [0]),
        # chain: B suppressed by A (IoU .54), so C (IoU .25 with A) survives
        (
            [[0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]],
            [0.9, 0.8, 0.7],
            [0, 0, 0],
            0.5,
            None,
            [0, 2],
        ),
        # disjoint: all kept, best first; max_det cuts
        (
            [[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]],
            [0.1, 0.9, 0.5],
            [0, 0, 0],
            0.5,
            None,
            [1, 2, 0],
        ),
        ([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], [0.1, 0.9, 0.5], [0, 0, 0], 0.5, 2, [1, 2]),
        (np.zeros((0, 4)), [], [], 0.5, None, []),
    ],
)
def test_nms(boxes, scores, classes, iou, max_det, expected) -> None:
    cls = None if classes is None else np.array(classes)
    keep = nms(np.array(boxes, np.float32), np.array(scores, np.float32), iou, cls, max_det=max_det)
    assert keep.tolist() == expected


def test_box_iou_table() -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 0, 0]], np.float32)
    b = np.array([[1, 0, 3, 2], [0, 0, 2, 2], [5, 5, 6, 6]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 3, 1, 0], [0, 0, 0]], atol=1e-6)


def test_decode_classic() -> None:
    # nc=2; columns are anchors: cx, cy, w, h, score0, score1
    out = np.array(
        [
            [50, 50, 20, 10, 0.9, 0.1],  # class 0, box 40,45,60,55
            [50, 50, 20, 10, 0.2, 0.8],  # same box, class 1: kept (class-aware)
            [52, 50, 20, 10, 0.6, 0.0],  # class 0, IoU .818 with the first: suppressed
            [10, 10, 4, 4, 0.2, 0.1],  # below conf 0.25
        ],
        np.float32,
    ).T
    d = decode_classic(out, conf=0.25, iou=0.7, max_det=300)
    np.testing.assert_allclose(d.xyxy, [[40, 45, 60, 55], [40, 45, 60, 55]])
    np.testing.assert_allclose(d.confidence, [0.9, 0.8])
    assert d.class_id.tolist() == [0, 1]
    assert len(decode_classic(out, conf=0.95, iou=0.7, max_det=300)) == 0
    assert len(decode_classic(out, conf=0.25, iou=0.7, max_det=1)) == 1


def test_decode_end2end() -> None:
    out = np.array(
        [[1, 2, 3, 4, 0.9, 2], [5, 6, 7, 8, 0.1, 0], [9, 9, 19, 19, 0.5, 1], [0, 0, 1, 1, 0.4, 0]],
        np.float32,
    )
    d = decode_end2end(out, conf=0.25, max_det=300)
    assert d.xyxy.tolist() == [[1, 2, 3, 4], [9, 9, 19, 19], [0, 0, 1, 1]]
    assert d.class_id.tolist() == [2, 1, 0]
    assert len(decode_end2end(out, conf=0.25, max_det=2)) == 2
