"""Defect renderers. Each paints into a :class:`Scene` (albedo and relief) and returns the
:class:`Instance` with the exact mask of what it changed, or ``None`` when it could not be placed.

Box convention (documented for training and evaluation): one instance per connected defect:
a crack with all its branches is one box, however long; a compact group of blisters is one box
(a cluster is split into its spatially separate groups: :func:`parts`); a hollow tile's box
covers the tile and the inspector's ring drawn around it, and its ``cue`` holds the pixels that
show it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from datasets.synthetic import noise
from datasets.synthetic._ops import UNIT, colour_times, gray3, rgb_times
from datasets.synthetic.scene import Instance, Scene

SHIFT = 3  # cv2 fixed-point bits for sub-pixel drawing
SUB = float(1 << SHIFT)


# ----------------------------------------------------------------------------- cracks


def _walk(
    rng: np.random.Generator,
    ang: float,
    length: float,
    step: float,
    wander: float,
    kink_p: float,
    kink: float,
) -> np.ndarray:
    """Points (n, 2) of a random walk from (0, 0) with drifting, mean-reverting direction."""
    n = max(3, int(length / step))
    d = rng.normal(0.0, wander, n)
    k = rng.random(n) < kink_p
    d[k] += rng.choice([-1.0, 1.0], int(k.sum())) * rng.uniform(0.4, 1.0, int(k.sum())) * kink
    # The mean-reverting filter on Python floats (same IEEE doubles, ~4x faster than indexing
    # numpy scalars in the loop).
    acc = []
    cur = 0.0
    for di in d.tolist():
        cur = cur * 0.85 + di
        acc.append(cur)
    a = np.array(acc) + ang
    steps = step * np.stack([np.cos(a), np.sin(a)], 1)
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps, 0)])
    return pts


def _profile(rng: np.random.Generator, n: int, wmax: float, kind: str) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    if kind == "both":
        base = np.sin(np.pi * np.clip(t, 0.02, 0.98)) ** rng.uniform(0.3, 0.8)
    else:  # wide at the start, tapering to a hairline
        base = (1.0 - t) ** rng.uniform(0.4, 1.2)
    wob = np.interp(t, np.linspace(0, 1, 8), rng.uniform(0.6, 1.0, 8))
    return wmax * base * wob


def _runs(key: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs [i, j) of consecutive ``on`` segments sharing the same ``key``, as the
    arrays (i, j). Example: ``_runs(np.array([1, 1, 2, 2]), np.array([1, 1, 1, 0], bool))``
    gives ``([0, 2], [2, 3])``.
    """
    n = len(key)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cut = np.flatnonzero((on[1:] != on[:-1]) | (key[1:] != key[:-1])) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [n]])
    keep = on[starts]
    return starts[keep], ends[keep]


def _draw_paths(
    alpha: np.ndarray, cov: np.ndarray, paths: list[tuple[np.ndarray, np.ndarray]]
) -> None:
    """Draw variable-width polylines: ``alpha`` carries sub-pixel opacity, ``cov`` the mask.

    Segment i of a path (pts[i] -> pts[i + 1]) has width ``widths[i]``: drawn with thickness
    round(w) and opacity min(1, w) when w >= 0.15, and into the mask when w >= 0.35.
    Consecutive segments with the same thickness and opacity form one polyline, and all the
    polylines of one thickness and opacity (over every path, in path order) go to cv2 in one
    call, thin/faint first. The runs of every path are found in one pass over all segments.
    """
    if not paths:
        return
    pts = [np.round(p * SUB).astype(np.int32) for p, _ in paths]
    ws = [np.asarray(w[: len(p) - 1], np.float64) for p, (_, w) in zip(pts, paths, strict=True)]
    allp = np.concatenate(pts)  # every path's points, path after path
    off = np.cumsum([0] + [len(p) for p in pts[:-1]])  # first point of each path in allp
    nseg = np.array([len(w) for w in ws])
    w = np.concatenate(ws)
    if len(w) == 0:
        return
    path = np.repeat(np.arange(len(pts)), nseg)
    # allp index of each segment's first point: the path's offset + the segment's index in it
    seg0 = np.arange(len(w)) - np.repeat(np.cumsum(nseg) - nseg, nseg) + off[path]
    th = np.maximum(1, np.round(w)).astype(np.int64)
    op = (255 * np.minimum(1.0, w)).astype(np.int64)
    # Runs never span two paths: the path index is folded into the key (keys < 2 ** 16).
    for key, on, into_alpha in ((th * 256 + op, w >= 0.15, True), (th, w >= 0.35, False)):
        i, j = _runs(path << 16 | key, on)
        if len(i) == 0:
            continue
        k = key[i]
        order = np.argsort(k, kind="stable")  # by key; path and run order kept within a key
        # Run [i, j) covers the points i .. j of its path: allp[seg0[i] : seg0[j - 1] + 2].
        k, p0, p1 = k[order], seg0[i[order]].tolist(), (seg0[j[order] - 1] + 2).tolist()
        cut = np.flatnonzero(np.diff(k)) + 1
        for g0, g1 in zip([0, *cut.tolist()], [*cut.tolist(), len(k)], strict=True):
            lines = [allp[a:b] for a, b in zip(p0[g0:g1], p1[g0:g1], strict=True)]
            kk = int(k[g0])
            if into_alpha:  # thickness kk >> 8, opacity kk & 255
                cv2.polylines(alpha, lines, False, kk & 255, kk >> 8, cv2.LINE_AA, SHIFT)
            else:
                cv2.polylines(cov, lines, False, 255, kk, cv2.LINE_8, SHIFT)


def _network(rng: np.random.Generator) -> tuple[list[tuple[np.ndarray, np.ndarray]], float, float]:
    """Map (crazing/shrinkage) cracking: jittered Voronoi cell edges inside a blob, centred on 0."""
    r = float(rng.uniform(60, 260))
    cell = float(rng.uniform(18, 70))
    n = max(6, int((2 * r / cell) ** 2))
    pts = rng.uniform(-r, r, (n, 2))
    sub = cv2.Subdiv2D((int(-r * 2), int(-r * 2), int(r * 4), int(r * 4)))
    sub.insert([(float(x), float(y)) for x, y in pts])
    facets, _ = sub.getVoronoiFacetList([])
    wmax = float(rng.uniform(0.6, 2.0))
    rough = r * rng.uniform(0.7, 1.0)
    # Every cell edge once (shared edges appear in two facets; first occurrence kept, in order).
    fps = [np.asarray(f, np.float64).reshape(-1, 2) for f in facets]
    p0 = np.concatenate(fps)
    p1 = np.concatenate([np.roll(f, -1, axis=0) for f in fps])
    keys = np.round(np.concatenate([np.minimum(p0, p1), np.maximum(p0, p1)], 1)).astype(np.int64)
    _, first = np.unique(keys, axis=0, return_index=True)
    first = np.sort(first)
    p0, p1 = p0[first], p1[first]
    mid = (p0 + p1) / 2
    dmid = np.hypot(mid[:, 0], mid[:, 1])
    keep = (dmid <= rough * rng.uniform(0.8, 1.1, len(p0))) & (rng.random(len(p0)) >= 0.1)
    p0, p1, dmid = p0[keep], p1[keep], dmid[keep]
    if len(p0) == 0:
        return [(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([wmax, wmax]))], wmax, 2 * r
    d = p1 - p0
    ln = np.hypot(d[:, 0], d[:, 1])
    m = np.maximum(2, (ln / 3).astype(np.int64))
    # All edges' points at once: t runs 0..1 along each edge, jittered across it (0 at the ends).
    e = np.repeat(np.arange(len(m)), m)
    starts = np.cumsum(m) - m
    t = ((np.arange(len(e)) - starts[e]) / (m[e] - 1))[:, None]
    nrm = np.stack([-d[:, 1], d[:, 0]], 1) / (ln[:, None] + 1e-6)
    seg = p0[e] + d[e] * t + nrm[e] * (rng.normal(0, 1.2, (len(e), 1)) * np.sin(np.pi * t))
    w = wmax * rng.uniform(0.5, 1.0, len(m)) * (1.0 - 0.5 * dmid / r)
    cuts = np.cumsum(m)[:-1]
    paths = [
        (s, np.full(len(s), wk)) for s, wk in zip(np.split(seg, cuts), w.tolist(), strict=True)
    ]
    return paths, wmax, 2 * r


def crack(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, *, material: str = "paint"
) -> Instance | None:
    """A crack: tapering, wandering/zig-zag dark line with branches; one instance per crack."""
    c = scene.size
    if material != "tiles" and rng.random() < 0.15:  # map cracking: one connected network
        paths, wmax, length = _network(rng)
        wide = False
    else:
        straight = material == "tiles" and rng.random() < 0.6
        if rng.random() < 0.35:  # long crack running through the frame
            length = float(rng.uniform(0.8, 1.6) * c)
        else:
            length = float(np.exp(rng.uniform(np.log(60), np.log(c * 0.8))))
        ang = rng.uniform(0, 2 * np.pi)
        if rng.random() < 0.3:  # structural cracks often run near-vertical or diagonal
            ang = rng.choice([np.pi / 2, np.pi / 4, 3 * np.pi / 4]) + rng.normal(0, 0.2)
        step = 1.5
        wander = rng.uniform(0.02, 0.06) if straight else rng.uniform(0.05, 0.2)
        kink_p = rng.uniform(0.0, 0.03) if straight else rng.uniform(0.01, 0.12)
        kink = rng.uniform(0.3, 0.9)
        main = _walk(rng, ang, length, step, wander, kink_p, kink)
        main -= main[len(main) // 2]
        jitter = rng.uniform(0.0, 0.5) if material in ("paint", "tiles") else rng.uniform(0.2, 0.9)
        main += rng.normal(0, jitter, main.shape)
        # Close-up or structural: an open crack. Only a long one: a short, fat open crack renders
        # as a dark worm-shaped blob, not a crack (at most length / 15 wide).
        wide = material != "tiles" and rng.random() < 0.2 and length >= 120
        if wide:
            wmax = float(min(rng.uniform(4.0, 14.0), length / 15))
        else:
            wmax = float(np.clip(rng.lognormal(np.log(1.4), 0.5), 0.6, 5.0))
            if length < 150:  # a short hairline must still be visible to carry a label
                wmax = max(wmax, 1.3)
        widths = _profile(rng, len(main), wmax, "both" if rng.random() < 0.6 else "one")
        if wide:  # ragged, spalled edges: width varies quickly along the path
            rag = cv2.GaussianBlur(rng.standard_normal((len(widths), 1)), (0, 0), 2.0)[:, 0]
            widths = widths * np.clip(1.0 + 0.6 * rag, 0.4, 1.6)
        paths = [(main, widths)]
        for _ in range(int(rng.choice([0, 1, 2, 3], p=[0.35, 0.35, 0.2, 0.1]))):
            i = int(rng.integers(len(main) // 8, max(len(main) // 8 + 1, 7 * len(main) // 8)))
            seg = main[min(i + 2, len(main) - 1)] - main[i]
            a0 = float(np.arctan2(seg[1], seg[0])) + rng.choice([-1, 1]) * rng.uniform(0.3, 1.2)
            bl = length * rng.uniform(0.1, 0.45)
            b = _walk(rng, a0, bl, step, wander * 1.3, kink_p, kink) + main[i]
            bw = _profile(rng, len(b), max(0.4, widths[i] * rng.uniform(0.5, 0.9)), "one")
            paths.append((b, bw))
        if rng.random() < 0.15:  # en-echelon / parallel companion hairline
            off = rng.normal(0, 6, 2)
            sub = slice(
                int(len(main) * rng.uniform(0, 0.4)), int(len(main) * rng.uniform(0.6, 1.0))
            )
            paths.append(
                (main[sub] + off, _profile(rng, len(main[sub]), max(0.5, wmax * 0.5), "both"))
            )
    allp = np.concatenate([p for p, _ in paths]) + (cx, cy)
    pad = wmax + 6
    x0, y0, x1, y1 = scene.window(0, 0, 0, 0)
    x0 = int(np.clip(np.floor(allp[:, 0].min() - pad), 0, c))
    y0 = int(np.clip(np.floor(allp[:, 1].min() - pad), 0, c))
    x1 = int(np.clip(np.ceil(allp[:, 0].max() + pad), 0, c))
    y1 = int(np.clip(np.ceil(allp[:, 1].max() + pad), 0, c))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cov = np.zeros_like(alpha)
    _draw_paths(alpha, cov, [(p + (cx - x0, cy - y0), w) for p, w in paths])
    trim = scene.zone[y0:y1, x0:x1] == 255  # skirting / door frame: the crack stops there
    if trim.any():
        alpha[trim] = 0
        cov[trim] = 0
    if not cov.any():
        return None
    a8 = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.35, 0.7))
    a = cv2.LUT(a8, UNIT)  # a8 / 255 as float32
    dark = rng.uniform(0.55, 0.9) if wide else rng.uniform(0.3 if length >= 150 else 0.5, 0.85)
    alb = scene.albedo[y0:y1, x0:x1]
    if wide:  # depth varying along an open crack (smooth, not grainy spots); a lighter rim
        a = a * np.clip(0.85 + 0.2 * noise.field(rng, a.shape, 4.0, beta=1), 0.6, 1.0)
        rim = np.clip(cv2.GaussianBlur(a, (0, 0), 1.5) * 2.0 - a, 0, 1)
        alb += gray3(rng.uniform(0.0, 0.12) * rim)
    tint = np.asarray([1.0, 1.0, 1.0], np.float32) - np.asarray(
        rng.uniform(0.0, 0.15, 3), np.float32
    )
    if rng.random() < 0.25:  # dirt halo of an older crack
        halo = cv2.GaussianBlur(a, (0, 0), rng.uniform(1.5, 4.0))
        alb *= gray3(1.0 - rng.uniform(0.05, 0.2) * np.clip(halo * 3, 0, 1))
    # Darken by dark * a, a little less in the tinted channels (per-channel planes, merged).
    keep = (1.0 - 0.3 * (1 - tint)) * np.float32(dark)
    if wide:  # a was reshaped above
        alb *= cv2.merge([1.0 - a * keep[k] for k in range(3)])
    else:  # the same float32 factors, looked up from the 8-bit a (one pass)
        lut = np.stack([1.0 - UNIT * keep[k] for k in range(3)], 1).reshape(256, 1, 3)
        alb *= cv2.LUT(cv2.cvtColor(a8, cv2.COLOR_GRAY2RGB), lut)
    scene.height[y0:y1, x0:x1] -= rng.uniform(0.5, 3.0) * a
    if rng.random() < 0.4:  # raised/lit lip along one side
        dx, dy = rng.choice([-1, 1]), rng.choice([-1, 1])
        lip = np.roll(np.roll(a, dy, 0), dx, 1) * (1 - a)
        alb += gray3(rng.uniform(0.03, 0.12) * lip)
    np.clip(alb, 0, 1, out=alb)
    return Instance("crack", cov > 0, x0, y0, {"width": wmax, "length": length})


# ----------------------------------------------------------------------------- tiles


def _pick_tile(
    rng: np.random.Generator,
    scene: Scene,
    cx: float,
    cy: float,
    min_side: int = 14,
    whole_only: bool = False,
):
    """The tile nearest to (cx, cy) whose centre lies on the tiled zone of the canvas."""
    c = scene.size
    if "tiles" not in scene.materials or not scene.tiles:
        return None
    tile_zone = scene.materials.index("tiles")
    b = scene.tiles.boxes  # (N, 4) x0, y0, x1, y1
    x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    mx, my = (x0 + x1) // 2, (y0 + y1) // 2
    inside = (np.minimum(x1 - x0, y1 - y0) >= min_side) & (mx >= 0) & (mx < c) & (my >= 0)
    inside &= my < c
    ok = np.zeros(len(b), bool)
    ok[inside] = scene.zone[my[inside], mx[inside]] == tile_zone
    if whole_only:
        cx0, cy0 = np.clip(x0, 0, c - 1), np.clip(y0, 0, c - 1)
        cx1, cy1 = np.clip(x1 - 1, 0, c - 1), np.clip(y1 - 1, 0, c - 1)
        z = scene.zone
        for yy, xx in ((cy0, cx0), (cy0, cx1), (cy1, cx0), (cy1, cx1)):
            ok &= z[yy, xx] == tile_zone
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        return None
    d = ((x0[idx] + x1[idx]) / 2 - cx) ** 2 + ((y0[idx] + y1[idx]) / 2 - cy) ** 2
    return scene.tiles.tile(int(idx[int(np.argmin(d))]))


def _ring(
    rng: np.random.Generator,
    canvas: np.ndarray,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    th: int,
) -> None:
    n = 48
    t = np.linspace(0, 2 * np.pi * rng.uniform(1.0, 1.25), n) + rng.uniform(0, 2 * np.pi)
    r = 1.0 + np.interp(np.linspace(0, 1, n), np.linspace(0, 1, 6), rng.normal(0, 0.08, 6))
    pts = np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], 1)
    cv2.polylines(
        canvas, [np.round(pts * SUB).astype(np.int32)], False, 255, th, cv2.LINE_AA, SHIFT
    )


def hollow_tile(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, **_kw: object
) -> Instance | None:
    """A debonded tile: lippage edge, shifted/tilted tile and/or an inspector's chalk/marker ring."""
    t = _pick_tile(rng, scene, cx, cy, whole_only=True)
    if t is None:
        return None
    c = scene.size
    tw, th = t.x1 - t.x0, t.y1 - t.y0
    mode = rng.choice(["ring", "lippage", "shift", "ring+lippage"], p=[0.35, 0.25, 0.2, 0.2])
    # Inspectors ring the tile itself, or a hollow-sounding area spanning its neighbours.
    ring_k = rng.uniform(0.55, 0.9) if rng.random() < 0.75 else rng.uniform(1.1, 1.7)
    m = int(max(tw, th) * max(0.35, ring_k - 0.4)) + 8
    # Local window around the tile; it may reach past the canvas (padded, cropped back at the end).
    x0, y0, x1, y1 = t.x0 - m, t.y0 - m, t.x1 + m, t.y1 + m
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(c, x1), min(c, y1)
    pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
    alb: np.ndarray = cv2.copyMakeBorder(scene.albedo[cy0:cy1, cx0:cx1], *pads, cv2.BORDER_REFLECT)
    hgt: np.ndarray = cv2.copyMakeBorder(scene.height[cy0:cy1, cx0:cx1], *pads, cv2.BORDER_REFLECT)
    orig = alb.copy() if "ring" not in mode else None  # the cue check below needs it
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    mask[t.y0 - y0 : t.y1 - y0, t.x0 - x0 : t.x1 - x0] = 1
    cue = np.zeros_like(mask)  # the pixels drawn to show it (ring, cross, edge, shadow, gap)
    if "lippage" in mode:
        side = int(rng.integers(4))
        lift = rng.uniform(1.0, 4.0)
        ramp = np.zeros((th, tw), np.float32)
        lin = np.linspace(0, 1, tw if side in (0, 1) else th, dtype=np.float32)
        if side == 1 or side == 3:
            lin = lin[::-1]
        ramp[:] = lin[None, :] if side in (0, 1) else lin[:, None]
        hgt[t.y0 - y0 : t.y1 - y0, t.x0 - x0 : t.x1 - x0] += lift * ramp
        # Bright lifted edge and a soft shadow just beyond it.
        edge: np.ndarray = np.zeros_like(mask, dtype=np.float32)
        sh: np.ndarray = np.zeros_like(edge)
        ex0, ey0, ex1, ey1 = t.x0 - x0, t.y0 - y0, t.x1 - x0, t.y1 - y0
        bw = int(rng.integers(1, 3))
        sw = int(rng.integers(3, 9))
        if side == 0:
            edge[ey0:ey1, ex1 - bw : ex1] = 1
            sh[ey0:ey1, ex1 : ex1 + sw] = 1
        elif side == 1:
            edge[ey0:ey1, ex0 : ex0 + bw] = 1
            sh[ey0:ey1, max(0, ex0 - sw) : ex0] = 1
        elif side == 2:
            edge[ey1 - bw : ey1, ex0:ex1] = 1
            sh[ey1 : ey1 + sw, ex0:ex1] = 1
        else:
            edge[ey0 : ey0 + bw, ex0:ex1] = 1
            sh[max(0, ey0 - sw) : ey0, ex0:ex1] = 1
        sh = cv2.GaussianBlur(sh, (0, 0), 1.2)
        edge = cv2.GaussianBlur(edge, (0, 0), 0.5)
        alb *= gray3(1.0 - rng.uniform(0.3, 0.6) * sh)
        alb += gray3(rng.uniform(0.15, 0.35) * edge)
        mask |= (sh > 0.2).astype(np.uint8)
        cue |= ((sh > 0.2) | (edge > 0.2)).view(np.uint8)
        # slight shading of the tilted face
        alb[ey0:ey1, ex0:ex1] *= gray3(1.0 + rng.uniform(-0.06, 0.06) * (ramp - 0.5))
    if mode == "shift":
        ex0, ey0, ex1, ey1 = t.x0 - x0, t.y0 - y0, t.x1 - x0, t.y1 - y0
        patch = alb[ey0:ey1, ex0:ex1].copy()
        ang = rng.choice([-1, 1]) * rng.uniform(1.5, 4.5)
        dx, dy = rng.normal(0, 2.5, 2)
        ccx, ccy = (ex0 + ex1) / 2 + dx, (ey0 + ey1) / 2 + dy
        rot = cv2.getRotationMatrix2D((tw / 2, th / 2), ang, 1.0)
        rot[:, 2] += (ccx - tw / 2, ccy - th / 2)
        big = cv2.warpAffine(
            patch, rot, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        fm = cv2.warpAffine(
            np.ones((th, tw), np.float32), rot, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR
        )
        # Grout fills the old place; then the moved tile covers it.
        if scene.grout is not None:
            gcol = np.asarray(scene.grout, np.float32)
            alb[ey0:ey1, ex0:ex1] = gcol * 0.9  # float32, as the blend with a 0/1 map gave
        alb[:] = rgb_times(alb, 1 - fm) + rgb_times(big, fm)
        # shadow along the lower/right edge of the moved tile
        shadow = np.clip(cv2.GaussianBlur(np.roll(np.roll(fm, 2, 0), 2, 1), (0, 0), 1.5) - fm, 0, 1)
        alb *= gray3(1.0 - 0.4 * shadow)
        hgt += 1.5 * fm
        mask |= (fm > 0.5).astype(np.uint8)
        # the moved edges: the grout uncovered and the tile over its neighbours, and its shadow
        old = np.zeros(mask.shape, bool)
        old[ey0:ey1, ex0:ex1] = True
        cue |= (((fm > 0.5) != old) | (shadow > 0.2)).view(np.uint8)
    # Every labelled hollow tile must show a cue; if the lift/shift is too subtle here,
    # the inspector's ring is what a photo of it would show.
    if orig is not None:
        d0, d1, d2 = cv2.split(cv2.absdiff(alb, orig))
        moved = cv2.max(cv2.max(d0, d1), d2)[mask > 0]  # per-pixel largest colour change
        # "98 % of the tile changed by less than 0.1" (the 98th percentile, counted not sorted).
        if np.count_nonzero(moved >= 0.1) <= 0.02 * len(moved):
            mode = "ring+" + str(mode)
    if "ring" in mode:
        ring = np.zeros_like(mask)
        rx, ry = tw * ring_k * rng.uniform(0.9, 1.1), th * ring_k * rng.uniform(0.9, 1.1)
        chalk = rng.random() < 0.5
        thick = int(rng.integers(3, 8)) if chalk else int(rng.integers(2, 5))
        _ring(
            rng,
            ring,
            (t.x0 + t.x1) / 2 - x0 + rng.normal(0, 2),
            (t.y0 + t.y1) / 2 - y0 + rng.normal(0, 2),
            rx,
            ry,
            thick,
        )
        if rng.random() < 0.25:  # a cross or tick inside
            q = (
                np.array([[0.3, 0.3, 0.7, 0.7], [0.7, 0.3, 0.3, 0.7]]) * (tw, th, tw, th)
                + (t.x0 - x0, t.y0 - y0, t.x0 - x0, t.y0 - y0)
            ) * SUB
            for a0, b0, a1, b1 in np.round(q).astype(int).tolist():
                cv2.line(ring, (a0, b0), (a1, b1), 255, thick, cv2.LINE_AA, SHIFT)
        a: np.ndarray = cv2.LUT(ring, UNIT)  # ring / 255, float32
        if chalk:
            grain = noise.field(rng, a.shape, 1.0, beta=0)
            a *= np.clip(0.55 + 0.5 * grain, 0, 1) * rng.uniform(0.5, 0.9)
            col = np.asarray(
                [(0.97, 0.97, 0.95), (0.95, 0.9, 0.5), (0.95, 0.6, 0.6)][
                    int(rng.choice(3, p=[0.7, 0.2, 0.1]))
                ],
                np.float32,
            )
        else:
            col = np.asarray(
                [(0.8, 0.1, 0.1), (0.1, 0.2, 0.7), (0.08, 0.08, 0.08), (0.1, 0.5, 0.15)][
                    int(rng.choice(4, p=[0.45, 0.25, 0.2, 0.1]))
                ],
                np.float32,
            )
            a *= rng.uniform(0.75, 0.95)
        alb[:] = rgb_times(alb, 1 - a) + colour_times(col, a)
        mask |= (ring > 127).astype(np.uint8)
        cue |= (ring > 127).view(np.uint8)
    np.clip(alb, 0, 1, out=alb)
    sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    scene.albedo[cy0:cy1, cx0:cx1] = alb[sl]
    scene.height[cy0:cy1, cx0:cx1] = hgt[sl]
    mk = mask[sl] > 0
    if not mk.any():
        return None
    return Instance("hollow_tile", mk, cx0, cy0, {"mode": str(mode)}, cue=(cue[sl] > 0) & mk)


def tile_chip(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, **_kw: object
) -> Instance | None:
    """A broken tile corner or edge: jagged patch exposing the lighter, rough body."""
    t = _pick_tile(rng, scene, cx, cy, min_side=16)
    if t is None:
        return None
    tw, th = t.x1 - t.x0, t.y1 - t.y0
    size = float(np.clip(rng.uniform(4, 18) * (1 + min(tw, th) / 200), 3, min(tw, th) * 0.4))
    for _ in range(8):  # pick a corner/edge that the camera sees and that lies on tiles
        corner = rng.random() < 0.6
        if corner:
            px = t.x0 if rng.random() < 0.5 else t.x1
            py = t.y0 if rng.random() < 0.5 else t.y1
            sx, sy = (1 if px == t.x0 else -1), (1 if py == t.y0 else -1)
            ca, cb = size * rng.uniform(0.6, 1.4), size * rng.uniform(0.6, 1.4)
            mid = rng.uniform(0.3, 0.7, 4)
            inner = [
                (
                    px + sx * ca * (1 - f) + rng.normal(0, 0.8),
                    py + sy * cb * f * rng.uniform(0.7, 1.3),
                )
                for f in mid
            ]
            corners = (
                [(px - sx * 1.0, py - sy * 1.0), (px + sx * ca, py - sy * 0.5)]
                + sorted(inner, key=lambda q: abs(q[0] - px))[::-1]
                + [(px - sx * 0.5, py + sy * cb)]
            )
        else:
            horiz = rng.random() < 0.5
            if horiz:
                ex = rng.uniform(t.x0 + size, t.x1 - size)
                ey = t.y0 if rng.random() < 0.5 else t.y1
                s = 1 if ey == t.y0 else -1
                n = 6
                xs = np.linspace(ex - size, ex + size, n)
                depth = size * rng.uniform(0.3, 0.7) * np.sin(
                    np.linspace(0, np.pi, n)
                ) + rng.normal(0, 0.6, n)
                corners = [(x, ey + s * max(0.0, d)) for x, d in zip(xs, depth, strict=True)] + [
                    (ex + size, ey - s),
                    (ex - size, ey - s),
                ]
            else:
                ey = rng.uniform(t.y0 + size, t.y1 - size)
                ex = t.x0 if rng.random() < 0.5 else t.x1
                s = 1 if ex == t.x0 else -1
                n = 6
                ys = np.linspace(ey - size, ey + size, n)
                depth = size * rng.uniform(0.3, 0.7) * np.sin(
                    np.linspace(0, np.pi, n)
                ) + rng.normal(0, 0.6, n)
                corners = [(ex + s * max(0.0, d), y) for y, d in zip(ys, depth, strict=True)] + [
                    (ex - s, ey + size),
                    (ex - s, ey - size),
                ]
        poly = np.asarray(corners, np.float64)
        mx, my = (int(np.clip(v, 0, scene.size - 1)) for v in poly.mean(0))
        z = int(scene.zone[my, mx])
        vis = scene.visible is None or bool(scene.visible[my, mx])
        if vis and z < len(scene.materials) and scene.materials[z] == "tiles":
            break
    else:
        return None
    x0, y0, x1, y1 = scene.window(
        float(poly[:, 0].mean()), float(poly[:, 1].mean()), size * 2 + 4, size * 2 + 4
    )
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((poly - (x0, y0)) * SUB).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
    a = m.astype(np.float32) / 255.0
    if not (a > 0.5).any():
        return None
    body = np.asarray(t.body, np.float32)
    rough = 1.0 + 0.12 * noise.field(rng, a.shape, 0.8, beta=0)
    alb = scene.albedo[y0:y1, x0:x1]
    chip = body * rough[..., None]
    # deeper part near the edge is in shadow
    solid = cv2.erode(m, np.ones((3, 3), np.uint8)).astype(np.float32) / 255.0
    rim = np.clip(a - solid, 0, 1)
    alb[:] = alb * (1 - a[..., None]) + chip * a[..., None]
    alb *= (1.0 - rng.uniform(0.15, 0.45) * rim)[..., None]
    scene.height[y0:y1, x0:x1] -= rng.uniform(0.5, 2.0) * a
    np.clip(alb, 0, 1, out=alb)
    mask = a > 0.4
    return Instance("tile_chip", mask, x0, y0, {"size": size})


# ----------------------------------------------------------------------------- paint


def _patch(
    rng: np.random.Generator,
    scene: Scene,
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    margin: int,
    rough: float,
    soft: float,
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """A :func:`noise.blob` over the (rx, ry) box around (cx, cy), ``margin`` px of zeros around
    it (room for what a renderer draws past the blob: a lifted lip, flakes), cut to the canvas:
    the canvas window ``(x0, y0, x1, y1)`` and the blob's part inside it. A patch near the
    canvas edge is cut by that edge, as a photo's frame cuts a stain, rather than squeezed into
    the part of its window that is on the canvas."""
    fx0, fy0 = int(np.floor(cx - rx)) - margin, int(np.floor(cy - ry)) - margin
    fx1, fy1 = int(np.ceil(cx + rx)) + margin, int(np.ceil(cy + ry)) + margin
    full = np.zeros((fy1 - fy0, fx1 - fx0), np.float32)
    h, w = full.shape[0] - 2 * margin, full.shape[1] - 2 * margin
    full[margin : margin + h, margin : margin + w] = noise.blob(rng, h, w, rough=rough, soft=soft)
    x0, y0, x1, y1 = scene.window(cx, cy, rx + margin, ry + margin)  # the same box, clipped
    return (x0, y0, x1, y1), full[y0 - fy0 : y1 - fy0, x0 - fx0 : x1 - fx0]


PEEL_STEP = 0.12  # least brightness difference between exposed substrate and the paint

SUBSTRATES = [
    (0.72, 0.70, 0.66),
    (0.85, 0.83, 0.80),
    (0.62, 0.60, 0.57),
    (0.80, 0.74, 0.66),
    (0.55, 0.55, 0.55),
]


def paint_peeling(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, **_kw: object
) -> Instance | None:
    """Peeling paint: irregular patch of exposed substrate with lifted, shadow-casting edges and flakes."""
    r = float(np.exp(rng.uniform(np.log(10), np.log(scene.size * 0.18))))
    ry = r * rng.uniform(0.5, 1.5)
    # Room past the blob for the lip (2 px) and the flakes (up to r / 4) drawn beyond its edge.
    margin = int(np.ceil(max(3.0, r * 0.25))) + 3
    (x0, y0, x1, y1), reg = _patch(
        rng, scene, cx, cy, r, ry, margin, rough=rng.uniform(0.6, 1.4), soft=0.02
    )
    h, w = y1 - y0, x1 - x0
    if h < 8 or w < 8:
        return None
    # Make the outline jagged: threshold with fine noise.
    jag = noise.field(rng, (h, w), rng.uniform(1.5, 4), beta=1)
    a = noise.smoothstep(0.35, 0.65, reg + 0.12 * jag)
    core = a > 0.5
    if core.sum() < 12:
        return None
    sub = np.asarray(SUBSTRATES[int(rng.integers(len(SUBSTRATES)))], np.float32) * (
        1 + rng.normal(0, 0.04, 3)
    ).astype(np.float32)
    tex = 1.0 + 0.05 * noise.field(rng, (h, w), rng.uniform(1, 4), beta=1)
    alb = scene.albedo[y0:y1, x0:x1]
    paint = alb.copy()
    # The exposed substrate differs from the paint by at least 0.12 in brightness (a substrate
    # drawn as light as the paint left a peeled patch under 16 gray levels: label_visibility):
    # pushed the way it already leans, or darker when the paint is near white.
    lp, ls = float(paint[core].mean()), float(sub.mean())
    if abs(ls - lp) < PEEL_STEP:
        target = lp + PEEL_STEP if ls >= lp and lp + PEEL_STEP <= 0.95 else lp - PEEL_STEP
        sub = sub * np.float32(max(target, 0.05) / max(ls, 1e-3))
    alb[:] = alb * (1 - a[..., None]) + (sub * tex[..., None]) * a[..., None]
    # Shadow cast by the lifted paint edge onto the substrate (inside band), bright curled lip outside.
    k = np.ones((3, 3), np.uint8)
    core_u8 = core.astype(np.uint8)
    inner_band = core_u8 - cv2.erode(core_u8, k, iterations=int(rng.integers(1, 4)))
    outer_band = cv2.dilate(core_u8, k, iterations=int(rng.integers(1, 3))) - core_u8
    ib = cv2.GaussianBlur(inner_band.astype(np.float32), (0, 0), 0.8)
    ob = cv2.GaussianBlur(outer_band.astype(np.float32), (0, 0), 0.6)
    alb *= (1.0 - rng.uniform(0.15, 0.4) * ib)[..., None]
    alb += (rng.uniform(0.03, 0.12) * ob)[..., None]
    # The patch sits 2 below the paint, the lip 2 above (relative: no step at the window's edge).
    scene.height[y0:y1, x0:x1] += 2.0 * ob - 2.0 * a
    flakes = np.zeros((h, w), np.uint8)
    ys, xs = np.nonzero(inner_band)
    for _flake in range(int(rng.integers(0, 6))):
        if len(xs) == 0:
            break
        j = int(rng.integers(len(xs)))
        fx, fy = float(xs[j]), float(ys[j])
        s = rng.uniform(2, max(3.0, r * 0.25))
        pts = np.stack(
            [
                fx + s * rng.uniform(0.4, 1.0, 5) * np.cos(np.sort(rng.uniform(0, 2 * np.pi, 5))),
                fy + s * rng.uniform(0.4, 1.0, 5) * np.sin(np.sort(rng.uniform(0, 2 * np.pi, 5))),
            ],
            1,
        )
        cv2.fillPoly(flakes, [np.round(pts * SUB).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
    if flakes.any():
        fa = flakes.astype(np.float32) / 255.0
        fsh = np.clip(np.roll(np.roll(fa, 2, 0), 1, 1) - fa, 0, 1)
        alb[:] = alb * (1 - fa[..., None]) + paint * (1.03 * fa[..., None])
        alb *= (1.0 - 0.35 * cv2.GaussianBlur(fsh, (0, 0), 0.8))[..., None]
    np.clip(alb, 0, 1, out=alb)
    mask = core | (flakes > 127) | (outer_band > 0)
    return Instance("paint_peeling", mask, x0, y0, {"radius": r})


def paint_bubble(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, **_kw: object
) -> Instance | None:
    """A blister or cluster of blisters: domes in the relief with soft highlight/shadow, some popped.

    A cluster is packed (neighbouring blisters two to four radii apart, as paint lifts over one
    damp patch), so its box is mostly blisters rather than clean wall around a few scattered
    ones; blisters stay on the paint zone they start in (none on tiles or trim).
    """
    n = int(rng.choice([1, 2, 4, 8, 15], p=[0.3, 0.2, 0.2, 0.2, 0.1]))
    r0 = float(np.clip(rng.lognormal(np.log(7.0), 0.5), 4.0, 30.0))
    # Neighbours ~ 2-4 radii apart (centre to centre): sqrt(n) blisters across a cluster.
    spread = r0 * rng.uniform(1.2, 2.8) * np.sqrt(n)
    centers = rng.normal(0, spread / 2.5, (n, 2)) if n > 1 else np.zeros((1, 2))
    radii = np.clip(r0 * rng.lognormal(0.0, 0.3, n), 3.0, 40.0)
    ext = np.abs(centers).max() + radii.max() + 4
    x0, y0, x1, y1 = scene.window(cx, cy, ext, ext)
    h, w = y1 - y0, x1 - x0
    if h < 6 or w < 6:
        return None
    c = scene.size
    own = scene.zone[y0:y1, x0:x1] == scene.zone[int(min(cy, c - 1)), int(min(cx, c - 1))]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dome = np.zeros((h, w), np.float32)
    sphere = np.zeros((h, w), np.float32)  # the same domes as spherical caps (height = radius)
    mask = np.zeros((h, w), bool)
    popped = np.zeros((h, w), np.float32)
    for (ox, oy), r in zip(centers, radii, strict=True):
        px, py = cx + ox - x0, cy + oy - y0
        d2 = ((xx - px) ** 2 + (yy - py) ** 2 * rng.uniform(0.8, 1.25)) / (r * r)
        inside = (d2 < 1) & own
        if not inside.any():
            continue
        cap = np.sqrt(np.clip(1 - d2, 0, 1)) * r
        dome = np.maximum(dome, cap * rng.uniform(0.25, 0.6))
        sphere = np.maximum(sphere, cap)
        mask |= (d2 < 1.1) & own
        # At most one burst blister per cluster: pale craters on several read as peeling.
        if rng.random() < 0.12 and r > 4 and not popped.any():
            popped = np.maximum(popped, (d2 < 0.5).astype(np.float32))
    dome *= own
    popped *= own
    if mask.sum() < 6:
        return None
    scene.height[y0:y1, x0:x1] += dome
    alb = scene.albedo[y0:y1, x0:x1]
    # Explicit directional shading so blisters read even under flat light: a lit and a shaded
    # side (slope of the cap, -1.5..1.5) at 20-35 % of the albedo, at least 2.5x the surface's
    # own texture contrast so a blister on rough plaster is not lost in its grain (at 12 % a
    # small blister's gray step in the photo was often under 16 levels: label_visibility).
    lum = alb.mean(axis=2)
    tex = float(lum[own].std() / max(float(lum[own].mean()), 1e-3))
    gy, gx = np.gradient(cv2.GaussianBlur(sphere, (0, 0), 0.7))
    ang = rng.uniform(0, 2 * np.pi)
    sh = np.clip(gx * np.cos(ang) + gy * np.sin(ang), -1.5, 1.5) * own
    amp = max(rng.uniform(0.2, 0.35), min(0.45, 2.5 * tex))
    alb *= (1.0 + amp * sh)[..., None]
    # contact shadow crescent at the base, away from the light
    rim = np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0) - mask, 0, 1) * own
    alb *= (1.0 - rng.uniform(0.0, 0.25) * rim)[..., None]
    if popped.any():
        # A burst blister: a crater of exposed (pale, chalky) substrate inside a torn paint edge
        # that casts a thin shadow, not a dark dot (which would read as mould).
        pa = cv2.GaussianBlur(popped, (0, 0), 0.7) * own
        sub = np.asarray(SUBSTRATES[int(rng.integers(len(SUBSTRATES)))], np.float32)
        sub = np.maximum(sub, alb[popped > 0].mean(0) * 0.92)  # not darker than the paint
        alb[:] = alb * (1 - pa[..., None]) + sub * pa[..., None]
        edge = np.clip(pa - cv2.erode(pa, np.ones((3, 3), np.uint8)), 0, 1)
        alb *= (1.0 - rng.uniform(0.2, 0.4) * edge)[..., None]
    np.clip(alb, 0, 1, out=alb)
    return Instance("paint_bubble", mask, x0, y0, {"n": n, "r0": r0})


def parts(inst: Instance) -> list[Instance]:
    """The instances a rendered defect is labelled as: a blister cluster splits into its
    spatially separate groups (blisters whose masks, grown by the cluster's typical radius
    ``r0``, touch: gaps up to two radii), one box each; anything else is itself.

    Example: two blisters 100 px apart with r0 7 give two instances, each its own mask crop.
    """
    r0 = inst.meta.get("r0")
    if inst.name != "paint_bubble" or r0 is None or inst.meta.get("n", 1) < 2:
        return [inst]
    m8 = inst.mask.astype(np.uint8)
    r = max(1, int(round(float(r0))))
    grown = cv2.dilate(m8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    k, lab = cv2.connectedComponents(grown, connectivity=8)
    if k <= 2:
        return [inst]
    out = []
    for g in range(1, k):
        own = (lab == g) & inst.mask
        ys, xs = np.nonzero(own)
        if len(xs) == 0:
            continue
        gx0, gy0, gx1, gy1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        meta = {**inst.meta, "group": g - 1, "groups": k - 1}
        out.append(Instance(inst.name, own[gy0:gy1, gx0:gx1], inst.x0 + gx0, inst.y0 + gy0, meta))
    return out


def stain(
    rng: np.random.Generator, scene: Scene, cx: float, cy: float, **_kw: object
) -> Instance | None:
    """Water stain with tide marks, damp patch, or mould speckles."""
    kind = rng.choice(["water", "damp", "mould"], p=[0.45, 0.25, 0.3])
    r = float(np.exp(rng.uniform(np.log(18), np.log(scene.size * 0.3))))
    ry = r * rng.uniform(0.6, 1.8)
    (x0, y0, x1, y1), reg = _patch(
        rng, scene, cx, cy, r, ry, 0, rough=rng.uniform(0.5, 1.2), soft=rng.uniform(0.1, 0.4)
    )
    h, w = y1 - y0, x1 - x0
    if h < 10 or w < 10:
        return None
    alb = scene.albedo[y0:y1, x0:x1]
    if kind == "water":
        col = np.asarray(
            [rng.uniform(0.75, 0.9), rng.uniform(0.6, 0.75), rng.uniform(0.35, 0.55)], np.float32
        )
        strength = rng.uniform(0.3, 0.6)  # under 0.3 most were < 16 gray levels (label_visibility)
        # Uneven interior (soaked more in places), darker towards the rim where deposits dry.
        inner = 0.35 + 0.65 * noise.smoothstep(-1.0, 1.0, noise.field(rng, (h, w), r / 3, beta=2))
        rim = noise.smoothstep(0.05, 0.25, reg) * (1.0 - 0.5 * noise.smoothstep(0.3, 0.9, reg))
        a = strength * reg * inner * (0.6 + 0.8 * rim)
        alb[:] = alb * (1 - a[..., None] * (1 - col))
        # Tide marks: thin brownish lines along level sets near the outer edge.
        tide = np.zeros_like(reg)
        for lvl in rng.uniform(0.06, 0.4, int(rng.integers(1, 4))):
            tide = np.maximum(tide, np.exp(-(((reg - lvl) / rng.uniform(0.015, 0.04)) ** 2)))
        alb *= 1.0 - rng.uniform(0.08, 0.3) * tide[..., None] * (1.2 - col)
        mask = reg > 0.15
    elif kind == "damp":
        strength = rng.uniform(0.22, 0.4)
        grey = alb.mean(axis=2, keepdims=True)
        alb[:] = (alb * (1 - 0.5 * reg[..., None]) + grey * 0.5 * reg[..., None]) * (
            1 - strength * reg[..., None]
        )
        mask = reg > 0.3
    else:
        dens = reg * noise.smoothstep(
            -0.5, 1.0, noise.field(rng, (h, w), rng.uniform(6, 20), beta=1)
        )
        sp = noise.field(rng, (h, w), rng.uniform(0.6, 1.5), beta=0)
        dots = noise.smoothstep(2.2 - 1.6 * dens, 2.6 - 1.6 * dens, sp) * (dens > 0.05)
        dots = cv2.GaussianBlur(dots.astype(np.float32), (0, 0), 0.5)
        col = np.asarray(
            [(0.12, 0.13, 0.1), (0.2, 0.22, 0.15), (0.15, 0.12, 0.1)][int(rng.integers(3))],
            np.float32,
        )
        haze = rng.uniform(0.0, 0.2) * dens
        alb[:] = alb * (1 - haze[..., None] * 0.5)
        a = np.clip(dots * rng.uniform(0.6, 1.0), 0, 1)[..., None]
        alb[:] = alb * (1 - a) + col * a
        k = max(3, int(r * 0.15) | 1)
        mask = cv2.dilate((dots > 0.3).astype(np.uint8), np.ones((k, k), np.uint8)) > 0
        mask &= reg > 0.05
    np.clip(alb, 0, 1, out=alb)
    if mask.sum() < 20:
        return None
    return Instance("stain", mask, x0, y0, {"kind": str(kind)})


RENDERERS: dict[str, Callable[..., Instance | None]] = {
    "crack": crack,
    "hollow_tile": hollow_tile,
    "tile_chip": tile_chip,
    "paint_peeling": paint_peeling,
    "paint_bubble": paint_bubble,
    "stain": stain,
}
