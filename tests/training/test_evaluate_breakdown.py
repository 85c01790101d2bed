"""Metrics by box size (training.breakdown) and their place in evaluate's JSON."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from detector.types import Detections
from training.breakdown import (
    box_size,
    match_by_size,
    match_indices,
    size_breakdown,
    size_bucket,
    size_edges,
)
from training.evaluate import accumulate, evaluate_model
from training.metrics import box_iou, match_predictions

NAMES = ["a", "b"]


def _box(x0: float, y0: float, side: float) -> list[float]:
    return [x0, y0, x0 + side, y0 + side]


def _rec(pred, true):
    """A record from ``[(class, conf, box)]`` predictions and ``[(class, box)]`` labels."""
    return (
        np.array([b for _, _, b in pred], float).reshape(-1, 4),
        np.array([c for _, c, _ in pred], float),
        np.array([k for k, _, _ in pred], int),
        np.array([b for _, b in true], float).reshape(-1, 4),
        np.array([k for k, _ in true], int),
    )


# image 1 at scale 1: small a (found), medium a (found), large b (found), small b (missed);
# a small b false positive above the operating confidence and a large a one below it.
IMAGE_1 = _rec(
    [
        (0, 0.9, _box(0, 0, 10)),
        (0, 0.8, _box(50, 50, 30)),
        (1, 0.7, _box(100, 100, 100)),
        (1, 0.6, _box(400, 400, 12)),
        (0, 0.05, _box(500, 500, 60)),
    ],
    [(0, _box(0, 0, 10)), (0, _box(50, 50, 30)), (1, _box(100, 100, 100)), (1, _box(300, 300, 8))],
)
# image 2 shown at half scale: an 80-px label is 40 model px (medium); the 100-px prediction that
# matches it (IoU 0.64) is 50 model px (large) but counts in the label's bucket.
IMAGE_2 = _rec([(0, 0.95, _box(0, 0, 100))], [(0, _box(0, 0, 80))])


def test_size_table():
    assert size_edges((320, 320)) == (16.0, 48.0)
    assert size_edges((480, 640)) == (32.0, 96.0)
    assert box_size(np.array([[10, 10, 26, 26], [0, 0, 8, 2]])).tolist() == [16.0, 4.0]
    assert size_bucket(box_size(np.array([[0, 0, 80, 80]]), 0.5), (16.0, 48.0)).tolist() == [1]


def test_size_breakdown_hand_computed():
    m = match_by_size([IMAGE_1, IMAGE_2], [1.0, 0.5], (16.0, 48.0))
    out = size_breakdown(m, NAMES, edges=(16.0, 48.0), conf_threshold=0.5)
    assert out["buckets_px"] == {
        "small": [0.0, 16.0],
        "medium": [16.0, 48.0],
        "large": [48.0, None],
    }
    small, medium, large = out["small"], out["medium"], out["large"]
    # small: a found by the top prediction (AP 0.995, the 101-point trapezoid's perfect score);
    # b has only a false positive (AP 0)
    assert small["labels"] == 2 and small["false_positives"] == 1
    assert small["map50"] == pytest.approx((0.995 + 0.0) / 2, abs=1e-4)
    assert small["recall"] == 0.5
    assert small["per_class"] == {
        "a": {"labels": 1, "ap50": 0.995, "recall": 1.0},
        "b": {"labels": 1, "ap50": 0.0, "recall": 0.0},
    }
    assert medium["labels"] == 2 and medium["map50"] == 0.995 and medium["recall"] == 1.0
    assert medium["per_class"]["b"] == {"labels": 0, "ap50": None, "recall": None}
    # large: only b has labels; a's 0.05 false positive is below the operating confidence
    assert large["labels"] == 1 and large["map50"] == 0.995 and large["false_positives"] == 0
    assert large["per_class"]["a"]["ap50"] is None


def test_recall_counts_only_predictions_at_the_operating_confidence():
    rec = _rec([(0, 0.3, _box(0, 0, 30))], [(0, _box(0, 0, 30))])
    m = match_by_size([rec], [1.0], (16.0, 48.0))
    assert (
        size_breakdown(m, NAMES, edges=(16.0, 48.0), conf_threshold=0.3)["medium"]["recall"] == 1.0
    )
    assert (
        size_breakdown(m, NAMES, edges=(16.0, 48.0), conf_threshold=0.31)["medium"]["recall"] == 0.0
    )


def test_a_missed_label_is_not_found_at_confidence_zero():
    # a is found by a 0.4 prediction, b by none: at the operating confidence 0.0 (evaluate's
    # max-F1 point when F1 is zero everywhere) recall is 1/2, b's 0/1
    rec = _rec([(0, 0.4, _box(0, 0, 30))], [(0, _box(0, 0, 30)), (1, _box(100, 100, 30))])
    m = match_by_size([rec], [1.0], (16.0, 48.0))
    assert m.found_conf.tolist() == [0.4, -np.inf]
    out = size_breakdown(m, NAMES, edges=(16.0, 48.0), conf_threshold=0.0)
    assert out["medium"]["recall"] == 0.5
    assert out["medium"]["per_class"]["a"]["recall"] == 1.0
    assert out["medium"]["per_class"]["b"] == {"labels": 1, "ap50": 0.0, "recall": 0.0}


def test_empty_buckets_and_no_predictions():
    rec = _rec([], [(1, _box(0, 0, 100))])
    out = size_breakdown(
        match_by_size([rec], [1.0], (16.0, 48.0)), NAMES, edges=(16.0, 48.0), conf_threshold=0.1
    )
    assert out["small"] == {
        "labels": 0,
        "map50": None,
        "recall": None,
        "false_positives": 0,
        "per_class": {n: {"labels": 0, "ap50": None, "recall": None} for n in NAMES},
    }
    assert out["large"]["map50"] == 0.0 and out["large"]["recall"] == 0.0


def _random_records(rng: np.random.Generator, n_img: int = 40, nc: int = 3):
    recs = []
    for _ in range(n_img):
        n_t = int(rng.integers(0, 5))
        xy = rng.uniform(0, 300, (n_t, 2))
        tb = np.concatenate([xy, xy + rng.uniform(4, 120, (n_t, 2))], 1)
        tc = rng.integers(0, nc, n_t)
        keep = rng.random(n_t) < 0.8
        pb = (tb + rng.normal(0, 5, (n_t, 4)))[keep]
        pc = np.where(rng.random(n_t) < 0.85, tc, rng.integers(0, nc, n_t))[keep]
        n_fp = int(rng.integers(0, 4))
        fxy = rng.uniform(0, 300, (n_fp, 2))
        pb = np.concatenate([pb, np.concatenate([fxy, fxy + rng.uniform(4, 120, (n_fp, 2))], 1)])
        pc = np.concatenate([pc, rng.integers(0, nc, n_fp)])
        recs.append((pb, rng.uniform(0.001, 1, len(pc)), pc, tb, tc))
    return recs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_match_indices_is_match_predictions_at_iou_05(seed):
    for pb, pconf, pc, tb, tc in _random_records(np.random.default_rng(seed)):
        order = np.argsort(-pconf, kind="stable")
        iou = box_iou(tb, pb[order])
        idx = match_indices(pc[order], tc, iou)
        ref = match_predictions(pc[order], tc, iou)[:, 0]
        np.testing.assert_array_equal(idx >= 0, ref)
        hit = idx >= 0
        assert (tc[idx[hit]] == pc[order][hit]).all()
        assert len(set(idx[hit].tolist())) == hit.sum()  # a label is matched at most once


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_bucket_is_the_overall_ap50(seed):
    recs = _random_records(np.random.default_rng(seed))
    overall, _ = accumulate(recs, 3)
    m = match_by_size(recs, [1.0] * len(recs), ())
    out = size_breakdown(m, ["x", "y", "z"], edges=(), conf_threshold=0.5, bucket_names=("all",))
    assert out["all"]["map50"] == pytest.approx(overall.map50, abs=1e-4)
    for cid, name in enumerate(["x", "y", "z"]):
        r = np.flatnonzero(overall.classes == cid)
        assert out["all"]["per_class"][name]["ap50"] == pytest.approx(overall.ap[r[0], 0], abs=1e-4)
    assert overall.map50 > 0.1  # not degenerate


def _two_photo_dataset(root):
    """A 640-px photo with an 80-px stain at (280, 280) and a 320-px one with a 12-px crack."""
    for split in ("images", "labels"):
        (root / split / "val").mkdir(parents=True)
    for name, size, line in (
        ("a", 640, "1 0.5 0.5 0.125 0.125"),
        ("b", 320, "0 0.5 0.5 0.0375 0.0375"),
    ):
        cv2.imwrite(
            str(root / "images" / "val" / f"{name}.png"), np.zeros((size, size, 3), np.uint8)
        )
        (root / "labels" / "val" / f"{name}.txt").write_text(line + "\n")
    (root / "data.yaml").write_text("path: .\nval: images/val\nnames: [crack, stain]\n")
    return root / "data.yaml"


def test_evaluate_by_size_counts_no_miss_as_found_when_max_f1_is_at_zero(tmp_path, fake_detector):
    # every prediction misses: F1 is 0 at every confidence, so its argmax (the operating point)
    # is confidence 0.0, and no label may count as found there
    data = _two_photo_dataset(tmp_path)
    fake_detector.queue = [
        Detections(np.array([[0, 0, 40, 40]]), np.array([0.9]), np.array([1])),
        Detections(np.array([[0, 0, 12, 12]]), np.array([0.8]), np.array([0])),
    ]
    d = evaluate_model("fake.onnx", data).to_dict()
    assert d["conf_threshold_max_f1"] == 0.0 and d["recall"] == 0.0
    by = d["by_size"]
    assert by["conf_threshold"] == 0.0
    assert (by["small"]["recall"], by["medium"]["recall"]) == (0.0, 0.0)
    assert by["small"]["per_class"]["crack"] == {"labels": 1, "ap50": 0.0, "recall": 0.0}
    assert (by["small"]["false_positives"], by["medium"]["false_positives"]) == (1, 1)


def test_evaluate_json_adds_by_size_at_the_model_input_scale(tmp_path, fake_detector):
    # the 640-px photo is shown at half scale: its 80-px stain is 40 model px (medium, not
    # large); the 320-px photo's 12-px crack stays small
    data = _two_photo_dataset(tmp_path)
    fake_detector.queue = [
        Detections(np.array([[280, 280, 360, 360]]), np.array([0.9]), np.array([1])),
        Detections(np.array([[154, 154, 166, 166]]), np.array([0.8]), np.array([0])),
    ]
    d = json.loads(evaluate_model("fake.onnx", data).to_json())
    assert {"map50", "map50_95", "precision", "recall", "per_class", "images", "model"} <= set(d)
    assert d["per_class"]["crack"]["labels"] == 1 and d["images"] == 2
    by = d["by_size"]
    assert by["buckets_px"]["small"] == [0.0, 16.0]
    assert (by["small"]["labels"], by["medium"]["labels"], by["large"]["labels"]) == (1, 1, 0)
    assert by["small"]["per_class"]["crack"] == {"labels": 1, "ap50": 0.995, "recall": 1.0}
    assert by["medium"]["per_class"]["stain"] == {"labels": 1, "ap50": 0.995, "recall": 1.0}
    assert by["large"]["map50"] is None


@pytest.mark.train
def test_detector_decoding_is_ultralytics_predict_not_its_multi_label_validator():
    """Why ``evaluate`` and ``YOLO(pt).val`` differ (training/evaluate.py): the validator's NMS keeps
    every class above conf for each anchor; the shipped decoding keeps the best one, as predict."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("ultralytics")
    from ultralytics.utils.nms import non_max_suppression

    from detector.geometry import decode_classic

    rng = np.random.default_rng(0)
    n, nc = 120, 3
    xy = rng.uniform(20, 300, (n, 2))
    boxes = np.concatenate([xy, rng.uniform(8, 60, (n, 2))], 1)  # cx, cy, w, h
    scores = rng.uniform(0, 1, (n, nc)) ** 6  # most anchors weak, a few strong
    out = np.concatenate([boxes, scores], 1).T.astype(np.float32)  # (4 + nc, anchors)
    ours = decode_classic(out, conf=0.001, iou=0.7, max_det=300)
    ref = {}
    for multi in (False, True):
        (r,) = non_max_suppression(
            torch.from_numpy(out[None]), 0.001, 0.7, multi_label=multi, max_det=300
        )
        ref[multi] = r.numpy()
    key = np.lexsort((ours.xyxy[:, 0], -ours.confidence))
    rkey = np.lexsort((ref[False][:, 0], -ref[False][:, 4]))
    np.testing.assert_allclose(ours.xyxy[key], ref[False][rkey, :4], atol=1e-3)
    np.testing.assert_allclose(ours.confidence[key], ref[False][rkey, 4], atol=1e-6)
    assert (ours.class_id[key] == ref[False][rkey, 5]).all()
    assert len(ref[True]) > len(ours)  # extra second-class boxes in the validator
