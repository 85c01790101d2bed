"""Where a model fails on synthetic held-out tiles: misses and false positives by cause.

    python benchmarks/error_analysis.py --data HELDOUT/data.yaml --renders R640 [--model M.onnx]
        [--split all] [--crops DIR] [--cache preds.npz] [--focus tile_chip,paint_bubble]
        [--rows rows.jsonl] [--section NAME] [--notes findings.md] [--no-write]

``HELDOUT`` is ``finishscan dataset tile R640 --out HELDOUT --size S --overlap 0``; the renders'
``annotations.coco.json`` (defect polygons or RLE masks) and the tile names (``<stem>_x<X>_y<Y>``) give each
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

For each ``--focus`` class it also tabulates properties of missed vs found labels, which are not
exclusive: size, clipping, contrast (ring σ and gray step), another class's box at IoU ≥ 0.5, a
same-class box at IoU 0.3-0.5, and a same-class box at IoU ≥ 0.5 below the operating confidence
(see :func:`label_evidence`). It gives recall by size and by contrast, the column of the
confusion matrix at the operating confidence, and ``miss_<class>.png`` / ``found_<class>.png``
(``--n-crops`` random labels each: the plain and the boxed crop side by side).

Prints the tables, writes crops of the worst cases to ``--crops`` (look at them), and writes the
``--section`` (default ``error_analysis``) of ``benchmarks/RESULTS.md`` with ``--notes`` appended
(unless ``--no-write``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from datasets.formats.coco import decode_segmentation  # noqa: E402
from datasets.visibility import RING_PX, ring_contrast  # noqa: E402
from training.breakdown import (  # noqa: E402
    box_size,
    match_by_size,
    match_indices,
    size_breakdown,
    size_edges,
)
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.evaluate import accumulate  # noqa: E402
from training.metrics import box_iou, confusion_matrix  # noqa: E402

TILE_NAME = re.compile(r"^(?P<stem>.+)_x(?P<x>\d+)_y(?P<y>\d+)$")
TINY_PX = 8.0
LOW_CONTRAST = 1.1
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


def source_masks(renders: Path) -> dict[str, list[tuple[int, np.ndarray, Any, tuple[int, int]]]]:
    """Per render stem: ``(class_id, xyxy, segmentation, (h, w))`` of every defect (COCO export;
    polygons or RLE, see :func:`datasets.formats.coco.decode_segmentation`)."""
    coco = json.loads((renders / "annotations.coco.json").read_text())
    cat = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    ims = {
        im["id"]: (Path(im["file_name"]).stem, (im["height"], im["width"])) for im in coco["images"]
    }
    out: dict[str, list[tuple[int, np.ndarray, Any, tuple[int, int]]]] = {}
    for a in coco["annotations"]:
        if a.get("iscrowd"):
            continue
        x, y, w, h = a["bbox"]
        stem, hw = ims[a["image_id"]]
        out.setdefault(stem, []).append(
            (cat[a["category_id"]], np.array([x, y, x + w, y + h], float), a["segmentation"], hw)
        )
    return out


def label_context(
    tile: np.ndarray, name: str, tb: np.ndarray, tc: np.ndarray, sources: dict
) -> list[tuple[float, float, float]]:
    """``(visible_fraction, contrast, step)`` of each tile label (1.0, nan, nan when its source is
    unknown): ``contrast`` is the RMS deviation of the defect's gray pixels from the mean of the
    ring around them over the ring's standard deviation (+1), ``step`` the same RMS in gray levels
    (0-255)."""
    m = TILE_NAME.match(name)
    out = [(1.0, float("nan"), float("nan"))] * len(tc)
    if not m or m["stem"] not in sources:
        return out
    ox, oy = int(m["x"]), int(m["y"])
    h, w = tile.shape[:2]
    gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY).astype(np.float32)
    src = sources[m["stem"]]
    for i, (c, box) in enumerate(zip(tc, tb, strict=True)):
        best, best_iou = None, 0.0
        for sc, sbox, seg, hw in src:
            if sc != c:
                continue
            shifted = sbox - [ox, oy, ox, oy]
            clipped = np.clip(shifted, 0, [w, h, w, h])
            iou = float(box_iou(clipped[None], box[None])[0, 0])
            if iou > best_iou:
                best, best_iou = (shifted, clipped, seg, hw), iou
        if best is None or best_iou < 0.5:
            continue
        shifted, clipped, seg, (rh, rw) = best
        full = (shifted[2] - shifted[0]) * (shifted[3] - shifted[1])
        visible = (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / max(full, 1e-9)
        mask = np.zeros((h, w), np.uint8)
        whole = decode_segmentation(seg, rh, rw)[oy : oy + h, ox : ox + w]
        mask[: whole.shape[0], : whole.shape[1]] = whole
        step, contrast = ring_contrast(gray, mask > 0, ring=RING_PX)
        out[i] = (visible, contrast, step)
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


def label_evidence(
    tb: np.ndarray, tc: np.ndarray, pb: np.ndarray, pconf: np.ndarray, pc: np.ndarray, thr: float
) -> dict[str, np.ndarray]:
    """What the model put near each label (boxes in the same pixels; predictions at any confidence).

    ``same_iou``: best IoU with a same-class box at confidence ≥ ``thr``; ``other_iou`` /
    ``other_cls``: best IoU with another class's box at ≥ ``thr`` and that box's class (-1 for
    none); ``best_conf``: highest confidence of a same-class box at IoU ≥ 0.5, any confidence (0
    for none).

    >>> e = label_evidence(np.array([[0, 0, 10, 10]]), np.array([0]),
    ...                    np.array([[0, 0, 10, 10], [0, 0, 10, 5]]), np.array([0.05, 0.5]),
    ...                    np.array([0, 1]), 0.1)
    >>> e["same_iou"].tolist(), e["other_iou"].tolist(), e["other_cls"].tolist(), e["best_conf"].tolist()
    ([0.0], [0.5], [1], [0.05])
    """
    n = len(tc)
    out = {
        "same_iou": np.zeros(n),
        "other_iou": np.zeros(n),
        "other_cls": np.full(n, -1, np.int64),
        "best_conf": np.zeros(n),
    }
    if not n or not len(pc):
        return out
    iou = box_iou(np.asarray(tb, np.float64), np.asarray(pb, np.float64))  # (n, P)
    same = np.asarray(tc)[:, None] == np.asarray(pc)[None, :]
    op = np.asarray(pconf)[None, :] >= thr
    out["same_iou"] = np.where(same & op, iou, 0.0).max(1)
    other = np.where(~same & op, iou, 0.0)
    out["other_iou"] = other.max(1)
    out["other_cls"] = np.where(out["other_iou"] > 0, np.asarray(pc)[other.argmax(1)], -1)
    out["best_conf"] = np.where(same & (iou >= 0.5), np.asarray(pconf)[None, :], 0.0).max(1)
    return out


# Non-exclusive properties of a label, each a test on its row (size in model px, visible
# fraction, contrast, and :func:`label_evidence` at the operating confidence ``thr``).
FLAGS: dict[str, Callable[[dict[str, float], float], bool]] = {
    f"tiny < {TINY_PX:g} px": lambda r, thr: r["size"] < TINY_PX,
    f"small {TINY_PX:g}-16 px": lambda r, thr: TINY_PX <= r["size"] < 16,
    "clipped (< 50 % of its box in the tile)": lambda r, thr: r["visible"] < 0.5,
    "cut by the tile edge (< 95 %)": lambda r, thr: r["visible"] < 0.95,
    f"low contrast < {LOW_CONTRAST}": lambda r, thr: r["contrast"] < LOW_CONTRAST,
    "gray step < 16 levels": lambda r, thr: r["step"] < 16,
    "other class's box at IoU ≥ 0.5": lambda r, thr: r["other_iou"] >= 0.5,
    "same-class box at IoU 0.3-0.5": lambda r, thr: 0.3 <= r["same_iou"] < 0.5,
    "same-class box at IoU ≥ 0.5 at conf thr/2 - thr": lambda r, thr: (
        thr / 2 <= r["best_conf"] < thr
    ),
    "same-class box at IoU ≥ 0.5 only at conf < thr/2": lambda r, thr: 0 < r["best_conf"] < thr / 2,
    "no same-class box at IoU ≥ 0.3, any conf": lambda r, thr: (
        r["best_conf"] == 0 and r["same_iou"] < 0.3
    ),
}


def flag_table(rows: list[dict[str, float]], thr: float) -> str:
    """Markdown: per flag, the share of missed and of found labels that have it, and the recall of
    the labels that have it."""
    miss = [r for r in rows if not r["found"]]
    hit = [r for r in rows if r["found"]]
    lines = [
        f"| property | missed ({len(miss)}) | found ({len(hit)}) | recall with it |",
        "| --- | --- | --- | --- |",
    ]

    def share(rs: list[dict[str, float]], f: Callable[[dict[str, float], float], bool]) -> str:
        k = sum(f(r, thr) for r in rs)
        return f"{k} ({100 * k / len(rs):.0f} %)" if rs else "-"

    for name, f in FLAGS.items():
        with_it = [r for r in rows if f(r, thr)]
        rec = sum(r["found"] for r in with_it) / len(with_it) if with_it else float("nan")
        lines.append(
            f"| {name} | {share(miss, f)} | {share(hit, f)} | "
            + (f"{rec:.2f} of {len(with_it)}" if with_it else "-")
            + " |"
        )
    return "\n".join(lines)


def binned_recall(rows: list[dict[str, float]], key: str, edges: tuple[float, ...]) -> str:
    """One markdown row cell per bin of ``key``: ``found/labels``."""
    cells = []
    bounds = [-np.inf, *edges, np.inf]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        sel = [r for r in rows if lo <= r[key] < hi]
        cells.append(f"{sum(r['found'] for r in sel)}/{len(sel)}" if sel else "-")
    return " | ".join(cells)


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


def describe(r: dict) -> str:
    """A crop's caption: size px, contrast, gray step, best same-class IoU and confidence."""
    return (
        f"{r['size']:.0f}px c{r['contrast']:.1f} d{r['step']:.0f} "
        f"iou{r['same_iou']:.1f} p{r['best_conf']:.2f}"
    )


def crop_pair(tile: np.ndarray, box: np.ndarray, text: str, size: int = 160) -> np.ndarray:
    """The label with as much context again around it, plain and boxed, magnified to ``size``
    (nearest neighbour), with ``text`` in a strip below (so no pixel of the defect is covered)."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0, 12.0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, side  # the box plus half its side each way
    h, w = tile.shape[:2]
    n, gx, gy = int(round(2 * half)), int(round(cx - half)), int(round(cy - half))
    a, b, c, d = max(gx, 0), max(gy, 0), min(gx + n, w), min(gy + n, h)
    canvas = np.full((n, n, 3), 40, np.uint8)  # grey where the tile ends
    canvas[b - gy : d - gy, a - gx : c - gx] = tile[b:d, a:c]
    s = size / n
    raw = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_NEAREST)
    boxed = raw.copy()
    p0 = (int((x0 - gx) * s), int((y0 - gy) * s))
    cv2.rectangle(boxed, p0, (int((x1 - gx) * s), int((y1 - gy) * s)), (255, 0, 0), 1)
    strip = np.zeros((14, 2 * size + 4, 3), np.uint8)
    cv2.putText(strip, text, (2, 11), cv2.FONT_HERSHEY_PLAIN, 0.9, (255, 255, 0), 1)
    gap = np.full((size, 4, 3), 255, np.uint8)
    return np.vstack([np.hstack([raw, gap, boxed]), strip])


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
    ap.add_argument("--focus", default="tile_chip,paint_bubble", help="classes to break down")
    ap.add_argument("--n-crops", type=int, default=20, help="missed / found crops per focus class")
    ap.add_argument("--section", default="error_analysis", help="RESULTS.md section to write")
    ap.add_argument("--notes", type=Path, help="markdown to append to the section (findings)")
    ap.add_argument("--rows", type=Path, help="write every label's row (JSON lines) here")
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
    rows: list[dict] = []  # every label: class, found, size, context, evidence, where
    cm = np.zeros((len(spec.names) + 1,) * 2, np.int64)
    for i, (path, tile, (pb, pconf, pc, tb, tc)) in enumerate(
        zip(images, tiles, records, strict=True)
    ):
        cm += confusion_matrix(pb, pconf, pc, tb, tc, len(spec.names), conf=thr)
        ev = label_evidence(tb, tc, pb, pconf, pc, thr)
        keep = pconf >= thr
        order = np.argsort(-pconf[keep], kind="stable")
        pb, pconf, pc = pb[keep][order], pconf[keep][order], pc[keep][order].astype(int)
        idx = match_indices(pc, tc, box_iou(tb, pb))
        found = np.zeros(len(tc), bool)
        found[idx[idx >= 0]] = True
        ctx = label_context(tile, path.stem, tb, tc, sources)
        for j in range(len(tc)):
            name = spec.names[tc[j]]
            vis, con, step = ctx[j]
            rows.append(
                {
                    "cls": name,
                    "found": bool(found[j]),
                    "size": float(box_size(tb[j : j + 1])[0]),
                    "visible": vis,
                    "contrast": con,
                    "step": step,
                    **{k: v[j].item() for k, v in ev.items()},
                    "image": i,
                    "box": tb[j],
                }
            )
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
    if a.rows:
        a.rows.write_text(
            "".join(
                json.dumps(
                    {**r, "box": [float(v) for v in r["box"]], "path": str(images[r["image"]])}
                )
                + "\n"
                for r in rows
            )
        )
    focus = [f for f in a.focus.split(",") if f]
    focus_md: list[str] = []
    for name in focus:
        cid = spec.names.index(name)
        rs = [r for r in rows if r["cls"] == name]
        if not rs:
            focus_md.append(f"**{name}**: no labels.")
            continue
        miss = [r for r in rs if not r["found"]]
        confused = Counter(
            spec.names[int(r["other_cls"])] for r in miss if r["other_iou"] >= 0.5
        ).most_common()
        col = cm[:, cid]  # rows: predicted class (nc = nothing), IoU > 0.45, conf >= thr
        focus_md += [
            f"**{name}**: {len(rs)} labels, {len(miss)} missed at the operating confidence. "
            "Properties of missed vs found labels (not exclusive; size in model px = tile px):",
            flag_table(rs, thr),
            "Recall by size (sqrt area, px) <8 | 8-16 | 16-32 | 32-64 | ≥64: "
            + binned_recall(rs, "size", (8, 16, 32, 64))
            + "; by contrast (ring σ) <1.1 | 1.1-2 | 2-4 | ≥4: "
            + binned_recall(rs, "contrast", (LOW_CONTRAST, 2, 4))
            + "; by gray step (levels) <8 | 8-16 | 16-32 | ≥32: "
            + binned_recall(rs, "step", (8, 16, 32))
            + ".",
            f"Confusion (ultralytics' matrix at conf {thr:.3f}, IoU > 0.45): true {name} -> "
            + ", ".join(
                f"{(spec.names + ['nothing'])[k]} {int(col[k])}"
                for k in np.argsort(-col, kind="stable")
                if col[k]
            )
            + f"; predicted {name} on: "
            + ", ".join(
                f"{(spec.names + ['background'])[k]} {int(cm[cid, k])}"
                for k in np.argsort(-cm[cid], kind="stable")
                if cm[cid, k] and k != cid
            )
            + ". Misses under another class's box at IoU ≥ 0.5: "
            + (", ".join(f"{k} {v}" for k, v in confused) or "none")
            + ".",
        ]
        if a.crops:
            rng = np.random.default_rng(0)
            for what, sel in (("miss", miss), ("found", [r for r in rs if r["found"]])):
                pick = [sel[k] for k in sorted(rng.permutation(len(sel))[: a.n_crops])]
                if pick:
                    a.crops.mkdir(parents=True, exist_ok=True)
                    pairs = [crop_pair(tiles[r["image"]], r["box"], describe(r)) for r in pick]
                    cv2.imwrite(
                        str(a.crops / f"{what}_{name}.png"), mosaic(pairs, cols=4)[:, :, ::-1]
                    )

    md = "\n\n".join(
        [
            f"`python benchmarks/error_analysis.py --data {a.data} --renders {a.renders} "
            f"--focus {a.focus}` ({len(images)} images, model {Path(a.model).name}, split "
            f"{a.split}); operating "
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
            *focus_md,
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
    if a.notes:
        md += "\n\n" + a.notes.read_text().strip()
    if not a.no_write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
