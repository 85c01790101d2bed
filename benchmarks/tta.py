"""Test-time flips: does averaging the model over mirrored copies of a photo find more defects?

    python benchmarks/tta.py --model models/finishscan-yolo26n-320.onnx \\
        --data HELDOUT/data.yaml [--split all] [--section tta] [--no-write]

Each image is letterboxed as ``Detector`` does it and run through the ONNX model as it is,
mirrored left-right and mirrored top-bottom (one ``session.run`` each). A variant concatenates
the raw anchor rows of its views, each mapped back into the unmirrored image (the centre's x or
y reflected), and decodes them together with the detector's own class-aware NMS at evaluate's
conf 0.001 and IoU 0.7: ultralytics' ``augment=True`` merges its views the same way. mAP as
``finishscan evaluate`` computes it (:func:`training.evaluate.accumulate`). The cost column is
the model runs per image. Writes the table to ``--section`` of ``benchmarks/RESULTS.md`` unless
``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import ap50_cells, write_section  # noqa: E402
from detector import Detections, Detector, load_image  # noqa: E402
from detector.geometry import decode_classic, letterbox_params, scale_boxes  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import EVAL_CONF, EVAL_IOU, accumulate, record  # noqa: E402

# variant -> the views it merges ("": as is, "lr": mirrored left-right, "ud": top-bottom)
VARIANTS = {"none": ("",), "lr": ("", "lr"), "ud": ("", "ud"), "lr + ud": ("", "lr", "ud")}


def views(det: Detector, rgb: np.ndarray) -> tuple[dict[str, np.ndarray], tuple[int, int]]:
    """The model's raw (4+nc, N) output for each view, boxes in the unmirrored input's pixels,
    and the letterboxed input's (h, w)."""
    p = letterbox_params(rgb.shape[:2], det.imgsz, auto=det.rect, stride=det.stride)
    blob = det.blob([rgb], [p])
    h, w = blob.shape[2:]
    out = {}
    for name, x in (("", blob), ("lr", blob[..., ::-1]), ("ud", blob[..., ::-1, :])):
        (o,) = det.session.run([det.output_name], {det.input_name: np.ascontiguousarray(x)})
        o = o[0].copy()
        if name == "lr":
            o[0] = w - o[0]  # centre x
        elif name == "ud":
            o[1] = h - o[1]  # centre y
        out[name] = o
    return out, (h, w)


def merged(det: Detector, outs: dict[str, np.ndarray], keys: tuple[str, ...]) -> Detections:
    return decode_classic(
        np.concatenate([outs[k] for k in keys], axis=1), conf=EVAL_CONF, iou=EVAL_IOU, max_det=300
    )


def measure(model: str, data: str, split: str) -> tuple[list[str], dict[str, dict], float, int]:
    det = Detector(model, threads=1, conf=EVAL_CONF, iou=EVAL_IOU)
    if det.end2end:
        sys.exit(f"{model} is an end-to-end model: its output has no anchor rows to merge")
    spec = read_data_yaml(data)
    records: dict[str, list] = {v: [] for v in VARIANTS}
    images = spec.images(split)
    t0 = time.perf_counter()
    for path in images:
        rgb = load_image(path)
        outs, input_hw = views(det, rgb)
        tc, tb = load_labels(path, (rgb.shape[1], rgb.shape[0]))
        for v, keys in VARIANTS.items():
            d = merged(det, outs, keys)
            d = Detections(scale_boxes(d.xyxy, input_hw, rgb.shape[:2]), d.confidence, d.class_id)
            records[v].append(record(d, tb, tc))
    seconds = time.perf_counter() - t0
    results = {v: accumulate(r, len(det.names))[0] for v, r in records.items()}
    return list(det.names), results, seconds, len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="all")
    ap.add_argument("--section", default="tta")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    names, results, seconds, n = measure(a.model, a.data, a.split)
    lines = [
        f"`python benchmarks/tta.py --model {a.model} --data {a.data} --split {a.split}`: "
        f"{n} images, {seconds / n:.3f} s per image for all three views.",
        "",
        "| views | model runs per image | mAP50 | mAP50-95 | "
        + " | ".join(f"{c} AP50" for c in names)
        + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    base = results["none"]
    for v, keys in VARIANTS.items():
        m = results[v]
        gain = "" if v == "none" else f" ({m.map50 - base.map50:+.3f})"
        per_class = ap50_cells(m, len(names))
        lines.append(
            f"| {v} | {len(keys)} | {m.map50:.3f}{gain} | {m.map50_95:.3f} | {per_class} |"
        )
    md = "\n".join(lines)
    print(md)
    if a.write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
