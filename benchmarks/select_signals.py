"""Which of ``finishscan select``'s signals finds the photos the model gets wrong.

    python benchmarks/select_signals.py --model models/finishscan-yolo26n-320.onnx \\
        --data HELDOUT/data.yaml [--data OTHER/data.yaml ...] [--section select_signals] [--no-write]

Active learning asks for labels where the model errs. On labelled held-out photos (whole
renders, so that tiling matters as on real photos) this runs ``select --images``'s pool
(:func:`training.select.detect_pool` with ``flips=True``: whole, tiled, and tiled on the mirror
image), counts each photo's errors -- false positives plus missed defects of the tiled run at the
model's own per-class thresholds (what ``detect`` and ``scan`` report), same label and IoU >= 0.5
-- and ranks the photos by each signal of :func:`training.select.score_records` alone and by
the combined scores with and without flips, at the model's per-class thresholds (``select``'s
default) and at 0.25 for every class (its default before). For the top 10/20/30 % of the photos it reports the
share of all errors they hold (a random pick holds about 10/20/30 %, the errors themselves give
the ceiling), with paired bootstrap intervals over photos for the combined score with flips
minus without and for the model's thresholds minus 0.25. Writes the table to ``--section`` of ``benchmarks/RESULTS.md`` unless
``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from datasets.formats import yolo  # noqa: E402
from detector import Detector  # noqa: E402
from training.select import Weights, detect_pool, matches, score_records  # noqa: E402

SHARES = (0.1, 0.2, 0.3)
# name: (weights, working threshold: "flat" 0.25 for every class or the model's "class" ones)
SIGNALS: dict[str, tuple[Weights, str]] = {
    "uncertainty alone, 0.25": (Weights(1, 0, 0, 0), "flat"),
    "uncertainty alone, class thresholds": (Weights(1, 0, 0, 0), "class"),
    "whole vs tiled alone": (Weights(0, 1, 0, 0), "class"),
    "rarity alone": (Weights(0, 0, 1, 0), "class"),
    "flips alone": (Weights(0, 0, 0, 1), "class"),
    "select without flips (1, 1, 0.5), 0.25": (Weights(1, 1, 0.5, 0), "flat"),
    "select without flips (1, 1, 0.5)": (Weights(1, 1, 0.5, 0), "class"),
    "select with flips (1, 1, 0.5, 1)": (Weights(1, 1, 0.5, 1), "class"),
}
# (label, ranking, the ranking it is compared with): paired bootstrap of the difference
PAIRS = [
    (
        "with flips minus without",
        "select with flips (1, 1, 0.5, 1)",
        "select without flips (1, 1, 0.5)",
    ),
    (
        "class thresholds minus 0.25",
        "select without flips (1, 1, 0.5)",
        "select without flips (1, 1, 0.5), 0.25",
    ),
    (
        "uncertainty: class thresholds minus 0.25",
        "uncertainty alone, class thresholds",
        "uncertainty alone, 0.25",
    ),
]


def photo_errors(records: list[dict], truth: dict[str, list[dict]], det: Detector) -> np.ndarray:
    """False positives + missed defects of each record's tiled run at the model's thresholds."""
    conf = det.class_thresholds
    out = []
    for r in records:
        pred = [d for d in r["tiled_defects"] if d["confidence"] >= conf[d["label"]]]
        gt = truth[r["image"]]
        out.append(len(pred) + len(gt) - 2 * matches(pred, gt))
    return np.array(out, np.float64)


def order(scores: np.ndarray, images: list[str]) -> np.ndarray:
    """Photo indices best first, ties by image path (as ``select_records``)."""
    return np.array(sorted(range(len(images)), key=lambda i: (-scores[i], images[i])))


def top_share(rank: np.ndarray, errors: np.ndarray, share: float) -> float:
    k = max(1, round(share * len(rank)))
    total = errors.sum()
    return float(errors[rank[:k]].sum() / total) if total else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, action="append")
    ap.add_argument("--resamples", type=int, default=500)
    ap.add_argument("--section", default="select_signals")
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()

    det = Detector(a.model)
    truth: dict[str, list[dict]] = {}
    paths: list[Path] = []
    for data in a.data:
        ds = yolo.load(Path(data))
        for im in ds.images:
            truth[str(im.path)] = [{"label": ds.names[b.class_id], "box": b.xyxy} for b in im.boxes]
            paths.append(im.path)
    start = time.perf_counter()
    records = detect_pool(paths, a.model, flips=True)
    seconds = time.perf_counter() - start
    records = [r for r in records if not r.get("error")]
    images = [r["image"] for r in records]
    errors = photo_errors(records, truth, det)

    thresholds = {"flat": 0.25, "class": det.class_thresholds}
    scores = {
        name: np.array(
            [s.score for s in score_records(records, weights=w, threshold=thresholds[kind])]
        )
        for name, (w, kind) in SIGNALS.items()
    }
    scores["the errors themselves (ceiling)"] = errors
    ranks = {name: order(s, images) for name, s in scores.items()}

    rng = np.random.default_rng(0)
    diffs: dict[tuple[str, float], list[float]] = {(p[0], s): [] for p in PAIRS for s in SHARES}
    for _ in range(a.resamples):
        idx = rng.integers(0, len(records), len(records))
        sub_images = [f"{images[i]}#{j}" for j, i in enumerate(idx)]
        e = errors[idx]
        sub = {name: order(scores[name][idx], sub_images) for p in PAIRS for name in p[1:]}
        for label, new, base in PAIRS:
            for share in SHARES:
                diffs[label, share].append(
                    top_share(sub[new], e, share) - top_share(sub[base], e, share)
                )

    head = "| ranked by | " + " | ".join(f"top {round(100 * s)} %" for s in SHARES) + " |"
    lines = [head, "|---|" + "---|" * len(SHARES)]
    lines.append("| random (expected) | " + " | ".join(f"{s:.3f}" for s in SHARES) + " |")
    for name, rank in ranks.items():
        cells = " | ".join(f"{top_share(rank, errors, s):.3f}" for s in SHARES)
        lines.append(f"| {name} | {cells} |")
    for label, new, base in PAIRS:
        ci = []
        for share in SHARES:
            point = top_share(ranks[new], errors, share) - top_share(ranks[base], errors, share)
            lo, hi = np.percentile(diffs[label, share], [2.5, 97.5])
            ci.append(f"{point:+.3f} ({lo:+.3f}, {hi:+.3f})")
        lines.append(f"| {label} (paired bootstrap 95 %) | " + " | ".join(ci) + " |")
    with_err = int((errors > 0).sum())
    cmd = " ".join(["python benchmarks/select_signals.py", f"--model {a.model}"])
    cmd += "".join(f" --data {d}" for d in a.data)
    md = "\n".join(
        [
            f"`{cmd}`",
            "",
            f"{len(records)} labelled photos, {int(errors.sum())} errors of the tiled run at the "
            f"model's per-class thresholds (false positives + misses, IoU 0.5) in {with_err} "
            f"of them. Share of all errors held by the photos each signal ranks first "
            f"({a.resamples} bootstrap resamples; the pool took {seconds / len(records):.2f} s "
            f"per photo for whole + tiled + mirrored tiled runs):",
            "",
            *lines,
        ]
    )
    print(md)
    if a.write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
