"""A deterministic stand-in detector for scan tests (the engines' ``spec`` seam).

Photos are decoded by the real ``detector.decode_image`` (so broken files fail as they do in
production); the "detections" are drawn from a generator seeded by the photo's bytes: 0-4
defects of any label, varied confidences and boxes inside the photo. ``delay`` seconds of
sleep per photo make a run slow enough to be killed in the middle.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

LABELS = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]


def fake_defects(data: bytes, width: int, height: int) -> list[dict[str, Any]]:
    seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(rng.integers(0, 5))):
        x0, x1 = sorted(rng.uniform(0, width, 2))
        y0, y1 = sorted(rng.uniform(0, height, 2))
        out.append(
            {
                "label": LABELS[int(rng.integers(0, len(LABELS)))],
                "confidence": round(float(rng.uniform(0.3, 0.95)), 4),
                "box": [round(float(v), 2) for v in (x0, y0, x1 + 1, y1 + 1)],
            }
        )
    return sorted(out, key=lambda d: -d["confidence"])


@dataclass(frozen=True)
class FakeSpec:
    delay: float = 0.0
    die_on_width: int | None = None  # the worker process dies (os._exit) on a photo this wide

    def info(self) -> tuple[str, str]:
        return ("fake-detector", "1")

    def build(self, threads: int):  # noqa: ANN201 - the PhotoDetector callable
        import detector

        def run(data: bytes) -> dict[str, Any]:
            image = detector.decode_image(data)
            h, w = image.shape[:2]
            if w == self.die_on_width:
                os._exit(3)
            if self.delay:
                time.sleep(self.delay)
            return {"width": w, "height": h, "defects": fake_defects(data, w, h)}

        return run
