"""Detection metrics as pure numpy functions (the definitions ultralytics 8.4 and COCO use).

Flow: per image, ``match_predictions`` marks each prediction a true positive at each IoU
threshold; over the whole set, ``ap_per_class`` turns the marks into AP per class and IoU,
and precision/recall at the confidence that maximises the mean F1 (plus, per class, the
confidence that maximises that class's own F1: :func:`class_max_f1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
AP_X = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall points


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of xyxy boxes.

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3]])).round(4).tolist()
    [[0.1429]]
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_predictions(
    pred_cls: np.ndarray,
    true_cls: np.ndarray,
    iou: np.ndarray,
    thresholds: np.ndarray = IOU_THRESHOLDS,
) -> np.ndarray:
    """``(n_pred, len(thresholds))`` bool: prediction j is a true positive at IoU threshold t.

    ``iou`` is ``(n_true, n_pred)`` with predictions in descending confidence order. Each
    prediction, most confident first, claims the unclaimed same-class label with the highest
    IoU if that IoU ≥ t (COCO's greedy matching, as in ultralytics 8.4).
    """
    pred_cls = np.asarray(pred_cls)
    true_cls = np.asarray(true_cls)
    thresholds = np.asarray(thresholds, np.float64)
    correct = np.zeros((len(pred_cls), len(thresholds)), dtype=bool)
    if not len(pred_cls) or not len(true_cls):
        return correct
    iou = np.asarray(iou, np.float64) * (true_cls[:, None] == pred_cls[None, :])
    claimed = np.zeros((len(true_cls), len(thresholds)), dtype=bool)
    cols = np.arange(len(thresholds))
    for j in np.flatnonzero((iou >= thresholds.min()).any(0)):
        available = np.where(claimed, 0.0, iou[:, j, None])  # (n_true, n_thresholds)
        k = available.argmax(0)
        correct[j] = available[k, cols] >= thresholds
        claimed[k, cols] |= correct[j]
    return correct


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AP of one precision–recall curve (101-point interpolation of the precision envelope).

    Returns ``(ap, envelope_precision, recall_with_sentinels)``.

    >>> round(compute_ap(np.array([0.5, 1.0]), np.array([1.0, 0.5]))[0], 4)
    0.8725
    """
    recall = np.asarray(recall, np.float64)
    precision = np.asarray(precision, np.float64)
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    y = np.interp(AP_X, mrec, mpre)
    ap = float(np.sum((y[1:] + y[:-1]) * np.diff(AP_X)) / 2.0)
    return ap, mpre, mrec


def smooth(y: np.ndarray, f: float = 0.05) -> np.ndarray:
    """Box-filter smoothing with a window of fraction ``f`` of the length (edges padded)."""
    nf = round(len(y) * f * 2) // 2 + 1
    pad = np.ones(nf // 2)
    yp = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(yp, np.ones(nf) / nf, mode="valid")


def class_max_f1(f1_curve: np.ndarray, x: np.ndarray, f: float = 0.1) -> np.ndarray:
    """Per row of ``f1_curve`` ``(k, len(x))``: the confidence ``x`` where that class's F1,
    smoothed as the global operating point's mean F1 is (:func:`smooth` with ``f``), peaks
    (the first such ``x``); NaN where F1 is 0 everywhere (no true positive, no operating point).

    >>> class_max_f1(np.array([[0.0, 0.5, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0]]), np.arange(4.0), f=0)
    array([ 2., nan])
    """
    out = np.full(len(f1_curve), np.nan)
    for ci, row in enumerate(np.asarray(f1_curve, np.float64)):
        if row.max() > 0:
            out[ci] = x[int(smooth(row, f).argmax())]
    return out


@dataclass(frozen=True)
class ClassMetrics:
    """Per-class results over a dataset; rows follow ``classes`` (the ids that have labels)."""

    classes: np.ndarray  # (k,) class ids with at least one label
    n_labels: np.ndarray  # (k,)
    ap: np.ndarray  # (k, n_thresholds)
    precision: np.ndarray  # (k,) at the max-mean-F1 confidence
    recall: np.ndarray  # (k,)
    f1: np.ndarray  # (k,)
    conf_threshold: float  # the confidence where mean F1 peaks
    curve_x: np.ndarray  # (1000,) recall (PR) or confidence (P/R/F1) axis
    pr_curve: np.ndarray  # (k, 1000) precision at recall x, IoU 0.5
    p_curve: np.ndarray  # (k, 1000) precision at confidence x
    r_curve: np.ndarray
    f1_curve: np.ndarray
    # (k,) the confidence where each class's own (smoothed) F1 peaks; NaN for a class with no
    # true positive at any confidence (see :func:`class_max_f1`)
    class_conf: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ap50(self) -> np.ndarray:
        return self.ap[:, 0]

    @property
    def map50(self) -> float:
        return float(self.ap[:, 0].mean()) if len(self.ap) else 0.0

    @property
    def map50_95(self) -> float:
        return float(self.ap.mean()) if len(self.ap) else 0.0


def ap_per_class(
    tp: np.ndarray,
    conf: np.ndarray,
    pred_cls: np.ndarray,
    target_cls: np.ndarray,
    eps: float = 1e-16,
) -> ClassMetrics:
    """AP per class and IoU threshold from matched predictions of a whole dataset.

    ``tp`` ``(n_pred, n_thresholds)`` from :func:`match_predictions`; ``target_cls`` lists the
    class of every label. Classes without labels are left out (as ultralytics and COCO do).
    """
    tp = np.asarray(tp, dtype=np.float64)
    if tp.ndim != 2:  # (n_pred,): one threshold
        tp = tp.reshape(len(conf), 1)
    conf = np.asarray(conf, np.float64)
    pred_cls = np.asarray(pred_cls)
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, n_labels = np.unique(np.asarray(target_cls).astype(int), return_counts=True)
    k, n_t = len(classes), tp.shape[1]
    x = np.linspace(0, 1, 1000)
    ap = np.zeros((k, n_t))
    p_curve, r_curve, pr_curve = np.zeros((k, 1000)), np.zeros((k, 1000)), np.zeros((k, 1000))
    for ci, c in enumerate(classes):
        sel = pred_cls == c
        if not sel.any():
            continue
        tpc = tp[sel].cumsum(0)
        fpc = (1 - tp[sel]).cumsum(0)
        recall = tpc / (n_labels[ci] + eps)
        precision = tpc / (tpc + fpc)
        r_curve[ci] = np.interp(-x, -conf[sel], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-x, -conf[sel], precision[:, 0], left=1)
        for j in range(n_t):
            ap[ci, j], mpre, mrec = compute_ap(recall[:, j], precision[:, j])
            if j == 0:
                pr_curve[ci] = np.interp(x, mrec, mpre)
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + eps)
    i = int(smooth(f1_curve.mean(0), 0.1).argmax()) if k else 0
    return ClassMetrics(
        classes=classes,
        n_labels=n_labels,
        ap=ap,
        precision=p_curve[:, i],
        recall=r_curve[:, i],
        f1=f1_curve[:, i],
        conf_threshold=float(x[i]),
        curve_x=x,
        pr_curve=pr_curve,
        p_curve=p_curve,
        r_curve=r_curve,
        f1_curve=f1_curve,
        class_conf=class_max_f1(f1_curve, x, 0.1),
    )


def confusion_matrix(
    pred_xyxy: np.ndarray,
    pred_conf: np.ndarray,
    pred_cls: np.ndarray,
    true_xyxy: np.ndarray,
    true_cls: np.ndarray,
    nc: int,
    *,
    conf: float = 0.25,
    iou: float = 0.45,
) -> np.ndarray:
    """``(nc+1, nc+1)`` counts for one image: rows = predicted class, columns = true class.

    Index ``nc`` is background: a missed label counts in row ``nc``, a prediction matching no
    label in column ``nc``. Predictions below ``conf`` are ignored; pairs match at IoU > ``iou``
    regardless of class, highest IoU first.
    """
    m = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    keep = np.asarray(pred_conf) >= conf
    pb, pc = np.asarray(pred_xyxy).reshape(-1, 4)[keep], np.asarray(pred_cls).astype(int)[keep]
    tc = np.asarray(true_cls).astype(int)
    used_p, used_t = np.zeros(len(pc), bool), np.zeros(len(tc), bool)
    if len(pc) and len(tc):
        ious = box_iou(np.asarray(true_xyxy).reshape(-1, 4), pb)
        ti, pi = np.nonzero(ious > iou)
        for n in np.argsort(-ious[ti, pi], kind="stable"):
            t, p = ti[n], pi[n]
            if not used_t[t] and not used_p[p]:
                used_t[t] = used_p[p] = True
                m[pc[p], tc[t]] += 1
    for t in np.nonzero(~used_t)[0]:
        m[nc, tc[t]] += 1
    for p in np.nonzero(~used_p)[0]:
        m[pc[p], nc] += 1
    return m
