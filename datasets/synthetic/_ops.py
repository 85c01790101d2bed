"""Fast float32 image products with a per-pixel factor (numpy's ``[..., None]`` broadcasting
runs a length-3 inner loop and is 2-3x slower than expanding the factor with cv2 first).

``rgb_times(rgb, m)`` equals ``rgb * m[..., None]`` bit for bit. Example:
``rgb_times(np.ones((2, 2, 3), np.float32), np.full((2, 2), 0.5, np.float32))``.

``UNIT`` is v / 255 (float32) for every 8-bit v: ``cv2.LUT(u8, UNIT)`` equals
``u8.astype(np.float32) / 255`` bit for bit, and ``cv2.LUT(u8, 1.0 - k * UNIT)`` equals
``1.0 - k * (u8.astype(np.float32) / 255)`` (the same float32 operations, done once per
table entry instead of once per pixel): one pass over an 8-bit map instead of several
float32 ones.
"""

from __future__ import annotations

import cv2
import numpy as np

UNIT = np.arange(256, dtype=np.float32) / np.float32(255.0)
UNIT.flags.writeable = False


def gray3(m: np.ndarray) -> np.ndarray:
    """(h, w) -> (h, w, 3) float32 with the value repeated in every channel."""
    return cv2.cvtColor(np.ascontiguousarray(m, np.float32), cv2.COLOR_GRAY2RGB)


def rgb_times(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``rgb * m[..., None]`` for float32 (h, w, 3) and (h, w)."""
    return rgb * gray3(m)


def rgb_plus(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``rgb + m[..., None]`` for float32 (h, w, 3) and (h, w)."""
    return rgb + gray3(m)


def colour_times(c, m: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``c.reshape(1, 1, 3) * m[..., None]``: an RGB colour scaled by a float32 (h, w) map,
    written into ``out`` (a float32 (h, w, 3) array or row-strided view) when given.

    Three single-channel products merged (cv2.multiply by a 4-scalar is ~2.5x slower).
    """
    cc = np.asarray(c, np.float32).reshape(3)
    mm = np.asarray(m, np.float32)
    planes = [mm * cc[0], mm * cc[1], mm * cc[2]]
    return cv2.merge(planes) if out is None else cv2.merge(planes, dst=out)
