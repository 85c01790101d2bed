"""Evaluate an ONNX model through the project's own ``detector.Detector`` (what ships is measured).

``evaluate_model`` runs the detector at a low confidence (0.001) over one split of a YOLO
dataset, matches predictions to labels per image and returns an :class:`EvalResult`, whose
``to_json()`` is the ``finishscan evaluate --json`` document (``by_size``: see
:mod:`training.breakdown`).

The AP definitions are ultralytics' (``training.metrics``, tested equal to
``ultralytics.utils.metrics.ap_per_class``), but the predictions are the shipped detector's, and
ultralytics' own validator (``YOLO(pt).val(conf=0.001, iou=0.7)``) makes different ones:

- multi-label NMS: one box per class above conf for each anchor, where predict (and the detector)
  keep only the best class;
- ``rect`` batches padded to ``ceil(side / 32 + 0.5) * 32``: a 320x320 tile runs as 352x352 with a
  16-px grey border, where the detector uses the minimum rectangle (320x320);
- boxes are not clipped to the image, where the detector clips them (so a box reaching into that
  border scores a lower IoU with a label cut at the tile edge).

On 1,200 tiles of 320 px (seed 777, generator of commit 1134e41) the shipped model scores mAP50 /
mAP50-95 0.228 / 0.117 here and 0.212 / 0.105 in ultralytics' validator; the three differences
applied to the detector's own ONNX outputs reproduce 0.2123 / 0.1052 (ultralytics: 0.2124 /
0.1052; per-class AP50 within 0.0007). One at a time: multi-label 0.216, 352 padding 0.224, no
clipping 0.226. Whole renders have few boxes at the image edge, and the effects can cancel: on the
same seed drawn by the current generator, 0.169 here vs 0.168 there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from finishscan.errors import ModelError
from training.breakdown import match_by_size, size_breakdown, size_edges
from training.data import load_labels, read_data_yaml
from training.metrics import (
    IOU_THRESHOLDS,
    ClassMetrics,
    ap_per_class,
    box_iou,
    confusion_matrix,
    match_predictions,
)

if TYPE_CHECKING:
    from detector import Detections

EVAL_CONF = 0.001
EVAL_IOU = 0.7

# one image: (pred_xyxy, pred_conf, pred_cls, true_xyxy, true_cls)
Record = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass
class EvalResult:
    names: list[str]
    metrics: ClassMetrics
    confusion: np.ndarray
    images: int
    model: dict[str, str] = field(default_factory=dict)
    data: str = ""
    split: str = "val"
    tile: str = "off"
    tta: bool = False
    seconds_per_image: float = 0.0
    by_size: dict[str, Any] | None = None
    ci: dict[str, Any] | None = None  # bootstrap_ci over the images, when asked for
    records: list[Record] = field(default_factory=list, repr=False)  # per image, for bootstrap_ci
    groups: list[str] = field(
        default_factory=list, repr=False
    )  # per image: its photo (photo_groups)

    def per_class(self) -> dict[str, dict[str, Any]]:
        """Every class of the model; classes with no labels in the split get ``None`` metrics.

        ``conf_threshold_max_f1`` is the confidence where the class's own F1 peaks (``None``
        without labels or without any true positive: such a class falls back to the global
        ``conf_threshold_max_f1``); ``precision``/``recall`` stay at the global one."""
        m = self.metrics
        out: dict[str, dict[str, Any]] = {}
        for cid, name in enumerate(self.names):
            rows = np.nonzero(m.classes == cid)[0]
            if not len(rows):
                out[name] = {
                    "ap50": None,
                    "ap50_95": None,
                    "precision": None,
                    "recall": None,
                    "labels": 0,
                    "conf_threshold_max_f1": None,
                }
                continue
            r = rows[0]
            own = float(m.class_conf[r]) if len(m.class_conf) else float("nan")
            out[name] = {
                "ap50": round(float(m.ap[r, 0]), 4),
                "ap50_95": round(float(m.ap[r].mean()), 4),
                "precision": round(float(m.precision[r]), 4),
                "recall": round(float(m.recall[r]), 4),
                "labels": int(m.n_labels[r]),
                "conf_threshold_max_f1": None if np.isnan(own) else round(own, 3),
            }
        return out

    def conf_thresholds(self) -> dict[str, float]:
        """``{class: max-F1 confidence}`` for the classes that have one (see ``per_class``)."""
        return {
            name: v["conf_threshold_max_f1"]
            for name, v in self.per_class().items()
            if v["conf_threshold_max_f1"] is not None
        }

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "map50": round(m.map50, 4),
            "map50_95": round(m.map50_95, 4),
            "precision": round(float(m.precision.mean()) if len(m.precision) else 0.0, 4),
            "recall": round(float(m.recall.mean()) if len(m.recall) else 0.0, 4),
            "per_class": self.per_class(),
            "images": self.images,
            "model": self.model,
            "data": self.data,
            "split": self.split,
            "tile": self.tile,
            "tta": self.tta,
            "conf_threshold_max_f1": round(m.conf_threshold, 3),
            "conf_thresholds": self.conf_thresholds(),
            "seconds_per_image": round(self.seconds_per_image, 4),
            **({"by_size": self.by_size} if self.by_size is not None else {}),
            **({"ci": self.ci} if self.ci is not None else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def record(d: Detections, true_xyxy: np.ndarray, true_cls: np.ndarray) -> Record:
    """One image's :func:`accumulate` record from the detector's boxes and the labels."""
    return (
        d.xyxy.astype(np.float64),
        d.confidence.astype(np.float64),
        d.class_id.astype(int),
        true_xyxy,
        true_cls,
    )


def _sorted(rec: Record) -> Record:
    """A record with its predictions in descending confidence (the order matching needs)."""
    pb, pconf, pc, tb, tc = rec
    order = np.argsort(-np.asarray(pconf), kind="stable")
    return (
        np.asarray(pb).reshape(-1, 4)[order],
        np.asarray(pconf)[order],
        np.asarray(pc)[order],
        tb,
        tc,
    )


def _matched(rec: Record) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One sorted record's (tp per IoU threshold, confidence, predicted class, label classes)."""
    pb, pconf, pc, tb, tc = rec
    return match_predictions(pc, tc, box_iou(tb, pb), IOU_THRESHOLDS), pconf, pc, np.asarray(tc)


def _metrics(matched: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> ClassMetrics:
    if not matched:
        return ap_per_class(
            np.zeros((0, len(IOU_THRESHOLDS)), bool),
            np.zeros(0),
            np.zeros(0, int),
            np.zeros(0, int),
        )
    tp, conf, pcls, tcls = (np.concatenate(parts) for parts in zip(*matched, strict=True))
    return ap_per_class(tp, conf, pcls, tcls)


def accumulate(records: list[Record], nc: int) -> tuple[ClassMetrics, np.ndarray]:
    """Metrics from per-image ``(pred_xyxy, pred_conf, pred_cls, true_xyxy, true_cls)`` records."""
    cm = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    matched = []
    for rec in records:
        ordered = _sorted(rec)
        matched.append(_matched(ordered))
        cm += confusion_matrix(*ordered, nc)
    return _metrics(matched), cm


def bootstrap_ci(
    records: list[Record],
    names: list[str],
    *,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    against: list[Record] | None = None,
    groups: list[str] | None = None,
) -> dict[str, Any]:
    """Percentile bootstrap intervals of mAP50, mAP50-95 and each class's AP50 over images.

    Each resample draws as many images as there are, with replacement, and scores them as
    :func:`accumulate` does (predictions matched per image once). The interval says how far the
    figure could move on another set of the same size from the same source. A class with no
    label in a resample is left out of that resample's per-class figure (and of its mAP, as in
    :func:`accumulate`).

    With ``against`` (another model's records of the same images, in the same order) the
    intervals are of the difference ``records - against``, both scored on the same drawn images
    (a paired bootstrap): an interval that excludes 0 means this set tells the two apart.

    ``groups`` (one name per record) draws whole groups instead of single images: the tiles of
    one photo share its wall, light and camera, so drawing them one by one would treat them as
    independent evidence and give too narrow an interval.
    """
    if resamples < 1 or not 0 < level < 1:
        raise ValueError("bootstrap needs resamples >= 1 and 0 < level < 1")
    sets = [records] if against is None else [records, against]
    if against is not None and len(against) != len(records):
        raise ValueError("bootstrap against another model needs its records of the same images")
    if groups is not None and len(groups) != len(records):
        raise ValueError("bootstrap needs one group name per record")
    _, member_of = np.unique(
        np.asarray(groups if groups is not None else range(len(records))), return_inverse=True
    )
    members = (
        [np.flatnonzero(member_of == g) for g in range(member_of.max() + 1)] if len(records) else []
    )
    matched = [[_matched(_sorted(r)) for r in rs] for rs in sets]
    sign = (1.0, -1.0)
    rng = np.random.default_rng(seed)
    m50, m5095 = np.zeros(resamples), np.zeros(resamples)
    per = np.zeros((resamples, len(names)))
    for b in range(resamples):
        drawn = rng.integers(0, len(members), len(members))
        idx = np.concatenate([members[g] for g in drawn]) if len(members) else np.zeros(0, int)
        seen = np.zeros(len(names), bool)
        for s, ms in zip(sign, matched, strict=False):
            m = _metrics([ms[i] for i in idx])
            m50[b] += s * m.map50
            m5095[b] += s * m.map50_95
            per[b, m.classes] += s * m.ap50
            seen[m.classes] = True
        per[b, ~seen] = np.nan
    q = (50 * (1 - level), 50 * (1 + level))

    def interval(x: np.ndarray) -> list[float] | None:
        x = x[~np.isnan(x)]
        return [round(float(v), 4) for v in np.percentile(x, q)] if len(x) else None

    return {
        "level": level,
        "resamples": resamples,
        "map50": interval(m50),
        "map50_95": interval(m5095),
        "per_class_ap50": {name: interval(per[:, c]) for c, name in enumerate(names)},
    }


def photo_groups(images: list[Path]) -> list[str]:
    """The photo each image shows part of: a tile's source photo by ``dataset tile``'s naming
    (``<photo>_x<X>_y<Y>``, folder included), else the image itself."""
    from datasets.tools.tile import tile_source

    return [str(p.parent / tile_source(p.stem)) for p in images]


def evaluate_model(
    model: str | Path,
    data: str | Path,
    *,
    split: str = "val",
    tile: str = "off",
    threads: int | None = None,
    limit: int | None = None,
    bootstrap: int = 0,
    tta: bool = False,
) -> EvalResult:
    """Metrics of ``model`` (ONNX) on ``split`` of ``data`` (YOLO data YAML) via ``detector``;
    with ``bootstrap`` > 0 also their 95 % intervals from that many resamples (:func:`bootstrap_ci`);
    ``tta``: each image (each slice when tiled) also read mirrored and the two fused
    (``Detector(tta=True)``).

    Example: ``evaluate_model("models/m.onnx", "synth/data.yaml").to_dict()["map50"]``.
    """
    import time

    from detector import Detector, TileMode, load_image
    from detector.tiling import should_tile

    spec = read_data_yaml(data)
    images = spec.images(split)[:limit] if limit else spec.images(split)
    if not images:
        raise ModelError(f"no images in the {split!r} split of {data}")
    det = Detector(str(model), threads=threads, conf=EVAL_CONF, iou=EVAL_IOU, tta=tta)
    names = list(det.names)
    if len(names) < len(spec.names) or names[: len(spec.names)] != spec.names:
        raise ModelError(f"the model's classes {names} do not match the dataset's {spec.names}")
    records, scales = [], []
    t0 = time.perf_counter()
    for path in images:
        rgb = load_image(path)
        h, w = rgb.shape[:2]
        d = det.detect(rgb, tile=cast("TileMode", tile))
        tc, tb = load_labels(path, (w, h))
        records.append(record(d, tb, tc))
        tiled = tile == "on" or (tile == "auto" and should_tile((h, w), det.imgsz))
        scales.append(1.0 if tiled else min(det.imgsz[0] / h, det.imgsz[1] / w))
    seconds = (time.perf_counter() - t0) / len(images)
    metrics, cm = accumulate(records, len(names))
    groups = photo_groups(images)
    edges = size_edges(det.imgsz)
    by_size = size_breakdown(
        match_by_size(records, scales, edges),
        names,
        edges=edges,
        conf_threshold=metrics.conf_threshold,
    )
    info = getattr(det, "info", None)
    model_info = {
        "name": getattr(info, "name", Path(model).stem),
        "version": getattr(info, "version", ""),
    }
    return EvalResult(
        names=names,
        metrics=metrics,
        confusion=cm,
        images=len(images),
        model=model_info,
        data=str(data),
        split=split,
        tile=tile,
        tta=tta,
        seconds_per_image=seconds,
        by_size=by_size,
        ci=bootstrap_ci(records, names, resamples=bootstrap, groups=groups) if bootstrap else None,
        records=records,
        groups=groups,
    )
