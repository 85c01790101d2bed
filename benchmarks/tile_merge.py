"""Tiled detection on whole photos: the cross-border merge and its variants, per class.

    finishscan dataset synth --out R640 --n 300 --seed 777 --workers 2
    python benchmarks/tile_merge.py --model models/finishscan-yolo26n-320.onnx \\
        --data R640/data.yaml [--data R640-778/data.yaml ...] [--cache DIR] [--section NAME]

Each photo is run ONCE through the shipped detector as ``detect(tile="on")`` runs it (the whole
photo plus the ``slice_grid`` slices, :func:`detector.tiling.detect_slices` with ``Detector.batch``
at evaluate's conf 0.001 and NMS IoU 0.7); the per-slice boxes are kept (``--cache``: one pickle
per data set), so each merge variant below costs only the merge. Variants: the shipped merge
(:func:`detector.tiling.merge_slices`), the merge before session 18 (the whole-photo pass's views
also widen a slice's box, cut tolerance 1 px) and each of its two changes alone, slices without
the whole-photo pass, the whole-photo pass alone (what ``tile="off"`` gives for a square photo),
a looser cut tolerance (``CUT_TOL``: how close to its slice's border a box must end to count as
cut there) and a looser agreement IoU. mAP50 as ``finishscan evaluate`` computes it
(:func:`training.evaluate.accumulate`); with more than one ``--data`` also on all photos together,
with a paired bootstrap over photos of each variant against the merge before session 18
(:func:`training.evaluate.bootstrap_ci` with ``against``). Writes the tables to the ``--section``
of ``benchmarks/RESULTS.md`` unless ``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import detector.tiling as tiling  # noqa: E402
from benchmarks._results import write_section  # noqa: E402
from detector import Detections, Detector, load_image  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import (  # noqa: E402
    EVAL_CONF,
    EVAL_IOU,
    accumulate,
    bootstrap_ci,
    record,
)

# (parts per slice with the whole photo first, regions, label boxes, label classes)
Photo = tuple[list[Detections], np.ndarray, np.ndarray, np.ndarray]
Merge = Callable[[list[Detections], np.ndarray], Detections]


def slice_parts(model: str, data: str, split: str, cache: Path | None) -> list[Photo]:
    """Every photo's boxes per slice (photo pixels), as ``Detector.detect(tile="on")`` makes them
    before it merges (:func:`detector.tiling.detect_slices`)."""
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - our own cache
    det = Detector(model, threads=1, conf=EVAL_CONF, iou=EVAL_IOU)
    photos: list[Photo] = []
    for path in read_data_yaml(data).images(split):
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        parts, regions = tiling.detect_slices(rgb, det.batch, det.imgsz, overlap=det.tile_overlap)
        tc, tb = load_labels(path, (w, h))
        photos.append((parts, regions, tb, tc))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as f:
            pickle.dump(photos, f)
    return photos


@contextmanager
def cut_tol(px: float) -> Iterator[None]:
    old, tiling.CUT_TOL = tiling.CUT_TOL, px
    try:
        yield
    finally:
        tiling.CUT_TOL = old


NOWHERE = np.array([np.inf, np.inf, -np.inf, -np.inf])  # a region that contains none


@contextmanager
def whole_widens() -> Iterator[None]:
    """The merge before session 18 in this respect: a view from the whole-photo pass also widens
    a slice's box (the cut test is told the view's region contains nothing)."""
    shipped = tiling._reaches_past_cut

    def reaches(
        box: np.ndarray, region: np.ndarray, other: np.ndarray, other_region: np.ndarray
    ) -> bool:
        return shipped(box, region, other, NOWHERE)  # as if other_region contained nothing

    tiling._reaches_past_cut = reaches
    try:
        yield
    finally:
        tiling._reaches_past_cut = shipped


BEFORE = "before session 18 (whole-pass views widen, cut tolerance 1 px)"


def variants() -> dict[str, Callable[[list[Photo]], list]]:
    def run(
        merge: Merge, tol: float | None = None, widen: bool = False
    ) -> Callable[[list[Photo]], list]:
        def records(photos: list[Photo]) -> list:
            with (
                cut_tol(tiling.CUT_TOL if tol is None else tol),
                whole_widens() if widen else nullcontext(),
            ):
                return [record(merge(p, r), tb, tc) for p, r, tb, tc in photos]

        return records

    shipped = tiling.merge_slices
    return {
        "shipped merge (whole photo + slices)": run(shipped),
        BEFORE: run(shipped, 1.0, widen=True),
        "whole-pass views widen (cut tolerance as shipped)": run(shipped, widen=True),
        "cut tolerance 1 px (whole-pass views do not widen)": run(shipped, 1.0),
        "cut tolerance 8 px": run(shipped, 8.0),
        "agreement IoU 0.3": run(lambda p, r: shipped(p, r, iou=0.3)),
        "slices only": run(lambda p, r: shipped(p[1:], r[1:])),
        "whole photo only (tile=off)": run(lambda p, r: p[0]),
    }


def table(photos: list[Photo], names: list[str], paired: bool = False) -> str:
    """mAP50, mAP50-95 and AP50 per class of each variant; with ``paired`` also each variant's
    mAP50 and crack AP50 against :data:`BEFORE` with their paired 95 % intervals."""
    head = "| merge | mAP50 | mAP50-95 | " + " | ".join(names) + " |"
    if paired:
        head += " mAP50 vs before | crack vs before |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    runs = {label: records(photos) for label, records in variants().items()}
    crack = names.index("crack")
    base, _ = accumulate(runs[BEFORE], len(names))
    base_crack = dict(zip(base.classes.tolist(), base.ap50.tolist(), strict=True))[crack]
    for label, recs in runs.items():
        m, _ = accumulate(recs, len(names))
        ap = dict(zip(m.classes.tolist(), m.ap50.tolist(), strict=True))
        cells = [f"{ap[c]:.3f}" if c in ap else "-" for c in range(len(names))]
        row = f"| {label} | {m.map50:.3f} | {m.ap.mean():.3f} | " + " | ".join(cells) + " |"
        if paired and label != BEFORE:
            ci = bootstrap_ci(recs, names, against=runs[BEFORE])
            lo, hi = ci["map50"]
            clo, chi = ci["per_class_ap50"]["crack"]
            row += (
                f" {m.map50 - base.map50:+.3f} ({lo:+.3f} to {hi:+.3f}) |"
                f" {ap[crack] - base_crack:+.3f} ({clo:+.3f} to {chi:+.3f}) |"
            )
        elif paired:
            row += " | |"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/finishscan-yolo26n-320.onnx")
    ap.add_argument("--data", action="append", required=True, help="renders' data.yaml (repeat)")
    ap.add_argument("--split", default="all")
    ap.add_argument("--cache", type=Path, help="folder for the per-slice boxes")
    ap.add_argument("--section", default="tile_merge_variants")
    ap.add_argument("--notes", type=Path, help="markdown appended to the section")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    names = list(Detector(a.model).names)
    out = [
        f"Model `{Path(a.model).name}`; each photo's slices detected once (whole photo + "
        f"`slice_grid` slices of the model's input, overlap 0.2), merged by each variant; "
        f"mAP as `finishscan evaluate --tile on` computes it.\n"
        f"`python benchmarks/tile_merge.py --model {a.model} "
        + " ".join(f"--data {d}" for d in a.data)
        + "`"
    ]
    pooled: list[Photo] = []
    for i, data in enumerate(a.data):
        cache = a.cache / f"{Path(a.model).stem}-{i}.pkl" if a.cache else None
        photos = slice_parts(a.model, data, a.split, cache)
        n = sum(len(tc) for *_, tc in photos)
        out.append(f"\n### `{data}` ({len(photos)} photos, {n} labels)\n\n{table(photos, names)}")
        print(out[-1], flush=True)
        pooled += photos
    if len(a.data) > 1:
        n = sum(len(tc) for *_, tc in pooled)
        out.append(
            f"\n### all {len(a.data)} sets ({len(pooled)} photos, {n} labels; paired 95 % "
            f"intervals over photos, 200 resamples)\n\n{table(pooled, names, paired=True)}"
        )
        print(out[-1], flush=True)
    if a.notes:
        out.append("\n" + a.notes.read_text())
    if not a.no_write:
        write_section(a.section, "\n".join(out))


if __name__ == "__main__":
    main()
