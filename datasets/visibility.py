"""How visible a labelled defect is in its photo: its gray step against the ring around it.

``gray_step(gray, mask)`` is the RMS difference, in gray levels (0-255), between the defect's
pixels and the mean of the ``ring``-px band around them (a square dilation of the mask, minus
the mask); ``ring_contrast`` also gives that RMS over the ring's own standard deviation (+1).
The synthetic generator uses it to leave unlabelled what a photo does not show
(:attr:`datasets.synthetic.config.SynthConfig.min_step`); ``benchmarks/error_analysis.py`` uses
it on the model's tiles. Pure numpy/OpenCV, no I/O.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["RING_PX", "gray_step", "ring_contrast"]

RING_PX = 4  # width of the band around a defect that it is compared with


def ring_contrast(
    gray: np.ndarray, mask: np.ndarray, x0: int = 0, y0: int = 0, ring: int = RING_PX
) -> tuple[float, float]:
    """``(step, contrast)`` of the bool ``mask`` placed at (x0, y0) on the 2-D ``gray`` image.

    ``step`` is the RMS of the mask's gray values minus the ring's mean; ``contrast`` is
    ``step / (ring std + 1)``. Both are 0.0 when the mask or its ring (inside the image) has
    fewer than 3 pixels. Mask pixels outside the image are ignored.

    >>> g = np.full((9, 9), 100, np.uint8); g[4, 4] = 130
    >>> m = np.zeros((9, 9), bool); m[3:6, 3:6] = True
    >>> round(ring_contrast(g, m)[0], 2)  # sqrt(30 ** 2 / 9)
    10.0
    """
    h, w = gray.shape[:2]
    mh, mw = mask.shape
    wx0, wy0 = max(0, x0 - ring), max(0, y0 - ring)
    wx1, wy1 = min(w, x0 + mw + ring), min(h, y0 + mh + ring)
    if wx1 <= wx0 or wy1 <= wy0:
        return 0.0, 0.0
    m = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    # the part of the mask inside the window (the window holds all of it that is in the image)
    mx0, my0 = max(0, wx0 - x0), max(0, wy0 - y0)
    mx1, my1 = min(mw, wx1 - x0), min(mh, wy1 - y0)
    if mx1 > mx0 and my1 > my0:
        m[my0 + y0 - wy0 : my1 + y0 - wy0, mx0 + x0 - wx0 : mx1 + x0 - wx0] = mask[my0:my1, mx0:mx1]
    grown = cv2.dilate(m, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8))
    band = cv2.subtract(grown, m)  # the ring: grown minus the mask (a subset of it)
    if cv2.countNonZero(m) < 3 or cv2.countNonZero(band) < 3:
        return 0.0, 0.0
    g = np.ascontiguousarray(gray[wy0:wy1, wx0:wx1])
    # RMS of (inside - ring mean) = sqrt(inside variance + (inside mean - ring mean) ** 2)
    mu_r, sd_r = (float(v[0, 0]) for v in cv2.meanStdDev(g, mask=band))
    mu_i, sd_i = (float(v[0, 0]) for v in cv2.meanStdDev(g, mask=m))
    step = float(np.sqrt(sd_i * sd_i + (mu_i - mu_r) ** 2))
    return step, step / (sd_r + 1.0)


def gray_step(
    gray: np.ndarray, mask: np.ndarray, x0: int = 0, y0: int = 0, ring: int = RING_PX
) -> float:
    """The gray step of :func:`ring_contrast` alone (gray levels, 0-255)."""
    return ring_contrast(gray, mask, x0, y0, ring)[0]
