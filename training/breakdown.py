"""Detection metrics by box size at the model's input scale (COCO-like small / medium / large).

A box's size is ``sqrt(area)`` in model-input pixels (image pixels times the scale the detector
showed the image at). COCO splits at 32 and 96 px for images about 640 px across, i.e. for a
640-px input; :func:`size_edges` scales those edges to the model's input: 16 and 48 px at 320
(16 px is two cells of the finest, stride-8 grid).

Predictions are matched to labels once, over all labels (as for the headline metrics, IoU 0.5);
then a prediction counts in the size bucket of the label it matched, or in its own box's bucket
when it matched none. (COCO re-matches per area range; slicing one matching keeps every bucket
consistent with the overall numbers: with one bucket the AP50 is exactly the overall AP50.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from training.metrics import ap_per_class, box_iou

SIZE_NAMES = ("small", "medium", "large")
COCO_EDGES = (32.0, 96.0)  # COCO's small/medium/large limits (sqrt of area) for ~640-px images
COCO_INPUT = 640

Record = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def size_edges(imgsz: tuple[int, int]) -> tuple[float, ...]:
    """COCO's 32/96-px edges scaled to a model input of ``imgsz`` (h, w).

    >>> size_edges((320, 320)), size_edges((640, 640))
    ((16.0, 48.0), (32.0, 96.0))
    """
    s = max(imgsz) / COCO_INPUT
    return tuple(e * s for e in COCO_EDGES)


def box_size(xyxy: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``sqrt(area)`` of (N, 4) xyxy boxes, times ``scale``.

    >>> box_size(np.array([[0, 0, 4, 9]]), 2.0).tolist()
    [12.0]
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    return np.sqrt(area) * scale


def size_bucket(sizes: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Bucket index per size: 0 below ``edges[0]``, ..., ``len(edges)`` from ``edges[-1]`` up.

    >>> size_bucket(np.array([15.9, 16.0, 47.9, 48.0]), (16.0, 48.0)).tolist()
    [0, 1, 1, 2]
    """
    return np.searchsorted(np.asarray(edges, np.float64), np.asarray(sizes), side="right")


def match_indices(
    pred_cls: np.ndarray, true_cls: np.ndarray, iou: np.ndarray, threshold: float = 0.5
) -> np.ndarray:
    """``(n_pred,)`` index of the label each prediction matched at ``threshold``, else -1.

    The rule of :func:`training.metrics.match_predictions` (one column of it): predictions in
    descending confidence order each claim the unclaimed same-class label of highest IoU if that
    IoU is ≥ ``threshold``. ``iou`` is ``(n_true, n_pred)``.
    """
    pred_cls, true_cls = np.asarray(pred_cls), np.asarray(true_cls)
    out = np.full(len(pred_cls), -1, dtype=np.int64)
    if not len(pred_cls) or not len(true_cls):
        return out
    iou = np.asarray(iou, np.float64) * (true_cls[:, None] == pred_cls[None, :])
    claimed = np.zeros(len(true_cls), dtype=bool)
    for j in np.flatnonzero((iou >= threshold).any(0)):
        available = np.where(claimed, 0.0, iou[:, j])
        k = int(available.argmax())
        if available[k] >= threshold:
            out[j] = k
            claimed[k] = True
    return out


@dataclass(frozen=True)
class Matched:
    """One dataset's predictions and labels after matching, with their size buckets."""

    conf: np.ndarray  # (P,) prediction confidence
    pred_cls: np.ndarray  # (P,)
    tp: np.ndarray  # (P,) bool: matched a label at IoU 0.5
    pred_bucket: np.ndarray  # (P,) the matched label's bucket, else the prediction's own
    true_cls: np.ndarray  # (L,)
    true_bucket: np.ndarray  # (L,)
    found_conf: np.ndarray  # (L,) confidence of the prediction that matched the label, else -inf


def match_by_size(
    records: list[Record], scales: list[float], edges: tuple[float, ...], threshold: float = 0.5
) -> Matched:
    """Match every image's predictions (``(pred_xyxy, conf, cls, true_xyxy, true_cls)``, boxes in
    image pixels) and bucket boxes by size at ``scales[i]`` model-input pixels per image pixel."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in Matched.__dataclass_fields__}
    for (pb, pconf, pc, tb, tc), scale in zip(records, scales, strict=True):
        order = np.argsort(-np.asarray(pconf, np.float64), kind="stable")
        pb = np.asarray(pb, np.float64).reshape(-1, 4)[order]
        pconf, pc = np.asarray(pconf, np.float64)[order], np.asarray(pc).astype(int)[order]
        tb, tc = np.asarray(tb, np.float64).reshape(-1, 4), np.asarray(tc).astype(int)
        idx = match_indices(pc, tc, box_iou(tb, pb), threshold)
        tbucket = size_bucket(box_size(tb, scale), edges)
        own = size_bucket(box_size(pb, scale), edges)
        hit = idx >= 0
        found = np.full(len(tc), -np.inf)  # never >= a threshold, even 0.0: unmatched is not found
        found[idx[hit]] = pconf[hit]
        parts["conf"].append(pconf)
        parts["pred_cls"].append(pc)
        parts["tp"].append(hit)
        pbucket = own.copy()
        pbucket[hit] = tbucket[idx[hit]]
        parts["pred_bucket"].append(pbucket)
        parts["true_cls"].append(tc)
        parts["true_bucket"].append(tbucket)
        parts["found_conf"].append(found)
    empty = {"tp": np.zeros(0, bool), "conf": np.zeros(0), "found_conf": np.zeros(0)}
    return Matched(
        **{
            k: np.concatenate(v) if v else empty.get(k, np.zeros(0, np.int64))
            for k, v in parts.items()
        }
    )


def _rnd(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def size_breakdown(
    m: Matched,
    names: list[str],
    *,
    edges: tuple[float, ...],
    conf_threshold: float,
    bucket_names: tuple[str, ...] = SIZE_NAMES,
) -> dict[str, Any]:
    """The ``by_size`` part of the evaluation JSON.

    Per bucket: ``labels``; ``map50`` (mean AP50 over the classes with labels in the bucket, None
    without labels); ``recall`` = share of the bucket's labels matched by a prediction with
    confidence ≥ ``conf_threshold`` (the operating point, evaluate's max-F1 confidence);
    ``false_positives`` = unmatched predictions of the bucket at that confidence; and per class
    ``labels``, ``ap50``, ``recall``.
    """
    if len(bucket_names) != len(edges) + 1:
        raise ValueError(f"{len(edges)} edges make {len(edges) + 1} buckets, got {bucket_names}")
    bounds = [0.0, *edges, None]
    out: dict[str, Any] = {
        "buckets_px": {b: [bounds[i], bounds[i + 1]] for i, b in enumerate(bucket_names)},
        "conf_threshold": round(conf_threshold, 3),
    }
    for b, bname in enumerate(bucket_names):
        psel, tsel = m.pred_bucket == b, m.true_bucket == b
        tcls, found = m.true_cls[tsel], m.found_conf[tsel] >= conf_threshold
        fp = int((~m.tp[psel] & (m.conf[psel] >= conf_threshold)).sum())
        ap50: dict[int, float] = {}
        if len(tcls) and psel.any():
            cm = ap_per_class(m.tp[psel][:, None], m.conf[psel], m.pred_cls[psel], tcls)
            ap50 = {int(c): float(a) for c, a in zip(cm.classes, cm.ap[:, 0], strict=True)}
        elif len(tcls):
            ap50 = {int(c): 0.0 for c in np.unique(tcls)}
        per_class: dict[str, dict[str, Any]] = {}
        for cid, name in enumerate(names):
            n = int((tcls == cid).sum())
            per_class[name] = {
                "labels": n,
                "ap50": _rnd(ap50.get(cid)) if n else None,
                "recall": _rnd(found[tcls == cid].mean()) if n else None,
            }
        out[bname] = {
            "labels": len(tcls),
            "map50": _rnd(float(np.mean(list(ap50.values())))) if ap50 else None,
            "recall": _rnd(found.mean()) if len(tcls) else None,
            "false_positives": fp,
            "per_class": per_class,
        }
    return out
