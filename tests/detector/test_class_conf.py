"""Per-class operating thresholds: stored in the ONNX metadata, applied when no ``conf`` is given.

Expectations come from the same model run at conf=0.001 and filtered by hand with each box's
class threshold (classic path: the shipped model; end-to-end path: a tiny YOLO26 export).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from detector import DEFAULT_CONF, Detections, Detector, parse_conf_thresholds, tiled_detect
from detector.geometry import decode_classic, decode_end2end
from finishscan.errors import ModelError

from .conftest import texture

LOW = 0.001


def with_thresholds(src: Path, dst: Path, thresholds: dict[str, float] | str) -> Path:
    """A copy of ``src`` whose metadata holds ``conf_thresholds`` (as ``export --data`` writes)."""
    shutil.copyfile(src, dst)
    m = onnx.load(str(dst))
    value = thresholds if isinstance(thresholds, str) else json.dumps(thresholds)
    m.metadata_props.add(key="conf_thresholds", value=value)
    onnx.save(m, str(dst))
    return dst


def by_hand(d: Detections, thr: np.ndarray) -> Detections:
    return d[d.confidence > thr[d.class_id]]


def median_thresholds(d: Detections, names: list[str]) -> dict[str, float]:
    """Per class: the median confidence of its low-conf boxes (so some boxes pass, some not)."""
    out = {}
    for cid, name in enumerate(names):
        conf = d.confidence[d.class_id == cid]
        if len(conf) >= 2:
            out[name] = round(float(np.median(conf)), 4)
    return out


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return texture(np.random.default_rng(7), 480, 640)


# --- pure decoding ----------------------------------------------------------------------------


def test_decode_classic_per_class_equals_lowest_then_filtered_by_class() -> None:
    # 5 anchors, 2 classes: (cx, cy, w, h, score0, score1); anchors 0/1 overlap (same class 0)
    out = np.array(
        [
            [10, 11, 50, 80, 200],
            [10, 10, 50, 80, 200],
            [10, 10, 10, 10, 10],
            [10, 10, 10, 10, 10],
            [0.50, 0.40, 0.05, 0.01, 0.30],  # class 0
            [0.10, 0.05, 0.20, 0.35, 0.10],  # class 1
        ],
        np.float32,
    )
    thr = np.array([0.45, 0.15], np.float32)
    got = decode_classic(out, conf=thr, iou=0.7, max_det=300)
    # best class per anchor: 0 (0.50), 0 (0.40), 1 (0.20), 1 (0.35), 0 (0.30); kept when
    # above its class's threshold: anchor 0 (0.50 > 0.45), 3 (0.35 > 0.15), 2 (0.20 > 0.15),
    # best first
    assert got.class_id.tolist() == [0, 1, 1]
    np.testing.assert_allclose(got.confidence, [0.50, 0.35, 0.20])
    low = decode_classic(out, conf=0.15, iou=0.7, max_det=300)
    assert got == by_hand(low, thr)
    # one threshold as an array of equal values = the scalar path
    assert decode_classic(out, conf=np.full(2, 0.15), iou=0.7, max_det=300) == low
    with pytest.raises(ValueError, match="per-class conf"):
        decode_classic(out, conf=np.array([0.1, 0.2, 0.3]), iou=0.7, max_det=300)


def test_decode_end2end_per_class_filters_before_max_det() -> None:
    rows = np.array(
        [
            [0, 0, 10, 10, 0.90, 1],
            [0, 0, 10, 10, 0.60, 0],
            [0, 0, 10, 10, 0.40, 0],  # above the lowest threshold, below its class's
            [0, 0, 10, 10, 0.30, 1],
            [0, 0, 10, 10, 0.10, 1],
        ],
        np.float32,
    )
    thr = np.array([0.5, 0.15])
    got = decode_end2end(rows, conf=thr, max_det=300)
    np.testing.assert_allclose(got.confidence, [0.9, 0.6, 0.3])
    assert got.class_id.tolist() == [1, 0, 1]
    assert got == by_hand(decode_end2end(rows, conf=0.15, max_det=300), thr.astype(np.float32))
    # max_det counts boxes that pass: the 0.40 row does not take the third place
    np.testing.assert_allclose(
        decode_end2end(rows, conf=thr, max_det=3).confidence, [0.9, 0.6, 0.3]
    )
    np.testing.assert_allclose(decode_end2end(rows, conf=thr, max_det=2).confidence, [0.9, 0.6])
    with pytest.raises(ValueError, match="class ids"):
        decode_end2end(rows, conf=np.array([0.5]), max_det=300)


# --- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, {}),
        ("", {}),
        ('{"crack": 0.3}', {"crack": 0.3}),
        ('{"crack": 0, "stain": 1}', {"crack": 0.0, "stain": 1.0}),
    ],
)
def test_parse_conf_thresholds(raw: str | None, expected: dict) -> None:
    assert parse_conf_thresholds(raw, ["crack", "stain"]) == expected


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{crack: 0.3}", "not JSON"),
        ("[0.3, 0.2]", "not an object"),
        ('{"mould": 0.3}', "does not have"),
        ('{"crack": 1.5}', r"not in \[0, 1\]"),
        ('{"crack": "0.3"}', r"not in \[0, 1\]"),
        ('{"crack": true}', r"not in \[0, 1\]"),
        ('{"crack": NaN}', r"not in \[0, 1\]"),
    ],
)
def test_parse_conf_thresholds_rejects(raw: str, match: str) -> None:
    with pytest.raises(ModelError, match=match):
        parse_conf_thresholds(raw, ["crack", "stain"])


def test_bad_metadata_is_a_model_error(default_model: Path, tmp_path: Path) -> None:
    bad = with_thresholds(default_model, tmp_path / "bad.onnx", '{"mould": 0.2}')
    with pytest.raises(ModelError, match="mould"):
        Detector(bad)


# --- the shipped (classic) model --------------------------------------------------------------


def test_model_without_thresholds_keeps_the_old_default(
    default_model: Path, tmp_path: Path, photo: np.ndarray
) -> None:
    plain = tmp_path / "plain.onnx"
    shutil.copyfile(default_model, plain)
    m = onnx.load(str(plain))
    kept = [p for p in m.metadata_props if p.key != "conf_thresholds"]
    del m.metadata_props[:]
    m.metadata_props.extend(kept)
    onnx.save(m, str(plain))
    det = Detector(plain)
    assert det.conf is None and det.conf_thresholds == {}
    assert det.class_conf.tolist() == [DEFAULT_CONF] * len(det.names)
    low = Detector(plain, conf=LOW)(photo)
    assert det(photo) == low[low.confidence > DEFAULT_CONF]
    assert det(photo) == Detector(plain, conf=DEFAULT_CONF)(photo)


def test_metadata_round_trip_and_per_class_filtering(
    default_model: Path, tmp_path: Path, photo: np.ndarray
) -> None:
    low_det = Detector(default_model, conf=LOW)
    low = low_det(photo)
    thresholds = median_thresholds(low, low_det.names)
    assert len(thresholds) >= 3, "the texture should give low-conf boxes of several classes"
    missing = [n for n in low_det.names if n not in thresholds]
    for n in missing[:1]:  # leave one class out when possible: it falls back to DEFAULT_CONF
        thresholds.pop(n, None)
    model = with_thresholds(default_model, tmp_path / "m.onnx", thresholds)

    det = Detector(model)
    assert det.conf_thresholds == thresholds
    assert det.info.metadata["conf_thresholds"] == json.dumps(thresholds)
    thr = np.array([thresholds.get(n, DEFAULT_CONF) for n in det.names], np.float32)
    np.testing.assert_array_equal(det.class_conf, thr)

    got = det(photo)
    expected = by_hand(Detector(model, conf=LOW)(photo), thr)
    assert got == expected
    # a real mix: some classes keep boxes a single global threshold at the lowest would keep
    # too, others drop them
    assert 0 < len(got) < len(low[low.confidence > thr.min()])
    # the batch path and detect(tile="off") apply the same thresholds
    assert det.batch([photo, photo]) == [got, got]
    assert det.detect(photo, tile="off") == got


def test_tiled_detection_filters_every_slice_by_class(default_model: Path, tmp_path: Path) -> None:
    big = texture(np.random.default_rng(11), 900, 1300)  # > 2x 320: tile="auto" tiles
    low_det = Detector(default_model, conf=LOW)
    thresholds = median_thresholds(low_det(big), low_det.names)
    model = with_thresholds(default_model, tmp_path / "m.onnx", thresholds)
    det, low = Detector(model), Detector(model, conf=LOW)
    thr = det.class_conf

    def hand_filtered(crops: list[np.ndarray]) -> list[Detections]:
        return [by_hand(d, thr) for d in low.batch(crops)]

    expected = tiled_detect(
        big, hand_filtered, det.imgsz, overlap=det.tile_overlap, max_det=det.max_det
    )
    got = det.detect(big, tile="auto")
    assert got == expected and len(got) > 0
    assert (got.confidence > thr[got.class_id]).all()


def test_explicit_conf_overrides_the_stored_thresholds(
    default_model: Path, tmp_path: Path, photo: np.ndarray
) -> None:
    names = Detector(default_model, conf=LOW).names
    model = with_thresholds(default_model, tmp_path / "m.onnx", {n: 0.9 for n in names})
    for conf in (0.02, 0.3):
        det = Detector(model, conf=conf)
        assert det.conf == conf and det.class_conf.tolist() == pytest.approx([conf] * len(names))
        low = Detector(default_model, conf=LOW)(photo)
        assert det(photo) == low[low.confidence > np.float32(conf)]
        assert det(photo) == Detector(default_model, conf=conf)(photo)
    assert len(Detector(model)(photo)) == 0 < len(Detector(model, conf=0.02)(photo))
    with pytest.raises(ValueError):
        Detector(model, conf=1.5)


# --- the end-to-end (NMS-free) path -----------------------------------------------------------


@pytest.mark.train
def test_end2end_model_filters_by_class(
    tiny_models: dict[str, Path], tmp_path: Path, photo: np.ndarray
) -> None:
    src = tiny_models["yolo26"]
    low_det = Detector(src, conf=LOW)
    assert low_det.end2end
    low = low_det(photo)
    thresholds = median_thresholds(low, low_det.names)
    assert len(thresholds) >= 2
    model = with_thresholds(src, tmp_path / "e2e.onnx", thresholds)
    det = Detector(model)
    thr = det.class_conf
    got = det(photo)
    assert got == by_hand(Detector(model, conf=LOW)(photo), thr)
    assert 0 < len(got) < len(low)
