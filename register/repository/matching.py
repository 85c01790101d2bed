"""Pure helpers of the re-scan rule: box overlap, greedy matching, natural version order.

iou((0, 0, 10, 10), (5, 0, 15, 10)) == 1 / 3
match_boxes([("crack", (0, 0, 10, 10))], [("crack", (1, 0, 11, 10))]) == [(0, 0)]
version_key("v10") > version_key("v9")
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MATCH_IOU = 0.5


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0 when disjoint."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural sort key: ``version_key("v10") > version_key("v9")``, ``"1.2.10" > "1.2.9"``."""
    parts = re.split(r"(\d+)", version)
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in parts if p)


def match_boxes(
    old: Sequence[tuple[str, Sequence[float]]],
    new: Sequence[tuple[str, Sequence[float]]],
    threshold: float = MATCH_IOU,
) -> list[tuple[int, int]]:
    """Greedy one-to-one matches ``(old_index, new_index)`` by IoU (same label, ≥ threshold)."""
    pairs = sorted(
        (
            (iou(ob, nb), i, j)
            for i, (ol, ob) in enumerate(old)
            for j, (nl, nb) in enumerate(new)
            if ol == nl
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_o: set[int] = set()
    used_n: set[int] = set()
    out = []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i in used_o or j in used_n:
            continue
        used_o.add(i)
        used_n.add(j)
        out.append((i, j))
    return sorted(out)
