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
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("synth_speed", text)


if __name__ == "__main__":
    main()
