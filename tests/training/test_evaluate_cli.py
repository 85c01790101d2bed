"""``finishscan evaluate`` prints the by-size breakdown of its JSON as a table."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detector.types import Detections
from serving.cli import app


def _rows(stdout: str) -> dict[str, list[str]]:
    """``{bucket: [px, labels, AP50, recall, false pos.]}`` from the printed table."""
    out = {}
    for line in stdout.splitlines():
        fields = line.split()
        if fields and fields[0] in ("small", "medium", "large"):
            out[fields[0]] = fields[1:]
    return out


def test_evaluate_prints_ap50_recall_and_false_positives_per_size(tmp_path, fake_detector):
    for split in ("images", "labels"):
        (tmp_path / split / "val").mkdir(parents=True)
    # a: 640-px photo at half scale; its 80-px stain is 40 model px (medium), found at 0.9;
    #    a 400-px crack box (200 model px, large) matches nothing: a false positive at 0.95
    # b: 320-px photo; its 12-px crack (small) is missed; a 10-px stain box at 0.3 matches
    #    nothing but is under the max-F1 confidence, so it counts as no false positive
    for name, size, line in (
        ("a", 640, "1 0.5 0.5 0.125 0.125"),
        ("b", 320, "0 0.5 0.5 0.0375 0.0375"),
    ):
        cv2.imwrite(
            str(tmp_path / "images" / "val" / f"{name}.png"), np.zeros((size, size, 3), np.uint8)
        )
        (tmp_path / "labels" / "val" / f"{name}.txt").write_text(line + "\n")
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: [crack, stain]\n")
    fake_detector.queue = [
        Detections(
            np.array([[280, 280, 360, 360], [0, 0, 400, 400]]),
            np.array([0.9, 0.95]),
            np.array([1, 0]),
        ),
        Detections(np.array([[20, 20, 30, 30]]), np.array([0.3]), np.array([1])),
    ]
    out = tmp_path / "e.json"
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            "fake.onnx",
            "--data",
            str(tmp_path / "data.yaml"),
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    by = json.loads(out.read_text())["by_size"]
    assert 0.3 < by["conf_threshold"] <= 0.9
    assert f"by size (model-input px, at conf {by['conf_threshold']:.3f})" in r.stdout
    assert _rows(r.stdout) == {
        "small": ["0-16", "1", "0.000", "0.000", "0"],
        "medium": ["16-48", "1", "0.995", "1.000", "0"],
        "large": [">=48", "0", "-", "-", "1"],
    }
    # the headline lines are still there, above the table
    assert r.stdout.index("2 images  mAP50") < r.stdout.index("by size")


@pytest.mark.train
@pytest.mark.slow
def test_evaluate_table_of_a_trained_model_matches_its_json(tiny_run, tmp_path):
    from training.export import export_onnx

    data, best = tiny_run
    m = export_onnx(best, tmp_path / "e.onnx")
    out = tmp_path / "e.json"
    r = CliRunner().invoke(
        app, ["evaluate", "--model", str(m), "--data", str(data), "--json", str(out)]
    )
    assert r.exit_code == 0, r.output
    by = json.loads(out.read_text())["by_size"]

    def num(v):
        return "-" if v is None else f"{v:.3f}"

    rows = _rows(r.stdout)
    assert set(rows) == {"small", "medium", "large"}
    for name, (px, labels, ap50, recall, fp) in rows.items():
        b = by[name]
        assert (labels, ap50, recall, fp) == (
            str(b["labels"]),
            num(b["map50"]),
            num(b["recall"]),
            str(b["false_positives"]),
        )
        lo = by["buckets_px"][name][0]
        assert re.match(rf"(>=)?{lo:g}", px)
    assert sum(int(row[1]) for row in rows.values()) > 0


def test_evaluate_tta_reads_the_model_mirrored_and_the_against_model_as_is(tmp_path, default_model):
    from datasets.synthetic import write_dataset
    from training.evaluate import evaluate_model

    write_dataset(tmp_path / "synth", 6, seed=4, imgsz=320, workers=1)
    data = tmp_path / "synth" / "data.yaml"
    out = tmp_path / "e.json"
    args = ["--data", str(data), "--split", "all", "--json", str(out)]
    r = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(default_model), "--tta", "--against", str(default_model)]
        + args,
    )
    assert r.exit_code == 0, r.output + str(r.exception)
    doc = json.loads(out.read_text())
    flipped = evaluate_model(default_model, data, split="all", tta=True).to_dict()
    as_is = evaluate_model(default_model, data, split="all").to_dict()
    assert doc["tta"] is True and doc["model"]["version"].endswith("+flip")
    assert doc["map50_95"] == flipped["map50_95"] and doc["recall"] == flipped["recall"]
    assert doc["against"]["model"]["version"] == as_is["model"]["version"]
    assert doc["against"]["map50"] == as_is["map50"]
    assert flipped["map50_95"] != as_is["map50_95"]  # the flips changed what was found
