"""Hard negatives: things on real walls and floors that are NOT defects and get no label.

Each ``<name>(rng, scene)`` paints into the scene in place. Several are deliberately crack-like
(hair, cables, pencil lines, scratches, wood grain, joints) or stain-like (shadows, smudges,
filled patches) so the detector learns what a defect is not.
"""

from __future__ import annotations

import cv2
import numpy as np

from datasets.synthetic import noise
from datasets.synthetic._ops import colour_times, gray3, rgb_times
from datasets.synthetic.scene import Scene
from datasets.synthetic.surfaces import render_wood

SHIFT = 3
SUB = float(1 << SHIFT)


def _pt(rng: np.random.Generator, scene: Scene) -> tuple[float, float]:
    """A random point, preferring the part of the canvas the camera sees."""
    c = scene.size
    vis = scene.visible
    for _ in range(20):
        x, y = rng.uniform(0, c, 2)
        if vis is None or vis[int(y), int(x)]:
            return float(x), float(y)
    return float(x), float(y)


def _curve(
    rng: np.random.Generator, x: float, y: float, length: float, bend: float, step: float = 3.0
) -> np.ndarray:
    n = max(3, int(length / step))
    a0 = rng.uniform(0, 2 * np.pi)
    curv = np.interp(np.linspace(0, 1, n), np.linspace(0, 1, 5), rng.normal(0, bend, 5))
    a = a0 + np.cumsum(curv)
    pts = np.cumsum(step * np.stack([np.cos(a), np.sin(a)], 1), 0) + (x, y)
    return pts


def _bounds(lay: np.ndarray, pad: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Row and column ranges of the non-zero part of a layer, padded and clipped."""
    x, y, w, h = cv2.boundingRect(lay)
    c0, r0 = lay.shape[1], lay.shape[0]
    return (max(0, y - pad), min(r0, y + h + pad)), (max(0, x - pad), min(c0, x + w + pad))


def _layer_box(
    c: int, xs: np.ndarray, ys: np.ndarray, margin: float
) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the canvas box around points (canvas px) grown by ``margin``,
    clipped to the (c, c) canvas; None when it is empty."""
    x0 = max(0, int(np.floor(xs.min() - margin)))
    y0 = max(0, int(np.floor(ys.min() - margin)))
    x1 = min(c, int(np.ceil(xs.max() + margin)) + 1)
    y1 = min(c, int(np.ceil(ys.max() + margin)) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _stroke(
    scene: Scene, pts: np.ndarray, width: float, color, opacity: float, blur: float = 0.5
) -> None:
    c = scene.size
    th = max(1, int(round(width)))
    # Drawn into a layer over the stroke's box only (not a whole canvas): the box holds the
    # anti-aliased line plus the 3-px margin it is blended with.
    box = _layer_box(c, pts[:, 0], pts[:, 1], th / 2.0 + 6.0)
    if box is None:
        return
    bx0, by0, bx1, by1 = box
    lay = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    cv2.polylines(
        lay,
        [np.round((pts - (bx0, by0)) * SUB).astype(np.int32)],
        False,
        255,
        th,
        cv2.LINE_AA,
        SHIFT,
    )
    x, y, w, h = cv2.boundingRect(lay)
    if w == 0:
        return
    x, y = x + bx0, y + by0
    x0, y0 = max(0, x - 3), max(0, y - 3)
    x1, y1 = min(c, x + w + 3), min(c, y + h + 3)
    a: np.ndarray = lay[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0].astype(np.float32) / 255.0
    if blur > 0:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    a *= opacity * min(1.0, width)
    alb = scene.albedo[y0:y1, x0:x1]
    alb[:] = rgb_times(alb, 1 - a) + colour_times(color, a)


def hair(rng: np.random.Generator, scene: Scene) -> None:
    """A hair or fibre: thin, smooth, uniformly dark curve (no zig-zag, no taper)."""
    x, y = _pt(rng, scene)
    pts = _curve(rng, x, y, rng.uniform(30, 250), rng.uniform(0.02, 0.15), 2.0)
    col = [(0.08, 0.06, 0.05), (0.3, 0.22, 0.12), (0.6, 0.55, 0.45)][int(rng.integers(3))]
    _stroke(scene, pts, rng.uniform(0.5, 1.6), col, rng.uniform(0.5, 0.95))


def cable(rng: np.random.Generator, scene: Scene) -> None:
    """An electrical cable along the wall: thick shaded tube with a cast shadow."""
    c = scene.size
    horiz = rng.random() < 0.5
    p = rng.uniform(0.1, 0.9) * c
    n = 30
    t = np.linspace(-0.1, 1.1, n) * c
    wob = np.interp(
        np.linspace(0, 1, n), np.linspace(0, 1, 4), rng.normal(0, rng.uniform(2, 25), 4)
    )
    pts = np.stack([t, p + wob], 1) if horiz else np.stack([p + wob, t], 1)
    w = rng.uniform(3, 10)
    col = np.asarray(
        [(0.92, 0.92, 0.9), (0.15, 0.15, 0.15), (0.6, 0.6, 0.6)][int(rng.integers(3))], np.float32
    )
    _stroke(
        scene, pts + rng.uniform(1.5, 4, 2), w, (0, 0, 0), rng.uniform(0.15, 0.35), blur=w * 0.4
    )
    _stroke(scene, pts, w, col * 0.85, 1.0, blur=0.4)
    _stroke(
        scene,
        pts - (w * 0.15, w * 0.15),
        max(1.0, w * 0.25),
        np.minimum(col * 1.3 + 0.1, 1.0),
        0.6,
        blur=0.6,
    )


def pencil(rng: np.random.Generator, scene: Scene) -> None:
    """Pencil/marker layout lines, ticks and scribbled numbers (graphite grey, straight-ish)."""
    x, y = _pt(rng, scene)
    col = (0.35, 0.35, 0.37) if rng.random() < 0.8 else (0.1, 0.1, 0.5)
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.6:
            a = rng.choice([0, np.pi / 2]) + rng.normal(0, 0.03)
            L = rng.uniform(15, 200)
            pts = np.array([[x, y], [x + L * np.cos(a), y + L * np.sin(a)]])
        else:  # a quick scribble like a digit
            pts = np.cumsum(rng.normal(0, 4, (int(rng.integers(3, 7)), 2)), 0) + (x, y)
        _stroke(scene, pts, rng.uniform(0.6, 1.5), col, rng.uniform(0.25, 0.6))
        x, y = x + rng.normal(0, 15), y + rng.normal(0, 15)


def scratch(rng: np.random.Generator, scene: Scene) -> None:
    """Short straight scratches: light on glaze/paint, or faint dark scuffs."""
    x, y = _pt(rng, scene)
    a = rng.uniform(0, np.pi)
    for _ in range(int(rng.integers(1, 5))):
        L = rng.uniform(8, 90)
        o = rng.normal(0, 4, 2)
        aa = a + rng.normal(0, 0.05)
        pts = np.array(
            [[x + o[0], y + o[1]], [x + o[0] + L * np.cos(aa), y + o[1] + L * np.sin(aa)]]
        )
        light = rng.random() < 0.6
        col = (1.0, 1.0, 1.0) if light else (0.2, 0.2, 0.2)
        _stroke(scene, pts, rng.uniform(0.5, 1.2), col, rng.uniform(0.15, 0.4))


def smudge(rng: np.random.Generator, scene: Scene) -> None:
    """Dirt, fingerprints, dust, filled/sanded patches: soft low-contrast blotches."""
    x, y = _pt(rng, scene)
    r = rng.uniform(8, 90)
    x0, y0, x1, y1 = scene.window(x, y, r, r * rng.uniform(0.5, 1.5))
    h, w = y1 - y0, x1 - x0
    if h < 4 or w < 4:
        return
    b = noise.blob(rng, h, w, rough=rng.uniform(0.3, 1.0), soft=rng.uniform(0.3, 0.8))
    alb = scene.albedo[y0:y1, x0:x1]
    kind = rng.random()
    if kind < 0.4:  # grey dirt
        alb *= (1.0 - rng.uniform(0.03, 0.12) * b)[..., None]
    elif kind < 0.7:  # putty / touch-up patch: slightly lighter or differently tinted
        tint = 1.0 + rng.normal(0, 0.03, 3).astype(np.float32)
        alb[:] = (
            alb * (1 - b[..., None] * 0.6)
            + (alb * tint * rng.uniform(1.0, 1.06)) * b[..., None] * 0.6
        )
        scene.height[y0:y1, x0:x1] += 0.5 * b
    else:  # dust specks
        d = noise.field(rng, (h, w), 0.7, beta=0)
        sp = noise.smoothstep(2.0, 2.8, d) * b
        col = (0.9, 0.88, 0.85) if rng.random() < 0.5 else (0.2, 0.2, 0.2)
        alb[:] = alb * (1 - sp[..., None] * 0.6) + np.asarray(col, np.float32) * sp[..., None] * 0.6
    np.clip(alb, 0, 1, out=alb)


def holes(rng: np.random.Generator, scene: Scene) -> None:
    """Screw/nail holes and wall plugs: small dark dots, sometimes in a row."""
    x, y = _pt(rng, scene)
    n = int(rng.integers(1, 4))
    d = rng.uniform(10, 60)
    a = rng.uniform(0, np.pi)
    c = scene.size
    i = np.arange(n)
    cxs, cys = x + i * d * np.cos(a), y + i * d * np.sin(a)
    box = _layer_box(c, cxs, cys, 3.5 + 6.0)  # radius < 3.5, anti-aliasing and the 3-px pad
    if box is None:
        return
    bx0, by0, bx1, by1 = box
    lay = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    for px, py in zip(cxs, cys, strict=True):
        cv2.circle(
            lay,
            (int(px * SUB) - bx0 * int(SUB), int(py * SUB) - by0 * int(SUB)),
            int(rng.uniform(1.0, 3.5) * SUB),
            255,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
    if not lay.any():
        return
    (y0, y1), (x0, x1) = _bounds(lay, 3)
    f = cv2.GaussianBlur(lay[y0:y1, x0:x1], (0, 0), 0.6).astype(np.float32) / 255.0
    x0, x1, y0, y1 = x0 + bx0, x1 + bx0, y0 + by0, y1 + by0
    scene.albedo[y0:y1, x0:x1] *= (1.0 - rng.uniform(0.3, 0.7) * f)[..., None]
    scene.height[y0:y1, x0:x1] -= 2.0 * f


def tape(rng: np.random.Generator, scene: Scene) -> None:
    """A strip of masking/painter's tape: flat translucent band with torn ends."""
    x, y = _pt(rng, scene)
    L, W = rng.uniform(30, 200), rng.uniform(8, 24)
    a = rng.choice([0, 90]) + rng.normal(0, 8)
    box = cv2.boxPoints(((x, y), (L, W), a))
    c = scene.size
    lb = _layer_box(c, box[:, 0], box[:, 1], 4.0)  # anti-aliasing and the 1-px pad
    if lb is None:
        return
    bx0, by0, bx1, by1 = lb
    lay = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
    cv2.fillPoly(
        lay, [np.round((box - (bx0, by0)) * SUB).astype(np.int32)], 255, cv2.LINE_AA, SHIFT
    )
    if not lay.any():
        return
    (y0, y1), (x0, x1) = _bounds(lay, 1)
    f = lay[y0:y1, x0:x1].astype(np.float32) / 255.0
    x0, x1, y0, y1 = x0 + bx0, x1 + bx0, y0 + by0, y1 + by0
    col = np.asarray(
        [(0.9, 0.85, 0.68), (0.35, 0.55, 0.85), (0.95, 0.95, 0.93)][int(rng.integers(3))],
        np.float32,
    )
    op = rng.uniform(0.6, 0.9)
    alb = scene.albedo[y0:y1, x0:x1]
    alb[:] = alb * (1 - op * f[..., None]) + col * (op * f[..., None])
    scene.height[y0:y1, x0:x1] += 0.6 * f


def socket(rng: np.random.Generator, scene: Scene) -> None:
    """A socket or switch plate: rounded white square with a soft shadow and holes/rocker."""
    x, y = _pt(rng, scene)
    s = rng.uniform(40, 110)
    c = scene.size
    x0, y0, x1, y1 = scene.window(x, y, s * 0.7, s * 0.7)
    if x1 - x0 < 10 or y1 - y0 < 10:
        return
    h, w = y1 - y0, x1 - x0
    lay = np.zeros((h, w), np.uint8)
    cx, cy = x - x0, y - y0
    r = int(s * 0.08 * SUB)
    p0 = (int((cx - s / 2) * SUB), int((cy - s / 2) * SUB))
    p1 = (int((cx + s / 2) * SUB), int((cy + s / 2) * SUB))
    cv2.rectangle(lay, p0, p1, 255, -1, cv2.LINE_AA, SHIFT)
    del r, c
    f = cv2.GaussianBlur(lay, (0, 0), 0.8).astype(np.float32) / 255.0
    sh = np.clip(cv2.GaussianBlur(np.roll(np.roll(f, 3, 0), 2, 1), (0, 0), 3) - f, 0, 1)
    col = np.asarray(
        [(0.95, 0.95, 0.94), (0.9, 0.89, 0.85), (0.15, 0.15, 0.15)][
            int(rng.choice(3, p=[0.6, 0.3, 0.1]))
        ],
        np.float32,
    )
    alb = scene.albedo[y0:y1, x0:x1]
    alb *= (1.0 - 0.35 * sh)[..., None]
    alb[:] = alb * (1 - f[..., None]) + col * f[..., None]
    if rng.random() < 0.6:  # two socket holes
        hl = np.zeros_like(lay)
        for dx in (-0.17, 0.17):
            cv2.circle(
                hl,
                (int((cx + dx * s) * SUB), int(cy * SUB)),
                int(s * 0.05 * SUB),
                255,
                -1,
                cv2.LINE_AA,
                SHIFT,
            )
        hf = hl.astype(np.float32) / 255.0
        alb *= (1.0 - 0.8 * hf)[..., None]
    scene.height[y0:y1, x0:x1] += 3.0 * f


def trim(rng: np.random.Generator, scene: Scene) -> None:
    """Skirting board or door frame: a wood or painted strip along one side, with a contact line."""
    c = scene.size
    side = int(rng.integers(4))
    wpx = int(rng.uniform(0.06, 0.2) * c)
    along_x = side in (0, 1)
    wood = render_wood(rng, wpx if along_x else c, c if along_x else wpx, along_x=along_x)
    if rng.random() < 0.5:  # painted trim
        col = np.asarray(
            [(0.95, 0.95, 0.93), (0.9, 0.88, 0.84), (0.3, 0.3, 0.3)][int(rng.integers(3))],
            np.float32,
        )
        wood.albedo = col * (
            0.97
            + 0.03 * wood.albedo.mean(axis=2, keepdims=True) / max(1e-3, float(wood.albedo.mean()))
        )
    sl = {
        0: (slice(c - wpx, c), slice(0, c)),
        1: (slice(0, wpx), slice(0, c)),
        2: (slice(0, c), slice(c - wpx, c)),
        3: (slice(0, c), slice(0, wpx)),
    }[side]
    scene.albedo[sl] = wood.albedo
    scene.height[sl] = wood.height + 4.0
    line = {
        0: (slice(c - wpx - 3, c - wpx), slice(0, c)),
        1: (slice(wpx, wpx + 3), slice(0, c)),
        2: (slice(0, c), slice(c - wpx - 3, c - wpx)),
        3: (slice(0, c), slice(wpx, wpx + 3)),
    }[side]
    scene.albedo[line] *= rng.uniform(0.6, 0.9)
    scene.zone[sl] = 255  # no defect goes on the trim


def shadow(rng: np.random.Generator, scene: Scene) -> None:
    """A soft cast shadow (ladder, door, the photographer): smooth dark wedge or band."""
    c = scene.size
    small = 64
    lay = np.zeros((small, small), np.uint8)
    pts = rng.uniform(-0.2, 1.2, (int(rng.integers(3, 6)), 2)) * small
    cv2.fillPoly(lay, [cv2.convexHull(pts.astype(np.int32))], 255)
    f: np.ndarray = cv2.GaussianBlur(lay, (0, 0), rng.uniform(1.0, 6.0)).astype(np.float32) / 255.0
    # The factor 1 - k f is made on the small map (bilinear upscaling is linear).
    fac = cv2.resize(1.0 - rng.uniform(0.1, 0.4) * f, (c, c), interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = scene.roi or (0, 0, c, c)  # outside the roi the canvas is black anyway
    alb = scene.albedo[y0:y1, x0:x1]
    cv2.multiply(alb, gray3(fac[y0:y1, x0:x1]), dst=alb)


def joint(rng: np.random.Generator, scene: Scene) -> None:
    """A straight construction joint, plasterboard seam or paint cut-in line (long, straight)."""
    c = scene.size
    horiz = rng.random() < 0.5
    p = rng.uniform(0.05, 0.95) * c
    tilt = rng.normal(0, 4)
    pts = np.array([[0, p], [c, p + tilt]]) if horiz else np.array([[p, 0], [p + tilt, c]])
    if rng.random() < 0.5:  # tone change across the line (cut-in), over the rendered roi
        _cut_in(scene, horiz, p, tilt, rng.uniform(-0.05, 0.05))
    _stroke(
        scene,
        pts,
        rng.uniform(0.8, 3),
        (0.3, 0.3, 0.3),
        rng.uniform(0.05, 0.25),
        blur=rng.uniform(0.5, 2.0),
    )


def _cut_in(scene: Scene, horiz: bool, p: float, tilt: float, k: float) -> None:
    """Scale the albedo by ``1 + k * smoothstep(-1, 1, side)`` over the roi, ``side`` the signed
    distance (rows if ``horiz``, else columns) past the line ``p + tilt * t / c``: the soft step
    is computed on the few rows (columns) the line crosses, the far side is one scalar product."""
    c = scene.size
    x0, y0, x1, y1 = scene.roi or (0, 0, c, c)
    if not horiz:  # work on the transposed geometry: "rows" are columns
        x0, y0, x1, y1 = y0, x0, y1, x1
    t = np.arange(x0, x1, dtype=np.float32)[None, :]  # along the line
    line = p + tilt * t / c
    r0 = int(np.clip(np.floor(float(line.min()) - 1.0), y0, y1))  # rows before: step 0
    r1 = int(np.clip(np.ceil(float(line.max()) + 1.0) + 1, y0, y1))  # rows from r1: step 1
    fac = np.float32(1.0 + k)
    if horiz:
        scene.albedo[r1:y1, x0:x1] *= fac
    else:
        scene.albedo[x0:x1, r1:y1] *= fac
    if r1 <= r0:
        return
    u = np.arange(r0, r1, dtype=np.float32)[:, None]  # across the line
    step = noise.smoothstep(-1.0, 1.0, u - line)  # (r1 - r0, x1 - x0)
    f = 1.0 + k * step
    if horiz:
        band = scene.albedo[r0:r1, x0:x1]
        band *= gray3(f)
    else:
        band = scene.albedo[x0:x1, r0:r1]
        band *= gray3(np.ascontiguousarray(f.T))


def trowel(rng: np.random.Generator, scene: Scene) -> None:
    """Trowel or float marks: broad, faint, curved bands (lighter or darker), no sharp edge."""
    x, y = _pt(rng, scene)
    for _ in range(int(rng.integers(1, 4))):
        pts = _curve(
            rng,
            x + rng.normal(0, 20),
            y + rng.normal(0, 20),
            rng.uniform(60, 300),
            rng.uniform(0.01, 0.05),
            4.0,
        )
        col = (1.0, 1.0, 1.0) if rng.random() < 0.5 else (0.35, 0.35, 0.35)
        _stroke(
            scene, pts, rng.uniform(3, 12), col, rng.uniform(0.03, 0.1), blur=rng.uniform(1.5, 4.0)
        )


def board_imprint(rng: np.random.Generator, scene: Scene) -> None:
    """Board-formed concrete: faint wood-grain imprint and board edges on concrete zones only."""
    if "concrete" not in scene.materials:
        return
    c = scene.size
    x0, y0, x1, y1 = scene.roi or (0, 0, c, c)  # only the rendered part of the canvas
    h, w = y1 - y0, x1 - x0
    zone = (scene.zone[y0:y1, x0:x1] == scene.materials.index("concrete")).astype(np.float32)
    along_x = rng.random() < 0.7
    grain = noise.field(
        rng, (h, w) if along_x else (w, h), rng.uniform(4, 10), beta=1, stretch=rng.uniform(10, 25)
    )
    if not along_x:
        grain = np.ascontiguousarray(grain.T)
    bands = np.sin(grain * rng.uniform(2, 4))
    scene.albedo[y0:y1, x0:x1] *= gray3(1.0 + rng.uniform(0.02, 0.06) * bands * zone)
    scene.height[y0:y1, x0:x1] += 0.8 * bands * zone


NEGATIVES = {
    "hair": (hair, 1.0),
    "cable": (cable, 0.5),
    "pencil": (pencil, 1.0),
    "scratch": (scratch, 1.0),
    "smudge": (smudge, 1.5),
    "holes": (holes, 0.6),
    "tape": (tape, 0.4),
    "socket": (socket, 0.2),
    "shadow": (shadow, 0.8),
    "joint": (joint, 0.7),
    "trowel": (trowel, 0.6),
    "board_imprint": (board_imprint, 0.4),
}
