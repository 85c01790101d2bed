"""AP computation: hand-computed tables and parity with ultralytics' own functions."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    IOU_THRESHOLDS,
    ap_per_class,
    box_iou,
    compute_ap,
    confusion_matrix,
    match_predictions,
)


@pytest.mark.parametrize(
    ("recall", "precision", "ap"),
    [
        # perfect: the 101-point trapezoid loses half a step at recall 1 (ultralytics' 0.995)
        ([1.0], [1.0], 0.995),
        # half the labels found, all correct: 0.49 + 0.01 * (1 + 0) / 2
        ([0.5], [1.0], 0.495),
        # second hit at precision 0.5: 0.49 + 0.005*2 ... = 0.5 + 0.375 - 0.0025
        ([0.5, 1.0], [1.0, 0.5], 0.8725),
        # nothing right
        ([0.0, 0.0], [0.0, 0.0], 0.0),
    ],
)
def test_compute_ap_hand_values(recall, precision, ap):
    assert compute_ap(np.array(recall), np.array(precision))[0] == pytest.approx(ap, abs=1e-9)


@pytest.mark.parametrize(
    ("a", "b", "iou"),
    [
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),
        ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),
        ([0, 0, 2, 2], [2, 2, 4, 4], 0.0),  # touching corners
        ([0, 0, 4, 2], [0, 0, 2, 2], 0.5),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate boxes, no division by zero
    ],
)
def test_box_iou_table(a, b, iou):
    assert box_iou(np.array([a]), np.array([b]))[0, 0] == pytest.approx(iou)


@pytest.mark.parametrize(
    ("pred_cls", "true_cls", "iou", "expected_first_true_count"),
    [
        # one label, one prediction at IoU 0.6: TP at 0.50, 0.55, 0.60 (>=), not at 0.65
        ([0], [0], [[0.6]], [[True, True, True, False, False, False, False, False, False, False]]),
        # wrong class: never a TP
        ([1], [0], [[0.9]], [[False] * 10]),
        # two predictions on one label: the more confident one (first) claims it, even with lower IoU
        (
            [0, 0],
            [0],
            [[0.55, 0.9]],
            [[True, True] + [False] * 8, [False, False] + [True] * 7 + [False]],
        ),
    ],
)
def test_match_predictions_table(pred_cls, true_cls, iou, expected_first_true_count):
    got = match_predictions(np.array(pred_cls), np.array(true_cls), np.array(iou), IOU_THRESHOLDS)
    assert got.tolist() == expected_first_true_count


def test_ap_per_class_hand_example():
    # class 0 has 2 labels; predictions by confidence: TP, FP, TP -> recall .5,.5,1, precision 1,.5,.667
    tp = np.array([[1], [0], [1]], bool)
    m = ap_per_class(tp, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]), np.array([0, 0]))
    # envelope: 1 up to recall .5, then 2/3 up to 1: 0.49 + .01*(1+2/3)/2 + 0.49*2/3 + .01*(2/3+0)/2
    expected = 0.49 + 0.01 * (1 + 2 / 3) / 2 + 0.49 * 2 / 3 + 0.01 * (2 / 3) / 2
    assert m.ap[0, 0] == pytest.approx(expected, abs=1e-9)
    assert m.map50 == pytest.approx(expected, abs=1e-9)


def test_classes_without_predictions_score_zero_and_without_labels_are_left_out():
    tp = np.array([[1]], bool)
    m = ap_per_class(tp, np.array([0.9]), np.array([0]), np.array([0, 2]))
    assert m.classes.tolist() == [0, 2]
    assert m.ap[:, 0].tolist() == pytest.approx([0.995, 0.0])


def test_confusion_matrix_counts():
    nc = 2
    true_xyxy = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]])
    true_cls = np.array([0, 1, 1])
    pred_xyxy = np.array([[0, 0, 10, 10], [20, 20, 30, 31], [80, 80, 90, 90], [50, 50, 60, 60]])
    pred_conf = np.array([0.9, 0.8, 0.7, 0.1])  # the last is below the 0.25 threshold
    pred_cls = np.array([0, 0, 1, 1])
    cm = confusion_matrix(pred_xyxy, pred_conf, pred_cls, true_xyxy, true_cls, nc)
    expected = np.zeros((3, 3), int)
    expected[0, 0] = 1  # crack found as crack
    expected[0, 1] = 1  # class-1 label predicted as class 0
    expected[1, 2] = 1  # false alarm of class 1
    expected[2, 1] = 1  # missed class-1 label (its prediction was below conf)
    assert cm.tolist() == expected.tolist()


def _random_case(rng: np.random.Generator, n_img: int = 30, nc: int = 4):
    """Random images with labels and noisy predictions (some matching, some not)."""
    imgs = []
    for _ in range(n_img):
        n_t = int(rng.integers(0, 5))
        xy = rng.uniform(0, 200, (n_t, 2))
        wh = rng.uniform(10, 60, (n_t, 2))
        tb = np.concatenate([xy, xy + wh], 1)
        tc = rng.integers(0, nc, n_t)
        keep = rng.random(n_t) < 0.8
        jitter = rng.normal(0, 4, (n_t, 4))
        pb = (tb + jitter)[keep]
        pc = np.where(rng.random(n_t) < 0.85, tc, rng.integers(0, nc, n_t))[keep]
        n_fp = int(rng.integers(0, 3))
        fxy = rng.uniform(0, 200, (n_fp, 2))
        pb = np.concatenate([pb, np.concatenate([fxy, fxy + rng.uniform(10, 60, (n_fp, 2))], 1)])
        pc = np.concatenate([pc, rng.integers(0, nc, n_fp)])
        pconf = rng.uniform(0.01, 1, len(pc))
        imgs.append((pb, pconf, pc, tb, tc))
    return imgs


@pytest.mark.train
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_with_ultralytics(seed):
    pytest.importorskip("ultralytics")
    torch = pytest.importorskip("torch")
    from ultralytics.models.yolo.detect import DetectionValidator
    from ultralytics.utils import metrics as um

    validator = DetectionValidator()
    validator.iouv = torch.linspace(0.5, 0.95, 10)
    rng = np.random.default_rng(seed)
    tps_ours, tps_ref, confs, pcls, tcls = [], [], [], [], []
    for pb, pconf, pc, tb, tc in _random_case(rng):
        order = np.argsort(-pconf, kind="stable")
        pb, pconf, pc = pb[order], pconf[order], pc[order]
        iou = box_iou(tb, pb)
        ref_iou = um.box_iou(torch.tensor(tb), torch.tensor(pb)).numpy()
        np.testing.assert_allclose(iou, ref_iou, atol=1e-6)
        tps_ours.append(match_predictions(pc, tc, iou))
        tps_ref.append(
            validator.match_predictions(
                torch.tensor(pc), torch.tensor(tc), torch.tensor(iou)
            ).numpy()
        )
        confs.append(pconf)
        pcls.append(pc)
        tcls.append(tc)
    tp = np.concatenate(tps_ours)
    np.testing.assert_array_equal(tp, np.concatenate(tps_ref))
    conf, pred_cls, target_cls = np.concatenate(confs), np.concatenate(pcls), np.concatenate(tcls)
    ours = ap_per_class(tp, conf, pred_cls, target_cls)
    ref = um.ap_per_class(tp, conf, pred_cls, target_cls)
    _, _, p, r, _, ap, classes = ref[:7]
    np.testing.assert_array_equal(ours.classes, classes)
    np.testing.assert_allclose(ours.ap, ap, atol=1e-9)
    np.testing.assert_allclose(ours.precision, p, atol=1e-9)
    np.testing.assert_allclose(ours.recall, r, atol=1e-9)
    assert ours.map50 > 0.3  # the case is not degenerate
