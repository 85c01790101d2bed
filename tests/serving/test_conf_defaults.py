"""Every caller leaves ``conf`` unset by default (the model's per-class thresholds apply) and
passes an explicit ``--conf`` / ``FINISHSCAN_CONF`` through as one threshold for all classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from detector import Detector, decode_image, to_record
from serving.app import load_detector
from serving.cli import app as cli_app
from serving.cli.serve import settings_env
from serving.scan.engine import ScanOptions, _select_threshold
from serving.scan.work import DetectorSpec
from serving.settings import Settings

from ..textures import texture


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "wall.png"
    rgb = texture(np.random.default_rng(7), 480, 640)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def model(default_model: Path, photo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model with per-class thresholds in its metadata: per class, the median
    confidence of its boxes on ``photo`` at conf 0.001 (so some pass, some not); one class with
    boxes is left out (it keeps 0.25)."""
    low = Detector(default_model, conf=0.001)
    d = low.detect(decode_image(photo.read_bytes()))
    thresholds = {}
    for cid, name in enumerate(low.names):
        conf = d.confidence[d.class_id == cid]
        if len(conf) >= 2:
            thresholds[name] = round(float(np.median(conf)), 4)
    assert len(thresholds) >= 3
    thresholds.pop(next(iter(thresholds)))
    out = tmp_path_factory.mktemp("conf") / "m.onnx"
    shutil.copyfile(default_model, out)
    m = onnx.load(str(out))
    m.metadata_props.add(key="conf_thresholds", value=json.dumps(thresholds))
    onnx.save(m, str(out))
    return out


def test_settings_conf_is_unset_by_default_and_survives_the_env_trip(monkeypatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FINISHSCAN_"):
            monkeypatch.delenv(name)
    assert Settings().conf is None
    assert "FINISHSCAN_CONF" not in settings_env(Settings())
    assert settings_env(Settings(conf=0.3))["FINISHSCAN_CONF"] == "0.3"
    monkeypatch.setenv("FINISHSCAN_CONF", "0.3")
    assert Settings().conf == 0.3


def test_service_detector_uses_the_model_thresholds_unless_conf_is_set(model: Path) -> None:
    plain = Detector(model)
    det = load_detector(Settings(model=model))
    np.testing.assert_array_equal(det.class_conf, plain.class_conf)  # type: ignore[attr-defined]
    assert len(set(plain.class_conf.tolist())) > 2 and 0.25 in plain.class_conf.tolist()
    fixed = load_detector(Settings(model=model, conf=0.3))
    assert fixed.class_conf.tolist() == pytest.approx([0.3] * len(plain.names))  # type: ignore[attr-defined]


def test_cli_detect_default_and_explicit_conf(model: Path, photo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    image = decode_image(photo.read_bytes())
    fixed = float(Detector(model).class_conf.min())  # one threshold: the lowest per-class one
    for args, det in (
        ([], Detector(model)),
        (["--conf", str(fixed)], Detector(model, conf=fixed)),
    ):
        out = tmp_path / "d.json"
        r = runner.invoke(
            cli_app, ["detect", str(photo), "--model", str(model), "--json", str(out), *args]
        )
        assert r.exit_code == 0, r.output
        got = json.loads(out.read_text())[0]["defects"]
        expected = to_record(
            det.detect(image), det.names, image=str(photo), width=640, height=480, model=det.info
        )["defects"]
        assert got == json.loads(json.dumps(expected))
    # the two differ: the explicit conf keeps boxes of the other classes below their thresholds
    per_class, one = Detector(model).detect(image), Detector(model, conf=fixed).detect(image)
    assert 0 < len(per_class) < len(one)


def test_scan_spec_default_and_explicit_conf(model: Path, photo: Path) -> None:
    assert ScanOptions(root=Path(".")).conf is None
    data = photo.read_bytes()
    image = decode_image(data)
    floor = float(Detector(model).class_conf.min())
    for conf in (None, 0.3):
        spec = DetectorSpec(model=str(model), conf=conf)
        det = Detector(model, conf=conf)
        got = spec.build(1)(data)["defects"]
        expected = to_record(
            det.detect(image), det.names, image="", width=640, height=480, model=det.info
        )["defects"]
        assert got == expected and (conf is not None or got)
        assert spec.class_thresholds() == pytest.approx(
            dict(zip(det.names, det.class_conf.tolist(), strict=True))
        )
    per_class = DetectorSpec(model=str(model)).class_thresholds()
    assert min(per_class.values()) == pytest.approx(floor) and floor < 0.25
    assert len(set(per_class.values())) > 1  # the model stores its own per class
    # --select's working threshold: --conf, else each class's own, else 0.25
    options = ScanOptions(root=Path("."))
    assert _select_threshold(options, DetectorSpec(model=str(model))) == pytest.approx(per_class)
    assert _select_threshold(ScanOptions(root=Path("."), conf=0.4), object()) == 0.4  # type: ignore[arg-type]
    assert _select_threshold(options, object()) == 0.25  # type: ignore[arg-type]
