"""Pure geometry of YOLO inference, identical to ultralytics' (8.4) predictor.

``letterbox_params`` / ``letterbox`` = ``ultralytics.data.augment.LetterBox`` (center, pad 114,
``cv2.INTER_LINEAR``, its rounding); ``scale_boxes`` = ``ultralytics.utils.ops.scale_boxes``
(+ clip); ``nms`` = greedy class-aware NMS (suppress IoU > threshold, like torchvision);
``decode_classic`` / ``decode_end2end`` = ``ultralytics.utils.nms.non_max_suppression`` for the
``(4+nc, N)`` and the NMS-free ``(N, 6)`` output of one image.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from detector.types import Detections

PAD_VALUE = 114
MAX_WH = 7680  # ultralytics' per-class coordinate offset for class-aware NMS
MAX_NMS = 30000  # ultralytics' cap on boxes entering NMS


class Letterbox(NamedTuple):
    """How an image of ``shape`` (h, w) became the model input of ``input_shape`` (h, w)."""

    shape: tuple[int, int]
    input_shape: tuple[int, int]
    new_unpad: tuple[int, int]  # (w, h) after resize, before padding
    top: int
    bottom: int
    left: int
    right: int


def letterbox_params(
    shape: tuple[int, int], new_shape: tuple[int, int], *, auto: bool = False, stride: int = 32
) -> Letterbox:
    """Resize-and-pad plan for an image of ``shape`` (h, w) into ``new_shape`` (h, w).

    ``auto=True`` pads only up to a multiple of ``stride`` (ultralytics' "minimum rectangle").

    >>> letterbox_params((480, 640), (640, 640))
    Letterbox(shape=(480, 640), input_shape=(640, 640), new_unpad=(640, 480), top=80, bottom=80, left=0, right=0)
    """
    h, w = shape
    r = min(new_shape[0] / h, new_shape[1] / w)
    new_unpad = (max(round(w * r), 1), max(round(h * r), 1))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = int(np.mod(dw, stride)), int(np.mod(dh, stride))
    dw2, dh2 = dw / 2, dh / 2
    top, bottom = round(dh2 - 0.1), round(dh2 + 0.1)
    left, right = round(dw2 - 0.1), round(dw2 + 0.1)
    input_shape = (new_unpad[1] + top + bottom, new_unpad[0] + left + right)
    return Letterbox((h, w), input_shape, new_unpad, top, bottom, left, right)


def letterbox(image: np.ndarray, params: Letterbox) -> np.ndarray:
    """The (h, w, 3) uint8 image resized (INTER_LINEAR) and padded with 114 as ``params`` says."""
    if (image.shape[1], image.shape[0]) != params.new_unpad:
        image = cv2.resize(image, params.new_unpad, interpolation=cv2.INTER_LINEAR)
    if params.top or params.bottom or params.left or params.right:
        image = cv2.copyMakeBorder(
            image,
            params.top,
            params.bottom,
            params.left,
            params.right,
            cv2.BORDER_CONSTANT,
            value=(PAD_VALUE,) * 3,
        )
    return image


def scale_boxes(
    boxes: np.ndarray, input_shape: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Boxes (N, 4) xyxy from the letterboxed ``input_shape`` (h, w) back to the image ``shape``
    (h, w), clipped to it; a new float32 array.

    >>> scale_boxes(np.array([[0, 80, 640, 560]], np.float32), (640, 640), (480, 640)).tolist()
    [[0.0, 0.0, 640.0, 480.0]]
    """
    gain = min(input_shape[0] / shape[0], input_shape[1] / shape[1])
    new_h, new_w = (max(round(x * gain), 1) for x in shape)
    gain_y, gain_x = new_h / shape[0], new_w / shape[1]
    pad_x = round((input_shape[1] - new_w) / 2 - 0.1)
    pad_y = round((input_shape[0] - new_h) / 2 - 0.1)
    out = np.array(boxes, dtype=np.float32, copy=True).reshape(-1, 4)
    out[:, [0, 2]] -= pad_x
    out[:, [1, 3]] -= pad_y
    out[:, [0, 2]] /= np.float32(gain_x)
    out[:, [1, 3]] /= np.float32(gain_y)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, shape[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, shape[0])
    return out


def box_area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0]).clip(0) * (boxes[..., 3] - boxes[..., 1]).clip(0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU (len(a), len(b)) of xyxy boxes; 0 where both are empty.

    >>> box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 3, 2]])).astype(float).round(4).tolist()
    [[0.3333]]
    """
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clip(0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0).astype(np.float32)


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    iou: float,
    class_id: np.ndarray | None = None,
    *,
    max_det: int | None = None,
) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, best score first.

    A box is dropped when its IoU with a better kept box *of the same class* is > ``iou``
    (class-agnostic when ``class_id`` is None). Stops after ``max_det`` kept boxes.

    >>> nms(np.array([[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10]]), np.array([0.9, 0.8, 0.7]),
    ...     0.5, np.array([0, 0, 1])).tolist()
    [0, 2]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if class_id is not None and len(boxes):
        # ultralytics' trick: offset each class far apart so one pass is class-aware
        boxes = boxes + (np.asarray(class_id, np.float32) * MAX_WH)[:, None]
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    limit = len(order) if max_det is None else max_det
    while order.size and len(keep) < limit:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = (np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest])).clip(0)
        h = (np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest])).clip(0)
        inter = w * h
        ious = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(ious > iou)]
    return np.array(keep, dtype=np.int64)


def mirror_x(boxes: np.ndarray, width: int) -> np.ndarray:
    """xyxy boxes of an image flipped left-right, in the unflipped image's pixels.

    >>> mirror_x(np.array([[10, 5, 30, 8]], np.float32), 100).tolist()
    [[70.0, 5.0, 90.0, 8.0]]
    """
    out = np.array(boxes, np.float32).reshape(-1, 4)
    out[:, [0, 2]] = width - out[:, [2, 0]]
    return out


def fuse_views(a: Detections, b: Detections, iou: float = 0.55) -> Detections:
    """One set of detections from two views of the same image (test-time augmentation).

    Each box of ``a``, most confident first, is paired with the unpaired box of ``b`` of its
    class that overlaps it most, if that IoU is >= ``iou``. A pair becomes one box: the
    confidence-weighted mean of the two boxes, with their mean confidence. A box without a
    partner keeps its place with half its confidence (one view of two saw it). This is weighted
    box fusion (Solovyev et al., 2021) for two views, one to one. Output: pairs and ``a``'s
    unpaired boxes in ``a``'s order, then ``b``'s unpaired boxes.

    >>> a = Detections([[0, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.6], [0, 0])
    >>> d = fuse_views(a, Detections([[2, 0, 12, 10]], [0.4], [0]), 0.5)
    >>> d.xyxy.astype(float).round(3).tolist(), d.confidence.astype(float).round(3).tolist()
    ([[0.667, 0.0, 10.667, 10.0], [50.0, 50.0, 60.0, 60.0]], [0.6, 0.3])
    """
    if not len(b):
        return Detections(a.xyxy, a.confidence / 2, a.class_id)
    pair = box_iou(a.xyxy, b.xyxy)
    pair[a.class_id[:, None] != b.class_id[None, :]] = 0
    free = np.ones(len(b), bool)
    partner = np.full(len(a), -1)
    for i in np.argsort(-a.confidence, kind="stable"):
        if not free.any():
            break
        row = np.where(free, pair[i], -1.0)
        best = int(row.argmax())
        if row[best] >= iou:
            partner[i], free[best] = best, False
    paired, other = partner >= 0, partner.clip(0)
    wa = a.confidence[:, None]
    wb = np.where(paired, b.confidence[other], 0)[:, None]  # 0: an unpaired box stays as it is
    xyxy = (a.xyxy * wa + b.xyxy[other] * wb) / (wa + wb)  # confidences are > 0 (decode's floor)
    conf = (a.confidence + wb[:, 0]) / 2
    return Detections(
        np.concatenate([xyxy, b.xyxy[free]]),
        np.concatenate([conf, b.confidence[free] / 2]),
        np.concatenate([a.class_id, b.class_id[free]]),
    )


def xywh2xyxy(xywh: np.ndarray) -> np.ndarray:
    xy, wh = xywh[:, :2], xywh[:, 2:4] / 2
    return np.concatenate([xy - wh, xy + wh], axis=1)


Conf = float | np.ndarray  # one threshold for every class, or (nc,) thresholds by class id


def _floor(conf: Conf, nc: int | None) -> float | np.ndarray:
    """The lowest threshold of ``conf`` (decoding starts there), checking a per-class array."""
    if np.ndim(conf) == 0:
        return conf
    thr = np.asarray(conf)
    if thr.ndim != 1 or (nc is not None and len(thr) != nc) or not len(thr):
        raise ValueError(f"per-class conf must have shape ({nc},), got {thr.shape}")
    return thr.min()


def decode_classic(output: np.ndarray, *, conf: Conf, iou: float, max_det: int) -> Detections:
    """Detections in model-input pixels from one image's ``(4+nc, N)`` output (cx, cy, w, h,
    class scores): best class per anchor, score > ``conf``, class-aware NMS, ``max_det`` best.

    ``conf`` is one threshold or ``(nc,)`` thresholds by class: anchors are decoded above the
    lowest, then each keeps its best class only if its score > that class's threshold (before
    NMS; as NMS is class-aware, the same boxes as filtering its output, but ``max_det`` counts
    only boxes that pass)."""
    x = np.asarray(output, np.float32)
    if x.ndim != 2 or x.shape[0] < 5:
        raise ValueError(f"expected a (4+nc, N) output, got {x.shape}")
    cls_scores = x[4:]
    floor = _floor(conf, cls_scores.shape[0])
    score = cls_scores.max(0)
    candidates = np.flatnonzero(score > floor)
    if candidates.size == 0:
        return Detections.empty()
    score = score[candidates]
    cls = cls_scores[:, candidates].argmax(0)
    if np.ndim(conf) != 0:
        ok = score > np.asarray(conf, np.float32)[cls]
        candidates, score, cls = candidates[ok], score[ok], cls[ok]
        if candidates.size == 0:
            return Detections.empty()
    boxes = xywh2xyxy(x[:4, candidates].T)
    if candidates.size > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        boxes, score, cls = boxes[top], score[top], cls[top]
    keep = nms(boxes, score, iou, cls, max_det=max_det)
    return Detections(boxes[keep], score[keep], cls[keep])


def decode_end2end(output: np.ndarray, *, conf: Conf, max_det: int) -> Detections:
    """Detections in model-input pixels from one image's NMS-free ``(N, 6)`` output
    (x0, y0, x1, y1, score, class): rows with score > ``conf`` (one threshold, or ``(nc,)`` by
    class: rows above the lowest, then each above its class's), the first ``max_det``."""
    x = np.asarray(output, np.float32)
    if x.ndim != 2 or x.shape[1] < 6:
        raise ValueError(f"expected an (N, 6) output, got {x.shape}")
    x = x[x[:, 4] > _floor(conf, None)]
    if np.ndim(conf) != 0:
        thr = np.asarray(conf, np.float32)
        cls = x[:, 5].astype(np.int64)
        if len(cls) and (cls.min() < 0 or cls.max() >= len(thr)):
            raise ValueError(f"class ids must be in [0, {len(thr)}) for per-class confs")
        x = x[x[:, 4] > thr[cls]]
    x = x[:max_det]
    return Detections(x[:, :4], x[:, 4], x[:, 5].astype(np.int64))
