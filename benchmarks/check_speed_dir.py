"""``finishscan dataset check`` on an existing YOLO folder: CPU time, full decode vs as shipped.

    finishscan dataset synth --out /tmp/s --n 200 --seed 9
    python benchmarks/check_speed_dir.py /tmp/s [--reps 3]

Times, interleaved (old, new, old, new, ...), the CPU time (``time.process_time``, OpenCV on
one thread) of ``check_dataset`` and of the image check alone with the former image check
(``benchmarks/check_speed.old_check_image_bytes``: full ``IMREAD_COLOR`` decode) and the one
shipped (size from the header, JPEG decoded DCT-scaled); asserts both report the same problems
and writes the ``check_speed_dir`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from benchmarks._results import write_section  # noqa: E402
from benchmarks.check_speed import old_check_image_bytes  # noqa: E402
from datasets.formats._common import find_images  # noqa: E402
from datasets.tools import check  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path, help="a YOLO dataset folder (or its data.yaml)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    root = args.data.parent if args.data.is_file() else args.data
    files = find_images(root / "images" if (root / "images").is_dir() else root)
    datas = [(p, p.read_bytes()) for p in files]
    new_check = check.check_image_bytes
    times: dict[str, list[float]] = {}
    problems = {}
    for _ in range(args.reps):
        for name, fn in (("old", old_check_image_bytes), ("new", new_check)):
            check.check_image_bytes = fn
            try:
                t = time.process_time()
                problems[name] = check.check_dataset(args.data)
                times.setdefault(f"{name} dataset", []).append(time.process_time() - t)
            finally:
                check.check_image_bytes = new_check
            t = time.process_time()
            for p, b in datas:
                fn(b, p)
            times.setdefault(f"{name} image", []).append((time.process_time() - t) / len(datas))
    assert problems["old"] == problems["new"], (problems["old"], problems["new"])
    med = {k: statistics.median(v) for k, v in times.items()}
    mb = sum(len(b) for _, b in datas) / len(datas) / 1e3
    load = os.getloadavg()[0]
    md = "\n".join(
        [
            f"`{args.data}`: {len(files)} images ({mb:.0f} kB each on average), "
            f"{len(problems['new'])} problem(s) reported by both. CPU time "
            f"(`time.process_time`, `cv2.setNumThreads(1)`), median of {args.reps} interleaved "
            f"old/new repetitions; under `nice -n 19` with a training job on the machine "
            f"(load average {load:.1f} on {os.cpu_count()} cores).",
            "",
            "| what | old: full `IMREAD_COLOR` | shipped: header + `IMREAD_REDUCED_GRAYSCALE_8` | speed-up |",
            "| --- | --- | --- | --- |",
            f"| image check, per image | {med['old image'] * 1e3:.2f} ms | "
            f"{med['new image'] * 1e3:.2f} ms | {med['old image'] / med['new image']:.1f}x |",
            f"| whole `check_dataset` | {med['old dataset']:.2f} s | {med['new dataset']:.2f} s | "
            f"{med['old dataset'] / med['new dataset']:.1f}x |",
        ]
    )
    print(md)
    if not args.no_write:
        write_section("check_speed_dir", md)


if __name__ == "__main__":
    main()
