"""Write a synthetic dataset: YOLO layout (images/, labels/, data.yaml) plus COCO JSON.

Image ``i`` is rendered from ``np.random.default_rng([seed, i])``, so the bytes depend only on
(seed, i, imgsz, config), not on ``workers`` or order. Labels and ``data.yaml`` use the
writers of :mod:`datasets.formats.yolo`; the COCO file is :mod:`datasets.formats.coco`'s
document with mask polygons and mask areas filled in.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from datasets.formats import coco, yolo
from datasets.formats._common import atomic_dir
from datasets.synthetic._alloc import retain_freed_memory
from datasets.synthetic.composer import render_sample
from datasets.synthetic.config import SynthConfig
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError


def _polygons(mask: np.ndarray, box: Box | None = None) -> list[list[float]]:
    """Outer contours of a bool mask as flat [x0, y0, x1, y1, ...] lists (image pixels).

    ``box``, when given, bounds the mask's pixels (the sample's box): only that crop, with a
    one-pixel zero margin, is traced (same contours, offset back to the full image).
    """
    x0, y0 = 0, 0
    if box is not None:
        h, w = mask.shape
        x0, y0 = max(0, int(box.x0) - 1), max(0, int(box.y0) - 1)
        mask = mask[y0 : min(h, int(box.y1) + 1), x0 : min(w, int(box.x1) + 1)]
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0)
    )
    out = []
    for c in contours:
        if len(c) >= 3:
            out.append([float(v) for v in c.reshape(-1)])
    return out


_Rendered = tuple[bytes, list[Box], list[list[list[float]]], list[int]]


def _render(
    args: tuple[int, int, int, SynthConfig],
) -> tuple[bytes, list[Box], list[list[list[float]]], list[int]]:
    seed, i, imgsz, cfg = args
    s = render_sample(np.random.default_rng([seed, i]), imgsz, cfg)
    polys = [_polygons(m, b) for m, b in zip(s.masks, s.boxes, strict=True)]
    return s.jpeg, s.boxes, polys, [int(np.count_nonzero(m)) for m in s.masks]


def _init_worker() -> None:
    cv2.setNumThreads(1)
    retain_freed_memory()  # reuse freed frames instead of page-faulting fresh ones


def val_indices(n: int, seed: int, val_fraction: float) -> set[int]:
    """The deterministic validation subset: ``round(n * val_fraction)`` indices."""
    k = int(round(n * val_fraction))
    return set(np.random.default_rng([seed, 0x5A1]).permutation(n)[:k].tolist())


def write_dataset(
    out: Path,
    n: int,
    *,
    seed: int = 0,
    imgsz: int = 640,
    val_fraction: float = 0.1,
    config: SynthConfig | None = None,
    workers: int = 1,
    progress: bool = False,
    overwrite: bool = False,
) -> Dataset:
    """Render ``n`` photos into ``out`` (must be new or empty unless ``overwrite``).

    Writes ``out/images/{train,val}/s<seed>_<i>.jpg``, ``out/labels/{train,val}/*.txt``,
    ``out/data.yaml``, ``out/annotations.coco.json`` (all images) and ``out/synth_config.json``
    (seed, size and config used). Returns the dataset with
    image paths inside ``out``. Example: ``write_dataset(Path("synth"), 100, seed=1)``.
    """
    if n < 1:
        raise DatasetError(f"n must be at least 1, got {n}")
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if imgsz < 64:
        raise DatasetError(f"imgsz must be at least 64, got {imgsz}")
    cfg = config or SynthConfig()
    out = Path(out)
    val = val_indices(n, seed, val_fraction)
    jobs = [(seed, i, imgsz, cfg) for i in range(n)]
    images: list[LabeledImage] = []
    results: Iterator[_Rendered]
    polys: list[list[list[list[float]]]] = []
    areas: list[list[int]] = []
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for split in ("train", "val"):
            (tmp / "images" / split).mkdir(parents=True, exist_ok=True)
            (tmp / "labels" / split).mkdir(parents=True, exist_ok=True)
        if workers > 1:
            pool = mp.get_context("spawn").Pool(workers, initializer=_init_worker)
            results = pool.imap(_render, jobs, chunksize=4)
        else:
            pool = None
            retain_freed_memory()  # this process renders: same allocator setting as a worker
            results = map(_render, jobs)
        try:
            for i, (jpeg, boxes, poly, area) in enumerate(results):
                split = "val" if i in val else "train"
                name = f"s{seed}_{i:06d}"
                img_path = tmp / "images" / split / f"{name}.jpg"
                img_path.write_bytes(jpeg)
                lab = LabeledImage(
                    out / "images" / split / f"{name}.jpg", imgsz, imgsz, list(boxes)
                )
                lines = yolo.format_yolo_lines(lab.boxes, imgsz, imgsz)
                (tmp / "labels" / split / f"{name}.txt").write_text(
                    "".join(x + "\n" for x in lines)
                )
                images.append(lab)
                polys.append(poly)
                areas.append(area)
                if progress and ((i + 1) % 50 == 0 or i + 1 == n):
                    print(f"synth: {i + 1}/{n}", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        yolo.write_data_yaml(tmp, list(cfg.names))
        dataset = Dataset(names=list(cfg.names), images=images)
        doc = coco.to_coco(dataset, image_root=out)
        flat_p = [p for per in polys for p in per]
        flat_a = [a for per in areas for a in per]
        for ann, p, a in zip(doc["annotations"], flat_p, flat_a, strict=True):
            ann["segmentation"] = p
            ann["area"] = a
        doc["info"] = {"description": f"finishscan synthetic, seed {seed}, n {n}, imgsz {imgsz}"}
        (tmp / "annotations.coco.json").write_text(json.dumps(doc))
        # How the set was made, so it can be regenerated byte for byte.
        recipe = {
            "seed": seed,
            "n": n,
            "imgsz": imgsz,
            "val_fraction": val_fraction,
            "config": asdict(cfg),
        }
        (tmp / "synth_config.json").write_text(json.dumps(recipe, indent=1, default=list))
    return dataset
