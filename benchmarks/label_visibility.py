"""How visible the synthetic generator's labels are, and where the faint ones come from.

    python benchmarks/label_visibility.py [--n 200] [--seed 55] [--tree DIR] [--rows rows.jsonl]

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
figures go to the ``label_visibility`` section by hand.
"""

from __future__ import annotations

import argparse
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
    args = ap.parse_args()
    cv2.setNumThreads(1)
    tree = args.tree.resolve()
    mods = _load(tree)
    sys.path.insert(0, str(HERE))
    from datasets.visibility import gray_step  # noqa: E402  (this tree's measure)

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
        import dataclasses

        cfg = dataclasses.replace(cfg, min_step=args.min_step)
    names = cfg.names
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


if __name__ == "__main__":
    main()
