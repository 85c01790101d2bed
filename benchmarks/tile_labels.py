"""Tile labels before and after exact masks and hollow-tile cues (``finishscan dataset tile``).

    python benchmarks/tile_labels.py --renders R640 [--size 320] [--min-pixels 24]
        [--model M.onnx] [--no-write]

``R640`` is a ``finishscan dataset synth`` folder whose ``annotations.coco.json`` holds each
defect's exact mask (RLE) and, for hollow tiles, its cue mask. Cuts every render with the
detector's grid (overlap 0) and gives each tile's labels by three rules, per class:

- box rule: clipped box kept if >= 20 % of the box (``min_visible`` 0.2, ``min_side`` 3);
- before: the pixel rule on the masks the writer stored until now, outer contours of >= 3
  points (``cv2.RETR_EXTERNAL``) filled: recomputed here from the exact masks, so one render
  set serves both (checked against an older file with ``--polygons OLD.json``);
- after: the pixel rule on the exact masks, plus the cue rule (a label whose annotation has a
  cue needs ``min_pixels`` of its cue, or half of it, in the tile).

and how "after" differs from "before": unchanged, box changed, dropped (no cue / no or too few
pixels), added. With ``--model``, the recall (IoU 0.5, same class, confidence 0.105) of the
hollow-tile pieces kept and of those dropped for showing no cue. Writes the ``tile_labels``
section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from datasets.formats import yolo  # noqa: E402
from datasets.tools.tile import DefectMask, clip_boxes, clip_masks, coco_masks  # noqa: E402
from datasets.types import Box  # noqa: E402
from detector.tiling import slice_grid  # noqa: E402


def traced(mask: np.ndarray) -> list[list[float]]:
    """The polygons the writer stored before exact masks: outer contours of >= 3 points."""
    cs, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [[float(v) for v in c.reshape(-1)] for c in cs if len(c) >= 3]


def full(d: DefectMask | None, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w), bool)
    if d is not None:
        out[d.y0 : d.y0 + d.mask.shape[0], d.x0 : d.x0 + d.mask.shape[1]] = d.mask
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=Path, required=True)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--min-pixels", type=int, default=24)
    ap.add_argument("--polygons", type=Path, help="the same renders' older polygon COCO file")
    ap.add_argument("--model")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()

    ds = yolo.load(a.renders)
    shapes = coco_masks(a.renders / "annotations.coco.json", ds)
    older: dict[Path, list] = {}
    if a.polygons:  # the same renders written before: matched by path inside their folder
        root = a.polygons.parent
        prev = coco_masks(a.polygons, yolo.load(root))
        older = {a.renders / p.relative_to(root): v for p, v in prev.items()}
    det = None
    if a.model:
        from detector import Detector, load_image

        det = Detector(a.model, threads=1, conf=0.105)
    keys = ("box", "old", "new", "same", "changed", "gone_cue", "gone_px", "added")
    n: dict[str, Counter] = {k: Counter() for k in keys}
    ratio: dict[str, list[float]] = defaultdict(list)
    px: dict[str, Counter] = defaultdict(Counter)  # exact / filled-in / lost pixels per class
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    tiles = nomask = checked = differ = 0
    clip = {"min_pixels": a.min_pixels, "min_visible": 0.2, "min_side": 3.0}
    for im in ds.images:
        per = shapes.get(im.path, [None] * len(im.boxes))
        new = [None if s is None else s.decode() for s in per]
        old: list[DefectMask | None] = []
        for k, (b, d) in enumerate(zip(im.boxes, new, strict=True)):
            if d is None:
                old.append(None)
                nomask += 1
                continue
            exact = full(d, im.height, im.width)
            poly = traced(exact)
            o = DefectMask.from_polygons(poly) if poly else None
            filled = full(o, im.height, im.width)
            c = ds.names[b.class_id]
            px[c]["exact"] += int(exact.sum())
            px[c]["extra"] += int((filled & ~exact).sum())
            px[c]["lost"] += int((exact & ~filled).sum())
            old.append(o)
            if im.path in older and older[im.path][k] is not None:
                checked += 1
                differ += older[im.path][k].segmentation != poly
        img = load_image(im.path) if det else np.zeros((0, 0, 3), np.uint8)
        for win in slice_grid(im.height, im.width, a.size, a.size, 0.0).tolist():
            tiles += 1
            probe: list[tuple[Box, bool]] = []
            for b, o, d in zip(im.boxes, old, new, strict=True):
                c = ds.names[b.class_id]
                bx, _ = clip_boxes([b], win, min_visible=0.2, min_side=3.0)
                before = clip_masks([b], [o], win, **clip).boxes if d is not None else bx
                after = clip_masks([b], [d], win, **clip)
                n["box"][c] += len(bx)
                n["old"][c] += len(before)
                n["new"][c] += len(after.boxes)
                if before and after.boxes:
                    p, q = before[0], after.boxes[0]
                    if max(abs(u - v) for u, v in zip(p.xyxy, q.xyxy, strict=True)) <= 0.5:
                        n["same"][c] += 1
                    else:
                        n["changed"][c] += 1
                        ratio[c].append(
                            (q.x1 - q.x0) * (q.y1 - q.y0) / ((p.x1 - p.x0) * (p.y1 - p.y0))
                        )
                elif before:
                    n["gone_cue" if after.no_cue else "gone_px"][c] += 1
                elif after.boxes:
                    n["added"][c] += 1
                if d is not None and d.cue is not None and (after.boxes or after.no_cue):
                    wo = {**clip, "min_pixels": 1}
                    piece = clip_masks([b], [DefectMask(d.mask, d.x0, d.y0)], win, **wo).boxes
                    if piece:
                        probe.append((piece[0], bool(after.no_cue)))
            if det is not None and probe:
                from training.metrics import box_iou

                x0, y0, x1, y1 = win
                got = det(np.ascontiguousarray(img[y0:y1, x0:x1]))
                pb = got.xyxy.astype(float)
                hid = ds.names.index("hollow_tile")
                for b, gone in probe:
                    iou = box_iou(np.array([b.xyxy]), pb)[0] if len(pb) else np.zeros(0)
                    h = hits["no cue" if gone else "cue"]
                    h[0] += int(((iou >= 0.5) & (got.class_id == hid)).any())
                    h[1] += 1
    tot = {k: sum(v.values()) for k, v in n.items()}
    lines = [
        f"`python benchmarks/tile_labels.py --renders {a.renders} --min-pixels {a.min_pixels}"
        f"{' --polygons ' + str(a.polygons) if a.polygons else ''}"
        f"{' --model ' + a.model if a.model else ''}`: {len(ds.images)} renders, {tiles} tiles "
        f"of {a.size} px (overlap 0), {nomask} boxes without masks.",
        "",
        f"Tile labels: box rule {tot['box']}; before (pixel rule on the outer polygons the "
        f"writer stored) {tot['old']}; after (exact RLE masks, hollow tiles need their cue in "
        f"the tile) {tot['new']}.",
        "",
        "| class | box rule | before | after | unchanged | box changed (median area after/before) "
        "| dropped: no cue / pixels | added |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in [*ds.names, "all"]:

        def g(k: str, c: str = c) -> int:
            return tot[k] if c == "all" else n[k][c]

        r = np.array([x for cc in ds.names for x in ratio[cc]] if c == "all" else ratio[c])
        med = f" ({np.median(r):.2f})" if len(r) else ""
        lines.append(
            f"| {c} | {g('box')} | {g('old')} | {g('new')} | {g('same')} | {g('changed')}{med} | "
            f"{g('gone_cue')} / {g('gone_px')} | {g('added')} |"
        )
    lines += [
        "",
        "Mask pixels, outer polygons filled vs exact: pixels the polygons add (holes filled) and "
        "lose (pieces traced with < 3 points), of the exact pixels:",
        "",
        "| class | exact px | added by filling | lost |",
        "| --- | --- | --- | --- |",
    ]
    for c in ds.names:
        e = px[c]["exact"]
        if e:
            lines.append(
                f"| {c} | {e} | {px[c]['extra']} ({px[c]['extra'] / e:.1%}) | "
                f"{px[c]['lost']} ({px[c]['lost'] / e:.2%}) |"
            )
    if checked:
        lines += [
            "",
            f"Check: the polygons traced here equal the older file's for {checked - differ} of "
            f"{checked} annotations.",
        ]
    if det is not None:
        lines += [
            "",
            "Recall of the model (IoU 0.5, conf 0.105) on hollow-tile pieces (pixel rule's box): "
            + ", ".join(f"{k} {f}/{t}" for k, (f, t) in sorted(hits.items())),
        ]
    text = "\n".join(lines)
    print(text)
    if not a.no_write:
        write_section("tile_labels", text)


if __name__ == "__main__":
    main()
