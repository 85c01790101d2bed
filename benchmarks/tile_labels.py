"""Tile labels by the box rule vs by the defect's pixels (``finishscan dataset tile``).

    python benchmarks/tile_labels.py --renders R640 [--size 320] [--min-pixels 24]
        [--model M.onnx] [--no-write]

``R640`` is a ``finishscan dataset synth`` folder (its ``annotations.coco.json`` holds each
defect's polygons). Cuts every render with the detector's grid (overlap 0) and compares, per
class, the labels the box rule (``min_visible`` 0.2, ``min_side`` 3) and the pixel rule give each
tile: unchanged, box changed (and how much it shrank), dropped, added (a piece the box rule
drops for being under 20 % of its box but holding at least ``min_pixels`` of the defect's
pixels). With ``--model``, also the recall (IoU 0.5, same class, confidence 0.105 = evaluate's
max-F1 point on the held-out tiles) of the pixel rule's clipped pieces by how many defect pixels
the tile holds. Writes the ``tile_labels`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from datasets.formats import yolo  # noqa: E402
from datasets.tools.tile import DefectMask, clip_boxes, clip_masks, coco_polygons  # noqa: E402
from detector.tiling import slice_grid  # noqa: E402

PIXEL_EDGES = (1, 8, 24, 64, 200, 1000, 10**9)


def pixels_in(m: DefectMask, win: tuple[int, int, int, int]) -> int:
    wx0, wy0, wx1, wy1 = win
    mh, mw = m.mask.shape
    x0, y0, x1, y1 = max(m.x0, wx0), max(m.y0, wy0), min(m.x0 + mw, wx1), min(m.y0 + mh, wy1)
    if x1 <= x0 or y1 <= y0:
        return 0
    return int(np.count_nonzero(m.mask[y0 - m.y0 : y1 - m.y0, x0 - m.x0 : x1 - m.x0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=Path, required=True)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--min-pixels", type=int, default=24)
    ap.add_argument("--model")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()

    ds = yolo.load(a.renders)
    polys = coco_polygons(a.renders / "annotations.coco.json", ds)
    det = None
    if a.model:
        from detector import Detector, load_image

        det = Detector(a.model, threads=1, conf=0.105)
    keys = ("old", "same", "changed", "gone_nopx", "gone_few", "added")
    n: dict[str, Counter] = {k: Counter() for k in keys}
    ratio: dict[str, list[float]] = defaultdict(list)
    hits: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    tiles = nomask = 0
    for im in ds.images:
        per = polys.get(im.path, [None] * len(im.boxes))
        masks = [None if p is None else DefectMask.from_polygons(p) for p in per]
        nomask += sum(m is None for m in masks)
        img = load_image(im.path) if det else None
        for win in slice_grid(im.height, im.width, a.size, a.size, 0.0).tolist():
            tiles += 1
            pieces = []
            for b, m in zip(im.boxes, masks, strict=True):
                c = ds.names[b.class_id]
                old, _ = clip_boxes([b], win, min_visible=0.2, min_side=3.0)
                new, *_ = clip_masks(
                    [b], [m], win, min_pixels=a.min_pixels, min_visible=0.2, min_side=3.0
                )
                px = pixels_in(m, win) if m is not None else -1
                if old:
                    n["old"][c] += 1
                if new and old:
                    o, w = old[0], new[0]
                    if max(abs(u - v) for u, v in zip(o.xyxy, w.xyxy, strict=True)) <= 0.5:
                        n["same"][c] += 1
                    else:
                        n["changed"][c] += 1
                        ratio[c].append(
                            (w.x1 - w.x0) * (w.y1 - w.y0) / ((o.x1 - o.x0) * (o.y1 - o.y0))
                        )
                elif old:
                    n["gone_nopx" if px == 0 else "gone_few"][c] += 1
                elif new:
                    n["added"][c] += 1
                if m is not None and 0 < px < m.pixels:
                    piece, *_ = clip_masks([b], [m], win, min_pixels=1, min_visible=0.2, min_side=3)
                    pieces.append((piece[0], px))
            if det is not None and pieces:
                from training.metrics import box_iou

                x0, y0, x1, y1 = win
                d = det(np.ascontiguousarray(img[y0:y1, x0:x1]))
                pb = d.xyxy.astype(float)
                for b, px in pieces:
                    iou = box_iou(np.array([b.xyxy]), pb)[0] if len(pb) else np.zeros(0)
                    k = int(np.searchsorted(PIXEL_EDGES, px, side="right")) - 1
                    h = hits[(ds.names[b.class_id], k)]
                    h[0] += int(((iou >= 0.5) & (d.class_id == b.class_id)).any())
                    h[1] += 1
    tot = {k: sum(v.values()) for k, v in n.items()}
    lines = [
        f"`python benchmarks/tile_labels.py --renders {a.renders} --min-pixels {a.min_pixels}"
        f"{' --model ' + a.model if a.model else ''}`: {len(ds.images)} renders, {tiles} tiles of "
        f"{a.size} px (overlap 0), {nomask} boxes without polygons.",
        "",
        f"Tile labels, box rule (clipped box kept if ≥ 20 % of the box) vs pixel rule (tight box of "
        f"the defect's pixels in the tile, kept if ≥ {a.min_pixels} px or half the defect): "
        f"{tot['old']} → {tot['old'] - tot['gone_nopx'] - tot['gone_few'] + tot['added']} labels.",
        "",
        "| class | box rule | unchanged | box changed (median area new/old; < 0.5) | dropped: no defect pixel / too few | added |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in [*ds.names, "all"]:

        def g(k: str, c: str = c) -> int:
            return tot[k] if c == "all" else n[k][c]

        r = np.array([x for cc in ds.names for x in ratio[cc]] if c == "all" else ratio[c])
        med = f"{np.median(r):.2f}; {int((r < 0.5).sum())}" if len(r) else "-"
        lines.append(
            f"| {c} | {g('old')} | {g('same')} | {g('changed')} ({med}) | "
            f"{g('gone_nopx')} / {g('gone_few')} | {g('added')} |"
        )
    if det is not None:
        lines += [
            "",
            "Recall of the shipped model (IoU 0.5, conf 0.105) on the clipped pieces (part of a "
            "defect in the tile, pixel rule's box) by defect pixels in the tile:",
            "",
            "| class | "
            + " | ".join(
                f"{lo}-{hi - 1}" if hi < 10**9 else f"≥ {lo}"
                for lo, hi in zip(PIXEL_EDGES[:-1], PIXEL_EDGES[1:], strict=True)
            )
            + " |",
            "| --- |" + " --- |" * (len(PIXEL_EDGES) - 1),
        ]
        for c in [*ds.names, "all"]:
            cells = []
            for k in range(len(PIXEL_EDGES) - 1):
                if c == "all":
                    f = sum(hits[(cc, k)][0] for cc in ds.names)
                    t = sum(hits[(cc, k)][1] for cc in ds.names)
                else:
                    f, t = hits[(c, k)]
                cells.append(f"{f}/{t}" if t else "-")
            lines.append(f"| {c} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    if not a.no_write:
        write_section("tile_labels", text)


if __name__ == "__main__":
    main()
