"""Synthetic generator speed: images/s at a given size on ONE core (cv2 single-threaded).

    python benchmarks/synth_speed.py [--n 60] [--imgsz 640]

Reports wall-clock and CPU-time rates (the machine is shared; CPU time is the fairer figure)
for ``render_sample`` alone, first with glibc's default allocator settings and then with
``retain_freed_memory()`` (what ``write_dataset`` and its workers use: freed frames are
reused instead of page-faulted in again), and for ``render_sample`` + JPEG file write
(``write_dataset``, workers=1); writes the ``synth_speed`` section of ``benchmarks/RESULTS.md``.
The allocator setting cannot be undone in-process, so the default run comes first.
``render_sample`` renders and JPEG-encodes; ``Sample.image`` (the decoded JPEG) is decoded only
when read, which neither the writer nor this benchmark does. On a shared machine the CPU-time
columns are the figures to compare (wall time includes waiting for the CPU).

``--baseline DIR`` (a checkout of an older commit, e.g. a ``git worktree``) adds an interleaved
A/B: that tree's generator is loaded beside this one (its own module objects) and photo i is
rendered by both in turn, alternating which goes first, under ``retain_freed_memory()``; the row
gives this tree's CPU time per photo over the baseline's. Under load that ratio is the figure to
trust; ``--idle-rate`` (the baseline's idle write_dataset rate) turns it into a projected rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._results import write_section  # noqa: E402
from datasets.synthetic import render_sample, write_dataset  # noqa: E402
from datasets.synthetic._alloc import retain_freed_memory  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    ap.add_argument("--baseline", type=Path, help="older checkout to A/B against (interleaved)")
    ap.add_argument("--idle-rate", type=float, help="the baseline's idle images/s (projection)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    render_sample(np.random.default_rng(12345), args.imgsz)  # warm-up: noise bank, imports

    def render_all() -> tuple[float, float]:
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.n):
            render_sample(np.random.default_rng([0, i]), args.imgsz)
        return time.perf_counter() - w0, time.process_time() - c0

    wall0, cpu0 = render_all()
    retained = retain_freed_memory()
    wall, cpu = render_all()
    with tempfile.TemporaryDirectory() as d:
        w1, c1 = time.perf_counter(), time.process_time()
        write_dataset(Path(d) / "ds", args.n, seed=1, imgsz=args.imgsz)
        wall_w, cpu_w = time.perf_counter() - w1, time.process_time() - c1
    ab = _interleaved(args.baseline, args.n, args.imgsz) if args.baseline else None
    load = os.getloadavg()[0]
    rows = [
        ("render_sample, default allocator", args.n / wall0, args.n / cpu0),
        (
            "render_sample, retain_freed_memory()" + ("" if retained else " (not glibc: no-op)"),
            args.n / wall,
            args.n / cpu,
        ),
        ("write_dataset (workers=1)", args.n / wall_w, args.n / cpu_w),
    ]
    peer = rows[0][2]
    md = [
        f"{args.n} photos of {args.imgsz} px, one process, `cv2.setNumThreads(1)`; "
        f"load average {load:.1f} on {os.cpu_count()} cores during the run (shared machine"
        + (
            ", under load: compare the CPU-time columns"
            if load > 0.75 * (os.cpu_count() or 1)
            else ""
        )
        + "). Ratio: CPU-time rate vs the default-allocator render in the same run.",
        "",
        "| what | images/s (wall) | images/s (CPU time) | CPU ms / image | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    md += [
        f"| {name} | {a:.1f} | {b:.1f} | {1000 / b:.1f} | {b / peer:.2f}x |" for name, a, b in rows
    ]
    if ab is not None:
        base_ms, ours_ms = ab
        md += [
            "",
            f"Interleaved A/B against `{args.baseline}` ({args.n} photos each, same seeds, "
            f"render + JPEG): baseline {base_ms:.1f} ms, this tree {ours_ms:.1f} ms CPU per "
            f"photo: {ours_ms / base_ms:.3f}x the CPU time ({base_ms / ours_ms:.2f}x the rate)"
            + (
                f"; projected idle rate {args.idle_rate:.1f} x {base_ms / ours_ms:.2f} = "
                f"{args.idle_rate * base_ms / ours_ms:.1f} images/s (projected from the ratio "
                "measured under load, not measured idle)."
                if args.idle_rate
                else "."
            ),
        ]
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("synth_speed", text)


def _interleaved(baseline: Path, n: int, imgsz: int) -> tuple[float, float]:
    """(baseline, this tree) CPU ms per photo of ``render_sample``, photo by photo in turn."""
    import importlib

    def load(root: Path):
        for k in [k for k in sys.modules if k.split(".")[0] in ("datasets", "finishscan")]:
            del sys.modules[k]
        sys.path.insert(0, str(root))
        try:
            mod = importlib.import_module("datasets.synthetic")
        finally:
            sys.path.remove(str(root))
        assert Path(mod.__file__ or "").resolve().is_relative_to(root.resolve()), mod.__file__
        return mod.render_sample

    ours = render_sample
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in ("datasets", "finishscan")}
    theirs = load(baseline)
    sys.modules.update(saved)  # this tree's modules back for everything after
    for f in (theirs, ours):
        f(np.random.default_rng(12345), imgsz)  # warm-up
    t = [0.0, 0.0]
    for i in range(n):
        for j in (0, 1) if i % 2 == 0 else (1, 0):
            c0 = time.process_time()
            (theirs, ours)[j](np.random.default_rng([7, i]), imgsz)
            t[j] += time.process_time() - c0
    return t[0] / n * 1000, t[1] / n * 1000


if __name__ == "__main__":
    main()
