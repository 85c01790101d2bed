"""Per-class operating thresholds vs one global confidence, measured on a held-out set.

Thresholds are fitted by ``finishscan evaluate`` on one set (``--fit``) and stored in a copy of
the model the way ``finishscan export --data`` stores them (``training.export.operating_thresholds``);
precision / recall per class (IoU 0.5, greedy same-class matching) are then counted on another
set (``--test``) through the detector's own default (``conf=None``) and at explicit confs:

    python benchmarks/class_conf.py --model models/finishscan-yolo26n-320.onnx \\
        --fit /tmp/h6fitt/data.yaml --test /tmp/h6t/data.yaml --split all
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx

from detector import Detector, load_image
from training.data import load_labels, read_data_yaml
from training.evaluate import evaluate_model
from training.export import operating_thresholds
from training.metrics import box_iou, match_predictions


def counts(det: Detector, images: list[Path], nc: int) -> np.ndarray:
    """``(nc, 3)`` true positives, false positives, labels per class at IoU 0.5."""
    out = np.zeros((nc, 3), np.int64)
    for path in images:
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        d = det.detect(rgb, tile="off")
        tc, tb = load_labels(path, (w, h))
        order = np.argsort(-d.confidence, kind="stable")
        pc = d.class_id[order]
        tp = match_predictions(pc, tc, box_iou(tb, d.xyxy[order]), np.array([0.5]))[:, 0]
        np.add.at(out[:, 0], pc[tp], 1)
        np.add.at(out[:, 1], pc[~tp], 1)
        np.add.at(out[:, 2], np.asarray(tc, int), 1)
    return out


def table(name: str, c: np.ndarray, names: list[str]) -> list[str]:
    def prf(tp: int, fp: int, n: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / n if n else 0.0
        return p, r, 2 * p * r / (p + r) if p + r else 0.0

    rows = [f"{name}:"]
    for i, cls in enumerate(names):
        p, r, f = prf(*c[i])
        rows.append(f"  {cls:<14} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  (tp {c[i, 0]}, fp {c[i, 1]})")
    p, r, f = prf(*c.sum(0))
    rows.append(f"  {'micro':<14} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  (labels {c[:, 2].sum()})")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--fit", required=True, help="data YAML the thresholds are fitted on")
    ap.add_argument("--test", required=True, help="data YAML they are measured on")
    ap.add_argument("--split", default="all")
    a = ap.parse_args()

    fit = evaluate_model(a.model, a.fit, split=a.split, threads=1).to_dict()
    thresholds = operating_thresholds(fit)
    print(f"fit on {a.fit}: global max-F1 conf {fit['conf_threshold_max_f1']}")
    print("per-class (raw):", {c: v["conf_threshold_max_f1"] for c, v in fit["per_class"].items()})
    print("stored:", json.dumps(thresholds))
    images = read_data_yaml(a.test).images(a.split)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "m.onnx"
        shutil.copyfile(a.model, model)
        m = onnx.load(str(model))
        m.metadata_props.add(key="conf_thresholds", value=json.dumps(thresholds))
        onnx.save(m, str(model))
        runs = {
            "conf 0.25 (the old default)": Detector(model, threads=1, conf=0.25),
            f"global max-F1 conf {fit['conf_threshold_max_f1']}": Detector(
                model, threads=1, conf=fit["conf_threshold_max_f1"]
            ),
            "per-class (conf=None, the new default)": Detector(model, threads=1),
        }
        names = list(next(iter(runs.values())).names)
        lines = [f"{len(images)} images of {a.test}"]
        for title, det in runs.items():
            lines += table(title, counts(det, images, len(names)), names)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
