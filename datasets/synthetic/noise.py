"""Fast seeded noise: a bank of periodic fBm tiles built once, sampled by crop, flip and zoom.

``field(rng, (h, w), scale=8.0)`` returns a float32 (h, w) array with mean ~0 and std ~1 whose
features are about ``scale`` pixels wide. The bank is generated from a fixed seed, so every
process sees the same tiles and samples stay deterministic per ``rng``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np

BANK_SIZE = 512
PAD = 1024  # the bank is stored wrapped to BANK_SIZE + PAD so crops are plain slices
# Spectral exponents of the bank tiles: 0.6 rough/grainy ... 2.4 smooth clouds.
BETAS = (0.6, 1.2, 1.8, 2.4)


@lru_cache(maxsize=1)
def bank() -> np.ndarray:
    """(len(BETAS), 2, BANK_SIZE + PAD, ...) float32 periodic fBm tiles (wrapped), unit std."""
    rng = np.random.default_rng(20261123)
    n = BANK_SIZE
    fy = np.fft.fftfreq(n)[:, None]
    fx = np.fft.rfftfreq(n)[None, :]
    f = np.sqrt(fx * fx + fy * fy)
    f[0, 0] = 1.0
    tiles = np.empty((len(BETAS), 2, n + PAD, n + PAD), np.float32)
    for i, beta in enumerate(BETAS):
        for j in range(2):
            spec = np.fft.rfft2(rng.standard_normal((n, n)))
            amp = f ** (-beta / 2.0)
            amp[0, 0] = 0.0
            t = np.fft.irfft2(spec * amp, s=(n, n))
            t = (t - t.mean()) / (t.std() + 1e-9)
            tiles[i, j] = np.pad(t.astype(np.float32), ((0, PAD), (0, PAD)), mode="wrap")
    tiles.flags.writeable = False  # shared by every sample: never modified
    return tiles


def _oriented_crop(base: np.ndarray, k: int, y: int, x: int, h: int, w: int) -> np.ndarray:
    """``t[y:y + h, x:x + w]`` of ``t`` = ``base`` flipped (rows if k & 1, columns if k & 2),
    then transposed (k & 4), as a contiguous copy made in one cv2 pass over the strided crop
    view (flip, transpose or a 90-degree rotation; two passes only for both flips and a
    transpose). A strided numpy copy of a transposed view is ~4x slower."""
    n = base.shape[0]
    if k & 4:  # t = t2.T: the crop is t2[x:x + w, y:y + h].T
        y, x, h, w = x, y, w, h
    r0, c0 = (n - y - h, n - x - w)  # base rows / columns of the flipped crop
    rows = slice(r0, r0 + h) if k & 1 else slice(y, y + h)
    cols = slice(c0, c0 + w) if k & 2 else slice(x, x + w)
    view = base[rows, cols]
    flips = k & 3
    if not k & 4:
        return cv2.flip(view, _FLIP[flips]) if flips else np.ascontiguousarray(view)
    if flips == 0:
        return cv2.transpose(view)
    if flips == 1:  # rows flipped, then transposed
        return cv2.rotate(view, cv2.ROTATE_90_CLOCKWISE)
    if flips == 2:  # columns flipped, then transposed
        return cv2.rotate(view, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return cv2.transpose(cv2.flip(view, -1))


_FLIP = {1: 0, 2: 1, 3: -1}  # k & 3 -> cv2.flip code


def field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    scale: float = 8.0,
    beta: int = 2,
    stretch: float = 1.0,
    fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Noise of ``shape`` with features ~``scale`` px; ``stretch`` > 1 elongates along x.

    ``beta`` indexes :data:`BETAS` (0 grainy ... 3 smooth). ``fn``, a pointwise float32 map
    (e.g. a smoothstep), is applied to the bank texels before they are upscaled: the same
    picture as ``fn(field(...))`` for smooth fields at a fraction of the cost.
    Example: ``field(rng, (64, 64), 4.0)``.
    """
    h, w = shape
    tiles = bank()
    base = tiles[int(beta), int(rng.integers(2))]
    k = int(rng.integers(8))  # one of 8 orientations: flip rows, flip columns, transpose
    # Bank features are ~2 texels wide at beta 0 and grow with beta; map `scale` px to 2 texels.
    zoom = max(scale / 4.0, 1.0)  # ~4 texels per feature; never shrink (fine grain = 1 texel)
    sx = zoom * stretch
    sw = min(BANK_SIZE + PAD - 1, int(np.ceil(w / sx)) + 2)
    sh = min(BANK_SIZE + PAD - 1, int(np.ceil(h / zoom)) + 2)
    oy = int(rng.integers(max(1, BANK_SIZE + PAD - sh)))
    ox = int(rng.integers(max(1, BANK_SIZE + PAD - sw)))
    if sx == 1.0 and zoom == 1.0 and sh >= h and sw >= w:
        # 1:1 texels: a resize to the same size is a plain copy (larger than the bank: resized)
        out1 = _oriented_crop(base, k, oy, ox, h, w)
        return out1 if fn is None else fn(out1)
    src = _oriented_crop(base, k, oy, ox, sh, sw)
    if fn is not None:
        src = np.ascontiguousarray(fn(np.ascontiguousarray(src)), np.float32)
    out = cv2.resize(
        src, (max(w, int(sw * sx)), max(h, int(sh * zoom))), interpolation=cv2.INTER_LINEAR
    )
    return out[:h, :w]  # a row-strided view of a private array (numpy and cv2 both take it)


def smooth(rng: np.random.Generator, shape: tuple[int, int], cells: float = 4.0) -> np.ndarray:
    """A very low-frequency field in [-1, 1]: ``cells`` bumps across the larger side."""
    h, w = shape
    n = max(2, int(cells) + 2)
    g = rng.uniform(-1.0, 1.0, (n, n)).astype(np.float32)
    # Bicubic up to >= 12 samples per bump, then bilinear to full size (a full-size bicubic
    # resize costs ~20x more; the field is smooth enough that the two look the same).
    mh, mw = min(h, max(16, 12 * n)), min(w, max(16, 12 * n))
    if (mh, mw) == (h, w):
        return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(g, (mw, mh), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step 0 -> 1 as x goes e0 -> e1. Example: ``smoothstep(0, 1, np.array([0.5]))``."""
    t = np.subtract(x, e0)
    if np.ndim(t) == 0 or t.dtype.kind != "f":
        t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)
    # Same arithmetic as the expression above, in place on two temporaries (full frames).
    t /= e1 - e0
    np.clip(t, 0.0, 1.0, out=t)
    r = t * t
    t *= 2.0
    np.subtract(3.0, t, out=t)
    r *= t
    return r


def blob(
    rng: np.random.Generator, h: int, w: int, rough: float = 0.35, soft: float = 0.08
) -> np.ndarray:
    """An irregular soft-edged blob filling roughly an ellipse inscribed in (h, w), values 0..1.

    The outline is an ellipse of 0.85 x the inscribed one, pushed in and out by ``rough`` x a
    noise field. The push fades out over the outer 30 % of the inscribed ellipse's radius, so
    the blob is 0 outside that ellipse and on the window's border: an untapered outline ran
    into the window in about 3 of 4 blobs (rough 0.35-1.2) and was cut there by a straight
    edge, which stains and peeled patches on real walls do not have.
    """
    yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    r = np.sqrt(xx * xx + yy * yy)
    n = field(rng, (h, w), scale=max(h, w) / 5.0, beta=2)
    # The fade is radial: one by the distance to the border, square in shape, drew the outline
    # of a strongly pushed blob as straight lines just inside the border.
    d = 0.85 - r + rough * 0.35 * n * smoothstep(0.0, 0.3, 1.0 - r)
    return smoothstep(0.0, soft, d).astype(np.float32)
