"""Where a model fails on synthetic held-out tiles: misses and false positives by cause.

    python benchmarks/error_analysis.py --data HELDOUT/data.yaml --renders R640 [--model M.onnx]
        [--split all] [--crops DIR] [--cache preds.npz] [--no-write]

``HELDOUT`` is ``finishscan dataset tile R640 --out HELDOUT --size S --overlap 0``; the renders'
``annotations.coco.json`` (defect polygons) and the tile names (``<stem>_x<X>_y<Y>``) give each
tile label its whole box and its pixels. Runs the model through ``training.evaluate`` (the
shipped detector, conf 0.001), takes evaluate's max-F1 confidence as the operating point and sorts,
at IoU 0.5:

- every missed label, first cause that applies: *wrong class* (another class's box at IoU ≥ 0.5),
  *poor box* (a same-class box at IoU 0.1-0.5), *clipped* (less than half of the defect's box inside
  the tile), *tiny* (under 8 px, sqrt of area), *low contrast* (the defect's pixels deviate from the mean of a
  4-px ring around them, RMS, by less than 1.1 times the ring's own standard deviation: about what
  plain texture gives), else *visible, missed*;
- every false positive (a box at the operating confidence that matched no label): *duplicate*
  (IoU ≥ 0.5 with a label another box found), *wrong class* (IoU ≥ 0.5 with another class's
  label), *poor box* (IoU 0.1-0.5 with a same-class label), else *background* (the generator's
  unlabelled look-alikes, plain texture, or a defect of another class overlapping by < 0.5).

Prints the tables, writes crops of the worst cases to ``--crops`` (look at them) and the
``error_analysis`` section of ``benchmarks/RESULTS.md`` (unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from training.breakdown import (  # noqa: E402
    box_size,
    match_by_size,
    match_indices,
    size_breakdown,
    size_edges,
)
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import accumulate  # noqa: E402
from training.metrics import box_iou  # noqa: E402

TILE_NAME = re.compile(r"^(?P<stem>.+)_x(?P<x>\d+)_y(?P<y>\d+)$")
TINY_PX = 8.0
LOW_CONTRAST = 1.1
RING_PX = 4
MISS_CAUSES = ("wrong class", "poor box", "clipped", "tiny", "low contrast", "visible, missed")
FP_CAUSES = ("duplicate", "wrong class", "poor box", "background")


def predict(model: str, images: list[Path], cache: Path | None) -> list[tuple[np.ndarray, ...]]:
    """``(xyxy, conf, cls)`` per image at conf 0.001 through the shipped detector (cached)."""
    if cache and cache.exists():
        z = np.load(cache, allow_pickle=True)
        return [tuple(r) for r in z["preds"]]
    from detector import Detector, load_image
    from training.evaluate import EVAL_CONF, EVAL_IOU

    det = Detector(model, threads=1, conf=EVAL_CONF, iou=EVAL_IOU)
    preds: list[tuple[np.ndarray, ...]] = []
    for p in images:
        d = det(load_image(p))
        preds.append((d.xyxy.astype(np.float64), d.confidence.astype(np.float64), d.class_id))
    if cache:
        np.savez(cache, preds=np.array(preds, dtype=object))
    return preds


def source_masks(renders: Path) -> dict[str, list[tuple[int, np.ndarray, list]]]:
    """Per render stem: ``(class_id, xyxy, polygons)`` of every defect (COCO export)."""
    coco = json.loads((renders / "annotations.coco.json").read_text())
    cat = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    stems = {im["id"]: Path(im["file_name"]).stem for im in coco["images"]}
    out: dict[str, list[tuple[int, np.ndarray, list]]] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        out.setdefault(stems[a["image_id"]], []).append(
            (cat[a["category_id"]], np.array([x, y, x + w, y + h], float), a["segmentation"])
        )
    return out


def label_context(
    tile: np.ndarray, name: str, tb: np.ndarray, tc: np.ndarray, sources: dict
) -> list[tuple[float, float]]:
    """``(visible_fraction, contrast)`` of each tile label (1.0, nan when its source is unknown)."""
    m = TILE_NAME.match(name)
    out = [(1.0, float("nan"))] * len(tc)
    if not m or m["stem"] not in sources:
        return out
    ox, oy = int(m["x"]), int(m["y"])
    h, w = tile.shape[:2]
    gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY).astype(np.float32)
    src = sources[m["stem"]]
    for i, (c, box) in enumerate(zip(tc, tb, strict=True)):
        best, best_iou = None, 0.0
        for sc, sbox, seg in src:
            if sc != c:
                continue
            shifted = sbox - [ox, oy, ox, oy]
            clipped = np.clip(shifted, 0, [w, h, w, h])
            iou = float(box_iou(clipped[None], box[None])[0, 0])
            if iou > best_iou:
                best, best_iou = (shifted, clipped, seg), iou
        if best is None or best_iou < 0.5:
            continue
        shifted, clipped, seg = best
        full = (shifted[2] - shifted[0]) * (shifted[3] - shifted[1])
        visible = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / max(full, 1e-9)
        mask = np.zeros((h, w), np.uint8)
        for poly in seg:
            pts = (np.array(poly, float).reshape(-1, 2) - [ox, oy]).round().astype(np.int32)
            cv2.fillPoly(mask, [pts], 1)
        grown = cv2.dilate(mask, np.ones((2 * RING_PX + 1,) * 2, np.uint8))
        ring = (grown > 0) & (mask == 0)
        if mask.sum() < 3 or ring.sum() < 3:
            out[i] = (visible, 0.0)
            continue
        inside, around = gray[mask > 0], gray[ring]
        rms = np.sqrt(np.mean((inside - around.mean()) ** 2))
        out[i] = (visible, float(rms / (around.std() + 1.0)))
    return out


def miss_cause(j: int, tb, tc, pb, pc, visible: float, contrast: float, scale: float = 1.0) -> str:
    iou = box_iou(tb[j : j + 1], pb)[0] if len(pb) else np.zeros(0)
    if ((iou >= 0.5) & (pc != tc[j])).any():
        return "wrong class"
    if ((iou >= 0.1) & (pc == tc[j])).any():
        return "poor box"
    if visible < 0.5:
        return "clipped"
    if box_size(tb[j : j + 1], scale)[0] < TINY_PX:
        return "tiny"
    if contrast < LOW_CONTRAST:
        return "low contrast"
    return "visible, missed"


def fp_cause(j: int, pb, pc, tb, tc, claimed_by_other: np.ndarray) -> str:
    iou = box_iou(tb, pb[j : j + 1])[:, 0] if len(tb) else np.zeros(0)
    same = tc == pc[j]
    if ((iou >= 0.5) & same & claimed_by_other).any():
        return "duplicate"
    if ((iou >= 0.5) & ~same).any():
        return "wrong class"
    if ((iou >= 0.1) & same).any():
        return "poor box"
    return "background"


def crop(tile: np.ndarray, box: np.ndarray, text: str, size: int = 128) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 24) / 2 + 8
    h, w = tile.shape[:2]
    a, b = int(max(cx - half, 0)), int(max(cy - half, 0))
    c, d = int(min(cx + half, w)), int(min(cy + half, h))
    im = np.ascontiguousarray(tile[b:d, a:c])
    im = cv2.resize(im, (size, size), interpolation=cv2.INTER_NEAREST)
    s = size / max(c - a, d - b, 1)
    pt0 = (int((x0 - a) * s), int((y0 - b) * s))
    cv2.rectangle(im, pt0, (int((x1 - a) * s), int((y1 - b) * s)), (255, 0, 0), 1)
    cv2.putText(im, text, (2, size - 4), cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 0), 1)
    return im


def mosaic(crops: list[np.ndarray], cols: int = 8) -> np.ndarray:
    rows = [crops[i : i + cols] for i in range(0, len(crops), cols)]
    blank = np.zeros_like(crops[0])
    return np.vstack([np.hstack(r + [blank] * (cols - len(r))) for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--renders", type=Path, required=True)
    ap.add_argument("--model", default="models/finishscan-yolo26n-320.onnx")
    ap.add_argument("--split", default="all")
    ap.add_argument("--crops", type=Path)
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()

    from detector import load_image

    spec = read_data_yaml(a.data)
    images = spec.images(a.split)
    preds = predict(a.model, images, a.cache)
    tiles = [load_image(p) for p in images]
    labels = [load_labels(p, (t.shape[1], t.shape[0])) for p, t in zip(images, tiles, strict=True)]
    records = [
        (pb, pconf, pc, tb, tc) for (pb, pconf, pc), (tc, tb) in zip(preds, labels, strict=True)
    ]
    metrics, _ = accumulate(records, len(spec.names))
    thr = metrics.conf_threshold
    sources = source_masks(a.renders)

    misses: Counter[tuple[str, str]] = Counter()
    fps: Counter[tuple[str, str]] = Counter()
    found_ctx, miss_ctx = [], []
    miss_crops: dict[str, list] = {k: [] for k in MISS_CAUSES}
    fp_rows = []
    for path, tile, (pb, pconf, pc, tb, tc) in zip(images, tiles, records, strict=True):
        keep = pconf >= thr
        order = np.argsort(-pconf[keep], kind="stable")
        pb, pconf, pc = pb[keep][order], pconf[keep][order], pc[keep][order].astype(int)
        idx = match_indices(pc, tc, box_iou(tb, pb))
        found = np.zeros(len(tc), bool)
        found[idx[idx >= 0]] = True
        ctx = label_context(tile, path.stem, tb, tc, sources)
        for j in range(len(tc)):
            name = spec.names[tc[j]]
            vis, con = ctx[j]
            if found[j]:
                found_ctx.append((name, vis, con, box_size(tb[j : j + 1])[0]))
                continue
            cause = miss_cause(j, tb, tc, pb, pc, vis, con)
            misses[(name, cause)] += 1
            miss_ctx.append((name, vis, con, box_size(tb[j : j + 1])[0]))
            miss_crops[cause].append(crop(tile, tb[j], f"{name[:10]} c{con:.1f}"))
        claimed = np.zeros(len(tc), bool)
        claimed[idx[idx >= 0]] = True
        for k in np.flatnonzero(idx < 0):
            j = int(k)
            cause = fp_cause(j, pb, pc, tb, tc, claimed)
            fps[(spec.names[pc[j]], cause)] += 1
            if cause == "background":
                fp_rows.append((pconf[j], tile, pb[j], spec.names[pc[j]]))

    def table(counter: Counter, causes: tuple[str, ...], what: str) -> str:
        head = f"| class | {what} | " + " | ".join(causes) + " |"
        lines = [head, "|" + " --- |" * (len(causes) + 2)]
        for name in [*spec.names, "all"]:
            row = [
                sum(v for (n, c), v in counter.items() if (name == "all" or n == name) and c == k)
                for k in causes
            ]
            lines.append(f"| {name} | {sum(row)} | " + " | ".join(map(str, row)) + " |")
        return "\n".join(lines)

    def med(rows, name=None, k=2):
        v = [r[k] for r in rows if (name is None or r[0] == name) and not np.isnan(r[k])]
        return f"{np.median(v):.1f}" if v else "-"

    imgsz = (tiles[0].shape[0], tiles[0].shape[1])  # held-out tiles are model-sized
    edges = size_edges(imgsz)
    by = size_breakdown(
        match_by_size(records, [1.0] * len(records), edges),
        spec.names,
        edges=edges,
        conf_threshold=thr,
    )
    size_lines = [
        "| size (sqrt area, px) | labels | mAP50 | recall | false positives | "
        + " | ".join(f"{n} AP50 / R" for n in spec.names)
        + " |",
        "|" + " --- |" * (5 + len(spec.names)),
    ]
    for b in ("small", "medium", "large"):
        lo, hi = by["buckets_px"][b]
        o = by[b]
        cells = [
            "-" if v["labels"] == 0 else f"{v['ap50']:.3f} / {v['recall']:.2f} ({v['labels']})"
            for v in o["per_class"].values()
        ]
        size_lines.append(
            f"| {b} {lo:g}-{hi if hi is not None else '':} | {o['labels']} | "
            f"{o['map50'] if o['map50'] is not None else '-'} | {o['recall']} | "
            f"{o['false_positives']} | " + " | ".join(cells) + " |"
        )
    ctx_lines = [
        "| class | contrast found / missed | size px found / missed |",
        "| --- | --- | --- |",
    ]
    for name in spec.names:
        ctx_lines.append(
            f"| {name} | {med(found_ctx, name)} / {med(miss_ctx, name)} | "
            f"{med(found_ctx, name, 3)} / {med(miss_ctx, name, 3)} |"
        )
    md = "\n\n".join(
        [
            f"`python benchmarks/error_analysis.py --data {a.data} --renders {a.renders}` "
            f"({len(images)} images, model {Path(a.model).name}, split {a.split}); operating "
            f"confidence {thr:.3f} (evaluate's max-F1), IoU 0.5; mAP50 {metrics.map50:.3f}.",
            "By box size (evaluate's `by_size`; recall and false positives at the operating "
            "confidence; per class AP50 / recall (labels)):",
            "\n".join(size_lines),
            "Missed labels by first cause (wrong class > poor box > clipped < 50% visible > tiny "
            f"< {TINY_PX:.0f} px > low contrast < {LOW_CONTRAST} ring σ > visible, missed):",
            table(misses, MISS_CAUSES, "missed"),
            "Median contrast (RMS of defect pixels − 4-px ring mean, / ring σ) and size of found vs missed labels:",
            "\n".join(ctx_lines),
            "False positives at the operating confidence by cause:",
            table(fps, FP_CAUSES, "false positives"),
        ]
    )
    print(md)
    if a.crops:
        a.crops.mkdir(parents=True, exist_ok=True)
        for cause, cs in miss_crops.items():
            if cs:
                slug = cause.replace(", ", "_").replace(" ", "_")
                cv2.imwrite(str(a.crops / f"miss_{slug}.png"), mosaic(cs[:48])[:, :, ::-1])
        fp_rows.sort(key=lambda r: -r[0])
        if fp_rows:
            cs = [crop(t, b, f"{n[:10]} {c:.2f}") for c, t, b, n in fp_rows[:48]]
            cv2.imwrite(str(a.crops / "fp_background.png"), mosaic(cs)[:, :, ::-1])
    if not a.no_write:
        write_section("error_analysis", md)


if __name__ == "__main__":
    main()
