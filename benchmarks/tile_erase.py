"""What ``dataset tile --erase`` does to a synthetic folder's tiles, and what it costs.

    python benchmarks/tile_erase.py --renders R640 --work DIR [--size 320] [--overlap 0]
        [--keep-empty 1.0] [--seed 1] [--section tile_erase] [--notes F]

Tiles the folder twice with ``tile_dataset``, without redrawing (the tiler before ``--erase``:
a piece of a defect cut by a tile's edge that gets no label, a sliver or a faint end, stays in
its tile) and with it (the tile cut from the photo rendered again without that defect), and
reports the unlabelled pieces, the defects erased by class, the tiles and photos redrawn,
whether every label file came out the same, and the CPU time of each run
(``time.process_time``, fair under load). Writes its section of ``benchmarks/RESULTS.md``;
``--notes`` appends a markdown file (findings, e.g. ``finishscan evaluate`` on both tile sets).
"""

from __future__ import annotations

import argparse
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
from datasets.formats.yolo import label_path_for, load  # noqa: E402
from datasets.synthetic.replay import Replay  # noqa: E402
from datasets.tools.tile import Redraw, TileSummary, coco_masks, tile_dataset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renders", type=Path, required=True, help="a `dataset synth` folder")
    ap.add_argument("--work", type=Path, required=True, help="new folder for both tile sets")
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--overlap", type=float, default=0.0)
    ap.add_argument("--keep-empty", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--section", default="tile_erase")
    ap.add_argument("--notes", type=Path)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    ds = load(a.renders)
    masks = coco_masks(a.renders / "annotations.coco.json", ds)
    boxes = {im.path: im.boxes for im in ds.images}
    replay = Replay(a.renders)
    erased: set[tuple[Path, int]] = set()  # (photo, label) erased from some tile
    replayed = 0

    def redraw(path: Path) -> Redraw | None:
        nonlocal replayed
        again = replay.redraw(path)
        if again is None:
            return None
        replayed += 1

        def without(gone: frozenset[int]) -> np.ndarray:
            erased.update((path, j) for j in gone)
            return again(gone)

        return without

    kw = {"size": a.size, "overlap": a.overlap, "polygons": masks}
    kw |= {"keep_empty": a.keep_empty, "seed": a.seed}
    runs: dict[str, tuple[TileSummary, float]] = {}
    for tag, fn in (("off", None), ("on", redraw)):
        t0 = time.process_time()
        s = tile_dataset(ds, a.work / tag, redraw=fn, **kw)  # type: ignore[arg-type]
        runs[tag] = (s, time.process_time() - t0)
    (off, t_off), (on, t_on) = runs["off"], runs["on"]
    names = {(p.parent.name, p.name): label_path_for(p) for p in (a.work / "off").rglob("*.png")}
    same = sum(
        lp.read_text() == label_path_for(a.work / "on" / "images" / d / n).read_text()
        for (d, n), lp in names.items()
    )
    by_class = Counter(ds.names[boxes[p][j].class_id] for p, j in erased)
    unlabelled = off.dropped_pixels + off.dropped_faint
    flags = f"--size {a.size} --overlap {a.overlap:g} --keep-empty {a.keep_empty:g} --seed {a.seed}"
    md = (
        f"`python benchmarks/tile_erase.py --renders {a.renders} --work WORK {flags}`: "
        f"{off.photos} photos → {off.tiles} tiles without redrawing, {on.tiles} with; "
        f"{off.boxes_out} / {on.boxes_out} tile labels, {same} of {len(names)} label files the "
        f"same.\n\n"
        f"- Pieces of a labelled defect that a tile shows without a label: {unlabelled} "
        f"({off.dropped_pixels} with < 24 of the defect's pixels, {off.dropped_faint} faint "
        f"in their tile), beside {off.boxes_out} tile labels.\n"
        f"- With `--erase`: {on.erased} pieces erased in {on.redrawn} tiles, from "
        f"{replayed} photos rendered again; defects erased from some tile by class: "
        + ", ".join(f"{n} {by_class[n]}" for n in ds.names)
        + ".\n"
        f"- CPU: {t_off:.1f} s without redrawing, {t_on:.1f} s with "
        f"({t_on / max(t_off, 1e-9):.2f}x).\n"
    )
    if a.notes:
        md += "\n" + a.notes.read_text()
    print(md)
    if not a.no_write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
