"""Light and camera: shading from relief, illumination gradients, colour temperature, glare,
perspective warp, focus/motion blur, phone processing, sensor noise and JPEG.

``homography(rng, canvas, out)`` picks the view: a 3x3 matrix mapping canvas pixels to output
pixels; ``warp_mask`` applies it to a defect mask crop so boxes follow the geometry exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from datasets.synthetic import noise
from datasets.synthetic._ops import gray3
from datasets.synthetic.scene import Scene

# Approximate white-balance gains (R, G, B) of light sources as the camera leaves them.
KELVIN = {
    2700: (1.0, 0.80, 0.58),
    3500: (1.0, 0.88, 0.74),
    4500: (1.0, 0.95, 0.88),
    5500: (1.0, 1.0, 1.0),
    6500: (0.93, 0.97, 1.0),
    8000: (0.86, 0.94, 1.0),
}


def _upscale_crop(small: np.ndarray, c: int, roi: tuple[int, int, int, int]) -> np.ndarray:
    """``cv2.resize(small, (c, c))[y0:y1, x0:x1]`` (bilinear; a full resize is cheaper than a
    warpAffine of the crop alone)."""
    x0, y0, x1, y1 = roi
    return cv2.resize(small, (c, c), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]


def light(
    rng: np.random.Generator, scene: Scene, *, in_place: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(lit, illumination): albedo x relief shading + glare, float32 over ``scene.roi`` (the
    whole (C, C) canvas when it is None), and the smooth illumination of the whole canvas
    (brightness x colour temperature) as a small (48, 48, 3) float32 map.

    With ``in_place`` the lit image is made in the scene's albedo itself (``lit`` is a view of
    it): no new full-frame array, for a caller that is done with the albedo.

    The illumination is low-frequency, so it is not multiplied in at full size here: the
    camera applies it after the warp with the vignetting (:func:`illumination_in_view`).
    """
    c = scene.size
    roi = scene.roi or (0, 0, c, c)
    rx0, ry0, rx1, ry1 = roi
    small = 48
    # Relief shading from the height map (raking light shows relief strongly).
    az = rng.uniform(0, 2 * np.pi)
    rake = float(rng.choice([0.04, 0.1, 0.2, 0.35], p=[0.3, 0.35, 0.25, 0.1]))
    h = scene.height[ry0:ry1, rx0:rx1]
    # One directional derivative (Sobel along the light's azimuth) instead of two gradients.
    sob = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) * 0.125
    kern = sob * np.float32(np.cos(az)) + sob.T * np.float32(np.sin(az))
    # 1 + rake * clip(slope, -3, 3): the filter scaled by rake with 1 as delta, then clipped.
    shade = cv2.filter2D(
        h, cv2.CV_32F, kern * np.float32(rake), delta=1.0, borderType=cv2.BORDER_REFLECT
    )
    np.clip(shade, np.float32(1.0 - 3 * rake), np.float32(1.0 + 3 * rake), out=shade)
    # Low-frequency illumination at low resolution.
    yy, xx = np.mgrid[0:small, 0:small].astype(np.float32) / (small - 1)
    ga = rng.uniform(0, 2 * np.pi)
    grad = (xx - 0.5) * np.cos(ga) + (yy - 0.5) * np.sin(ga)
    illum = 1.0 + rng.uniform(0.0, 0.6) * grad
    if rng.random() < 0.35:  # flash / lamp hotspot
        hx, hy = rng.uniform(0.2, 0.8, 2)
        r2 = (xx - hx) ** 2 + (yy - hy) ** 2
        illum *= 1.0 + rng.uniform(0.1, 0.5) * np.exp(-r2 / rng.uniform(0.05, 0.3))
    illum *= 1.0 + rng.uniform(0.0, 0.1) * noise.smooth(rng, (small, small), 3)
    # Colour temperature, possibly mixed (window daylight on one side, lamps on the other).
    ks = list(KELVIN)
    k1 = np.asarray(
        KELVIN[ks[int(rng.choice(len(ks), p=[0.2, 0.2, 0.15, 0.2, 0.15, 0.1]))]], np.float32
    )
    if rng.random() < 0.3:
        k2 = np.asarray(KELVIN[ks[int(rng.integers(len(ks)))]], np.float32)
        m = noise.smoothstep(-0.3, 0.3, grad)[..., None]
        temp = k1 * (1 - m) + k2 * m
    else:
        temp = np.broadcast_to(k1, (small, small, 3))
    # White balance partly corrects it.
    wb = rng.uniform(0.4, 0.9)
    temp = temp ** (1.0 - wb)
    ill = illum[..., None] * temp * rng.uniform(0.7, 1.1)
    alb = scene.albedo[ry0:ry1, rx0:rx1]
    img = alb if in_place else np.empty_like(alb)
    cv2.multiply(alb, gray3(shade), dst=img)
    # Glare: a soft reflected window/lamp on glossy zones, modulated by relief.
    gloss = np.asarray(scene.gloss, np.float32)
    if gloss.max() > 0.05 and rng.random() < 0.6:
        gs = np.zeros((small, small), np.uint8)
        cx, cy = rng.uniform(0.1, 0.9, 2) * small
        w, hh = rng.uniform(0.1, 0.5, 2) * small
        cv2.ellipse(
            gs, (int(cx), int(cy)), (int(w), int(hh)), float(rng.uniform(0, 180)), 0, 360, 255, -1
        )
        sigma = rng.uniform(2, 8)
        amp = rng.uniform(0.2, 0.7)  # strength, folded into the small map
        glare = cv2.GaussianBlur(gs.astype(np.float32) * np.float32(amp / 255.0), (0, 0), sigma)
        glare = _upscale_crop(glare, c, roi)
        lut = np.zeros(256, np.float32)
        lut[: len(gloss)] = gloss
        # g = glare * zone gloss (* sheen) * clip(1 + 4 (shade - 1), 0, 2), built in place
        g = cv2.LUT(scene.zone[ry0:ry1, rx0:rx1], lut)
        if scene.sheen is not None:
            cv2.multiply(g, scene.sheen[ry0:ry1, rx0:rx1], dst=g)
        cv2.multiply(g, glare, dst=g)
        relief = shade * np.float32(4.0)
        relief -= np.float32(3.0)
        np.clip(relief, 0.0, 2.0, out=relief)
        cv2.multiply(g, relief, dst=g)
        cv2.add(img, gray3(g), dst=img)
    # Illumination and vignetting (lens) are applied after the warp.
    return img.astype(np.float32, copy=False), ill.astype(np.float32)


def illumination_in_view(ill: np.ndarray, H: np.ndarray, canvas: int, out: int) -> np.ndarray:
    """The (n, n, 3) canvas illumination map as the camera sees it: a (32, 32, 3) map over the
    ``out``-px photo (pixel centres of both grids spread evenly, as ``cv2.resize`` does)."""
    n_in, n_out = ill.shape[0], 32

    def grid(size: int, n: int) -> np.ndarray:  # small-grid pixel -> full-size pixel
        f = size / n
        return np.array([[f, 0, (f - 1) / 2], [0, f, (f - 1) / 2], [0, 0, 1]], np.float64)

    m = np.linalg.inv(grid(out, n_out)) @ H @ grid(canvas, n_in)
    return cv2.warpPerspective(
        ill, m, (n_out, n_out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def homography(rng: np.random.Generator, canvas: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, quad): H maps canvas to output pixels; quad (4, 2) is the canvas region seen."""
    for _ in range(50):
        zoom = rng.uniform(0.7, 1.0)
        s = canvas * zoom
        roll = np.deg2rad(rng.normal(0, 5) if rng.random() < 0.8 else rng.uniform(-30, 30))
        persp = rng.uniform(0.0, 0.18)
        sq = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]]) * s
        # Keystone: one side shrinks (camera tilted towards the wall/floor), plus jitter.
        side = int(rng.integers(4))
        k = np.ones(4)
        k[[side, (side + 1) % 4]] = 1.0 - persp
        quad = sq * k[:, None] + rng.normal(0, 0.02 * s, (4, 2))
        rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
        quad = quad @ rot.T
        room = canvas - 1 - (quad.max(0) - quad.min(0))
        if (room < 0).any():
            continue
        quad = quad - quad.min(0) + rng.uniform(0, 1, 2) * room
        dst = np.array([[0, 0], [out, 0], [out, out], [0, out]], np.float32)
        H = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
        return H, quad
    # Fallback: plain centred scale.
    m = (canvas - canvas / 1.05) / 2
    quad = np.array(
        [[m, m], [canvas - m, m], [canvas - m, canvas - m], [m, canvas - m]], np.float32
    )
    dst = np.array([[0, 0], [out, 0], [out, out], [0, out]], np.float32)
    return cv2.getPerspectiveTransform(quad, dst), quad


def warp_mask(
    mask: np.ndarray, x0: int, y0: int, H: np.ndarray, out: int
) -> tuple[np.ndarray, int, int] | None:
    """Warp a boolean mask crop at canvas (x0, y0) into the output; returns (crop, ox, oy) or None."""
    h, w = mask.shape
    corners = np.array(
        [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float32
    ).reshape(-1, 1, 2)
    oc = cv2.perspectiveTransform(corners, H).reshape(-1, 2)
    ox0 = int(np.clip(np.floor(oc[:, 0].min()) - 1, 0, out))
    oy0 = int(np.clip(np.floor(oc[:, 1].min()) - 1, 0, out))
    ox1 = int(np.clip(np.ceil(oc[:, 0].max()) + 2, 0, out))
    oy1 = int(np.clip(np.ceil(oc[:, 1].max()) + 2, 0, out))
    if ox1 <= ox0 or oy1 <= oy0:
        return None
    t_in = np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], np.float64)
    t_out = np.array([[1, 0, -ox0], [0, 1, -oy0], [0, 0, 1]], np.float64)
    Hc = t_out @ H @ t_in
    m = cv2.warpPerspective(
        mask.astype(np.uint8) * 255,
        Hc,
        (ox1 - ox0, oy1 - oy0),
        flags=cv2.INTER_LINEAR,
        borderValue=0,
    )
    return m > 96, ox0, oy0


_LUT16: list[bool] = []  # whether this cv2 takes 16-bit indices in cv2.LUT (OpenCV >= 5)


def tone_lookup(curve: np.ndarray, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.take(curve, idx, mode="clip")`` for a float32 curve of <= 65536 entries and uint16
    indices: one cv2.LUT pass over the curve padded to 65536 entries with its last value
    (~2.5x faster than np.take, which first widens the indices), np.take where cv2 cannot;
    written into ``out`` (float32, the shape of ``idx``) when given."""
    if not _LUT16:
        try:
            cv2.LUT(np.zeros((1, 1), np.uint16), np.zeros(65536, np.float32))
            _LUT16.append(True)
        except cv2.error:
            _LUT16.append(False)
    if not _LUT16[0]:
        return np.take(curve, idx, mode="clip", out=out)
    lut = np.empty(65536, np.float32)
    lut[: len(curve)] = curve
    lut[len(curve) :] = curve[-1]
    return cv2.LUT(idx, lut) if out is None else cv2.LUT(idx, lut, dst=out)


def develop(
    rng: np.random.Generator,
    img: np.ndarray,
    quality: tuple[int, int] = (45, 95),
    illum: np.ndarray | None = None,
    bgr: bool = False,
    in_place: bool = False,
) -> tuple[np.ndarray, int]:
    """Phone-camera pipeline on the warped image -> (RGB uint8, JPEG quality to save it with);
    the photo comes back in BGR channel order when ``bgr`` (for :func:`encode_jpeg`).

    ``illum`` (n, n, 3) float32 is the scene illumination over the frame (from
    :func:`illumination_in_view`); it is upscaled and applied with the vignetting. With
    ``in_place`` the blurs and the zoom may overwrite ``img`` (a caller done with it) instead
    of making new frames; the result is the same.
    """
    s = img.shape[0]
    small = 32
    # Vignetting and illumination: smooth factors, applied with the tone-curve lookup below
    # (they commute with the blurs and resizes in between to well under one 12-bit step).
    yy, xx = np.mgrid[0:small, 0:small].astype(np.float32) / (small - 1) - 0.5
    vig = 1.0 - rng.uniform(0.0, 0.45) * (xx * xx + yy * yy) * 2
    if illum is None:
        vig3 = gray3(cv2.resize(vig, (s, s), interpolation=cv2.INTER_LINEAR))
    else:
        f3 = illum * cv2.resize(vig, illum.shape[1::-1], interpolation=cv2.INTER_LINEAR)[..., None]
        vig3 = cv2.resize(f3.astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
    # Optics: defocus (sometimes only in part of the frame: depth of field on a slanted wall).
    own = in_place  # whether img is a frame this function may overwrite
    r = rng.random()
    if r < 0.55:
        sig = rng.uniform(0.3, 1.1)
        partial = rng.random() < 0.3
        blurred = cv2.GaussianBlur(img, (0, 0), sig, dst=img if own and not partial else None)
        if partial:
            ga = rng.uniform(0, 2 * np.pi)
            t = cv2.resize(
                np.clip(0.5 + ((xx) * np.cos(ga) + (yy) * np.sin(ga)) * 1.5, 0, 1), (s, s)
            )
            t = np.asarray(t, np.float32)
            img = cv2.blendLinear(img, blurred, 1 - t, t)  # img (1 - t) + blurred t
        else:
            img = blurred
        own = True
    elif r < 0.65:  # slight hand shake
        L = int(rng.integers(2, 5))
        k = np.zeros((2 * L + 1, 2 * L + 1), np.float32)
        a = rng.uniform(0, np.pi)
        cv2.line(
            k,
            (int(L - L * np.cos(a)), int(L - L * np.sin(a))),
            (int(L + L * np.cos(a)), int(L + L * np.sin(a))),
            1.0,
            1,
            cv2.LINE_AA,
        )
        k /= k.sum()
        img = cv2.filter2D(img, -1, k, dst=img if own else None)
        own = True
    if rng.random() < 0.25:  # soft phone zoom / downscaled upload
        f = rng.uniform(0.5, 0.8)
        d = max(8, int(s * f))
        img = cv2.resize(
            cv2.resize(img, (d, d), interpolation=cv2.INTER_AREA),
            (s, s),
            dst=img if own else None,
            interpolation=cv2.INTER_LINEAR,
        )
    # Tone curve (exposure, highlight roll-off, auto-exposure, gamma) as one 4096-entry LUT.
    top = 1.5
    # round(img * vig * 4095 / top) in one cv2 pass (saturating at 0); the lookup below maps
    # indices above 4095 to the curve's last entry (no extra clipping pass).
    idx = cv2.multiply(img, vig3, scale=4095 / top, dtype=cv2.CV_16U)
    xs = np.linspace(0, top, 4096, dtype=np.float32) * rng.uniform(0.85, 1.15)
    curve = xs / (1.0 + rng.uniform(0.0, 0.5) * xs)
    p995 = min(4095.0, _percentile(idx[::16, ::16].ravel(), 99.5))
    curve = curve / max(1e-3, float(curve[int(p995)])) * rng.uniform(0.85, 1.0)
    curve = np.clip(curve, 0, 1) ** rng.uniform(0.85, 1.15)
    # Into the vignetting buffer (develop's own, not needed after idx): no new frame.
    frame = img  # free after idx: the colour matrix below writes into it when it is ours
    toned = tone_lookup(curve.astype(np.float32), np.asarray(idx, np.uint16), out=vig3)
    sat = rng.uniform(0.75, 1.25)
    grey = cv2.cvtColor(toned, cv2.COLOR_RGB2GRAY)
    # grey + (img - grey) * sat as one 3x3 colour matrix (cv2.transform: a single pass).
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    mix = sat * np.eye(3, dtype=np.float32) + (1.0 - sat) * luma[None, :]
    # Output rows in BGR order when asked (the channel swap the JPEG encoder needs, for free);
    # everything after this is the same for every channel.
    # (not in place: cv2.transform copies its input first when dst is src)
    img = cv2.transform(toned, mix[::-1].copy() if bgr else mix, dst=frame if own else None)
    # Sensor noise: luminance-dependent plus low-res chroma noise.
    dim = rng.random() >= 0.9  # a dim room: a dark, noisy photo
    lvl = rng.uniform(0.03, 0.06) if dim else rng.uniform(0.003, 0.03)
    nl = noise.field(rng, (s, s), 0.5, beta=0)
    lum = np.clip(np.asarray(grey, np.float32), 0.02, 1.0, out=grey)
    lum = cv2.multiply(cv2.sqrt(lum, dst=lum), nl, dst=lum, scale=255.0 * lvl)  # in 0..255 units
    grain = cv2.cvtColor(lum, cv2.COLOR_GRAY2RGB, dst=toned)  # toned is free after the matrix
    if rng.random() < 0.5:  # plus chroma noise: blotchy (half resolution), as phones leave it
        # Weaker in dim-room photos: phones denoise chroma harder in the dark (x0.75 there).
        amp = lvl * 0.5 * 255.0 * (0.75 if dim else 1.0)
        cv2.scaleAdd(_chroma_noise(rng, s), float(np.float32(amp)), grain, dst=grain)
    # To 8 bits with the noise added in the same pass (saturating at 0 and 255).
    u8 = cv2.addWeighted(img, 255.0, grain, 1.0, 0.0, dtype=cv2.CV_8U)
    # Phone sharpening (halos), on the 8-bit frame as a phone's ISP does.
    if rng.random() < 0.5:
        bl = cv2.GaussianBlur(u8, (0, 0), rng.uniform(0.8, 2.0))
        amt = rng.uniform(0.2, 0.9)
        # u8 + amt * (u8 - bl), saturated to uint8 in one pass.
        u8 = cv2.addWeighted(u8, 1.0 + amt, bl, -amt, 0.0)
    q = int(rng.integers(quality[0], quality[1] + 1))
    return u8, q


def _chroma_noise(rng: np.random.Generator, s: int) -> np.ndarray:
    """(s, s, 3) float32 colour noise, about unit std per channel before the upscale: three
    independent half-resolution grain fields (one bank crop, stacked as channels) upscaled
    bilinearly, so each blotch is ~2 px wide (phone chroma noise is coarser than luma grain)."""
    hs = (s + 1) // 2
    planes = noise.field(rng, (3 * hs, hs), 1.0, beta=0).reshape(3, hs, hs)
    half = cv2.merge([planes[0], planes[1], planes[2]])
    return cv2.resize(half, (s, s), interpolation=cv2.INTER_LINEAR)


def _percentile(x: np.ndarray, q: float) -> float:
    """``np.percentile(x, q)`` (linear interpolation) of a 1-D array by a partial sort."""
    k = q / 100.0 * (x.size - 1)
    lo = int(np.floor(k))
    hi = min(lo + 1, x.size - 1)
    part = np.partition(x, [lo, hi])
    a, b = float(part[lo]), float(part[hi])
    return a + (b - a) * (k - lo)


def encode_jpeg(rgb: np.ndarray, quality: int, bgr: bool = False) -> bytes:
    """JPEG-encode an RGB uint8 image (BGR when ``bgr``); :func:`decode_jpeg` gives back what is
    saved (RGB)."""
    ok, buf = cv2.imencode(
        ".jpg",
        rgb if bgr else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
    )
    if not ok:  # pragma: no cover - cv2 always encodes uint8 RGB
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """RGB uint8 image of JPEG bytes (as any reader of the saved file sees it)."""
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if raw is None:  # pragma: no cover - cv2 decodes what it encoded
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)


def decode_gray(data: bytes) -> np.ndarray:
    """Gray uint8 image of JPEG bytes: ``cv2.cvtColor(decode_jpeg(data), COLOR_RGB2GRAY)``."""
    raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if raw is None:  # pragma: no cover - cv2 decodes what it encoded
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY)
