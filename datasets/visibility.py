"""How visible a labelled defect is in its photo: its gray step against the ring around it, and
for a thin line (a crack) its contrast against the surface's own texture.

``gray_step(gray, mask)`` is the RMS difference, in gray levels (0-255), between the defect's
pixels and the mean of the ``ring``-px band around them (a square dilation of the mask, minus
the mask); ``ring_contrast`` also gives that RMS over the ring's own standard deviation (+1).
The RMS counts the variance inside the mask, so on rough or speckled plaster a thin mask passes
16 levels on the texture alone; ``line_contrast`` asks instead how far the line's mean stands
from its local background, in units of the texture's local spread around it.
The synthetic generator uses them to leave unlabelled what a photo does not show
(:attr:`datasets.synthetic.config.SynthConfig.min_step` and ``min_line_contrast``), and
``finishscan dataset tile`` to leave unlabelled a cut piece its tile does not show
(:func:`is_visible`); ``benchmarks/error_analysis.py`` uses ``ring_contrast`` on the model's
tiles. Pure numpy/OpenCV, no I/O.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "LINE_CLASSES",
    "LINE_SIGMA",
    "MIN_LINE_CONTRAST",
    "MIN_STEP",
    "RING_PX",
    "gray_step",
    "is_visible",
    "line_contrast",
    "ring_contrast",
]

RING_PX = 4  # width of the band around a defect that it is compared with
# The label rule's defaults (SynthConfig's and the tiler's), from benchmarks/RESULTS.md
# (label_visibility: the gray step; label_texture: a crack's line contrast).
MIN_STEP = 16.0
MIN_LINE_CONTRAST = 0.8
LINE_CLASSES = ("crack",)  # classes drawn as thin lines, judged by line_contrast too
LINE_SIGMA = 4.0  # px: the Gaussian scale of a line's local background (line_contrast)
_MAD_TO_SD = 1.4826  # median absolute deviation -> standard deviation of a normal distribution


def _window(
    gray: np.ndarray, mask: np.ndarray, x0: int, y0: int, margin: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``gray`` window around ``mask`` at (x0, y0) grown by ``margin`` px (clipped to the
    image), and the mask's part inside the image in that window as uint8 0/1; None when the
    window is empty."""
    h, w = gray.shape[:2]
    mh, mw = mask.shape
    wx0, wy0 = max(0, x0 - margin), max(0, y0 - margin)
    wx1, wy1 = min(w, x0 + mw + margin), min(h, y0 + mh + margin)
    if wx1 <= wx0 or wy1 <= wy0:
        return None
    m = np.zeros((wy1 - wy0, wx1 - wx0), np.uint8)
    # the part of the mask inside the window (the window holds all of it that is in the image)
    mx0, my0 = max(0, wx0 - x0), max(0, wy0 - y0)
    mx1, my1 = min(mw, wx1 - x0), min(mh, wy1 - y0)
    if mx1 > mx0 and my1 > my0:
        m[my0 + y0 - wy0 : my1 + y0 - wy0, mx0 + x0 - wx0 : mx1 + x0 - wx0] = mask[my0:my1, mx0:mx1]
    return np.ascontiguousarray(gray[wy0:wy1, wx0:wx1]), m


def _band(m: np.ndarray, ring: int) -> np.ndarray:
    """The ring: the mask grown by a (2 ring + 1) square, minus the mask (uint8 0/1)."""
    return cv2.subtract(cv2.dilate(m, np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)), m)


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
    win = _window(gray, mask, x0, y0, ring)
    if win is None:
        return 0.0, 0.0
    g, m = win
    band = _band(m, ring)
    if cv2.countNonZero(m) < 3 or cv2.countNonZero(band) < 3:
        return 0.0, 0.0
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


def line_contrast(
    gray: np.ndarray,
    mask: np.ndarray,
    x0: int = 0,
    y0: int = 0,
    ring: int = RING_PX,
    sigma: float = LINE_SIGMA,
) -> float:
    """How far a thin defect's mean stands out of the texture around it (a number, not levels).

    Each pixel's *residual* is its gray minus its local background: the ``sigma``-px Gaussian
    mean of the pixels outside the mask (a normalised convolution, so the line does not darken
    its own background). The result is ``|mean residual over the mask|`` over ``(robust std of
    the residual over the ring + 1)``, the robust std being 1.4826 x the median absolute
    deviation, so a grout joint or a crack's lit lip in a few ring pixels does not count as
    texture. A line of +20 levels on a flat wall gives 20.0; on a texture alternating +-25
    levels 20 / (1.4826 * 25 + 1) = 0.53. 0.0 when the mask or its ring (inside the image) has
    fewer than 3 pixels; mask pixels outside the image are ignored.

    >>> g = np.full((20, 30), 100, np.uint8); g[10, 5:25] = 120
    >>> m = np.zeros((20, 30), bool); m[10, 5:25] = True
    >>> round(line_contrast(g, m), 3)
    20.0
    """
    win = _window(gray, mask, x0, y0, ring + math.ceil(3 * sigma))
    if win is None:
        return 0.0
    g, m = win
    band = _band(m, ring)
    if cv2.countNonZero(m) < 3 or cv2.countNonZero(band) < 3:
        return 0.0
    out = 1.0 - m.astype(np.float32)  # weight of the background pixels
    den = cv2.GaussianBlur(out, (0, 0), sigma)
    num = cv2.GaussianBlur(g.astype(np.float32) * out, (0, 0), sigma)
    res = g - num / np.maximum(den, np.float32(1e-6))
    inside = res[m > 0]
    around = res[band > 0]
    spread = _MAD_TO_SD * float(np.median(np.abs(around - np.median(around))))
    return abs(float(inside.mean())) / (spread + 1.0)


def is_visible(
    gray: np.ndarray,
    mask: np.ndarray,
    x0: int = 0,
    y0: int = 0,
    *,
    min_step: float = MIN_STEP,
    min_line_contrast: float = 0.0,
) -> bool:
    """The label rule: :func:`gray_step` at least ``min_step`` and, when ``min_line_contrast``
    is above 0 (a thin line's class), :func:`line_contrast` at least that."""
    if gray_step(gray, mask, x0, y0) < min_step:
        return False
    return min_line_contrast <= 0 or line_contrast(gray, mask, x0, y0) >= min_line_contrast
