"""Export: ONNX metadata carries the card; INT8 keeps the head's decoding in float; evaluate's JSON."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

pytestmark = [pytest.mark.train, pytest.mark.slow]


def test_export_card_int8_and_evaluate(tiny_run, tmp_path):
    from detector import Detector, load_image
    from training.card import ModelCard, read_card
    from training.export import head_float_nodes
    from training.pipeline import export_with_card

    data, best = tiny_run
    out = tmp_path / "m.onnx"
    card = ModelCard(
        name="tiny-test", version="0.3", classes=[], architecture="YOLO11n", limits="toy"
    )
    report = export_with_card(
        best, out, data=data, int8_calib=data.parent / "images" / "val", card=card
    )
    assert "int8: mAP50" in report

    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["model_name"] == "tiny-test" and props["model_version"] == "0.3"
    assert "crack" in props["names"] and props["imgsz"] == "[64, 64]"
    got = read_card(out)
    assert got.classes[0] == "crack" and len(got.classes) == 6
    assert len(got.data_sha256) == 64 and "8 images" in got.training_data
    assert set(got.metrics) >= {"map50", "map50_95", "per_class", "images"}
    md = out.with_suffix(".md").read_text()
    assert "# tiny-test" in md and "## Metrics" in md and got.data_sha256 in md and "toy" in md
    # the metrics carry bootstrap intervals, shown beside them
    lo, hi = got.metrics["ci"]["map50"]
    assert lo <= got.metrics["map50"] <= hi and "95 % interval" in md

    # dynamic batch: two images in one session.run
    inp = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert inp[0].dim_param and not inp[0].dim_value

    q = tmp_path / "m-int8.onnx"
    assert q.exists() and q.stat().st_size < out.stat().st_size / 2
    qcard = read_card(q)
    assert qcard.precision == "int8" and "Accuracy change vs FP32" in qcard.notes
    floats = head_float_nodes(out)
    assert any(n.endswith("/Sigmoid") for n in floats) and any("Concat" in n for n in floats)
    assert not any("/cv2." in n or "/cv3." in n for n in floats)
    qops = {n.op_type for n in onnx.load(str(q)).graph.node}
    assert "QuantizeLinear" in qops and "DequantizeLinear" in qops

    img = load_image(sorted((data.parent / "images" / "val").iterdir())[0])
    for m in (out, q):
        det = Detector(str(m), conf=0.0001)
        assert det.names[0] == "crack" and det.imgsz == (64, 64)
        d = det.batch([img, img])
        np.testing.assert_allclose(d[0].xyxy, d[1].xyxy)  # batch of two works and is consistent

    cmp = json.loads(q.with_suffix(".comparison.json").read_text())
    assert set(cmp) == {"fp32", "int8"}


def test_evaluate_cli_json_and_plots(tiny_run, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from training.export import export_onnx

    data, best = tiny_run
    m = export_onnx(best, tmp_path / "e.onnx")
    fs = Path(sys.executable).parent / "finishscan"
    p = subprocess.run(
        [
            str(fs),
            "evaluate",
            "--model",
            str(m),
            "--data",
            str(data),
            "--json",
            str(tmp_path / "e.json"),
            "--plots",
            str(tmp_path / "plots"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    doc = json.loads((tmp_path / "e.json").read_text())
    assert set(doc) >= {"map50", "map50_95", "precision", "recall", "per_class", "images", "model"}
    assert doc["images"] == 4 and set(doc["per_class"]) == {
        "crack",
        "hollow_tile",
        "tile_chip",
        "paint_peeling",
        "paint_bubble",
        "stain",
    }
    assert doc["model"]["name"] == "e"
    for png in ("PR_curve.png", "confusion_matrix.png", "F1_curve.png"):
        assert (tmp_path / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run(
        [str(fs), "evaluate", "--model", str(tmp_path / "missing.onnx"), "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        bad.returncode == 1
        and "model file not found" in bad.stderr
        and "Traceback" not in bad.stderr
    )


def test_select_from_images_runs_whole_and_tiled(tiny_run, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from training.export import export_onnx

    data, best = tiny_run
    m = export_onnx(best, tmp_path / "s.onnx")
    fs = Path(sys.executable).parent / "finishscan"
    images = data.parent / "images" / "val"
    out = tmp_path / "tasks.json"
    p = subprocess.run(
        [
            str(fs),
            "select",
            "--images",
            str(images),
            "--model",
            str(m),
            "--n",
            "3",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    tasks = json.loads(out.read_text())
    assert len(tasks) == 3
    for t in tasks:
        assert (
            t["data"]["image"].startswith("/data/local-files/?d=")
            and "/" not in t["data"]["image"].split("?d=")[1]
        )
        assert set(t["data"]["selection"]) == {"score", "uncertainty", "disagreement", "rarity"}
        assert "predictions" in t


def test_strip_weights_takes_string_paths(tiny_run, tmp_path):
    """models/build-default.sh calls strip_weights with strings: the stripped copy must load
    and predict as the checkpoint it came from (same weights, no optimizer)."""
    import torch

    from training.train import strip_weights

    _, best = tiny_run
    out = strip_weights(str(best), str(tmp_path / "sub" / "m.pt"))
    assert out == tmp_path / "sub" / "m.pt" and out.is_file()
    src = torch.load(best, map_location="cpu", weights_only=False)
    dst = torch.load(out, map_location="cpu", weights_only=False)
    assert dst["optimizer"] is None
    a, b = src["ema"] or src["model"], dst["model"]
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.allclose(va.float(), vb.float(), atol=1e-3)
