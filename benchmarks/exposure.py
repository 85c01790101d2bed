"""How much the model loses on under- and over-exposed photos, and what ``photo_quality`` says of them.

    python benchmarks/exposure.py --model models/finishscan-yolo26n-320.onnx \\
        --data T320/data.yaml [--split all] [--tile off|on|auto] [--factors 0.05,...,4] \\
        [--section exposure] [--no-write]

Each labelled image is re-exposed in linear light (sRGB decoded with gamma 2.2, multiplied by
the factor, encoded again and clipped at 255: a factor of 0.25 is two stops under, 4 two stops
over) and run through the shipped detector as ``finishscan evaluate`` does
(:func:`training.evaluate.evaluate_model`'s conf and IoU, one thread). Per factor: the images'
median luma and blown-out share as :func:`detector.quality.photo_quality` measures them (each
tile's, for tiles), the share of images it warns about, mAP50 and each class's AP50, with a
paired bootstrap interval (over photos, a photo's tiles drawn together, 200 resamples) of the
change against the images as rendered (factor 1). The generator's camera auto-exposes (its
99.5th percentile near white; 1 photo in 10 a dim, noisy room) and training adds +-25 %
brightness and gamma jitter, so the model has seen factors near 1. Real dark photos are also
noisier and blurrier (higher ISO, longer exposure) than a scaled render: the losses measured
here are the least to expect. Needs no torch.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from detector import Detector, load_image  # noqa: E402
from detector.quality import photo_quality  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import (  # noqa: E402
    EVAL_CONF,
    EVAL_IOU,
    accumulate,
    bootstrap_ci,
    photo_groups,
    record,
)

FACTORS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 1.5, 2.0, 3.0, 4.0)


def expose(rgb: np.ndarray, factor: float) -> np.ndarray:
    """``rgb`` (uint8) with its exposure multiplied by ``factor`` in linear light (gamma 2.2)."""
    if factor == 1.0:
        return rgb
    lin = (rgb.astype(np.float32) / 255.0) ** 2.2 * factor
    return np.clip(np.round(np.clip(lin, 0, 1) ** (1 / 2.2) * 255), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/finishscan-yolo26n-320.onnx")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--split", default="all")
    ap.add_argument("--tile", default="off", choices=["auto", "on", "off"])
    ap.add_argument("--factors", default=",".join(str(f) for f in FACTORS))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--section", default="exposure")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    factors = [float(f) for f in args.factors.split(",")]
    if 1.0 not in factors:
        factors.append(1.0)
    det = Detector(args.model, threads=1, conf=EVAL_CONF, iou=EVAL_IOU)
    names = list(det.names)
    images = read_data_yaml(args.data).images(args.split)[: args.limit]
    records: dict[float, list] = {f: [] for f in factors}
    stats: dict[float, list] = {f: [] for f in factors}
    for i, path in enumerate(images):
        rgb = load_image(path)
        labels = load_labels(path, (rgb.shape[1], rgb.shape[0]))
        for f in factors:
            im = expose(rgb, f)
            stats[f].append(photo_quality(im))
            records[f].append(record(det.detect(im, tile=args.tile), labels[1], labels[0]))
        if (i + 1) % 50 == 0:
            print(f"{i + 1}/{len(images)}", file=sys.stderr, flush=True)

    base = records[1.0]
    base_map50 = accumulate(base, len(names))[0].map50
    groups = photo_groups(images)  # a tile's photo: tiles of one photo are drawn together
    head = " | ".join(names)
    lines = [
        f"`python benchmarks/exposure.py --model {args.model} --data {args.data} --split "
        f"{args.split} --tile {args.tile}`: {len(images)} images, model "
        f"{det.info.name} {det.info.version}; each image re-exposed in linear light "
        "(gamma 2.2) by the factor; AP50 through the shipped detector as `evaluate` runs it; "
        "change against factor 1 with a paired 95 % interval over photos (200 resamples); "
        "luma as `photo_quality` measures it (median over images, and the share of images "
        "it warns `dark` / `overexposed` at the current thresholds).",
        "",
        f"| factor (stops) | median luma | blown-out share | warned dark / overexposed | "
        f"mAP50 | change (interval) | {head} |",
        "| --- " * (6 + len(names)) + "|",
    ]
    for f in sorted(factors):
        m, _ = accumulate(records[f], len(names))
        q = stats[f]
        luma = float(np.median([s.median_luma for s in q]))
        blown = float(np.median([s.clipped_share for s in q]))
        dark = np.mean(["dark" in s.warnings for s in q])
        over = np.mean(["overexposed" in s.warnings for s in q])
        if f == 1.0:
            change = "-"
        else:
            low, high = bootstrap_ci(records[f], names, against=base, resamples=200, groups=groups)[
                "map50"
            ]
            change = f"{m.map50 - base_map50:+.3f} ({low:+.3f} to {high:+.3f})"
        ap = dict(zip(m.classes.tolist(), m.ap50.tolist(), strict=True))
        per = " | ".join(f"{ap[c]:.3f}" if c in ap else "-" for c in range(len(names)))
        stops = np.log2(f)
        lines.append(
            f"| {f:g} ({stops:+.1f}) | {luma:.0f} | {blown:.3f} | {dark:.0%} / {over:.0%} | "
            f"{m.map50:.3f} | {change} | {per} |"
        )
    out = "\n".join(lines)
    print(out)
    if not args.no_write:
        write_section(args.section, out)


if __name__ == "__main__":
    main()
