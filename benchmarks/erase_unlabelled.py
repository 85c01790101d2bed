"""What ``SynthConfig.erase_unlabelled`` does to the generator's photos, and what it costs.

    python benchmarks/erase_unlabelled.py [--n 300] [--seed 777] [--imgsz 640] [--notes F]

Photo i (``default_rng([seed, i])``, as ``finishscan dataset synth`` draws it) is rendered with
erasing off (the generator before it: a defect the photo shows without a label stays in it) and
on, alternating which goes first; the table counts, per class, the labels and the defects erased
(drawn in view, but too faint for the label rule or a sliver at the frame's edge), and the CPU
time per photo of each (``time.process_time``, fair under load). Writes the ``erase_unlabelled``
section of ``benchmarks/RESULTS.md``; ``--notes`` appends a markdown file (findings, e.g.
``finishscan evaluate`` on tiles of both versions).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._results import write_section  # noqa: E402
from datasets.synthetic import SynthConfig, render_sample  # noqa: E402
from finishscan.classes import class_names  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=777)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--notes", type=Path)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    on = SynthConfig()
    off = dataclasses.replace(on, erase_unlabelled=False)
    names = class_names()
    labels_on, labels_off, erased = Counter(), Counter(), Counter()
    cpu = {"off": 0.0, "on": 0.0}
    photos = 0
    passes = Counter()
    same = 0
    for i in range(a.n):
        order = [("off", off), ("on", on)] if i % 2 == 0 else [("on", on), ("off", off)]
        got = {}
        for tag, cfg in order:
            t0 = time.process_time()
            got[tag] = render_sample(np.random.default_rng([a.seed, i]), a.imgsz, cfg)
            cpu[tag] += time.process_time() - t0
        s_on, s_off = got["on"], got["off"]
        labels_on.update(names[b.class_id] for b in s_on.boxes)
        labels_off.update(names[b.class_id] for b in s_off.boxes)
        erased.update(s_on.meta["erased_classes"])
        photos += bool(s_on.meta["erased"])
        passes[s_on.meta["passes"]] += 1
        same += s_on.jpeg == s_off.jpeg
    rows = [
        "| class | labels (erasing off) | labels (on) | erased | erased per label |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n in [*names, "all"]:
        lo = sum(labels_off.values()) if n == "all" else labels_off[n]
        ln = sum(labels_on.values()) if n == "all" else labels_on[n]
        e = sum(erased.values()) if n == "all" else erased[n]
        rows.append(f"| {n} | {lo} | {ln} | {e} | {e / max(lo, 1):.2f} |")
    ms_off, ms_on = 1e3 * cpu["off"] / a.n, 1e3 * cpu["on"] / a.n
    md = (
        f"`python benchmarks/erase_unlabelled.py --n {a.n} --seed {a.seed} --imgsz {a.imgsz}`: "
        f"{a.n} photos of {a.imgsz} px, each rendered with `erase_unlabelled` off and on.\n\n"
        + "\n".join(rows)
        + f"\n\n{photos} of {a.n} photos had a defect erased ({same} of {a.n} came out "
        f"byte-identical with erasing on and off); renderings per photo: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(passes.items()))
        + f". CPU time per photo: {ms_off:.1f} ms off, {ms_on:.1f} ms on "
        f"({ms_on / ms_off:.2f}x, the same run, photos alternating).\n"
    )
    if a.notes:
        md += "\n" + a.notes.read_text()
    print(md)
    if not a.no_write:
        write_section("erase_unlabelled", md)


if __name__ == "__main__":
    main()
