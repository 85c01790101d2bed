"""Detector speed on this machine; writes the ``detect_speed`` section of RESULTS.md.

    python benchmarks/detect_speed.py [--photos 100] [--model M] [--reps 2]

1. Whole processes on the same photos, alternated: ``finishscan detect DIR --json F`` vs
   ``yolo predict model=<same onnx> source=DIR save=False`` (goal: ours <= 0.7x).
2. In-process at 640: ``Detector(image)`` vs bare ``session.run`` on the same input tensor
   (goal: pre+post-processing adds <= 15%).
3. A tiled 4000x3000 photo: time per photo and its ratio to (slices + 1) x one 640 slice
   (goal <= 1.2x).
Photos are seeded random textures written to a temp dir. Bounded: about 3-6 minutes here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_section  # noqa: E402
from detector import Detector, slice_grid  # noqa: E402
from detector.geometry import letterbox, letterbox_params  # noqa: E402
from detector.model import session_options  # noqa: E402
from finishscan.paths import default_model_path  # noqa: E402


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A photo-like seeded texture: smooth colour blotches, dark lines, noise."""
    small = rng.integers(0, 256, (max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(6):
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p0, p1, (25, 25, 25), int(rng.integers(1, 5)))
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def make_photos(out: Path, n: int, rng: np.random.Generator) -> None:
    """n JPEGs, 80% 1280x960 landscape and 20% 960x1280 portrait, in random order."""
    for k in range(n):
        h, w = (960, 1280) if rng.random() < 0.8 else (1280, 960)
        cv2.imwrite(
            str(out / f"photo{k:03d}.jpg"), texture(rng, h, w), [cv2.IMWRITE_JPEG_QUALITY, 90]
        )


def timed(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def median_time(fn: Callable[[], object], n: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--model", type=Path, default=default_model_path())
    ap.add_argument("--reps", type=int, default=2, help="whole-process runs of each tool")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = ap.parse_args()
    model = args.model.resolve()
    rng = np.random.default_rng(0)
    load0 = os.getloadavg()
    lines: list[str] = []

    # ---- 1. whole processes ---------------------------------------------------------------
    bindir = Path(sys.executable).parent
    finishscan = shutil.which("finishscan", path=str(bindir)) or "finishscan"
    yolo = shutil.which("yolo", path=str(bindir))
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        photos = tmpdir / "photos"
        photos.mkdir()
        make_photos(photos, args.photos, rng)
        ours_cmd = [
            finishscan,
            "detect",
            str(photos),
            "--model",
            str(model),
            "--json",
            str(tmpdir / "o.json"),
        ]
        yolo_cmd = None
        if yolo:
            yolo_cmd = [
                yolo,
                "predict",
                f"model={model}",
                f"source={photos}",
                "save=False",
                "verbose=False",
                "device=cpu",
            ]
        one = tmpdir / "one"
        one.mkdir()
        shutil.copy(photos / "photo000.jpg", one)
        ours_t, yolo_t = [], []
        for _ in range(args.reps):  # alternate so both see the same machine load
            ours_t.append(timed(ours_cmd, tmpdir))
            if yolo_cmd:
                yolo_t.append(timed(yolo_cmd, tmpdir))
        # start-up: the same commands on a folder of one photo
        ours_1 = timed([c.replace(str(photos), str(one)) for c in ours_cmd], tmpdir)
        yolo_1 = (
            timed([c.replace(str(photos), str(one)) for c in yolo_cmd], tmpdir)
            if yolo_cmd
            else None
        )
        ours = statistics.median(ours_t)
        lines += [
            f"### 1. `finishscan detect` vs `yolo predict`, {args.photos} photos (80% 1280x960, 20% 960x1280 JPEG), whole processes",
            "",
            "| tool | runs (s) | median (s) | per photo (ms) | one-photo run (s) | per extra photo (ms) |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| `finishscan detect DIR --json F` | {', '.join(f'{t:.1f}' for t in ours_t)} | {ours:.1f} | "
            f"{ours / args.photos * 1000:.0f} | {ours_1:.1f} | {(ours - ours_1) / (args.photos - 1) * 1000:.0f} |",
        ]
        if yolo_t:
            ref = statistics.median(yolo_t)
            lines += [
                f"| `yolo predict model=<same onnx> source=DIR save=False` | {', '.join(f'{t:.1f}' for t in yolo_t)} | "
                f"{ref:.1f} | {ref / args.photos * 1000:.0f} | {yolo_1:.1f} | {(ref - (yolo_1 or 0)) / (args.photos - 1) * 1000:.0f} |",
                "",
                f"**ratio ours / ultralytics = {ours / ref:.2f}** (goal <= 0.7)",
            ]
        else:
            lines += ["", "`yolo` (ultralytics) not installed: no reference run."]

    # ---- 2. in-process overhead at 640 -------------------------------------------------------
    det = Detector(model, threads=args.threads)
    bare = ort.InferenceSession(
        str(model), session_options(args.threads), providers=["CPUExecutionProvider"]
    )
    photo = texture(rng, 960, 1280)
    p = letterbox_params(photo.shape[:2], det.imgsz, auto=det.rect, stride=det.stride)
    blob = (letterbox(photo, p).transpose(2, 0, 1)[None].astype(np.float32) / 255).copy()
    feed = {bare.get_inputs()[0].name: blob}
    n = 25
    det(photo), bare.run(None, feed)
    t_det, t_run = [], []
    for _ in range(n):  # interleaved: same load for both
        t = time.perf_counter()
        det(photo)
        t_det.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare.run(None, feed)
        t_run.append(time.perf_counter() - t)
    md, mr = statistics.median(t_det), statistics.median(t_run)
    paired = statistics.median(d / r for d, r in zip(t_det, t_run, strict=True))
    # the pieces alone, measured without the model
    pre = median_time(
        lambda: (
            letterbox(photo, p).transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1 / 255)
        ),
        30,
    )
    out = bare.run(None, feed)[0]
    post = median_time(lambda: det._decode(out[0], p.input_shape, photo.shape[:2]), 30)
    spin_opts = session_options(args.threads, spinning=True)
    spin = ort.InferenceSession(str(model), spin_opts, providers=["CPUExecutionProvider"])
    t_spin = median_time(lambda: spin.run(None, feed), 8)
    t_nospin = median_time(lambda: bare.run(None, feed), 8)
    lines += [
        "",
        f"### 2. In-process, a 1280x960 photo at {det.imgsz[0]} (input {p.input_shape[1]}x{p.input_shape[0]}), median of {n} interleaved",
        "",
        "| what | ms |",
        "| --- | --- |",
        f"| bare `session.run` on the prepared tensor | {mr * 1000:.1f} |",
        f"| `Detector(photo)` (letterbox + tensor + run + decode/NMS + scale) | {md * 1000:.1f} |",
        f"| preprocessing alone (letterbox + HWC->CHW float) | {pre * 1000:.2f} |",
        f"| decoding alone (NMS + scale back) | {post * 1000:.2f} |",
        "",
        f"**overhead = {(paired - 1) * 100:+.1f}%** of `session.run` (median of the {n} paired ratios; "
        f"goal <= 15%); ratio of medians {(md - mr) / mr * 100:+.1f}%, of minima "
        f"{(min(t_det) - min(t_run)) / min(t_run) * 100:+.1f}%; the pieces timed alone: "
        f"{(pre + post) / mr * 100:.1f}%",
        "",
        f"ORT thread spinning (same session settings otherwise): on {t_spin * 1000:.0f} ms, off {t_nospin * 1000:.0f} ms per run.",
    ]

    # ---- 3. tiled 4000x3000 ----------------------------------------------------------------------
    big = texture(rng, 3000, 4000)
    grid = slice_grid(3000, 4000, det.imgsz[0], det.imgsz[1], det.tile_overlap)
    crops = [big] + [big[y0:y1, x0:x1] for x0, y0, x1, y1 in grid]

    def one_by_one() -> None:  # the same 1 + K inputs, one Detector call each
        for c in crops:
            det(c)

    det.detect(big, tile="on")
    t_tiled, t_single = [], []
    reps = 3
    for _ in range(reps):  # interleaved: both see the same machine load
        t = time.perf_counter()
        det.detect(big, tile="on")
        t_tiled.append(time.perf_counter() - t)
        t = time.perf_counter()
        one_by_one()
        t_single.append(time.perf_counter() - t)
    tt, ts = statistics.median(t_tiled), statistics.median(t_single)
    paired3 = statistics.median(a / b for a, b in zip(t_tiled, t_single, strict=True))
    batched = {}
    for mb in (4, 16):
        other = Detector(model, threads=args.threads, max_batch=mb)
        other.detect(big, tile="on")
        t = time.perf_counter()
        other.detect(big, tile="on")
        batched[mb] = time.perf_counter() - t
    lines += [
        "",
        f"### 3. Tiled 4000x3000 photo: {len(grid)} slices of {det.imgsz[1]}x{det.imgsz[0]}, overlap {det.tile_overlap}, plus the whole-photo pass",
        "",
        "| what | s (runs) |",
        "| --- | --- |",
        f"| tiled photo, `detect(photo, tile='on')` (all crops to `Detector.batch` in one call, merge) | {tt:.2f} ({', '.join(f'{t:.1f}' for t in t_tiled)}) |",
        f"| the same {len(crops)} inputs, one `Detector(...)` call each | {ts:.2f} ({', '.join(f'{t:.1f}' for t in t_single)}) |",
        f"| per slice, tiled | {tt / len(crops):.3f} |",
        *(
            f"| tiled with `max_batch={mb}` ({mb} crops per `session.run`), one run | {t:.2f} |"
            for mb, t in batched.items()
        ),
        "",
        f"**ratio = {paired3:.2f}** (median of {reps} interleaved pairs; goal <= 1.2); the default "
        f"`max_batch={det.max_batch}` because larger ONNX Runtime batches were not faster per image on this CPU.",
    ]

    load1 = os.getloadavg()
    lines += [
        "",
        "### Settings",
        "",
        f"- ONNX Runtime {ort.__version__}, CPUExecutionProvider, graph optimisation ORT_ENABLE_ALL, sequential "
        f"execution, intra-op threads {args.threads or os.cpu_count()} (= cores), inter-op 1, thread spinning off; "
        f"`max_batch={det.max_batch}` input per `session.run`.",
        f"- model `{model.name}` ({det.imgsz[0]} px, {'dynamic' if det.dynamic_batch else 'static'} batch); "
        f"photos decoded one ahead in a background thread.",
        f"- machine load average at start / end: {load0[0]:.1f} / {load1[0]:.1f} (shared with other jobs: "
        "absolute times are noisy; the ratios compare runs made under the same load).",
    ]
    md_text = "\n".join(lines)
    print(md_text)
    if not args.no_write:
        write_section("detect_speed", md_text)


if __name__ == "__main__":
    main()
