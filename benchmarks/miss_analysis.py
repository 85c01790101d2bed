"""Which held-out labels the shipped model misses, and whether the label or the model is to blame.

    finishscan dataset synth --out R640 --n 150 --seed 778 --workers 1
    finishscan dataset tile R640 --out T320 --size 320 --overlap 0
    python benchmarks/miss_analysis.py --renders R640 --tiles T320 [--model M.onnx]
        [--crops DIR] [--rows rows.jsonl] [--cache preds.npz] [--section NAME] [--no-write]

Runs the ONNX model through the shipped detector (``detector.Detector`` at evaluate's conf 0.001
and NMS IoU 0.7) on every tile of ``T320`` (split ``all``), keeps each class's boxes at the
operating confidence stored in the model's metadata (``conf_thresholds``) and matches them to the
tile labels as evaluate does (``training.breakdown.match_indices``: by confidence, same class,
IoU >= 0.5). Each render of ``R640`` is rendered again with the label rule off
(``min_step = min_line_contrast = 0``: a rule only decides labels, the bytes are the same, which
is checked), which gives the pixels of every drawn defect, labelled or not, and a stain's kind.

Every tile label gets: found or not, the best confidence of a same-class box at IoU >= 0.5 (any
confidence), its box size, the share of its defect's pixels inside the tile and whether its box
touches the tile edge, and on the tile's gray (on its cue for a hollow tile) the label rule's
:func:`datasets.visibility.gray_step` and :func:`~datasets.visibility.line_contrast`, and a
texture-relative area measure tried for stains (:func:`mean_contrast`). A miss gets the first
cause that applies: *tiny* (longer box side < 8 px), *truncated* (< 50 % of its defect's pixels
in the tile), *faint* (step < 24 levels = 1.5 x min_step, or a crack's line contrast < 1.2 =
1.5 x 0.8), *wrong class* / *poor box* (the model put another class's box at IoU >= 0.5 / a
same-class box at IoU 0.3-0.5 there), else *visible, missed*. Every false positive at the
operating confidence gets: *duplicate*, *wrong class*, *poor box* (as
``benchmarks/error_analysis.py``), *unlabelled defect* (on a drawn defect's piece its tile does not
label: left out by the generator's rule or by the tiler's; box IoU >= 0.3, or half the piece inside
the box and half the box on the piece's box), or *background*. Drawn pieces the tile leaves
unlabelled are listed with whether the model finds them.

Prints and writes (unless ``--no-write``) the ``--section`` of ``benchmarks/RESULTS.md``;
``--crops`` gets crop sheets (``miss_<class>.png``, ``found_<class>.png``: the plain and the
boxed crop side by side, caption: :func:`caption`; ``hidden_<class>.png``: unlabelled pieces;
``fp_<cause>.png``) to look at. Needs numpy, OpenCV, onnxruntime; no torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from benchmarks.error_analysis import crop_pair, mosaic  # noqa: E402
from datasets.visibility import (  # noqa: E402
    MIN_LINE_CONTRAST,
    MIN_STEP,
    RING_PX,
    gray_step,
    line_contrast,
)
from training.breakdown import match_indices  # noqa: E402
from training.data import load_labels, read_data_yaml  # noqa: E402
from training.metrics import box_iou  # noqa: E402

TILE_NAME = re.compile(r"^(?P<stem>.+)_x(?P<x>\d+)_y(?P<y>\d+)$")
RENDER_NAME = re.compile(r"^s(?P<seed>\d+)_(?P<i>\d+)$")
TINY_SIDE = 8.0  # px: a label whose longer box side is under this is "tiny"
TRUNCATED = 0.5  # share of the defect's pixels in the tile under which it is "truncated"
FAINT = 1.5  # "faint": a measure under this many times its label-rule threshold
CAUSES = ("tiny", "truncated", "faint", "wrong class", "poor box", "visible, missed")
FP_CAUSES = ("duplicate", "wrong class", "poor box", "unlabelled defect", "background")


@dataclasses.dataclass
class Drawn:
    """One defect drawn in a render (label rule off): class, photo-sized bool mask, its cue,
    whether the saved dataset labels it, and the renderer's meta (a stain's ``kind``)."""

    cls: str
    mask: np.ndarray
    cue: np.ndarray | None
    labelled: bool
    meta: dict[str, Any]


def rerender(renders: Path, names: list[str]) -> dict[str, list[Drawn]]:
    """Per render stem, every defect drawn in it: each photo is rendered again from its seed
    (``s<seed>_<i>``, ``default_rng([seed, i])``) with the saved config and the label rule off;
    its JPEG must equal the saved one. ``labelled``: a COCO annotation of that class and bbox
    (within 1 px)."""
    from datasets.synthetic import camera, composer, defects
    from datasets.synthetic.config import SynthConfig

    spec = json.loads((renders / "synth_config.json").read_text())
    raw: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()
    }
    cfg = dataclasses.replace(SynthConfig(**raw), min_step=0.0, min_line_contrast=0.0)
    coco = json.loads((renders / "annotations.coco.json").read_text())
    cat = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    boxes: dict[str, list[tuple[str, list[float]]]] = {}
    for a in coco["annotations"]:
        x, y, w, h = a["bbox"]
        stem = Path(files[a["image_id"]]).stem
        boxes.setdefault(stem, []).append((cat[a["category_id"]], [x, y, x + w, y + h]))

    rec: dict[str, Any] = {}
    homography, renderers = camera.homography, dict(defects.RENDERERS)

    def hom(*a: Any, **k: Any) -> Any:
        rec["H"] = (out := homography(*a, **k))[0]
        return out

    def wrap(fn: Any) -> Any:
        def inner(*a: Any, **k: Any) -> Any:
            inst = fn(*a, **k)
            if inst is not None:
                rec["inst"].append(inst)
            return inst

        return inner

    out: dict[str, list[Drawn]] = {}
    camera.homography = hom
    for n in renderers:
        defects.RENDERERS[n] = wrap(renderers[n])
    try:
        for path in sorted((renders / "images").rglob("*.jpg")):
            m = RENDER_NAME.match(path.stem)
            if not m:
                continue
            rec["inst"] = []
            rng = np.random.default_rng([int(m["seed"]), int(m["i"])])
            s = composer.render_sample(rng, spec["imgsz"], cfg)
            if s.jpeg != path.read_bytes():
                raise SystemExit(f"{path}: rendering again gave other bytes (other generator?)")
            keyed: dict[tuple[str, int, int], dict[str, Any]] = {}
            for inst in rec["inst"]:
                res = camera.warp_mask(inst.mask, inst.x0, inst.y0, rec["H"], spec["imgsz"])
                if res is not None and res[0].any():
                    wm, ox, oy = res
                    ys, xs = np.nonzero(wm)
                    key = (inst.name, ox + int(xs.min()), oy + int(ys.min()))
                    keyed.setdefault(key, inst.meta)
            todo = list(boxes.get(path.stem, []))
            drawn = []
            cues = s.cues or [None] * len(s.boxes)
            for b, full, cue in zip(s.boxes, s.masks, cues, strict=True):
                name = names[b.class_id]
                hit = next(
                    (
                        j
                        for j, (c, bb) in enumerate(todo)
                        if c == name
                        and max(
                            abs(u - v) for u, v in zip(bb, (b.x0, b.y0, b.x1, b.y1), strict=True)
                        )
                        <= 1
                    ),
                    None,
                )
                if hit is not None:
                    todo.pop(hit)
                meta = keyed.get((name, int(b.x0), int(b.y0)), {})
                meta = {k: v for k, v in meta.items() if isinstance(v, str | int | float)}
                drawn.append(Drawn(name, full, cue, hit is not None, meta))
            if todo:
                raise SystemExit(f"{path}: labels not drawn with the rule off: {todo}")
            out[path.stem] = drawn
    finally:
        camera.homography = homography
        defects.RENDERERS.update(renderers)
    return out


def predict(model: str, images: list[Path], cache: Path | None) -> list[tuple[np.ndarray, ...]]:
    """``(xyxy, conf, cls)`` per image at evaluate's conf 0.001 / IoU 0.7 (cached in ``cache``)."""
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


def piece_box(mask: np.ndarray) -> np.ndarray | None:
    """The xyxy box (float64) of a bool mask's pixels; None for an empty mask."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def mean_contrast(gray: np.ndarray, mask: np.ndarray, ring: int = RING_PX) -> float:
    """A texture-relative measure for an area (a stain), tried here: |mean of the mask's gray
    minus the median of its ``ring``-px ring| over (1.4826 x the ring's median absolute
    deviation + 1). Unlike the gray step it does not count the variance inside the mask; 0.0
    when the mask or its ring has fewer than 3 pixels.

    >>> g = np.full((20, 20), 100, np.uint8); g[5:15, 5:15] = 110
    >>> m = np.zeros((20, 20), bool); m[5:15, 5:15] = True
    >>> mean_contrast(g, m)
    10.0
    """
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return 0.0
    y0, x0 = max(int(ys.min()) - ring, 0), max(int(xs.min()) - ring, 0)
    y1, x1 = int(ys.max()) + ring + 1, int(xs.max()) + ring + 1
    g = gray[y0:y1, x0:x1].astype(np.float32)
    m = mask[y0:y1, x0:x1].astype(np.uint8)
    k = np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)
    band = cv2.subtract(cv2.dilate(m, k), m) > 0
    around = g[band]
    if len(around) < 3:
        return 0.0
    med = float(np.median(around))
    spread = 1.4826 * float(np.median(np.abs(around - med)))
    return abs(float(g[m > 0].mean()) - med) / (spread + 1.0)


def measures(gray: np.ndarray, cls: str, mask: np.ndarray, cue: np.ndarray | None) -> dict:
    """The label rule's measures of a tile piece (on its cue's piece where it has one), and the
    tried :func:`mean_contrast`."""
    judged = mask if cue is None or not cue.any() else cue
    return {
        "step": gray_step(gray, judged),
        "line": line_contrast(gray, judged),
        "mean": mean_contrast(gray, judged),
    }


def covers(box: np.ndarray, piece: np.ndarray, pbox: np.ndarray) -> bool:
    """Whether a predicted ``box`` sits on a drawn defect's ``piece`` (bool tile mask, box
    ``pbox``): box IoU >= 0.3, or half the piece's pixels inside the box and half the box inside
    the piece's box."""
    if box_iou(box[None], pbox[None])[0, 0] >= 0.3:
        return True
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
    inside = float(piece[y0:y1, x0:x1].sum()) / max(float(piece.sum()), 1.0)
    ix = max(0.0, min(box[2], pbox[2]) - max(box[0], pbox[0]))
    iy = max(0.0, min(box[3], pbox[3]) - max(box[1], pbox[1]))
    own = ix * iy / max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-9)
    return inside >= 0.5 and own >= 0.5


def faint(r: dict) -> bool:
    """Within 1.5 x of the label rule's thresholds: step < 24 levels, a crack's line contrast
    < 1.2."""
    return r["step"] < FAINT * MIN_STEP or (
        r["cls"] == "crack" and r["line"] < FAINT * MIN_LINE_CONTRAST
    )


def miss_cause(r: dict) -> str:
    """A missed label's first cause (:data:`CAUSES`, in that order)."""
    if r["long_side"] < TINY_SIDE:
        return "tiny"
    if r["in_tile"] < TRUNCATED:
        return "truncated"
    if faint(r):
        return "faint"
    if r["other_iou"] >= 0.5:
        return "wrong class"
    if r["same_iou"] >= 0.3:
        return "poor box"
    return "visible, missed"


def caption(r: dict) -> str:
    """``size px, d step, l line contrast (crack) or m mean contrast, p best confidence``."""
    third = f"l{r['line']:.1f}" if r["cls"] == "crack" else f"m{r['mean']:.1f}"
    return f"{r['size']:.0f}px d{r['step']:.0f} {third} p{r['best_conf']:.2f}"


def binned(rows: list[dict], key: str, edges: tuple[float, ...]) -> str:
    """``found/labels`` per bin of ``key`` split at ``edges``, joined by ' / '."""
    cells = []
    bounds = [-np.inf, *edges, np.inf]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        sel = [r for r in rows if lo <= r[key] < hi]
        cells.append(f"{sum(r['found'] for r in sel)}/{len(sel)}" if sel else "-")
    return " / ".join(cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=Path, required=True)
    ap.add_argument("--tiles", type=Path, required=True)
    ap.add_argument("--model", default="models/finishscan-yolo26n-320.onnx")
    ap.add_argument("--crops", type=Path)
    ap.add_argument("--rows", type=Path, help="every label's row as JSON lines")
    ap.add_argument("--cache", type=Path, help="predictions cache (.npz)")
    ap.add_argument("--n-crops", type=int, default=32)
    ap.add_argument("--section", default="miss_analysis")
    ap.add_argument("--notes", type=Path, help="markdown appended to the section")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    cv2.setNumThreads(1)

    from detector import Detector, load_image

    det = Detector(a.model, threads=1)
    thr_of = det.conf_thresholds
    spec = read_data_yaml(a.tiles / "data.yaml")
    names = list(spec.names)
    thr = np.array([thr_of.get(n, 0.25) for n in names])
    images = spec.images("all")
    preds = predict(a.model, images, a.cache)
    drawn = rerender(a.renders, names)

    rows: list[dict] = []  # every tile label
    fps: list[dict] = []  # every false positive at the operating confidence
    hidden: list[dict] = []  # every drawn piece of >= 24 px its tile does not label
    tiles: list[np.ndarray] = []
    unmatched = 0
    for i, (path, (pb_all, pconf_all, pc_all)) in enumerate(zip(images, preds, strict=True)):
        tile = load_image(path)
        tiles.append(tile)
        h, w = tile.shape[:2]
        gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)
        tc, tb = load_labels(path, (w, h))
        m = TILE_NAME.match(path.stem)
        if not m:
            raise SystemExit(f"{path}: not a tile name <stem>_x<X>_y<Y>")
        ox, oy = int(m["x"]), int(m["y"])
        pieces = []  # (Drawn, piece mask, piece cue, piece box, share of its pixels in the tile)
        for d in drawn.get(m["stem"], []):
            pm = d.mask[oy : oy + h, ox : ox + w]
            pbx = piece_box(pm)
            if pbx is None:
                continue
            cue = None if d.cue is None else d.cue[oy : oy + h, ox : ox + w]
            pieces.append((d, pm, cue, pbx, float(pm.sum()) / max(float(d.mask.sum()), 1.0)))
        pc_all = pc_all.astype(int)
        keep = pconf_all >= thr[pc_all]
        order = np.argsort(-pconf_all[keep], kind="stable")
        pb, pconf, pc = pb_all[keep][order], pconf_all[keep][order], pc_all[keep][order]
        iou = box_iou(tb, pb) if len(tb) and len(pb) else np.zeros((len(tb), len(pb)))
        idx = match_indices(pc, tc, iou)
        found = np.zeros(len(tc), bool)
        found[idx[idx >= 0]] = True
        iou_all = box_iou(tb, pb_all) if len(tb) and len(pb_all) else np.zeros((len(tb), 0))
        in_tile = np.zeros(len(pieces), bool)  # the piece has a label in this tile
        for j in range(len(tc)):
            cls = names[int(tc[j])]
            cand = [
                (float(box_iou(tb[j : j + 1], p[3][None])[0, 0]), k)
                for k, p in enumerate(pieces)
                if p[0].cls == cls and p[0].labelled and not in_tile[k]
            ]
            best = max(cand, default=(0.0, -1))
            if best[0] < 0.5:
                unmatched += 1
                continue
            in_tile[best[1]] = True
            d, pm, cue, _, share = pieces[best[1]]
            bw, bh = tb[j, 2] - tb[j, 0], tb[j, 3] - tb[j, 1]
            same = pc_all == tc[j]
            others = (pc != tc[j]) & (iou[j] >= 0.5) if len(pb) else np.zeros(0, bool)
            near = same & (iou_all[j] >= 0.5) if len(pb_all) else np.zeros(0, bool)
            rows.append(
                {
                    "tile": path.stem,
                    "image": i,
                    "cls": cls,
                    "kind": d.meta.get("kind", ""),
                    "found": bool(found[j]),
                    "best_conf": float(pconf_all[near].max()) if near.any() else 0.0,
                    "same_iou": float(np.where(pc == tc[j], iou[j], 0.0).max()) if len(pb) else 0.0,
                    "other_iou": float(iou[j][others].max()) if others.any() else 0.0,
                    "size": float(np.sqrt(bw * bh)),
                    "long_side": float(max(bw, bh)),
                    "in_tile": share,
                    "edge": bool(tb[j, 0] <= 0 or tb[j, 1] <= 0 or tb[j, 2] >= w or tb[j, 3] >= h),
                    "box": [float(v) for v in tb[j]],
                    **measures(gray, cls, pm, cue),
                }
            )
        free = [p for k, p in enumerate(pieces) if not in_tile[k]]  # drawn, not labelled here
        for d, pm, cue, pbx, share in free:
            if pm.sum() < 24:
                continue
            cid = names.index(d.cls)
            near = (
                (pc_all == cid) & (box_iou(pbx[None], pb_all)[0] >= 0.5)
                if len(pb_all)
                else np.zeros(0, bool)
            )
            bc = float(pconf_all[near].max()) if near.any() else 0.0
            hidden.append(
                {
                    "image": i,
                    "cls": d.cls,
                    "kind": d.meta.get("kind", ""),
                    "why": "tiler" if d.labelled else "generator",
                    "best_conf": bc,
                    "found": bc >= thr[cid],
                    "box": [float(v) for v in pbx],
                    "size": float(np.sqrt(np.prod(pbx[2:] - pbx[:2]))),
                    "in_tile": share,
                    **measures(gray, d.cls, pm, cue),
                }
            )
        claimed = found.copy()
        for k in np.flatnonzero(idx < 0):
            piou = iou[:, k] if len(tb) else np.zeros(0)
            same_lab = tc == pc[k]
            hits = [p[0] for p in free if covers(pb[k], p[1], p[3])]
            if ((piou >= 0.5) & same_lab & claimed).any():
                cause = "duplicate"
            elif ((piou >= 0.5) & ~same_lab).any():
                cause = "wrong class"
            elif ((piou >= 0.1) & same_lab).any():
                cause = "poor box"
            else:
                cause = "unlabelled defect" if hits else "background"
            fps.append(
                {
                    "image": i,
                    "cls": names[int(pc[k])],
                    "conf": float(pconf[k]),
                    "cause": cause,
                    "over": hits[0].cls if cause == "unlabelled defect" else "",
                    "size": float(np.sqrt(np.prod(pb[k, 2:] - pb[k, :2]))),
                    "box": [float(v) for v in pb[k]],
                }
            )

    if a.rows:
        a.rows.write_text(
            "".join(json.dumps({**r, "path": str(images[r["image"]])}) + "\n" for r in rows)
        )
    md = report(a, rows, fps, hidden, names, thr, len(images), unmatched)
    print(md)
    if a.crops:
        write_crops(a.crops, rows, fps, hidden, tiles, names, a.n_crops)
    if a.notes:
        md += "\n\n" + a.notes.read_text().strip()
    if not a.no_write:
        write_section(a.section, md)


def report(
    a: argparse.Namespace,
    rows: list[dict],
    fps: list[dict],
    hidden: list[dict],
    names: list[str],
    thr: np.ndarray,
    n_images: int,
    unmatched: int,
) -> str:
    """The section's markdown: the tables described in the module docstring."""

    def pct(k: int, n: int) -> str:
        return f"{k} ({100 * k / n:.0f} %)" if n else "-"

    def of(name: str, rs: list[dict]) -> list[dict]:
        return [r for r in rs if name in ("all", r["cls"])]

    causes = Counter((r["cls"], miss_cause(r)) for r in rows if not r["found"])
    cause_lines = [
        "| class | labels | found | missed | " + " | ".join(CAUSES) + " |",
        "|" + " --- |" * (len(CAUSES) + 4),
    ]
    conf_lines = [
        "| class | operating conf | missed | best same-class box at IoU ≥ 0.5: ≥ conf/2 "
        "| 0.05 - conf/2 | < 0.05 or none |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c, name in enumerate([*names, "all"]):
        rs = of(name, rows)
        miss = [r for r in rs if not r["found"]]
        cells = [
            pct(
                sum(v for (n, k), v in causes.items() if name in ("all", n) and k == cause),
                len(miss),
            )
            for cause in CAUSES
        ]
        cause_lines.append(
            f"| {name} | {len(rs)} | {len(rs) - len(miss)} | {len(miss)} | "
            + " | ".join(cells)
            + " |"
        )
        own = {n: thr[k] for k, n in enumerate(names)}  # each class's operating confidence
        near = sum(r["best_conf"] >= own[r["cls"]] / 2 for r in miss)
        low = sum(0.05 <= r["best_conf"] < own[r["cls"]] / 2 for r in miss)
        conf_lines.append(
            f"| {name} | {f'{thr[c]:.3f}' if name != 'all' else '-'} | {len(miss)} | "
            f"{pct(near, len(miss))} | {pct(low, len(miss))} | "
            f"{pct(len(miss) - near - low, len(miss))} |"
        )
    flags = {
        "tiny: long side < 8 px": lambda r: r["long_side"] < TINY_SIDE,
        "truncated: < 50 % in tile": lambda r: r["in_tile"] < TRUNCATED,
        "box on the tile edge": lambda r: r["edge"],
        "faint": faint,
    }
    flag_lines = [
        "| class | "
        + " | ".join(f"{k}: recall with / without" for k in flags)
        + " | share of missed / found with step < 24 |",
        "|" + " --- |" * (len(flags) + 2),
    ]

    def rec(rs: list[dict]) -> str:
        return f"{sum(r['found'] for r in rs)}/{len(rs)}" if rs else "-"

    for name in [*names, "all"]:
        rs = of(name, rows)
        miss = [r for r in rs if not r["found"]]
        hit = [r for r in rs if r["found"]]
        cells = [
            f"{rec([r for r in rs if f(r)])} / {rec([r for r in rs if not f(r)])}"
            for f in flags.values()
        ]
        low = (
            f"{100 * sum(r['step'] < 24 for r in miss) / max(len(miss), 1):.0f} % / "
            f"{100 * sum(r['step'] < 24 for r in hit) / max(len(hit), 1):.0f} %"
        )
        flag_lines.append(f"| {name} | " + " | ".join(cells) + f" | {low} |")
    recall_lines = [
        "| class | step 16-24 / 24-32 / 32-48 / ≥48 levels | size < 16 / 16-32 / 32-64 / ≥64 px "
        "| line contrast < 1.2 / 1.2-2 / 2-4 / ≥4 | mean contrast < 0.5 / 0.5-1 / 1-2 / ≥2 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in names:
        rs = of(name, rows)
        recall_lines.append(
            f"| {name} | {binned(rs, 'step', (24, 32, 48))} | {binned(rs, 'size', (16, 32, 64))} "
            f"| {binned(rs, 'line', (1.2, 2, 4)) if name == 'crack' else ''} "
            f"| {binned(rs, 'mean', (0.5, 1, 2)) if name == 'stain' else ''} |"
        )
    stains = [r for r in rows if r["cls"] == "stain"]
    kind_line = "Stain recall by kind (whole / truncated): " + ", ".join(
        f"{k} {rec([r for r in stains if r['kind'] == k and r['in_tile'] >= TRUNCATED])} / "
        f"{rec([r for r in stains if r['kind'] == k and r['in_tile'] < TRUNCATED])}"
        for k in sorted({r["kind"] for r in stains})
    )
    fp_causes = Counter((f["cls"], f["cause"]) for f in fps)
    fp_lines = [
        "| class | operating conf | false positives | "
        + " | ".join(FP_CAUSES)
        + " | median size px |",
        "|" + " --- |" * (len(FP_CAUSES) + 4),
    ]
    for c, name in enumerate([*names, "all"]):
        fs = of(name, fps)
        cells = [
            str(sum(v for (n, k), v in fp_causes.items() if name in ("all", n) and k == cause))
            for cause in FP_CAUSES
        ]
        t = f"{thr[c]:.3f}" if name != "all" else "-"
        size = f"{np.median([f['size'] for f in fs]):.0f}" if fs else "-"
        fp_lines.append(f"| {name} | {t} | {len(fs)} | " + " | ".join(cells) + f" | {size} |")
    over = Counter((f["cls"], f["over"]) for f in fps if f["cause"] == "unlabelled defect")
    hid_lines = [
        "| class | left unlabelled by the generator: found / pieces | by the tiler: found / pieces |",
        "| --- | --- | --- |",
    ]
    for name in names:
        hs = of(name, hidden)
        if hs:
            gen = [h for h in hs if h["why"] == "generator"]
            til = [h for h in hs if h["why"] == "tiler"]
            hid_lines.append(f"| {name} | {rec(gen)} | {rec(til)} |")
    return "\n\n".join(
        [
            f"`python benchmarks/miss_analysis.py --renders {a.renders} --tiles {a.tiles}`: "
            f"{n_images} tiles, model {Path(a.model).name}; each class's boxes at the operating "
            "confidence stored in the model, matched to the labels at IoU 0.5 as evaluate "
            f"matches; {len(rows)} tile labels, {unmatched} of them without a drawn piece.",
            "Missed labels by first cause (tiny: longer side < 8 px > truncated: < 50 % of "
            "the defect's pixels in the tile > faint: step < 24 levels, a crack's line contrast "
            "< 1.2 > wrong class: another class's box at IoU ≥ 0.5 > poor box: a same-class box "
            "at IoU 0.3-0.5 > visible, missed):",
            "\n".join(cause_lines),
            "How close the model came on the missed labels (its best same-class box at "
            "IoU ≥ 0.5, any confidence):",
            "\n".join(conf_lines),
            "Recall (found / labels) with and without each property:",
            "\n".join(flag_lines),
            "Recall by gray step, box size (sqrt area), a crack's line contrast and a stain's "
            "mean contrast (|mean − ring median| / (ring's robust σ + 1), `mean_contrast`):",
            "\n".join(recall_lines),
            kind_line + ".",
            "False positives at the operating confidence by cause (unlabelled defect: on a "
            "drawn defect piece its tile does not label):",
            "\n".join(fp_lines),
            "Unlabelled-defect false positives (box class on defect class): "
            + (", ".join(f"{k[0]} on {k[1]} {v}" for k, v in over.most_common()) or "none")
            + ". Drawn pieces of ≥ 24 px the tile leaves unlabelled, and how many of them the "
            "model finds (a same-class box at IoU ≥ 0.5 at the operating confidence):",
            "\n".join(hid_lines),
        ]
    )


def write_crops(
    out: Path,
    rows: list[dict],
    fps: list[dict],
    hidden: list[dict],
    tiles: list[np.ndarray],
    names: list[str],
    n: int,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def sheet(name: str, sel: list[dict], key: Any = None) -> None:
        if not sel:
            return
        pick = (
            sorted(sel, key=key)[:n]
            if key
            else [sel[k] for k in sorted(rng.permutation(len(sel))[:n])]
        )
        pairs = [crop_pair(tiles[r["image"]], np.array(r["box"]), caption(r)) for r in pick]
        cv2.imwrite(str(out / f"{name}.png"), mosaic(pairs, cols=4)[:, :, ::-1])

    for name in names:
        rs = [r for r in rows if r["cls"] == name]
        sheet(f"miss_{name}", [r for r in rs if not r["found"]])
        sheet(f"found_{name}", [r for r in rs if r["found"]])
        sheet(f"hidden_{name}", [h for h in hidden if h["cls"] == name])
    stains = [r for r in rows if r["cls"] == "stain"]
    sheet("stain_low_mean", stains, key=lambda r: r["mean"])
    sheet("stain_low_step", stains, key=lambda r: r["step"])
    for cause in FP_CAUSES:
        fs = [
            {**f, "step": 0.0, "line": 0.0, "mean": 0.0, "best_conf": f["conf"]}
            for f in fps
            if f["cause"] == cause
        ]
        sheet(f"fp_{cause.replace(' ', '_')}", fs, key=lambda f: -f["conf"])


if __name__ == "__main__":
    main()
