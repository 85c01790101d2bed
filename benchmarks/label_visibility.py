"""How visible the synthetic generator's labels are, and where the faint ones come from.

    python benchmarks/label_visibility.py [--n 200] [--seed 55] [--tree DIR] [--rows rows.jsonl]
    python benchmarks/label_visibility.py --ab OLD_TREE [--n 200] [--rounds 3]
    python benchmarks/label_visibility.py --tile RENDERS [--size 320] [--overlap 0.2]

Renders photos ``i < n`` from ``default_rng([seed, i])`` at 640 px (as ``finishscan dataset
synth`` does) with the generator of ``--tree`` (a checkout, default this one) and measures each
label's gray step (:func:`datasets.visibility.gray_step`: RMS of the defect's gray pixels minus
the mean of the 4-px ring around them, the measure of ``benchmarks/error_analysis.py``) at
three stages:

- ``src``: in the scene's albedo right after the defect was drawn (gray, gamma 1/2.2): what the
  renderer's own draw (darkness, amplitude, size) gives before light and camera;
- ``lit``: the lit frame warped to the photo, before the camera (normalised to its 99.5th
  percentile, gamma 1/2.2): adds lighting and the perspective downscale;
- ``dev``: the developed 8-bit frame before JPEG (defocus, shake, zoom, noise, sharpening);
- ``final``: the decoded JPEG (what the label is judged on).

Prints per class the label count and the step's quantiles, the share under 8/12/16/24 levels,
and for labels under ``--thr`` the stage that lost them; ``--rows`` writes one JSON line per
label (class, steps, size, the renderer's meta) for further looks. No RESULTS.md section: the
figures go to the ``label_visibility`` and ``label_texture`` sections by hand.

The line rule (``SynthConfig.min_line_contrast``, :func:`datasets.visibility.line_contrast`, for
``line_classes``): photos are rendered with it off (same bytes: a rule only decides labels), each
label's line contrast is taken in the final JPEG, and per class the labels the gray-step rule
keeps are split into kept / dropped at ``--min-line`` (default: the tree's own threshold); the
photos are rendered again with the tree's default config to check that it keeps exactly those.
``--ab OLD_TREE`` instead times ``render_sample`` at 640 px of OLD_TREE and this tree, photo by
photo in turn (alternating which goes first), ``--rounds`` times over ``--n`` photos, by CPU time.
``--tile RENDERS`` (a ``finishscan dataset synth`` folder) tiles it as ``finishscan dataset tile``
does, with the per-piece label rule and without it, and counts the tile labels per class.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent.parent


def _load(tree: Path):
    sys.path.insert(0, str(tree))
    for k in [k for k in sys.modules if k.split(".")[0] in ("datasets", "finishscan")]:
        del sys.modules[k]
    mods = {
        n: importlib.import_module(n)
        for n in (
            "datasets.synthetic.composer",
            "datasets.synthetic.camera",
            "datasets.synthetic.defects",
        )
    }
    assert Path(mods["datasets.synthetic.composer"].__file__ or "").resolve().is_relative_to(tree)
    sys.path.remove(str(tree))
    return mods


def _disp(gray_lin: np.ndarray, norm: float = 1.0) -> np.ndarray:
    return np.clip(gray_lin / norm, 0, 1) ** (1 / 2.2) * 255.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--tree", type=Path, default=HERE)
    ap.add_argument("--thr", type=float, default=16.0)
    ap.add_argument("--rows", type=Path)
    ap.add_argument("--min-step", type=float, help="the config's min_step (a tree that has it)")
    ap.add_argument("--min-line", type=float, help="line-contrast threshold of the report")
    ap.add_argument("--ab", type=Path, help="older tree: interleaved CPU-time A/B, nothing else")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tile", type=Path, help="renders to tile with and without the piece rule")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.2)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.ab is not None:
        _ab(args.ab.resolve(), args.n, args.seed, args.rounds)
        return
    if args.tile is not None:
        _tile(args.tile, args.size, args.overlap)
        return
    tree = args.tree.resolve()
    mods = _load(tree)
    sys.path.insert(0, str(HERE))
    from datasets.visibility import gray_step, line_contrast  # noqa: E402  (this tree's measure)

    composer = mods["datasets.synthetic.composer"]
    camera = mods["datasets.synthetic.camera"]
    defects = mods["datasets.synthetic.defects"]
    rec: dict = {}

    homography = camera.homography

    def hom(*a, **k):
        H, quad = homography(*a, **k)
        rec["H"] = H
        return H, quad

    camera.homography = hom
    develop = camera.develop

    def dev(rng, img, *a, **k):
        g = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        rec["lit"] = _disp(g, float(np.percentile(g[::4, ::4], 99.5)))
        u8, q = develop(rng, img, *a, **k)
        rec["dev"] = cv2.cvtColor(u8, cv2.COLOR_BGR2GRAY if k.get("bgr") else cv2.COLOR_RGB2GRAY)
        return u8, q

    camera.develop = dev

    def wrap(fn):
        def inner(rng, scene, *a, **k):
            inst = fn(rng, scene, *a, **k)
            if inst is not None:
                mh, mw = inst.mask.shape
                x0, y0 = max(0, inst.x0 - 4), max(0, inst.y0 - 4)
                alb = scene.albedo[y0 : inst.y0 + mh + 4, x0 : inst.x0 + mw + 4]
                g = _disp(cv2.cvtColor(alb, cv2.COLOR_RGB2GRAY))
                src = gray_step(g, inst.mask, inst.x0 - x0, inst.y0 - y0)
                rec["inst"].append((inst, src))
            return inst

        return inner

    for name in list(defects.RENDERERS):
        defects.RENDERERS[name] = wrap(defects.RENDERERS[name])

    cfg = composer.default_config()
    if args.min_step is not None:
        cfg = dataclasses.replace(cfg, min_step=args.min_step)
    default = cfg
    has_line = hasattr(cfg, "min_line_contrast")
    min_line = (
        args.min_line if args.min_line is not None else getattr(cfg, "min_line_contrast", 0.8)
    )
    line_classes = getattr(cfg, "line_classes", ("crack",))
    if has_line:  # every label the gray step keeps; the line rule is applied below
        cfg = dataclasses.replace(cfg, min_line_contrast=0.0)
    names = cfg.names
    after: dict[str, int] = defaultdict(int)  # boxes of the tree's default config
    rows = []
    empties: list[np.ndarray] = []  # gray photos without any planned defect
    shapes: list[tuple[str, np.ndarray, int, int]] = []  # every label's mask crop
    counts: dict[str, int] = defaultdict(int)
    dropped = invisible = 0
    for i in range(args.n):
        rec.clear()
        rec["inst"] = []
        s = composer.render_sample(np.random.default_rng([args.seed, i]), 640, cfg)
        dropped += s.meta.get("dropped", 0)
        invisible += s.meta.get("invisible", 0)
        for b in s.boxes:
            counts[names[b.class_id]] += 1
        if has_line:
            for b in composer.render_sample(
                np.random.default_rng([args.seed, i]), 640, default
            ).boxes:
                after[names[b.class_id]] += 1
        final = cv2.cvtColor(s.image, cv2.COLOR_RGB2GRAY)
        if not s.meta["planned"] and len(empties) < 20:
            empties.append(final)
        keyed = {}
        for inst, src in rec["inst"]:
            res = camera.warp_mask(inst.mask, inst.x0, inst.y0, rec["H"], 640)
            if res is None:
                continue
            m, ox, oy = res
            ys, xs = np.nonzero(m)
            if len(xs) == 0:
                continue
            key = (inst.name, ox + int(xs.min()), oy + int(ys.min()), ox + int(xs.max()) + 1)
            keyed.setdefault(key, (inst, src))
        cues = getattr(s, "cues", None) or [None] * len(s.boxes)
        for b, full, cue in zip(s.boxes, s.masks, cues, strict=True):
            name = names[b.class_id]
            judged = full if cue is None else cue  # a hollow tile: on its cue, where it has one
            hit = keyed.get((name, int(b.x0), int(b.y0), int(b.x1)))
            row = {
                "i": i,
                "cls": name,
                "size": float(np.sqrt((b.x1 - b.x0) * (b.y1 - b.y0))),
                "px": int(full.sum()),
                "final": gray_step(final, judged),
                "line": line_contrast(final, judged),
                "dev": gray_step(rec["dev"], judged),
                "lit": gray_step(rec["lit"], judged),
                "cue": cue is not None,
                "src": float("nan") if hit is None else hit[1],
                "meta": {} if hit is None else {k: v for k, v in hit[0].meta.items() if k != "cue"},
                "q": s.meta.get("jpeg_quality"),
            }
            rows.append(row)
            ys, xs = np.nonzero(full)
            crop = full[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            shapes.append((name, crop, int(xs.min()), int(ys.min())))
            row["line_rule"] = name in line_classes
    if args.rows:
        args.rows.write_text("".join(json.dumps(r, default=float) + "\n" for r in rows))
    print(
        f"tree {tree}, seed {args.seed}, n {args.n}: {len(rows)} labels, {dropped} dropped, {invisible} invisible"
    )
    print(
        "| class | labels | p5 / p10 / p25 / p50 step | < 8 | < 12 | < 16 | < 24 |"
        f" under {args.thr:g}: src / lit / camera / jpeg |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in [*names, "all"]:
        rs = [r for r in rows if name in ("all", r["cls"])]
        if not rs:
            continue
        st = np.array([r["final"] for r in rs])
        low = [r for r in rs if r["final"] < args.thr]
        why = [0, 0, 0, 0]
        for r in low:
            if r["src"] < args.thr:
                why[0] += 1
            elif r["lit"] < args.thr:
                why[1] += 1
            elif r["dev"] < args.thr:
                why[2] += 1
            else:
                why[3] += 1
        q = np.percentile(st, [5, 10, 25, 50])
        print(
            f"| {name} | {len(rs)} | {' / '.join(f'{v:.1f}' for v in q)} | "
            + " | ".join(str(int((st < t).sum())) for t in (8, 12, 16, 24))
            + f" | {' / '.join(map(str, why))} |"
        )
    print("boxes per class:", dict(counts))
    print(
        f"line rule at {min_line:g} ({', '.join(line_classes)}): labels the gray step keeps ->"
        " kept / dropped; line contrast p5 / p10 / p50 of the kept"
        + ("; the tree's default config labels" if has_line else "")
    )
    for name in [*names, "all"]:
        rs = [r for r in rows if name in ("all", r["cls"]) and r["final"] >= cfg.min_step]
        if not rs:
            continue
        drop = [r for r in rs if r["line_rule"] and r["line"] < min_line]
        lines = [r["line"] for r in rs if r["line_rule"] and r["line"] >= min_line]
        q = " / ".join(f"{v:.2f}" for v in np.percentile(lines, [5, 10, 50])) if lines else "-"
        tail = ""
        if has_line:
            tail = f"; {after[name] if name != 'all' else sum(after.values())}"
        print(f"  {name}: {len(rs)} -> {len(rs) - len(drop)} / {len(drop)}; {q}{tail}")
    # The null: each label's mask at its place on photos without defects (plain texture,
    # negatives, light and camera only): the step that texture alone gives.
    print(f"null (each label's mask on {len(empties)} defect-free photos): p50 / p90 / p95 / p99")
    for name in [*names, "all"]:
        null = [
            gray_step(g, m, x, y) for n, m, x, y in shapes if name in ("all", n) for g in empties
        ]
        if null:
            q = np.percentile(null, [50, 90, 95, 99])
            print(f"  {name}: {' / '.join(f'{v:.1f}' for v in q)}")
    for name in line_classes:  # what texture alone gives the line contrast
        null = [line_contrast(g, m, x, y) for n, m, x, y in shapes if n == name for g in empties]
        if null:
            q = np.percentile(null, [50, 90, 95, 99])
            share = float(np.mean(np.asarray(null) >= min_line))
            print(
                f"  {name} line contrast: {' / '.join(f'{v:.2f}' for v in q)};"
                f" {share:.1%} at or over {min_line:g}"
            )


def _ab(old: Path, n: int, seed: int, rounds: int) -> None:
    """CPU ms per photo of ``render_sample`` (640 px, ``[seed, i]``) of ``old`` and this tree."""
    import time

    theirs = _load(old)["datasets.synthetic.composer"].render_sample
    ours = _load(HERE)["datasets.synthetic.composer"].render_sample
    for f in (theirs, ours):
        f(np.random.default_rng(12345), 640)  # warm-up: noise bank, imports
    ratios = []
    for k in range(rounds):
        t = [0.0, 0.0]
        for i in range(n):
            for j in (0, 1) if (i + k) % 2 == 0 else (1, 0):
                c0 = time.process_time()
                (theirs, ours)[j](np.random.default_rng([seed, i]), 640)
                t[j] += time.process_time() - c0
        ratios.append(t[1] / t[0])
        print(
            f"round {k}: old {t[0] / n * 1000:.2f} ms, new {t[1] / n * 1000:.2f} ms per photo"
            f" ({ratios[-1]:.3f}x)"
        )
    print(f"median {np.median(ratios):.3f}x over {rounds} rounds of {n} photos")


def _tile(renders: Path, size: int, overlap: float) -> None:
    """Tile labels per class of ``renders`` with the per-piece label rule and without it."""
    import tempfile
    import time

    sys.path.insert(0, str(HERE))
    from datasets.formats import yolo  # noqa: E402
    from datasets.tools.tile import coco_masks, tile_dataset  # noqa: E402

    ds = yolo.load(renders)
    masks = coco_masks(renders / "annotations.coco.json", ds)
    per: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as d:
        for name, kw in (("off", {"min_step": 0.0, "min_line_contrast": 0.0}), ("on", {})):
            c0 = time.process_time()
            s = tile_dataset(ds, Path(d) / name, size=size, overlap=overlap, polygons=masks, **kw)
            cpu = time.process_time() - c0
            counts: dict[str, int] = defaultdict(int)
            for f in (Path(d) / name / "labels").rglob("*.txt"):
                for line in f.read_text().splitlines():
                    counts[ds.names[int(line.split()[0])]] += 1
            per[name] = counts
            print(
                f"rule {name}: {s.tiles} tiles, {s.boxes_out} boxes, {s.dropped} dropped (few"
                f" pixels {s.dropped_pixels}), {s.dropped_cue} without cue,"
                f" {s.dropped_faint} faint; {cpu:.1f} s CPU"
            )
    print("| class | pieces without the rule | with it | dropped |")
    print("| --- | --- | --- | --- |")
    for name in [*ds.names, "all"]:
        a = sum(per["off"].values()) if name == "all" else per["off"][name]
        b = sum(per["on"].values()) if name == "all" else per["on"][name]
        print(f"| {name} | {a} | {b} | {a - b} |")


if __name__ == "__main__":
    main()
