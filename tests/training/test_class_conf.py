"""Per-class max-F1 confidences: evaluate reports them, export stores them (floor 0.05), the
detector reads them back from the ONNX metadata."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from detector import Detector
from training.card import CONF_FLOOR, ModelCard, read_card, write_card
from training.evaluate import EvalResult, accumulate
from training.export import operating_thresholds
from training.metrics import ap_per_class, class_max_f1

X = np.linspace(0, 1, 1000)

# class 0: 4 labels; predictions TP .9, TP .8, FP .7, TP .6, TP .5, FP .3, FP .2
# class 1: 2 labels; predictions FP .95, TP .4, FP .35, TP .15, FP .1
CONF = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2, 0.95, 0.4, 0.35, 0.15, 0.1])
TP = np.array([1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0], bool)[:, None]
PRED_CLS = np.array([0] * 7 + [1] * 5)
TRUE_CLS = np.array([0, 0, 0, 0, 1, 1])

# by hand: cumulative precision / recall after each prediction, most confident first
HAND = {
    0: (
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.2],
        [1 / 1, 2 / 2, 2 / 3, 3 / 4, 4 / 5, 4 / 6, 4 / 7],
        [1 / 4, 2 / 4, 2 / 4, 3 / 4, 4 / 4, 4 / 4, 4 / 4],
    ),
    1: (
        [0.95, 0.4, 0.35, 0.15, 0.1],
        [0 / 1, 1 / 2, 1 / 3, 2 / 4, 2 / 5],
        [0 / 2, 1 / 2, 1 / 2, 2 / 2, 2 / 2],
    ),
}


def hand_f1(c: int) -> np.ndarray:
    """F1 against confidence on the 1000-point axis: P and R linear between predictions (the
    curves ultralytics draws), recall 0 / precision 1 above the most confident one."""
    conf, p, r = (np.array(v) for v in HAND[c])
    prec = np.interp(-X, -conf, p, left=1)
    rec = np.interp(-X, -conf, r, left=0)
    return 2 * prec * rec / (prec + rec + 1e-16)


def hand_smooth(y: np.ndarray, window: int) -> np.ndarray:
    half = window // 2
    padded = np.concatenate([[y[0]] * half, y, [y[-1]] * half])
    return np.array([padded[i : i + window].mean() for i in range(len(y))])


def test_step_f1_peaks_where_counted_by_hand() -> None:
    # counted: keeping class 0's boxes down to 0.5 gives P 4/5, R 1, F1 0.889 (best: down to
    # 0.8 F1 0.667, 0.6 F1 0.75, 0.3 F1 0.8); class 1 down to 0.15: P 2/4, R 1, F1 0.667
    # (down to 0.4: P 1/2, R 1/2, F1 0.5)
    m = ap_per_class(TP, CONF, PRED_CLS, TRUE_CLS)
    unsmoothed = class_max_f1(m.f1_curve, m.curve_x, f=0)
    assert abs(unsmoothed[0] - 0.5) <= 1 / 999
    assert abs(unsmoothed[1] - 0.15) <= 1 / 999
    np.testing.assert_allclose(m.f1_curve[0], hand_f1(0), atol=1e-12)
    np.testing.assert_allclose(m.f1_curve[1], hand_f1(1), atol=1e-12)


def test_class_conf_is_the_argmax_of_the_smoothed_class_f1() -> None:
    m = ap_per_class(TP, CONF, PRED_CLS, TRUE_CLS)
    # smoothed as the global operating point is: a 101-point (0.1-wide) box filter
    for c in (0, 1):
        expected = X[int(hand_smooth(hand_f1(c), 101).argmax())]
        assert m.class_conf[c] == pytest.approx(expected, abs=1e-12)
    # class 0's F1 falls steeply above 0.5 and slowly below: smoothing moves its point down
    assert 0.4 < m.class_conf[0] < 0.5 and 0.1 < m.class_conf[1] < 0.2
    # and the global one is still the argmax of the smoothed mean
    mean = hand_smooth((hand_f1(0) + hand_f1(1)) / 2, 101)
    assert m.conf_threshold == pytest.approx(X[int(mean.argmax())])


def test_one_class_has_the_global_operating_point() -> None:
    sel = PRED_CLS == 0
    m = ap_per_class(TP[sel], CONF[sel], PRED_CLS[sel], TRUE_CLS[TRUE_CLS == 0])
    assert m.class_conf.tolist() == [m.conf_threshold]


def test_no_true_positive_means_no_class_threshold() -> None:
    m = ap_per_class(
        np.array([[1], [0]], bool), np.array([0.9, 0.8]), np.array([0, 1]), np.array([0, 1])
    )
    # class 0: its one box is right, so F1 is 1 at every confidence below 0.9 and the first
    # of those is 0.0 (export's floor keeps such a point from letting everything through);
    # class 1: F1 is 0 everywhere, no operating point
    assert m.class_conf[0] == 0.0 and np.isnan(m.class_conf[1])


def _box(x: float) -> list[float]:
    return [x, 0.0, x + 10.0, 10.0]


def test_evaluate_json_reports_each_class_and_none_without_labels() -> None:
    # one image per prediction: class 0 and 1 as above, class 2 ("stain") has no labels
    records = []
    for conf, tp, c in zip(CONF, TP[:, 0], PRED_CLS, strict=True):
        true = (np.array([_box(0)]), np.array([c])) if tp else (np.zeros((0, 4)), np.zeros(0))
        records.append(
            (np.array([_box(0)]), np.array([conf]), np.array([c]), true[0], true[1].astype(int))
        )
    # the labels no prediction found (class 1 has 2, both found; class 0 has 4, all found)
    metrics, cm = accumulate(records, 3)
    res = EvalResult(
        names=["crack", "hollow_tile", "stain"], metrics=metrics, confusion=cm, images=12
    )
    d = res.to_dict()
    m = ap_per_class(TP, CONF, PRED_CLS, TRUE_CLS)
    assert d["per_class"]["crack"]["conf_threshold_max_f1"] == round(float(m.class_conf[0]), 3)
    assert d["per_class"]["hollow_tile"]["conf_threshold_max_f1"] == round(
        float(m.class_conf[1]), 3
    )
    assert d["per_class"]["stain"]["conf_threshold_max_f1"] is None
    assert d["conf_thresholds"] == {
        "crack": round(float(m.class_conf[0]), 3),
        "hollow_tile": round(float(m.class_conf[1]), 3),
    }
    # the existing keys are still there
    assert {"ap50", "precision", "recall", "labels"} <= set(d["per_class"]["crack"])
    assert d["conf_threshold_max_f1"] == round(m.conf_threshold, 3)


@pytest.mark.parametrize(
    ("overall", "own", "expected"),
    [
        (0.17, {"a": 0.31, "b": 0.02, "c": None}, {"a": 0.31, "b": CONF_FLOOR, "c": 0.17}),
        (0.01, {"a": 0.5, "b": None}, {"a": 0.5, "b": CONF_FLOOR}),
        (0.2, {"a": None, "b": None}, {}),  # nothing measured: store nothing (detector default)
        (0.2, {"a": 0.0504}, {"a": 0.05}),  # rounded to 3 decimals
    ],
)
def test_operating_thresholds_rule(overall: float, own: dict, expected: dict) -> None:
    doc = {
        "conf_threshold_max_f1": overall,
        "per_class": {c: {"conf_threshold_max_f1": t} for c, t in own.items()},
    }
    assert operating_thresholds(doc) == expected


def test_card_stores_thresholds_the_detector_reads(default_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copyfile(default_model, model)
    names = Detector(model, conf=0.001).names
    thresholds = {n: round(0.05 + 0.1 * i, 3) for i, n in enumerate(names) if i != 2}
    metrics = {
        "conf_threshold_max_f1": 0.17,
        "data": "the 'all' split of held.yaml",
        "per_class": {n: {"conf_threshold_max_f1": thresholds.get(n)} for n in names},
    }
    card = ModelCard(name="m", version="9", classes=names, metrics=metrics)
    card.conf_thresholds = thresholds
    md = write_card(model, card).read_text()

    props = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    assert json.loads(props["conf_thresholds"]) == thresholds
    assert read_card(model).conf_thresholds == thresholds  # in the card JSON as well
    det = Detector(model)
    assert det.conf_thresholds == thresholds
    expected = [thresholds.get(n, 0.25) for n in names]  # the class left out: the default
    assert det.class_conf.tolist() == pytest.approx(expected)

    assert "## Operating thresholds" in md and "held.yaml" in md and "(0.170)" in md
    assert f"| {names[0]} | 0.050 | its max-F1 |" in md
    assert names[2] not in md.split("## Operating thresholds")[1].split("\n\n", 2)[2]

    # a card without thresholds removes the stale key: card and model stay in agreement
    card.conf_thresholds = {}
    md = write_card(model, card).read_text()
    props = {p.key: p.value for p in onnx.load(str(model), load_external_data=False).metadata_props}
    assert "conf_thresholds" not in props and "## Operating thresholds" not in md
    assert Detector(model).conf_thresholds == {}
