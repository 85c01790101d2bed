"""Write a synthetic dataset: YOLO layout (images/, labels/, data.yaml) plus COCO JSON.

Image ``i`` is rendered from ``np.random.default_rng([seed, i])``, so the bytes depend only on
(seed, i, imgsz, config), not on ``workers`` or order. Labels and ``data.yaml`` use the
writers of :mod:`datasets.formats.yolo`; the COCO file is :mod:`datasets.formats.coco`'s
document with each defect's exact mask as ``segmentation`` (compressed RLE, ``iscrowd`` 0), its
pixel count as ``area`` and, for hollow tiles, a ``cue`` mask (RLE): the pixels the renderer
drew to show it (the inspector's ring and cross, the lifted edge's highlight and shadow, a
shifted tile's moved edges: :attr:`Sample.cues <datasets.synthetic.composer.Sample>`). A crop
holding none of it shows only plain tile (``dataset tile`` drops such labels).
:func:`cue_band` (the band along a mask's edge, the cue written before the renderer gave its
own) is kept for masks without a drawn cue.
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

# A hollow tile's cue band at 640 px: its lippage highlight and shadow (up to ~10 px) or a
# shifted edge lie this close to the edge of its mask; the inspector's ring (<= 9 px thick) lies
# wholly inside the band.
CUE_BAND = 12


def cue_band(mask: np.ndarray, width: int, box: Box | None = None) -> np.ndarray:
    """The pixels of a bool mask within ``width`` px of its edge (a pixel outside it within a
    (2 width + 1)-px disc); the photo's border is not an edge (a tile the photo cuts off shows no
    edge there). ``box`` (the mask's bounding box) limits the work to its crop.

    >>> m = np.zeros((9, 9), bool); m[1:8, 1:8] = True
    >>> cue_band(m, 2)[4].astype(int).tolist()
    [0, 1, 1, 0, 0, 0, 1, 1, 0]
    """
    h, w = mask.shape
    x0, y0, x1, y1 = 0, 0, w, h
    if box is not None:
        x0, y0 = max(0, int(box.x0) - width - 1), max(0, int(box.y0) - width - 1)
        x1, y1 = min(w, int(box.x1) + width + 1), min(h, int(box.y1) + width + 1)
    crop = mask[y0:y1, x0:x1].view(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    inner = cv2.erode(crop, disc)  # outside the array counts as inside the mask
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = crop > inner
    return out


def _annotation(
    mask: np.ndarray, box: Box, name: str, imgsz: int, cue: np.ndarray | None = None
) -> dict:
    """COCO fields of one defect: exact ``segmentation`` (compressed RLE), ``area`` (its pixels)
    and its ``cue`` mask when it has one; a hollow tile without a drawn cue gets its edge band
    (:func:`cue_band`)."""
    ann: dict = {"segmentation": coco.encode_rle(mask), "area": int(np.count_nonzero(mask))}
    if cue is not None:
        ann["cue"] = coco.encode_rle(cue)
    elif name == "hollow_tile":
        band = max(2, int(round(CUE_BAND * imgsz / 640)))
        ann["cue"] = coco.encode_rle(cue_band(mask, band, box))
    return ann


_Rendered = tuple[bytes, list[Box], list[dict]]


def _render(args: tuple[int, int, int, SynthConfig]) -> _Rendered:
    seed, i, imgsz, cfg = args
    s = render_sample(np.random.default_rng([seed, i]), imgsz, cfg)
    cues = s.cues or [None] * len(s.boxes)
    anns = [
        _annotation(m, b, cfg.names[b.class_id], imgsz, c)
        for m, b, c in zip(s.masks, s.boxes, cues, strict=True)
    ]
    return s.jpeg, s.boxes, anns


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
    extras: list[dict] = []
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
            for i, (jpeg, boxes, anns) in enumerate(results):
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
                extras += anns
                if progress and ((i + 1) % 50 == 0 or i + 1 == n):
                    print(f"synth: {i + 1}/{n}", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
        yolo.write_data_yaml(tmp, list(cfg.names))
        dataset = Dataset(names=list(cfg.names), images=images)
        doc = coco.to_coco(dataset, image_root=out)
        for ann, extra in zip(doc["annotations"], extras, strict=True):
            ann.update(extra)
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
