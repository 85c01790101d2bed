"""Flip test-time augmentation as ``detect --tta`` runs it: what it finds, per class, and its cost.

    python benchmarks/tta_fused.py --model models/finishscan-yolo26n-320.onnx \\
        --data HELDOUT/data.yaml [--data OTHER/data.yaml ...] [--split all] [--tile off|on] \\
        [--section tta_fused] [--no-write]

Each data set is measured twice by ``finishscan evaluate``'s own code
(:func:`training.evaluate.evaluate_model`, one ONNX Runtime thread): the model as is and with
``tta=True`` (each image, or each slice with ``--tile on``, also read mirrored left-right and the
two views fused, :func:`detector.geometry.fuse_views`). Per set, and over all sets together when
there are several: mAP50, mAP50-95 and each class's AP50 of both, with paired bootstrap
intervals over photos of the difference (:func:`training.evaluate.bootstrap_ci` with
``against``); precision, recall and F1 at the model's own per-class thresholds (what ``detect``
reports by default; TTA halves the confidence of a box only one view found); and the seconds per
image of each, whose ratio is TTA's cost. Writes the tables to ``--section`` of
``benchmarks/RESULTS.md`` unless ``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from detector import Detector  # noqa: E402
from training.evaluate import (  # noqa: E402
    EvalResult,
    Record,
    _matched,
    _sorted,
    accumulate,
    bootstrap_ci,
    evaluate_model,
)


def operating_point(records: list[Record], thresholds: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 at IoU 0.5 of the boxes above each class's threshold."""
    tp = fp = labels = 0
    for pb, pconf, pc, tb, tc in records:
        keep = np.asarray(pconf) > thresholds[np.asarray(pc, int)]
        hit = _matched(
            _sorted((np.asarray(pb)[keep], np.asarray(pconf)[keep], np.asarray(pc)[keep], tb, tc))
        )[0]
        tp += int(hit[:, 0].sum())
        fp += int((~hit[:, 0]).sum())
        labels += len(tc)
    p, r = tp / max(tp + fp, 1), tp / max(labels, 1)
    return p, r, 2 * p * r / max(p + r, 1e-9)


def ci_cell(value: float, interval: list[float] | None) -> str:
    return f"{value:+.3f}" + (f" ({interval[0]:+.3f} to {interval[1]:+.3f})" if interval else "")


def table(
    title: str,
    plain: list[Record],
    flipped: list[Record],
    groups: list[str],
    names: list[str],
    thresholds: np.ndarray,
    resamples: int,
) -> list[str]:
    m0, _ = accumulate(plain, len(names))
    m1, _ = accumulate(flipped, len(names))
    ci = bootstrap_ci(flipped, names, resamples=resamples, against=plain, groups=groups)
    ap0 = dict(zip(m0.classes.tolist(), m0.ap50.tolist(), strict=True))
    ap1 = dict(zip(m1.classes.tolist(), m1.ap50.tolist(), strict=True))
    n_labels = sum(len(r[4]) for r in plain)
    lines = [
        f"**{title}** ({len(plain)} images, {n_labels} labels; TTA minus as is, paired 95 % "
        f"interval over photos, {resamples} resamples)",
        "",
        "| | as is | TTA | difference |",
        "|---|---|---|---|",
        f"| mAP50 | {m0.map50:.3f} | {m1.map50:.3f} | {ci_cell(m1.map50 - m0.map50, ci['map50'])} |",
        f"| mAP50-95 | {m0.map50_95:.3f} | {m1.map50_95:.3f} | "
        f"{ci_cell(m1.map50_95 - m0.map50_95, ci['map50_95'])} |",
    ]
    for c, name in enumerate(names):
        if c in ap0:
            diff = ci_cell(ap1[c] - ap0[c], ci["per_class_ap50"][name])
            lines.append(f"| {name} AP50 | {ap0[c]:.3f} | {ap1[c]:.3f} | {diff} |")
    (p0, r0, f0), (p1, r1, f1) = (
        operating_point(plain, thresholds),
        operating_point(flipped, thresholds),
    )
    lines += [
        f"| P / R / F1 at the model's thresholds | {p0:.3f} / {r0:.3f} / {f0:.3f} | "
        f"{p1:.3f} / {r1:.3f} / {f1:.3f} | F1 {f1 - f0:+.3f} |",
        "",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, action="append")
    ap.add_argument("--split", default="all")
    ap.add_argument("--tile", default="off", choices=["off", "on", "auto"])
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--section", default="tta_fused")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    det = Detector(a.model, threads=1)
    thresholds = det.class_conf  # the per-class thresholds `detect` uses by default
    runs: list[tuple[str, EvalResult, EvalResult]] = []
    for data in a.data:
        plain = evaluate_model(a.model, data, split=a.split, tile=a.tile, threads=1)
        flipped = evaluate_model(a.model, data, split=a.split, tile=a.tile, threads=1, tta=True)
        runs.append((data, plain, flipped))
    names = runs[0][1].names
    command = " ".join(
        ["python benchmarks/tta_fused.py", f"--model {a.model}"]
        + [f"--data {d}" for d in a.data]
        + [f"--split {a.split}", f"--tile {a.tile}"]
    )
    secs0 = sum(p.seconds_per_image * p.images for _, p, _ in runs)
    secs1 = sum(f.seconds_per_image * f.images for _, _, f in runs)
    lines = [
        f"`{command}` (model version {det.info.version}).",
        "",
        f"Time: {secs0 / sum(p.images for _, p, _ in runs):.3f} s per image as is, "
        f"{secs1 / sum(f.images for _, _, f in runs):.3f} s with TTA: {secs1 / secs0:.2f}x "
        "(one ONNX Runtime thread, decoding, fusion and scoring included).",
        "",
    ]
    for data, plain, flipped in runs:
        lines += table(
            data, plain.records, flipped.records, plain.groups, names, thresholds, a.resamples
        )
    if len(runs) > 1:
        lines += table(
            "all sets together",
            [r for _, p, _ in runs for r in p.records],
            [r for _, _, f in runs for r in f.records],
            [f"{k}:{g}" for k, (_, p, _) in enumerate(runs) for g in p.groups],
            names,
            thresholds,
            a.resamples,
        )
    md = "\n".join(lines)
    print(md)
    if a.write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
