"""Whether a photo is exposed well enough to judge: luma statistics and warnings.

A dark photo (a flat before its lights are fitted, a corridor at dusk) hides cracks in its
shadows; a blown-out one (flash on a white wall, a window in frame) hides them in its highlights.
The detector finds less in both, and an empty defect list then means "could not see", not
"nothing there". ``photo_quality`` measures the photo's luma (ITU-R BT.601, 0-255) on a copy at
most ``max_side`` pixels long and warns ``dark`` or ``overexposed`` past thresholds measured on
held-out synthetic photos darkened and brightened in linear light (benchmarks/exposure.py,
RESULTS ``exposure_v0.19.0``).

    >>> import numpy as np
    >>> photo_quality(np.full((60, 80, 3), 10, np.uint8)).warnings
    ('dark',)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Thresholds where v0.19.0 loses about 0.05 mAP50 on held-out tiles re-exposed in linear light
# (benchmarks/RESULTS.md, exposure_v0.19.0): median luma 62 (3.3 stops under) cost 0.041 and 45 cost
# 0.086; 4 % of pixels blown out cost 0.019 and 33 % cost 0.078. Real dark photos are also noisy,
# so they lose more at the same luma.
DARK_MEDIAN_LUMA = 55.0  # median luma below this: "dark"
CLIP_LUMA = 250  # a pixel at or above this luma is blown out
OVEREXPOSED_SHARE = 0.2  # more than this share of blown-out pixels: "overexposed"
DARK_LUMA = 16  # a pixel below this luma is crushed (reported as dark_share)


@dataclass(frozen=True)
class PhotoQuality:
    """Luma statistics of a photo and the warnings they raise (``()`` when it looks fine)."""

    median_luma: float
    dark_share: float
    clipped_share: float
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "median_luma": round(self.median_luma, 1),
            "dark_share": round(self.dark_share, 4),
            "clipped_share": round(self.clipped_share, 4),
            "warnings": list(self.warnings),
        }


def luma(image: np.ndarray, *, max_side: int = 1024) -> np.ndarray:
    """BT.601 luma (float32, 0-255) of an RGB uint8 (H, W, 3) image, shrunk to ``max_side``."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    rgb = image.astype(np.float32)
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def photo_quality(image: np.ndarray, *, max_side: int = 1024) -> PhotoQuality:
    """Exposure of an RGB uint8 photo: ``dark`` when its median luma is under
    ``DARK_MEDIAN_LUMA``, ``overexposed`` when more than ``OVEREXPOSED_SHARE`` of it is at
    ``CLIP_LUMA`` or above."""
    y = luma(image, max_side=max_side)
    median = float(np.median(y))
    clipped = float(np.mean(y >= CLIP_LUMA))
    warnings = []
    if median < DARK_MEDIAN_LUMA:
        warnings.append("dark")
    if clipped > OVEREXPOSED_SHARE:
        warnings.append("overexposed")
    return PhotoQuality(
        median_luma=median,
        dark_share=float(np.mean(y < DARK_LUMA)),
        clipped_share=clipped,
        warnings=tuple(warnings),
    )
