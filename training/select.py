"""Active learning: which photos are most worth labelling next (torch-free, pure functions).

Input records are detection objects as ``finishscan detect --json`` / ``scan --json`` write
them (``{"image", "width", "height", "defects": [{"label", "confidence", "box"}]}``),
optionally with ``"tiled_defects"`` from a tiled run of the same photo and ``"flipped_defects"``
from a tiled run of its left-right mirror (boxes mapped back). A photo scores high when

- **uncertain**: a box's confidence is close to the working threshold (the model hesitates),
- **disagreement**: the whole-photo and tiled runs see different defects,
- **flips**: the photo and its mirror image are read differently (the tiled runs of each),
- **rare**: it shows a class the pool rarely shows (labels for it are scarce).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Record = Mapping[str, Any]
# the working confidence threshold: one for every class, or one per label (a model's own
# per-class thresholds, what ``detect`` reports by); a label without one gets DEFAULT_THRESHOLD
Threshold = float | Mapping[str, float]
DEFAULT_THRESHOLD = 0.25


def threshold_of(threshold: Threshold, label: str) -> float:
    """The working threshold for boxes of ``label``.

    >>> threshold_of(0.3, "crack"), threshold_of({"crack": 0.4}, "crack"), threshold_of({}, "stain")
    (0.3, 0.4, 0.25)
    """
    if isinstance(threshold, Mapping):
        return float(threshold.get(label, DEFAULT_THRESHOLD))
    return float(threshold)


def kept(defects: Iterable[Record], threshold: Threshold) -> list[Record]:
    """The defects at or above their label's working threshold."""
    return [d for d in defects if d["confidence"] >= threshold_of(threshold, d["label"])]


@dataclass(frozen=True)
class Weights:
    uncertainty: float = 1.0
    disagreement: float = 1.0
    rarity: float = 0.5
    flips: float = 1.0


@dataclass(frozen=True)
class Scored:
    record: Record
    score: float
    uncertainty: float
    disagreement: float
    rarity: float
    flips: float | None = None  # None: the record has no mirrored run

    def why(self) -> dict[str, float]:
        out = {
            "score": round(self.score, 4),
            "uncertainty": round(self.uncertainty, 4),
            "disagreement": round(self.disagreement, 4),
            "rarity": round(self.rarity, 4),
        }
        if self.flips is not None:
            out["flips"] = round(self.flips, 4)
        return out


def uncertainty(
    confidences: Sequence[float],
    *,
    threshold: float | Sequence[float] = DEFAULT_THRESHOLD,
    band: float = 0.2,
) -> float:
    """1 for a box exactly at ``threshold`` (one for all, or one per box), falling linearly to 0
    at ``threshold ± band``; max over boxes.

    >>> uncertainty([0.25]), uncertainty([0.15], band=0.2), uncertainty([0.9]), uncertainty([])
    (1.0, 0.5, 0.0, 0.0)
    >>> uncertainty([0.4, 0.25], threshold=[0.4, 0.45])
    1.0
    """
    if not len(confidences):
        return 0.0
    c = np.asarray(confidences, np.float64)
    t = np.asarray(threshold, np.float64)
    return float(np.clip(1.0 - np.abs(c - t) / band, 0.0, 1.0).max())


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    union = (a[:, 2:] - a[:, :2]).prod(1)[:, None] + (b[:, 2:] - b[:, :2]).prod(1)[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def disagreement(a: Sequence[Record], b: Sequence[Record], *, iou: float = 0.5) -> float:
    """1 − F1 of a greedy same-label matching between two runs' defects (0 when both are empty).

    >>> d = {"label": "crack", "box": [0, 0, 10, 10], "confidence": 0.9}
    >>> disagreement([d], [d]), disagreement([d], []), disagreement([], [])
    (0.0, 1.0, 0.0)
    """
    if not a and not b:
        return 0.0
    return 1.0 - 2.0 * matches(a, b, iou=iou) / (len(a) + len(b))


def matches(a: Sequence[Record], b: Sequence[Record], *, iou: float = 0.5) -> int:
    """How many defects of ``a`` and ``b`` pair up: greedy by IoU (≥ ``iou``), same label only.

    >>> d = {"label": "crack", "box": [0, 0, 10, 10]}
    >>> matches([d, d], [d]), matches([d], [{**d, "label": "stain"}]), matches([d], [])
    (1, 0, 0)
    """
    if not a or not b:
        return 0
    ba = np.array([d["box"] for d in a], np.float64)
    bb = np.array([d["box"] for d in b], np.float64)
    same = np.array([[da["label"] == db["label"] for db in b] for da in a])
    m = _iou(ba, bb) * same
    used_a, used_b, matched = set(), set(), 0
    for flat in np.argsort(-m, axis=None, kind="stable"):
        i, j = divmod(int(flat), len(b))
        if m[i, j] < iou:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matched += 1
    return matched


def class_frequencies(
    records: Iterable[Record], *, threshold: Threshold = DEFAULT_THRESHOLD
) -> dict[str, float]:
    """Share of each label among all boxes at or above ``threshold`` in the pool."""
    counts: Counter[str] = Counter()
    for r in records:
        for d in kept(r.get("defects") or [], threshold):
            counts[d["label"]] += 1
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def rarity(
    defects: Sequence[Record],
    freq: Mapping[str, float],
    *,
    threshold: Threshold = DEFAULT_THRESHOLD,
) -> float:
    """``1 − share`` of the rarest label the photo shows (0 without boxes).

    >>> rarity([{"label": "stain", "confidence": 0.5}], {"crack": 0.9, "stain": 0.1})
    0.9
    """
    shares = [freq.get(d["label"], 0.0) for d in kept(defects, threshold)]
    return float(1.0 - min(shares)) if shares else 0.0


def score_records(
    records: Sequence[Record],
    *,
    threshold: Threshold = DEFAULT_THRESHOLD,
    band: float = 0.2,
    weights: Weights = Weights(),
) -> list[Scored]:
    """Score every readable record (records with an ``"error"`` are skipped)."""
    ok = [r for r in records if not r.get("error")]
    freq = class_frequencies(ok, threshold=threshold)
    out = []
    for r in ok:
        defects = list(r.get("defects") or [])
        u = uncertainty(
            [d["confidence"] for d in defects],
            threshold=[threshold_of(threshold, d["label"]) for d in defects],
            band=band,
        )
        keep = kept(defects, threshold)
        tiled = kept(r.get("tiled_defects") or [], threshold)
        dis = disagreement(keep, tiled) if "tiled_defects" in r else 0.0
        flips = None
        if "flipped_defects" in r:  # against the tiled run it mirrors (the whole one without)
            mirrored = kept(r["flipped_defects"], threshold)
            flips = disagreement(tiled if "tiled_defects" in r else keep, mirrored)
        rar = rarity(defects, freq, threshold=threshold)
        total = weights.uncertainty * u + weights.disagreement * dis + weights.rarity * rar
        total += weights.flips * (flips or 0.0)
        out.append(Scored(r, total, u, dis, rar, flips))
    return out


def select_records(
    records: Sequence[Record],
    n: int,
    *,
    threshold: Threshold = DEFAULT_THRESHOLD,
    band: float = 0.2,
    weights: Weights = Weights(),
) -> list[Scored]:
    """The ``n`` highest-scoring photos, ties broken by image path (deterministic)."""
    scored = score_records(records, threshold=threshold, band=band, weights=weights)
    scored.sort(key=lambda s: (-s.score, str(s.record.get("image"))))
    return scored[:n]


def read_scan(path: str | Path) -> list[dict[str, Any]]:
    """Detection records from a JSON list or a JSONL file (one object per line)."""
    text = Path(path).read_text()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return list(json.loads(stripped))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def to_label_studio(
    selected: Sequence[Scored],
    *,
    names: list[str],
    threshold: Threshold = DEFAULT_THRESHOLD,
    url_prefix: str = "/data/local-files/?d=",
    root: Path | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks with the model's boxes (≥ ``threshold``) as pre-annotations.

    Image URLs are ``url_prefix`` + the path relative to ``root`` (as given when no root).
    Each task's ``data.selection`` says why it was picked.
    """
    from datasets.formats.labelstudio import to_tasks

    def url(p: Path) -> str:
        if root is not None:
            with contextlib.suppress(ValueError):
                p = Path(p).resolve().relative_to(Path(root).resolve())
        return f"{url_prefix}{p.as_posix()}"

    preds = [
        {
            **s.record,
            "defects": kept(s.record.get("defects") or [], threshold),
        }
        for s in selected
    ]
    tasks = to_tasks(preds, url, names=names)
    for task, s in zip(tasks, selected, strict=True):
        task["data"]["selection"] = s.why()
    return tasks


def detect_pool(
    images: Sequence[Path], model: str | Path, *, conf: float = 0.05, flips: bool = False
) -> list[dict[str, Any]]:
    """Run the detector on each photo twice (whole and tiled) into selection records; with
    ``flips`` a third time, tiled on the photo's left-right mirror, boxes mapped back
    (``"flipped_defects"``).

    Low ``conf`` keeps the hesitant boxes the uncertainty score needs.
    """
    from detector import Detections, Detector, load_image, to_record
    from detector.geometry import mirror_x
    from finishscan.errors import ImageError

    det = Detector(str(model), conf=conf)
    out: list[dict[str, Any]] = []
    for p in images:
        try:
            rgb = load_image(p)
        except ImageError as e:
            out.append({"image": str(p), "error": str(e)})
            continue
        h, w = rgb.shape[:2]
        common = {"image": str(p), "width": w, "height": h, "model": det.info}
        whole = to_record(det.detect(rgb, tile="off"), det.names, **common)
        tiled = to_record(det.detect(rgb, tile="on"), det.names, **common)
        record = {**whole, "tiled_defects": tiled["defects"]}
        if flips:
            m = det.detect(np.ascontiguousarray(rgb[:, ::-1]), tile="on")
            back = Detections(mirror_x(m.xyxy, w), m.confidence, m.class_id)
            record["flipped_defects"] = to_record(back, det.names, **common)["defects"]
        out.append(record)
    return out
