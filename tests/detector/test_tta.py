"""Flip test-time augmentation: ``fuse_views`` by hand, and ``Detector(tta=True)`` as the fusion
of its own two views (the photo and its left-right mirror)."""

from __future__ import annotations

import numpy as np
import pytest

from detector import Detections, Detector
from detector.geometry import fuse_views, mirror_x, nms
from detector.model import TTA_NMS_IOU, TTA_PAIR_IOU, TTA_SUFFIX, TTA_VIEW_CONF
from finishscan.paths import MODELS

from .conftest import texture

PLACEHOLDER = MODELS / "finishscan-placeholder.onnx"


def dets(boxes: list[list[float]], conf: list[float], cls: list[int]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.array(conf), np.array(cls))


def test_the_more_confident_box_gets_the_partner_and_boxes_average_by_confidence() -> None:
    # both a-boxes overlap b's only box (IoU 0.82 and 0.67); the 0.9 one takes it
    a = dets([[0, 0, 10, 10], [1, 0, 11, 10]], [0.6, 0.9], [0, 0])
    b = dets([[2, 0, 12, 10]], [0.3], [0])
    d = fuse_views(a, b, 0.5)
    assert d.class_id.tolist() == [0, 0]
    np.testing.assert_allclose(d.confidence, [0.3, 0.6])  # 0.6 alone: halved; (0.9 + 0.3) / 2
    # (1 * 0.9 + 2 * 0.3) / 1.2 = 1.25 and (11 * 0.9 + 12 * 0.3) / 1.2 = 11.25
    np.testing.assert_allclose(d.xyxy, [[0, 0, 10, 10], [1.25, 0, 11.25, 10]], atol=1e-5)


def test_boxes_pair_only_within_a_class_and_above_the_iou() -> None:
    a = dets([[0, 0, 10, 10], [50, 0, 60, 10]], [0.8, 0.8], [0, 1])
    # same place, other class; 50% IoU-ish miss: [55, 0, 65, 10] has IoU 1/3 with [50, 0, 60, 10]
    b = dets([[0, 0, 10, 10], [55, 0, 65, 10]], [0.4, 0.4], [1, 1])
    d = fuse_views(a, b, 0.55)
    assert len(d) == 4  # nothing paired: every box kept, at half its confidence
    np.testing.assert_allclose(d.confidence, [0.4, 0.4, 0.2, 0.2])
    np.testing.assert_array_equal(d.xyxy, np.concatenate([a.xyxy, b.xyxy]))
    assert d.class_id.tolist() == [0, 1, 1, 1]
    assert len(fuse_views(a, b, 1 / 3 - 1e-6)) == 3  # at a lower IoU the class-1 pair fuses


@pytest.mark.parametrize("empty", ["a", "b", "both"])
def test_an_empty_view_halves_the_other(empty: str) -> None:
    none = dets([], [], [])
    some = dets([[0, 0, 4, 4]], [0.5], [2])
    a, b = (none if empty in ("a", "both") else some), (none if empty in ("b", "both") else some)
    d = fuse_views(a, b)
    assert len(d) == (0 if empty == "both" else 1)
    if len(d):
        assert d.confidence.tolist() == [0.25] and d.class_id.tolist() == [2]


def test_mirror_x_twice_is_the_identity() -> None:
    boxes = np.random.default_rng(0).uniform(0, 300, (20, 4)).astype(np.float32)
    boxes[:, 2:] += boxes[:, :2]
    np.testing.assert_allclose(mirror_x(mirror_x(boxes, 640), 640), boxes, atol=1e-4)
    assert (mirror_x(boxes, 640)[:, 2] >= mirror_x(boxes, 640)[:, 0]).all()


# the placeholder's random weights are never confident: it is read at 0.001
@pytest.mark.parametrize(
    ("model", "conf"), [("placeholder", 0.001), ("default", None), ("default", 0.05)]
)
def test_tta_is_its_two_views_fused(model: str, conf: float | None, default_model) -> None:
    """What ``tta=True`` returns equals the pieces put together by hand: the photo and its
    mirror through the same model, decoded low, the mirror's boxes mapped back, fused, NMS,
    then each class's threshold."""
    path = PLACEHOLDER if model == "placeholder" else default_model
    tta = Detector(path, conf=conf, threads=1, tta=True)
    floor = min(TTA_VIEW_CONF, float(tta.class_conf.min()))
    plain = Detector(path, conf=floor, threads=1)
    rng = np.random.default_rng(3)
    photo = texture(rng, 300, 420)
    photo[100:104, 40:380] = 30  # a dark line: something crack-like to find
    a = plain(photo)
    m = plain(np.ascontiguousarray(photo[:, ::-1]))
    d = fuse_views(a, Detections(mirror_x(m.xyxy, 420), m.confidence, m.class_id), TTA_PAIR_IOU)
    d = d[nms(d.xyxy, d.confidence, min(tta.iou, TTA_NMS_IOU), d.class_id)]
    d = d[d.confidence > tta.class_conf[d.class_id]][: tta.max_det]
    got = tta(photo)
    assert got == d
    assert len(a) > 0 and len(m) > 0, "the views found nothing: the test would prove little"
    # a batch fuses each photo with its own mirror
    other = texture(rng, 300, 420)
    both = tta.batch([photo, other])
    assert both[0] == got and both[1] == tta(other)
    assert tta.info.version == plain.info.version + TTA_SUFFIX


def test_tta_on_tiles_and_its_version_suffix() -> None:
    det = Detector(PLACEHOLDER, conf=0.001, threads=1, tta=True)
    photo = texture(np.random.default_rng(5), 900, 1500)
    found = det.detect(photo, tile="on")
    assert len(found) and (found.xyxy[:, 2] <= 1500).all() and (found.xyxy[:, 3] <= 900).all()
    assert det.info.version.endswith("+flip")
    assert not Detector(PLACEHOLDER, threads=1).info.version.endswith("+flip")
