"""Active-learning export: pick the photos of a scan most worth labelling and write them as
Label Studio tasks with the model's boxes as pre-annotations.

Uses the training package's torch-free selection (:mod:`training.select`: uncertainty near the
working threshold, rarity of the labels, the same as ``finishscan select --scan``) when it is
importable; otherwise the fallback ranking here: a photo's score is its most ambiguous box,
``1 - |2c - 1|`` for confidence ``c`` (1.0 at c = 0.5), ties broken by more boxes, then path.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LOCAL_FILES = "/data/local-files/?d="


def ambiguity(confidences: Sequence[float]) -> float:
    """The photo's score: 1 - |2c - 1| of its most ambiguous box; 0.0 without boxes.

    >>> ambiguity([0.9, 0.5]), ambiguity([0.9]), ambiguity([])
    (1.0, 0.2, 0.0)
    """
    return max((round(1.0 - abs(2.0 * c - 1.0), 6) for c in confidences), default=0.0)


def rank(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Scan records (with ``defects``; error records are left out), most worth labelling first."""
    ok = [r for r in records if "error" not in r and "defects" in r]

    def key(r: dict[str, Any]) -> tuple[float, int, str, str, str]:
        confs = [float(d["confidence"]) for d in r["defects"]]
        return (-ambiguity(confs), -len(confs), str(r["image"]), str(r["project"]), str(r["unit"]))

    return sorted(ok, key=key)


def to_task(record: dict[str, Any], *, image_prefix: str = LOCAL_FILES) -> dict[str, Any]:
    """One Label Studio task: the photo, its project/unit and the model's boxes as a prediction
    (``rectanglelabels`` in percent of the photo, ``from_name="label"``, ``to_name="image"``)."""
    w, h = float(record["width"]), float(record["height"])
    result = []
    for i, d in enumerate(record["defects"]):
        x0, y0, x1, y1 = (float(v) for v in d["box"])
        result.append(
            {
                "id": f"p{i}",
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": int(w),
                "original_height": int(h),
                "image_rotation": 0,
                "value": {
                    "x": 100.0 * x0 / w,
                    "y": 100.0 * y0 / h,
                    "width": 100.0 * (x1 - x0) / w,
                    "height": 100.0 * (y1 - y0) / h,
                    "rotation": 0,
                    "rectanglelabels": [d["label"]],
                },
                "score": float(d["confidence"]),
            }
        )
    confs = [float(d["confidence"]) for d in record["defects"]]
    model = record.get("model", {})
    return {
        "data": {
            "image": image_prefix + str(record["image"]),
            "project": record["project"],
            "unit": record["unit"],
            "sha256": record.get("sha256"),
        },
        "predictions": [
            {
                "model_version": f"{model.get('name', '')} {model.get('version', '')}".strip(),
                "score": ambiguity(confs),
                "result": result,
            }
        ],
    }


def write_tasks(
    records: Sequence[dict[str, Any]],
    out: Path | str,
    *,
    n: int,
    threshold: float | Mapping[str, float] = 0.25,
    image_prefix: str = LOCAL_FILES,
) -> int:
    """Write the ``n`` records most worth labelling as a Label Studio task list (a JSON array,
    written atomically); returns how many were written. ``threshold``: the scan's ``--conf``, else each class's
    (a mapping label -> threshold)."""
    try:
        from training.select import select_records, to_label_studio
    except ImportError:  # training not installed with this copy: the fallback ranking
        tasks = [to_task(r, image_prefix=image_prefix) for r in rank(records)[:n]]
    else:
        chosen = select_records(records, n, threshold=threshold)
        tasks = to_label_studio(
            chosen, names=_names(records), threshold=threshold, url_prefix=image_prefix
        )
        for task, sc in zip(tasks, chosen, strict=True):
            task["data"].update(project=sc.record.get("project"), unit=sc.record.get("unit"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(tasks, fh, indent=1)
    os.replace(tmp, out)
    return len(tasks)


def _names(records: Sequence[dict[str, Any]]) -> list[str]:
    """The taxonomy's class names, then any other label the records show."""
    from finishscan.classes import class_names

    names = class_names()
    for r in records:
        for d in r.get("defects") or []:
            if d["label"] not in names:
                names.append(d["label"])
    return names
