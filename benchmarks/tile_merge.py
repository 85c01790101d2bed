"""Tiled detection on whole photos: the cross-border merge and its variants, per class.

    finishscan dataset synth --out R640 --n 300 --seed 777 --workers 2
    python benchmarks/tile_merge.py --model models/finishscan-yolo26n-320.onnx \\
        --data R640/data.yaml [--data R640-778/data.yaml ...] [--cache DIR] [--section NAME]

Each photo is run ONCE through the shipped detector as ``detect(tile="on")`` runs it (the whole
photo plus the ``slice_grid`` slices, :func:`detector.tiling.detect_slices` with ``Detector.batch`` at evaluate's conf 0.001 and NMS
IoU 0.7); the per-slice boxes are kept (``--cache``: one pickle per data set), so each merge
variant below costs only the merge. Variants: the shipped merge
(:func:`detector.tiling.merge_slices`), slices without the whole-photo pass, the whole-photo pass
alone (what ``tile="off"`` gives for a square photo), a looser cut test (``CUT_TOL``: how close to its slice's border
a box must end to count as cut there) and a looser agreement IoU. mAP50 as ``finishscan
evaluate`` computes it (:func:`training.evaluate.accumulate`). Writes the tables to the
``--section`` of ``benchmarks/RESULTS.md`` unless ``--no-write``. Needs no torch.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import detector.tiling as tiling  # noqa: E402
from benchmarks._results import write_section  # noqa: E402
from detector import Detections, Detector, load_image  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import EVAL_CONF, EVAL_IOU, accumulate, record  # noqa: E402

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


def crack_apart(crack: int, tol: float) -> Merge:
    """The shipped merge for every class but ``crack``, whose boxes come from the slices alone
    (no whole-photo pass) with a cut tolerance of ``tol`` px."""

    def merge(parts: list[Detections], regions: np.ndarray) -> Detections:
        rest = tiling.merge_slices([d[d.class_id != crack] for d in parts], regions)
        with cut_tol(tol):
            cracks = tiling.merge_slices([d[d.class_id == crack] for d in parts[1:]], regions[1:])
        both = Detections.concat([rest, cracks])
        return both[np.argsort(-both.confidence, kind="stable")]

    return merge


def variants(names: list[str]) -> dict[str, Callable[[list[Photo]], list]]:
    def run(merge: Merge, tol: float = tiling.CUT_TOL) -> Callable[[list[Photo]], list]:
        def records(photos: list[Photo]) -> list:
            with cut_tol(tol):
                return [record(merge(p, r), tb, tc) for p, r, tb, tc in photos]

        return records

    return {
        "shipped merge (whole photo + slices)": run(tiling.merge_slices),
        "slices only": run(lambda p, r: tiling.merge_slices(p[1:], r[1:])),
        "whole photo only (tile=off)": run(lambda p, r: p[0]),
        "cut tolerance 4 px": run(tiling.merge_slices, 4.0),
        "slices only, cut tolerance 4 px": run(lambda p, r: tiling.merge_slices(p[1:], r[1:]), 4.0),
        "agreement IoU 0.3": run(lambda p, r: tiling.merge_slices(p, r, iou=0.3)),
        "crack: slices only, cut tolerance 4 px; other classes shipped": run(
            crack_apart(names.index("crack"), 4.0)
        ),
    }


def table(photos: list[Photo], names: list[str]) -> str:
    lines = [
        "| merge | mAP50 | mAP50-95 | " + " | ".join(names) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for label, records in variants(names).items():
        m, _ = accumulate(records(photos), len(names))
        ap = dict(zip(m.classes.tolist(), m.ap50.tolist(), strict=True))
        cells = [f"{ap[c]:.3f}" if c in ap else "-" for c in range(len(names))]
        lines.append(f"| {label} | {m.map50:.3f} | {m.ap.mean():.3f} | " + " | ".join(cells) + " |")
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
    for i, data in enumerate(a.data):
        cache = a.cache / f"{Path(a.model).stem}-{i}.pkl" if a.cache else None
        photos = slice_parts(a.model, data, a.split, cache)
        n = sum(len(tc) for *_, tc in photos)
        out.append(f"\n### `{data}` ({len(photos)} photos, {n} labels)\n\n{table(photos, names)}")
        print(out[-1], flush=True)
    if a.notes:
        out.append("\n" + a.notes.read_text())
    if not a.no_write:
        write_section(a.section, "\n".join(out))


if __name__ == "__main__":
    main()
