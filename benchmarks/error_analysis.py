"""Where the shipped model fails on synthetic held-out tiles: misses and false positives by cause,
and per label whether the label or the model is to blame.

    finishscan dataset synth --out R640 --n 150 --seed 778 --workers 1
    finishscan dataset tile R640 --out T320 --size 320 --overlap 0
    python benchmarks/error_analysis.py --data T320/data.yaml --renders R640 [--model M.onnx]
        [--split all] [--conf f1|model] [--rerender] [--crops DIR] [--n-crops N]
        [--cache preds.npz] [--focus tile_chip,paint_bubble] [--rows rows.jsonl]
        [--section NAME] [--notes findings.md] [--no-write]

Runs the model through the shipped detector (``detector.Detector`` at evaluate's conf 0.001 and
NMS IoU 0.7; ``--cache`` keeps the boxes) on the tiles of ``--split``, keeps each class's boxes at
the operating confidence (``--conf f1``: evaluate's max-F1 confidence for every class; ``model``:
the per-class ``conf_thresholds`` stored in the model) and matches them to the tile labels as
evaluate does (:func:`training.breakdown.match_indices`: by confidence, same class, IoU >= 0.5).

The tile names (``<stem>_x<X>_y<Y>``) place each tile in its render. A render's defect pixels come
from its ``annotations.coco.json`` (the labelled defects), or with ``--rerender`` from rendering
each photo again with the label rule off (``min_step = min_line_contrast = 0``: the rule only
decides labels, so the bytes must be the same, which is checked): every drawn defect, labelled or
not, its cue (a hollow tile's) and a stain's kind. Each tile label is paired with the same-class
labelled piece whose box it overlaps at IoU >= 0.5 (:func:`pair_labels`) and gets a row: found,
box size (sqrt area) and longer side, ``visible`` (share of the defect's box in the tile) and
``in_tile`` (share of its pixels), ``edge`` (box on the tile edge), the label rule's measures of
:mod:`datasets.visibility` on the tile's gray, on the cue where there is one (``step``,
``contrast`` = :func:`~datasets.visibility.ring_contrast`, ``line`` =
:func:`~datasets.visibility.line_contrast`), a texture-relative area measure tried for stains
(:func:`mean_contrast`), and what the model put near it (:func:`label_evidence`). A label without
a piece gets nan measures and ``visible`` 1.0.

A miss gets two first causes:

- the model's boxes first (:func:`miss_cause`): *wrong class* (another class's box at IoU >= 0.5),
  *poor box* (a same-class box at IoU 0.1-0.5), *clipped* (< 50 % of its box in the tile), *tiny*
  (sqrt area < 8 px), *low contrast* (ring contrast < 1.1, about what plain texture gives), else
  *visible, missed*;
- the label first (:func:`label_cause`): *tiny* (longer side < 8 px), *truncated* (< 50 % of its
  pixels in the tile), *faint* (step < 24 levels = 1.5 x min_step, or a crack's line contrast
  < 1.2 = 1.5 x 0.8), *wrong class*, *poor box* (same-class box at IoU 0.3-0.5), else *visible,
  missed*.

A false positive at the operating confidence (:func:`fp_cause`) is a *duplicate* (IoU >= 0.5 with
a label another box found), *wrong class*, *poor box* (IoU 0.1-0.5 with a same-class label),
*unlabelled defect* (on a defect piece its tile does not label: left out by the tiler's rule, or
with ``--rerender`` by the generator's; :func:`covers`), else *background*. Those pieces of
>= 24 px are listed with whether the model finds them.

For each ``--focus`` class: properties of missed vs found labels (:data:`FLAGS`, not exclusive),
recall by size, contrast and step, and its column of the confusion matrix. Prints the tables and
writes (unless ``--no-write``) the ``--section`` of ``benchmarks/RESULTS.md`` with ``--notes``
appended; ``--crops`` gets sheets to look at (the plain and the boxed crop side by side, caption
:func:`caption`): ``miss_<class>``, ``found_<class>``, ``hidden_<class>`` (unlabelled pieces),
``miss_<cause>`` (model-first causes), ``fp_<cause>``, ``stain_low_mean``, ``stain_low_step``.
Needs numpy, OpenCV, onnxruntime; no torch.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from datasets.visibility import (  # noqa: E402
    MIN_LINE_CONTRAST,
    MIN_STEP,
    RING_PX,
    line_contrast,
    ring_contrast,
)
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
TINY_PX = 8.0  # px, sqrt of box area: "tiny" for the model-first cause
TINY_SIDE = 8.0  # px, longer box side: "tiny" for the label-first cause
LOW_CONTRAST = 1.1  # ring contrast under which a label is "low contrast"
TRUNCATED = 0.5  # share of the defect's pixels in the tile under which it is "truncated"
FAINT = 1.5  # "faint": a measure under this many times its label-rule threshold
HIDDEN_PX = 24  # unlabelled pieces with fewer pixels are not listed
MISS_CAUSES = ("wrong class", "poor box", "clipped", "tiny", "low contrast", "visible, missed")
LABEL_CAUSES = ("tiny", "truncated", "faint", "wrong class", "poor box", "visible, missed")
FP_CAUSES = ("duplicate", "wrong class", "poor box", "unlabelled defect", "background")


@dataclasses.dataclass
class Drawn:
    """One defect of a render: class, render-sized bool mask and its box, its cue (a hollow
    tile's, or None), whether the renders' dataset labels it, and the renderer's meta (a stain's
    ``kind``)."""

    cls: str
    mask: np.ndarray
    box: np.ndarray
    cue: np.ndarray | None
    labelled: bool
    meta: dict[str, Any]


@dataclasses.dataclass
class Piece:
    """A drawn defect's part in one tile: tile-sized bool mask and cue, the mask's box, the share
    of the defect's pixels it holds and of the defect's box inside the tile."""

    drawn: Drawn
    mask: np.ndarray
    cue: np.ndarray | None
    box: np.ndarray
    in_tile: float
    visible: float


def piece_box(mask: np.ndarray) -> np.ndarray | None:
    """The xyxy box (float64) of a bool mask's pixels; None for an empty mask.

    >>> m = np.zeros((5, 6), bool); m[1:3, 2:5] = True
    >>> piece_box(m).tolist()
    [2.0, 1.0, 5.0, 3.0]
    """
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def coco_defects(renders: Path, names: list[str]) -> dict[str, list[Drawn]]:
    """Per render stem, its labelled defects from ``annotations.coco.json`` (polygons or RLE, see
    :func:`datasets.formats.coco.decode_segmentation`)."""
    coco = json.loads((renders / "annotations.coco.json").read_text())
    cat = {c["id"]: c["name"] for c in coco["categories"]}
    ims = {
        im["id"]: (Path(im["file_name"]).stem, im["height"], im["width"]) for im in coco["images"]
    }
    out: dict[str, list[Drawn]] = {}
    for a in coco["annotations"]:
        if a.get("iscrowd") or cat[a["category_id"]] not in names:
            continue
        stem, h, w = ims[a["image_id"]]
        mask = decode_segmentation(a["segmentation"], h, w) > 0
        box = piece_box(mask)
        if box is not None:
            out.setdefault(stem, []).append(Drawn(cat[a["category_id"]], mask, box, None, True, {}))
    return out


def rerender(renders: Path, names: list[str]) -> dict[str, list[Drawn]]:
    """Per render stem, every defect drawn in it: each photo is rendered again from its seed
    (``s<seed>_<i>``, ``default_rng([seed, i])``) with the saved config and the label rule off
    (the defects the generator erased from it, ``erase_unlabelled``, erased again);
    its JPEG must equal the saved one. ``labelled``: a COCO annotation of that class and bbox
    (within 1 px)."""
    from datasets.synthetic import camera, composer, defects
    from datasets.synthetic.replay import RENDER_NAME, load_recipe

    saved, imgsz = load_recipe(renders)
    cfg = dataclasses.replace(saved, min_step=0.0, min_line_contrast=0.0, erase_unlabelled=False)
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
            key = [int(m["seed"]), int(m["i"])]
            erase: frozenset[int] = frozenset()
            rec["inst"] = []
            if saved.erase_unlabelled:  # the defects the saved photo had erased stay erased
                first = composer.render_sample(np.random.default_rng(key), imgsz, saved)
                erase = frozenset(first.meta["erased"])
                rec["inst"] = []  # only the defects of the rendering with the rule off
            s = composer.render_pass(np.random.default_rng(key), imgsz, cfg, erase)
            if s.jpeg != path.read_bytes():
                raise SystemExit(f"{path}: rendering again gave other bytes (other generator?)")
            keyed: dict[tuple[str, int, int], dict[str, Any]] = {}
            for inst in rec["inst"]:
                res = camera.warp_mask(inst.mask, inst.x0, inst.y0, rec["H"], imgsz)
                if res is not None and res[0].any():
                    wm, ox, oy = res
                    ys, xs = np.nonzero(wm)
                    keyed.setdefault((inst.name, ox + int(xs.min()), oy + int(ys.min())), inst.meta)
            todo = list(boxes.get(path.stem, []))
            drawn = []
            cues = s.cues or [None] * len(s.boxes)
            for b, full, cue in zip(s.boxes, s.masks, cues, strict=True):
                name = names[b.class_id]
                xyxy = (b.x0, b.y0, b.x1, b.y1)
                hit = next(
                    (
                        j
                        for j, (c, bb) in enumerate(todo)
                        if c == name and max(abs(u - v) for u, v in zip(bb, xyxy, strict=True)) <= 1
                    ),
                    None,
                )
                if hit is not None:
                    todo.pop(hit)
                meta = keyed.get((name, int(b.x0), int(b.y0)), {})
                meta = {k: v for k, v in meta.items() if isinstance(v, str | int | float)}
                box = piece_box(full)
                if box is not None:
                    drawn.append(Drawn(name, full, box, cue, hit is not None, meta))
            if todo:
                raise SystemExit(f"{path}: labels not drawn with the rule off: {todo}")
            out[path.stem] = drawn
    finally:
        camera.homography = homography
        defects.RENDERERS.update(renderers)
    return out


def predict(model: str, images: list[Path], cache: Path | None) -> list[tuple[np.ndarray, ...]]:
    """``(xyxy, conf, cls)`` per image at evaluate's conf 0.001 / IoU 0.7 through the shipped
    detector (cached in ``cache``)."""
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


def tile_pieces(drawn: list[Drawn], ox: int, oy: int, h: int, w: int) -> list[Piece]:
    """The parts of a render's defects inside the ``h`` x ``w`` tile at (``ox``, ``oy``)."""
    out = []
    for d in drawn:
        part = d.mask[oy : oy + h, ox : ox + w]
        mask = np.zeros((h, w), bool)
        mask[: part.shape[0], : part.shape[1]] = part
        box = piece_box(mask)
        if box is None:
            continue
        cue = None
        if d.cue is not None:
            cue = np.zeros((h, w), bool)
            c = d.cue[oy : oy + h, ox : ox + w]
            cue[: c.shape[0], : c.shape[1]] = c
        whole = d.box - [ox, oy, ox, oy]
        clipped = np.clip(whole, 0, [w, h, w, h])
        area = (whole[2] - whole[0]) * (whole[3] - whole[1])
        visible = float((clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) / max(area, 1e-9))
        share = float(mask.sum()) / max(float(d.mask.sum()), 1.0)
        out.append(Piece(d, mask, cue, box, share, visible))
    return out


def pair_labels(tb: np.ndarray, tc: np.ndarray, names: list[str], pieces: list[Piece]) -> list[int]:
    """For each tile label in turn, the index of the unpaired labelled piece of its class whose
    box it overlaps most, if at IoU >= 0.5; else -1.

    >>> d = Drawn("crack", np.ones((4, 4), bool), np.array([0.0, 0, 4, 4]), None, True, {})
    >>> p = Piece(d, d.mask, None, d.box, 1.0, 1.0)
    >>> pair_labels(np.array([[0.0, 0, 4, 4], [0, 0, 4, 3]]), np.array([0, 0]), ["crack"], [p])
    [0, -1]
    """
    used = np.zeros(len(pieces), bool)
    out = []
    for j in range(len(tc)):
        cand = [
            (float(box_iou(tb[j : j + 1], p.box[None])[0, 0]), k)
            for k, p in enumerate(pieces)
            if p.drawn.cls == names[int(tc[j])] and p.drawn.labelled and not used[k]
        ]
        iou, k = max(cand, default=(0.0, -1))
        if iou < 0.5:
            k = -1
        else:
            used[k] = True
        out.append(k)
    return out


def mean_contrast(gray: np.ndarray, mask: np.ndarray, ring: int = RING_PX) -> float:
    """A texture-relative measure for an area (a stain), tried here and not part of the label
    rule: |mean of the mask's gray minus the median of its ``ring``-px ring| over (1.4826 x the
    ring's median absolute deviation + 1). Unlike the gray step it does not count the variance
    inside the mask; 0.0 when the mask or its ring has fewer than 3 pixels.

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


def measures(gray: np.ndarray, mask: np.ndarray, cue: np.ndarray | None) -> dict[str, float]:
    """The label rule's measures of a tile piece on the 2-D uint8 ``gray`` (on its cue where it
    has one): ``step`` and ``contrast`` (:func:`~datasets.visibility.ring_contrast`), ``line``
    (:func:`~datasets.visibility.line_contrast`), and the tried ``mean`` (:func:`mean_contrast`)."""
    judged = mask if cue is None or not cue.any() else cue
    step, contrast = ring_contrast(gray, judged)
    return {
        "step": step,
        "contrast": contrast,
        "line": line_contrast(gray, judged),
        "mean": mean_contrast(gray, judged),
    }


NO_PIECE: dict[str, Any] = {"visible": 1.0, "in_tile": float("nan"), "kind": ""} | dict.fromkeys(
    ("step", "contrast", "line", "mean"), float("nan")
)


def label_evidence(
    tb: np.ndarray,
    tc: np.ndarray,
    pb: np.ndarray,
    pconf: np.ndarray,
    pc: np.ndarray,
    thr: float | np.ndarray,
) -> dict[str, np.ndarray]:
    """What the model put near each label (boxes in the same pixels; predictions at any
    confidence; ``thr`` the operating confidence, one or per class).

    ``same_iou``: best IoU with a same-class box at its operating confidence; ``other_iou`` /
    ``other_cls``: best IoU with another class's box at its operating confidence and that box's
    class (-1 for none); ``best_conf``: highest confidence of a same-class box at IoU ≥ 0.5, any
    confidence (0 for none).

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
    pc = np.asarray(pc).astype(int)
    cut = np.asarray(thr, np.float64)
    iou = box_iou(np.asarray(tb, np.float64), np.asarray(pb, np.float64))  # (n, P)
    same = np.asarray(tc)[:, None] == pc[None, :]
    op = (np.asarray(pconf) >= (cut[pc] if cut.ndim else cut))[None, :]
    out["same_iou"] = np.where(same & op, iou, 0.0).max(1)
    other = np.where(~same & op, iou, 0.0)
    out["other_iou"] = other.max(1)
    out["other_cls"] = np.where(out["other_iou"] > 0, pc[other.argmax(1)], -1)
    out["best_conf"] = np.where(same & (iou >= 0.5), np.asarray(pconf)[None, :], 0.0).max(1)
    return out


def miss_cause(r: dict) -> str:
    """A missed label's first cause, the model's boxes first (:data:`MISS_CAUSES`)."""
    if r["other_iou"] >= 0.5:
        return "wrong class"
    if r["same_iou"] >= 0.1:
        return "poor box"
    if r["visible"] < 0.5:
        return "clipped"
    if r["size"] < TINY_PX:
        return "tiny"
    if r["contrast"] < LOW_CONTRAST:
        return "low contrast"
    return "visible, missed"


def faint(r: dict) -> bool:
    """Within 1.5 x of the label rule's thresholds: step < 24 levels, a crack's line contrast
    < 1.2."""
    return r["step"] < FAINT * MIN_STEP or (
        r["cls"] == "crack" and r["line"] < FAINT * MIN_LINE_CONTRAST
    )


def label_cause(r: dict) -> str:
    """A missed label's first cause, the label first (:data:`LABEL_CAUSES`).

    >>> r = {"long_side": 20, "in_tile": 0.9, "step": 30, "line": 2, "cls": "crack",
    ...      "other_iou": 0.0, "same_iou": 0.4}
    >>> label_cause(r), label_cause(r | {"in_tile": 0.3}), label_cause(r | {"line": 1.0})
    ('poor box', 'truncated', 'faint')
    """
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


def fp_cause(
    box: np.ndarray,
    cls: int,
    iou: np.ndarray,
    tc: np.ndarray,
    claimed: np.ndarray,
    free: list[Piece],
) -> tuple[str, str]:
    """An unmatched box's cause (:data:`FP_CAUSES`) and, for *unlabelled defect*, the class of
    the piece it sits on. ``iou``: its IoU with each tile label (class ``tc``, ``claimed`` when
    another box found it); ``free``: the tile's pieces no label holds."""
    same = tc == cls
    if ((iou >= 0.5) & same & claimed).any():
        return "duplicate", ""
    if ((iou >= 0.5) & ~same).any():
        return "wrong class", ""
    if ((iou >= 0.1) & same).any():
        return "poor box", ""
    over = next((p.drawn.cls for p in free if covers(box, p.mask, p.box)), None)
    return ("unlabelled defect", over) if over else ("background", "")


# Non-exclusive properties of a label, each a test on its row (size in model px, visible
# fraction, contrast, and :func:`label_evidence` at the label's operating confidence ``thr``).
FLAGS: dict[str, Callable[[dict], bool]] = {
    f"tiny < {TINY_PX:g} px": lambda r: r["size"] < TINY_PX,
    f"small {TINY_PX:g}-16 px": lambda r: TINY_PX <= r["size"] < 16,
    "clipped (< 50 % of its box in the tile)": lambda r: r["visible"] < 0.5,
    "cut by the tile edge (< 95 %)": lambda r: r["visible"] < 0.95,
    f"low contrast < {LOW_CONTRAST}": lambda r: r["contrast"] < LOW_CONTRAST,
    "gray step < 16 levels": lambda r: r["step"] < 16,
    "other class's box at IoU ≥ 0.5": lambda r: r["other_iou"] >= 0.5,
    "same-class box at IoU 0.3-0.5": lambda r: 0.3 <= r["same_iou"] < 0.5,
    "same-class box at IoU ≥ 0.5 at conf thr/2 - thr": lambda r: (
        r["thr"] / 2 <= r["best_conf"] < r["thr"]
    ),
    "same-class box at IoU ≥ 0.5 only at conf < thr/2": lambda r: 0 < r["best_conf"] < r["thr"] / 2,
    "no same-class box at IoU ≥ 0.3, any conf": lambda r: (
        r["best_conf"] == 0 and r["same_iou"] < 0.3
    ),
}


def flag_table(rows: list[dict]) -> str:
    """Markdown: per flag, the share of missed and of found labels that have it, and the recall of
    the labels that have it."""
    miss = [r for r in rows if not r["found"]]
    hit = [r for r in rows if r["found"]]
    lines = [
        f"| property | missed ({len(miss)}) | found ({len(hit)}) | recall with it |",
        "| --- | --- | --- | --- |",
    ]

    def share(rs: list[dict], f: Callable[[dict], bool]) -> str:
        k = sum(f(r) for r in rs)
        return f"{k} ({100 * k / len(rs):.0f} %)" if rs else "-"

    for name, f in FLAGS.items():
        with_it = [r for r in rows if f(r)]
        rec = sum(r["found"] for r in with_it) / len(with_it) if with_it else float("nan")
        lines.append(
            f"| {name} | {share(miss, f)} | {share(hit, f)} | "
            + (f"{rec:.2f} of {len(with_it)}" if with_it else "-")
            + " |"
        )
    return "\n".join(lines)


def binned(rows: list[dict], key: str, edges: tuple[float, ...], sep: str = " / ") -> str:
    """``found/labels`` per bin of ``key`` split at ``edges``, joined by ``sep``.

    >>> binned([{"found": True, "x": 1}, {"found": False, "x": 5}, {"found": True, "x": 6}], "x", (2, 4))
    '1/1 / - / 1/2'
    """
    cells = []
    bounds = [-np.inf, *edges, np.inf]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        sel = [r for r in rows if lo <= r[key] < hi]
        cells.append(f"{sum(r['found'] for r in sel)}/{len(sel)}" if sel else "-")
    return sep.join(cells)


def caption(r: dict) -> str:
    """A label's crop caption: ``size px, d step, l line contrast (crack) or m mean contrast,
    c ring contrast, p best confidence``."""
    third = f"l{r['line']:.1f}" if r["cls"] == "crack" else f"m{r['mean']:.1f}"
    return f"{r['size']:.0f}px d{r['step']:.0f} {third} c{r['contrast']:.1f} p{r['best_conf']:.2f}"


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


@dataclasses.dataclass
class Analysis:
    """Everything the report and the crops need: one row per tile label, per false positive and
    per unlabelled piece (dicts, written as JSON lines by ``--rows``), and the totals."""

    names: list[str]
    thr: np.ndarray  # operating confidence per class
    f1_conf: float  # evaluate's max-F1 confidence
    map50: float
    rows: list[dict]
    fps: list[dict]
    hidden: list[dict]
    cm: np.ndarray  # ultralytics' confusion matrix at the operating confidences, IoU > 0.45
    size_lines: list[str]
    unpaired: int


def analyse(
    images: list[Path],
    tiles: list[np.ndarray],
    labels: list[tuple[np.ndarray, np.ndarray]],
    preds: list[tuple[np.ndarray, ...]],
    drawn: dict[str, list[Drawn]],
    names: list[str],
    model_thr: dict[str, float] | None,
) -> Analysis:
    """Match, pair and measure (module docstring); ``model_thr`` None: evaluate's max-F1
    confidence for every class."""
    records = [
        (pb, pconf, pc, tb, tc) for (pb, pconf, pc), (tc, tb) in zip(preds, labels, strict=True)
    ]
    metrics, _ = accumulate(records, len(names))
    f1 = float(metrics.conf_threshold)
    thr = np.array([model_thr.get(n, 0.25) for n in names] if model_thr else [f1] * len(names))
    rows: list[dict] = []
    fps: list[dict] = []
    hidden: list[dict] = []
    cm = np.zeros((len(names) + 1,) * 2, np.int64)
    unpaired = 0
    for i, (path, tile, (pb_all, pconf_all, pc_all, tb, tc)) in enumerate(
        zip(images, tiles, records, strict=True)
    ):
        h, w = tile.shape[:2]
        gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)
        m = TILE_NAME.match(path.stem)
        if not m:
            raise SystemExit(f"{path}: not a tile name <stem>_x<X>_y<Y>")
        pieces = tile_pieces(drawn.get(m["stem"], []), int(m["x"]), int(m["y"]), h, w)
        pc_all = pc_all.astype(int)
        keep = pconf_all >= thr[pc_all]
        order = np.argsort(-pconf_all[keep], kind="stable")
        pb, pconf, pc = pb_all[keep][order], pconf_all[keep][order], pc_all[keep][order]
        cm += confusion_matrix(pb, pconf, pc, tb, tc, len(names), conf=0.0)
        iou = box_iou(tb, pb) if len(tb) and len(pb) else np.zeros((len(tb), len(pb)))
        idx = match_indices(pc, tc, iou)
        found = np.zeros(len(tc), bool)
        found[idx[idx >= 0]] = True
        ev = label_evidence(tb, tc, pb_all, pconf_all, pc_all, thr)
        paired = pair_labels(tb, tc, names, pieces)
        for j, k in enumerate(paired):
            cls = names[int(tc[j])]
            bw, bh = tb[j, 2] - tb[j, 0], tb[j, 3] - tb[j, 1]
            if k < 0:
                unpaired += 1
                piece = NO_PIECE
            else:
                p = pieces[k]
                kind = str(p.drawn.meta.get("kind", ""))
                piece = {"visible": p.visible, "in_tile": p.in_tile, "kind": kind}
                piece |= measures(gray, p.mask, p.cue)
            rows.append(
                {
                    "tile": path.stem,
                    "image": i,
                    "cls": cls,
                    "found": bool(found[j]),
                    "thr": float(thr[int(tc[j])]),
                    "size": float(box_size(tb[j : j + 1])[0]),
                    "long_side": float(max(bw, bh)),
                    "edge": bool(tb[j, 0] <= 0 or tb[j, 1] <= 0 or tb[j, 2] >= w or tb[j, 3] >= h),
                    "box": [float(v) for v in tb[j]],
                    **piece,
                    **{key: v[j].item() for key, v in ev.items()},
                }
            )
        free = [p for k, p in enumerate(pieces) if k not in paired]  # drawn, not labelled here
        for p in free:
            if p.mask.sum() < HIDDEN_PX:
                continue
            cid = names.index(p.drawn.cls)
            near = np.zeros(len(pb_all), bool)
            if len(pb_all):
                near = (pc_all == cid) & (box_iou(p.box[None], pb_all)[0] >= 0.5)
            bc = float(pconf_all[near].max()) if near.any() else 0.0
            hidden.append(
                {
                    "image": i,
                    "cls": p.drawn.cls,
                    "kind": str(p.drawn.meta.get("kind", "")),
                    "why": "tiler" if p.drawn.labelled else "generator",
                    "best_conf": bc,
                    "found": bc >= thr[cid],
                    "box": [float(v) for v in p.box],
                    "size": float(np.sqrt(np.prod(p.box[2:] - p.box[:2]))),
                    "in_tile": p.in_tile,
                    **measures(gray, p.mask, p.cue),
                }
            )
        for q in np.flatnonzero(idx < 0):
            piou = iou[:, q] if len(tb) else np.zeros(0)
            cause, over = fp_cause(pb[q], int(pc[q]), piou, tc, found, free)
            fps.append(
                {
                    "image": i,
                    "cls": names[int(pc[q])],
                    "conf": float(pconf[q]),
                    "cause": cause,
                    "over": over,
                    "size": float(np.sqrt(np.prod(pb[q, 2:] - pb[q, :2]))),
                    "box": [float(v) for v in pb[q]],
                }
            )
    return Analysis(
        names,
        thr,
        f1,
        float(metrics.map50),
        rows,
        fps,
        hidden,
        cm,
        size_table(records, tiles, names, f1),
        unpaired,
    )


def size_table(records: list, tiles: list[np.ndarray], names: list[str], f1: float) -> list[str]:
    """evaluate's ``by_size`` as markdown rows (recall and false positives at ``f1``)."""
    imgsz = (tiles[0].shape[0], tiles[0].shape[1])  # held-out tiles are model-sized
    edges = size_edges(imgsz)
    by = size_breakdown(
        match_by_size(records, [1.0] * len(records), edges), names, edges=edges, conf_threshold=f1
    )
    lines = [
        "| size (sqrt area, px) | labels | mAP50 | recall | false positives | "
        + " | ".join(f"{n} AP50 / R" for n in names)
        + " |",
        "|" + " --- |" * (5 + len(names)),
    ]
    for b in ("small", "medium", "large"):
        lo, hi = by["buckets_px"][b]
        o = by[b]
        cells = [
            "-" if v["labels"] == 0 else f"{v['ap50']:.3f} / {v['recall']:.2f} ({v['labels']})"
            for v in o["per_class"].values()
        ]
        lines.append(
            f"| {b} {lo:g}-{hi if hi is not None else '':} | {o['labels']} | "
            f"{o['map50'] if o['map50'] is not None else '-'} | {o['recall']} | "
            f"{o['false_positives']} | " + " | ".join(cells) + " |"
        )
    return lines


def pct(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else "-"


def recall(rs: list[dict]) -> str:
    return f"{sum(r['found'] for r in rs)}/{len(rs)}" if rs else "-"


def of(name: str, rs: list[dict]) -> list[dict]:
    """The rows of class ``name`` ("all": every row)."""
    return [r for r in rs if name in ("all", r["cls"])]


def model_first_tables(an: Analysis) -> list[str]:
    """The misses by their model-first cause (counts) and the median contrast and size of found
    vs missed labels."""
    causes = Counter((r["cls"], miss_cause(r)) for r in an.rows if not r["found"])
    lines = ["| class | missed | " + " | ".join(MISS_CAUSES) + " |"]
    lines.append("|" + " --- |" * (len(MISS_CAUSES) + 2))
    for name in [*an.names, "all"]:
        row = [
            sum(v for (n, c), v in causes.items() if name in ("all", n) and c == k)
            for k in MISS_CAUSES
        ]
        lines.append(f"| {name} | {sum(row)} | " + " | ".join(map(str, row)) + " |")

    def med(rs: list[dict], key: str) -> str:
        v = [r[key] for r in rs if not np.isnan(r[key])]
        return f"{np.median(v):.1f}" if v else "-"

    ctx = ["| class | contrast found / missed | size px found / missed |", "| --- | --- | --- |"]
    for name in an.names:
        rs = of(name, an.rows)
        hit, miss = [r for r in rs if r["found"]], [r for r in rs if not r["found"]]
        ctx.append(
            f"| {name} | {med(hit, 'contrast')} / {med(miss, 'contrast')} | "
            f"{med(hit, 'size')} / {med(miss, 'size')} |"
        )
    return [
        "Missed labels by first cause, the model's boxes first (wrong class > poor box: a "
        "same-class box at IoU 0.1-0.5 > clipped: < 50 % of its box in the tile > tiny "
        f"< {TINY_PX:.0f} px sqrt area > low contrast < {LOW_CONTRAST} ring σ > visible, missed):",
        "\n".join(lines),
        "Median contrast (RMS of defect pixels − 4-px ring mean, / ring σ) and size of found vs "
        "missed labels:",
        "\n".join(ctx),
    ]


def label_first_tables(an: Analysis) -> list[str]:
    """The misses by their label-first cause, how close the model came, recall with and without
    each property and by measure, and a stain's kind."""
    names, rows, thr = an.names, an.rows, an.thr
    causes = Counter((r["cls"], label_cause(r)) for r in rows if not r["found"])
    cause_lines = [
        "| class | labels | found | missed | " + " | ".join(LABEL_CAUSES) + " |",
        "|" + " --- |" * (len(LABEL_CAUSES) + 4),
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
            for cause in LABEL_CAUSES
        ]
        cause_lines.append(
            f"| {name} | {len(rs)} | {len(rs) - len(miss)} | {len(miss)} | "
            + " | ".join(cells)
            + " |"
        )
        near = sum(r["best_conf"] >= r["thr"] / 2 for r in miss)
        low = sum(0.05 <= r["best_conf"] < r["thr"] / 2 for r in miss)
        conf_lines.append(
            f"| {name} | {f'{thr[c]:.3f}' if name != 'all' else '-'} | {len(miss)} | "
            f"{pct(near, len(miss))} | {pct(low, len(miss))} | "
            f"{pct(len(miss) - near - low, len(miss))} |"
        )
    flags: dict[str, Callable[[dict], bool]] = {
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
    for name in [*names, "all"]:
        rs = of(name, rows)
        miss = [r for r in rs if not r["found"]]
        hit = [r for r in rs if r["found"]]
        cells = [
            f"{recall([r for r in rs if f(r)])} / {recall([r for r in rs if not f(r)])}"
            for f in flags.values()
        ]
        low24 = (
            f"{100 * sum(r['step'] < 24 for r in miss) / max(len(miss), 1):.0f} % / "
            f"{100 * sum(r['step'] < 24 for r in hit) / max(len(hit), 1):.0f} %"
        )
        flag_lines.append(f"| {name} | " + " | ".join(cells) + f" | {low24} |")
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
    out = [
        "Missed labels by first cause, the label first (tiny: longer side < 8 px > truncated: "
        "< 50 % of the defect's pixels in the tile > faint: step < 24 levels, a crack's line "
        "contrast < 1.2 > wrong class: another class's box at IoU ≥ 0.5 > poor box: a same-class "
        "box at IoU 0.3-0.5 > visible, missed):",
        "\n".join(cause_lines),
        "How close the model came on the missed labels (its best same-class box at "
        "IoU ≥ 0.5, any confidence):",
        "\n".join(conf_lines),
        "Recall (found / labels) with and without each property:",
        "\n".join(flag_lines),
        "Recall by gray step, box size (sqrt area), a crack's line contrast and a stain's "
        "mean contrast (|mean − ring median| / (ring's robust σ + 1), `mean_contrast`):",
        "\n".join(recall_lines),
    ]
    stains = [r for r in rows if r["cls"] == "stain"]
    kinds = sorted({r["kind"] for r in stains} - {""})
    if kinds:  # only --rerender knows a stain's kind
        out.append(
            "Stain recall by kind (whole / truncated): "
            + ", ".join(
                f"{k} {recall([r for r in stains if r['kind'] == k and r['in_tile'] >= TRUNCATED])} / "
                f"{recall([r for r in stains if r['kind'] == k and r['in_tile'] < TRUNCATED])}"
                for k in kinds
            )
            + "."
        )
    return out


def fp_tables(an: Analysis) -> list[str]:
    """False positives by cause, what the unlabelled-defect ones sit on, and the unlabelled pieces
    the model finds."""
    fp_causes = Counter((f["cls"], f["cause"]) for f in an.fps)
    lines = [
        "| class | operating conf | false positives | "
        + " | ".join(FP_CAUSES)
        + " | median size px |",
        "|" + " --- |" * (len(FP_CAUSES) + 4),
    ]
    for c, name in enumerate([*an.names, "all"]):
        fs = of(name, an.fps)
        cells = [
            str(sum(v for (n, k), v in fp_causes.items() if name in ("all", n) and k == cause))
            for cause in FP_CAUSES
        ]
        t = f"{an.thr[c]:.3f}" if name != "all" else "-"
        size = f"{np.median([f['size'] for f in fs]):.0f}" if fs else "-"
        lines.append(f"| {name} | {t} | {len(fs)} | " + " | ".join(cells) + f" | {size} |")
    over = Counter((f["cls"], f["over"]) for f in an.fps if f["cause"] == "unlabelled defect")
    hid = [
        "| class | left unlabelled by the generator: found / pieces | by the tiler: found / pieces |",
        "| --- | --- | --- |",
    ]
    for name in an.names:
        hs = of(name, an.hidden)
        if hs:
            gen = [h for h in hs if h["why"] == "generator"]
            til = [h for h in hs if h["why"] == "tiler"]
            hid.append(f"| {name} | {recall(gen)} | {recall(til)} |")
    return [
        "False positives at the operating confidence by cause (unlabelled defect: on a "
        "drawn defect piece its tile does not label):",
        "\n".join(lines),
        "Unlabelled-defect false positives (box class on defect class): "
        + (", ".join(f"{k[0]} on {k[1]} {v}" for k, v in over.most_common()) or "none")
        + f". Drawn pieces of ≥ {HIDDEN_PX} px the tile leaves unlabelled, and how many of them "
        "the model finds (a same-class box at IoU ≥ 0.5 at the operating confidence):",
        "\n".join(hid),
    ]


def focus_tables(an: Analysis, name: str) -> list[str]:
    """One class's properties of missed vs found labels, recall by size, contrast and step, and
    its confusion-matrix column and row."""
    names, cm = an.names, an.cm
    cid = names.index(name)
    rs = of(name, an.rows)
    if not rs:
        return [f"**{name}**: no labels."]
    miss = [r for r in rs if not r["found"]]
    confused = Counter(
        names[int(r["other_cls"])] for r in miss if r["other_iou"] >= 0.5
    ).most_common()
    col = cm[:, cid]  # rows: predicted class (nc = nothing), IoU > 0.45, at the operating conf
    return [
        f"**{name}**: {len(rs)} labels, {len(miss)} missed at the operating confidence. "
        "Properties of missed vs found labels (not exclusive; size in model px = tile px):",
        flag_table(rs),
        "Recall by size (sqrt area, px) <8 | 8-16 | 16-32 | 32-64 | ≥64: "
        + binned(rs, "size", (8, 16, 32, 64), " | ")
        + "; by contrast (ring σ) <1.1 | 1.1-2 | 2-4 | ≥4: "
        + binned(rs, "contrast", (LOW_CONTRAST, 2, 4), " | ")
        + "; by gray step (levels) <8 | 8-16 | 16-32 | ≥32: "
        + binned(rs, "step", (8, 16, 32), " | ")
        + ".",
        f"Confusion (ultralytics' matrix at conf {an.thr[cid]:.3f}, IoU > 0.45): true {name} -> "
        + ", ".join(
            f"{(names + ['nothing'])[k]} {int(col[k])}"
            for k in np.argsort(-col, kind="stable")
            if col[k]
        )
        + f"; predicted {name} on: "
        + ", ".join(
            f"{(names + ['background'])[k]} {int(cm[cid, k])}"
            for k in np.argsort(-cm[cid], kind="stable")
            if cm[cid, k] and k != cid
        )
        + ". Misses under another class's box at IoU ≥ 0.5: "
        + (", ".join(f"{k} {v}" for k, v in confused) or "none")
        + ".",
    ]


def report(a: argparse.Namespace, an: Analysis, n_images: int) -> str:
    """The section's markdown: the tables described in the module docstring."""
    cmd = f"python benchmarks/error_analysis.py --data {a.data} --renders {a.renders}"
    cmd += " --rerender" * a.rerender + f" --conf {a.conf}"
    cmd += f" --focus {a.focus}" if a.focus else ""
    if a.conf == "model":
        op = "each class's confidence stored in the model"
    else:
        op = f"evaluate's max-F1 confidence {an.f1_conf:.3f} for every class"
    head = (
        f"`{cmd}`: {n_images} tiles ({a.split}), model {Path(a.model).name}, mAP50 "
        f"{an.map50:.3f}; boxes at the operating confidence ({op}), matched to the labels at "
        f"IoU 0.5 as evaluate matches; {len(an.rows)} tile labels, {an.unpaired} of them without "
        f"a {'drawn' if a.rerender else 'labelled'} piece."
    )
    return "\n\n".join(
        [
            head,
            "By box size (evaluate's `by_size`; recall and false positives at evaluate's max-F1 "
            f"confidence {an.f1_conf:.3f}; per class AP50 / recall (labels)):",
            "\n".join(an.size_lines),
            *model_first_tables(an),
            *label_first_tables(an),
            *fp_tables(an),
            *(md for name in a.focus.split(",") if name for md in focus_tables(an, name)),
        ]
    )


def write_crops(out: Path, an: Analysis, tiles: list[np.ndarray], n: int) -> None:
    """The crop sheets of the module docstring, ``n`` crops each."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def sheet(
        name: str, sel: list[dict], key: Any = None, text: Callable[[dict], str] = caption
    ) -> None:
        if not sel:
            return
        pick = (
            sorted(sel, key=key)[:n]
            if key
            else [sel[k] for k in sorted(rng.permutation(len(sel))[:n])]
        )
        pairs = [crop_pair(tiles[r["image"]], np.array(r["box"]), text(r)) for r in pick]
        cv2.imwrite(str(out / f"{name}.png"), mosaic(pairs, cols=4)[:, :, ::-1])

    for name in an.names:
        rs = of(name, an.rows)
        sheet(f"miss_{name}", [r for r in rs if not r["found"]])
        sheet(f"found_{name}", [r for r in rs if r["found"]])
        sheet(f"hidden_{name}", of(name, an.hidden))
    for cause in MISS_CAUSES:
        slug = cause.replace(", ", "_").replace(" ", "_")
        sheet(f"miss_{slug}", [r for r in an.rows if not r["found"] and miss_cause(r) == cause])
    stains = of("stain", an.rows)
    sheet("stain_low_mean", stains, key=lambda r: r["mean"])
    sheet("stain_low_step", stains, key=lambda r: r["step"])
    for cause in FP_CAUSES:
        fs = [f for f in an.fps if f["cause"] == cause]
        sheet(
            f"fp_{cause.replace(' ', '_')}",
            fs,
            key=lambda f: -f["conf"],
            text=lambda f: (
                f"{f['cls'][:10]} p{f['conf']:.2f} {f['size']:.0f}px"
                + (f" on {f['over']}" if f["over"] else "")
            ),
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the tiles' data.yaml")
    ap.add_argument("--renders", type=Path, required=True, help="the renders the tiles are cut of")
    ap.add_argument("--model", default="models/finishscan-yolo26n-320.onnx")
    ap.add_argument("--split", default="all")
    ap.add_argument(
        "--conf",
        choices=("f1", "model"),
        default="f1",
        help="operating confidence: evaluate's max-F1 for every class, or each class's in the model",
    )
    ap.add_argument(
        "--rerender",
        action="store_true",
        help="render the photos again with the label rule off (every drawn defect, its cue, kind)",
    )
    ap.add_argument("--crops", type=Path, help="write crop sheets here")
    ap.add_argument("--n-crops", type=int, default=32, help="crops per sheet")
    ap.add_argument("--cache", type=Path, help="predictions cache (.npz)")
    ap.add_argument("--focus", default="tile_chip,paint_bubble", help="classes to break down")
    ap.add_argument("--rows", type=Path, help="write every label's row (JSON lines) here")
    ap.add_argument("--section", default="error_analysis", help="RESULTS.md section to write")
    ap.add_argument("--notes", type=Path, help="markdown to append to the section (findings)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    cv2.setNumThreads(1)

    from detector import Detector, load_image

    spec = read_data_yaml(a.data)
    names = list(spec.names)
    images = spec.images(a.split)
    model_thr = Detector(a.model, threads=1).conf_thresholds if a.conf == "model" else None
    preds = predict(a.model, images, a.cache)
    tiles = [load_image(p) for p in images]
    labels = [load_labels(p, (t.shape[1], t.shape[0])) for p, t in zip(images, tiles, strict=True)]
    drawn = rerender(a.renders, names) if a.rerender else coco_defects(a.renders, names)
    an = analyse(images, tiles, labels, preds, drawn, names, model_thr)
    if a.rows:
        a.rows.write_text(
            "".join(json.dumps({**r, "path": str(images[r["image"]])}) + "\n" for r in an.rows)
        )
    md = report(a, an, len(images))
    print(md)
    if a.crops:
        write_crops(a.crops, an, tiles, a.n_crops)
    if a.notes:
        md += "\n\n" + a.notes.read_text().strip()
    if not a.no_write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
