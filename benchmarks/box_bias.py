"""Are the model's boxes the size of its labels? Per-class size bias, and what removing it is worth.

    python benchmarks/box_bias.py --model models/finishscan-yolo26n-320.onnx \\
        --fit SET_A/data.yaml --data SET_B/data.yaml [--split all] [--section box_bias]

Each label is paired with the same-class box (at the model's own per-class thresholds) of the
highest IoU, when that IoU is >= 0.2. For each class: the median log ratio of the box's width
and height to the label's (log 0.1 = 10.5 % larger), the median IoU, and the share of pairs
below IoU 0.5 (a found defect that counts as a miss and a false alarm). Then the per-class
median log ratios measured on ``--fit`` are taken off every box of ``--data`` (at evaluate's conf
0.001 and IoU 0.7), each side moved in except a side on the photo's edge (labels are clipped
there too), and ``--data`` is scored as ``finishscan evaluate`` scores it, with and without the
correction. Fitting on one set and scoring on another keeps the correction honest. Writes
``--section`` of ``benchmarks/RESULTS.md`` unless ``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import ap50_cells, write_section  # noqa: E402
from detector import Detections, Detector, load_image  # noqa: E402
from detector.geometry import box_iou  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import EVAL_CONF, EVAL_IOU, accumulate, record  # noqa: E402

MIN_PAIR_IOU = 0.2
EDGE = 1.0  # px: a box side this close to the photo's edge stays where it is


def pairs(
    dets: Detections, tb: np.ndarray, tc: np.ndarray
) -> list[tuple[int, float, float, float]]:
    """(class, IoU, log width ratio, log height ratio) of each label and its best same-class box."""
    out = []
    for c in np.unique(tc):
        labels, boxes = tb[tc == c], dets.xyxy[dets.class_id == c]
        if not len(boxes):
            continue
        iou = box_iou(labels, boxes)
        for i, j in enumerate(iou.argmax(1)):
            if iou[i, j] < MIN_PAIR_IOU:
                continue
            t, b = labels[i], boxes[j]
            lw = np.log((b[2] - b[0]) / max(t[2] - t[0], 1e-6))
            lh = np.log((b[3] - b[1]) / max(t[3] - t[1], 1e-6))
            out.append((int(c), float(iou[i, j]), float(lw), float(lh)))
    return out


def shrink(
    dets: Detections, bias: dict[int, tuple[float, float]], hw: tuple[int, int]
) -> Detections:
    """Boxes made ``exp(-bias)`` as wide and high, the change split between the sides that are
    not on the photo's edge."""
    b = dets.xyxy.astype(np.float64)
    h, w = hw
    for k, c in enumerate(dets.class_id):
        lw, lh = bias.get(int(c), (0.0, 0.0))
        for lo, hi, size, d in ((0, 2, w, lw), (1, 3, h, lh)):
            cut = (b[k, hi] - b[k, lo]) * (1 - np.exp(-d))
            free_lo, free_hi = b[k, lo] > EDGE, b[k, hi] < size - EDGE
            if free_lo and free_hi:
                b[k, lo] += cut / 2
                b[k, hi] -= cut / 2
            elif free_lo:
                b[k, lo] += cut
            elif free_hi:
                b[k, hi] -= cut
    return Detections(b.astype(np.float32), dets.confidence, dets.class_id)


def class_bias(rows: list[tuple[int, float, float, float]], nc: int) -> dict[int, dict]:
    r = np.array(rows, dtype=np.float64).reshape(-1, 4)
    out = {}
    for c in range(nc):
        m = r[r[:, 0] == c]
        if len(m):
            out[c] = {
                "pairs": len(m),
                "iou": float(np.median(m[:, 1])),
                "below_half": float(np.mean(m[:, 1] < 0.5)),
                "lw": float(np.median(m[:, 2])),
                "lh": float(np.median(m[:, 3])),
            }
    return out


def measure(model: str, data: str, split: str, bias: dict[int, tuple[float, float]] | None):
    """Pairs at the model's thresholds; records as evaluate makes them, raw and corrected.

    One detection per image at evaluate's conf: the boxes above the model's own per-class
    thresholds are the ones it reports (same NMS IoU; NMS only lets a higher score suppress)."""
    ev = Detector(model, threads=1, conf=EVAL_CONF, iou=EVAL_IOU)
    op_conf = Detector(model, threads=1).class_conf
    rows: list = []
    raw, fixed = [], []
    for path in read_data_yaml(data).images(split):
        rgb = load_image(path)
        hw = rgb.shape[:2]
        tc, tb = load_labels(path, (hw[1], hw[0]))
        d = ev(rgb)
        rows += pairs(d[d.confidence > op_conf[d.class_id]], tb, tc)
        if bias is not None:
            raw.append(record(d, tb, tc))
            fixed.append(record(shrink(d, bias, hw), tb, tc))
    return list(ev.names), rows, raw, fixed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--fit", required=True, help="data YAML the correction is measured on")
    ap.add_argument("--data", required=True, help="data YAML it is scored on")
    ap.add_argument("--split", default="all")
    ap.add_argument("--section", default="box_bias")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()

    names, fit_rows, _, _ = measure(a.model, a.fit, a.split, None)
    fit = class_bias(fit_rows, len(names))
    bias = {c: (v["lw"], v["lh"]) for c, v in fit.items()}
    _, rows, raw, fixed = measure(a.model, a.data, a.split, bias)
    held = class_bias(rows, len(names))

    lines = [
        f"Model `{a.model}`; fit on `{a.fit}`, scored on `{a.data}` (split {a.split!r}).",
        "",
        "Boxes at the model's own per-class thresholds paired with labels (IoU >= "
        f"{MIN_PAIR_IOU}); log w / log h: median log(box / label) of width and height.",
        "",
        "| class | set | pairs | median IoU | IoU < 0.5 | log w | log h |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, name in enumerate(names):
        for label, table in (("fit", fit), ("scored", held)):
            if c in table:
                v = table[c]
                lines.append(
                    f"| {name} | {label} | {v['pairs']} | {v['iou']:.2f} | {v['below_half']:.2f} "
                    f"| {v['lw']:+.3f} | {v['lh']:+.3f} |"
                )
    before, _ = accumulate(raw, len(names))
    after, _ = accumulate(fixed, len(names))
    lines += [
        "",
        "The fit set's medians taken off every box of the scored set (evaluate's conf and IoU):",
        "",
        "| boxes | mAP50 | mAP50-95 | " + " | ".join(f"{n} AP50" for n in names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for label, m in (("as the model makes them", before), ("corrected", after)):
        lines.append(
            f"| {label} | {m.map50:.3f} | {m.map50_95:.3f} | {ap50_cells(m, len(names))} |"
        )
    md = "\n".join(lines)
    print(md)
    if a.write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
