"""Procedural interior surfaces: painted plaster, ceramic tiles, concrete/screed, paving, wood.

Each ``render_<material>(rng, h, w)`` returns a :class:`Layer`: albedo (h, w, 3) float32 in
[0, 1] (sRGB-ish), a relief height map (h, w) float32 in pixels that the lighting turns into
raking-light shading, a gloss scalar, and for tiles the tile rectangles defects can use.
With ``out=`` (a float32 (h, w, 3) array or row-strided view, e.g. of the scene canvas) the
albedo is written there and ``Layer.albedo`` is ``out`` itself; ``out_height=`` likewise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from datasets.synthetic import noise
from datasets.synthetic._ops import UNIT, colour_times, gray3


@dataclass
class Tile:
    """One tile's face rectangle in canvas pixels (x0, y0, x1, y1), exclusive ends."""

    x0: int
    y0: int
    x1: int
    y1: int
    color: tuple[float, float, float]
    body: tuple[float, float, float]  # colour of the fired body exposed by chips


@dataclass(frozen=True)
class TileSet:
    """Tile faces (N, 4) int64 ``x0, y0, x1, y1`` (exclusive ends), their glaze colours (N, 3)
    float32 and the fired-body colour shared by all. ``tile(i)`` gives one as a :class:`Tile`."""

    boxes: np.ndarray
    colors: np.ndarray
    body: tuple[float, float, float]

    def __len__(self) -> int:
        return len(self.boxes)

    def tile(self, i: int) -> Tile:
        x0, y0, x1, y1 = (int(v) for v in self.boxes[i])
        return Tile(x0, y0, x1, y1, _t3(self.colors[i]), self.body)

    def shifted(self, dx: int, dy: int) -> TileSet:
        return TileSet(self.boxes + np.array([dx, dy, dx, dy]), self.colors, self.body)


@dataclass
class Layer:
    albedo: np.ndarray
    height: np.ndarray
    gloss: float
    material: str
    tiles: TileSet | None = None
    grout: tuple[float, float, float] | None = None
    sheen: np.ndarray | None = None  # per-pixel glare factor (glossy tiles: varies per tile)


def _t3(v) -> tuple[float, float, float]:
    return (float(v[0]), float(v[1]), float(v[2]))


def _rgb(c) -> np.ndarray:
    return np.asarray(c, np.float32).reshape(1, 1, 3)


def _jitter(rng: np.random.Generator, c, amount: float) -> np.ndarray:
    c = np.asarray(c, np.float32) * (1.0 + rng.normal(0, amount, 3)).astype(np.float32)
    return np.clip(c, 0.02, 0.98)


# Typical wall paints (sRGB 0..1): whites dominate real interiors.
PAINTS = {
    "white": ((0.93, 0.93, 0.92), 0.45),
    "warm_white": ((0.94, 0.91, 0.85), 0.15),
    "grey": ((0.72, 0.73, 0.74), 0.1),
    "beige": ((0.86, 0.80, 0.70), 0.1),
    "pastel": (None, 0.12),
    "accent": (None, 0.05),
    "dark": ((0.25, 0.27, 0.30), 0.03),
}


def paint_color(rng: np.random.Generator) -> np.ndarray:
    keys = list(PAINTS)
    p = np.array([PAINTS[k][1] for k in keys])
    k = keys[int(rng.choice(len(keys), p=p / p.sum()))]
    base = PAINTS[k][0]
    if k == "pastel":
        hue = rng.uniform(0, 180)
        hsv = np.array([[[hue, rng.uniform(25, 70), rng.uniform(200, 245)]]], np.uint8)
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    elif k == "accent":
        hue = rng.uniform(0, 180)
        hsv = np.array([[[hue, rng.uniform(80, 180), rng.uniform(110, 220)]]], np.uint8)
        base = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    return _jitter(rng, base, 0.02)


LOW = 4  # pixel size of the grid smooth noise is mixed on before one upscale


def _up(low: np.ndarray, h: int, w: int) -> np.ndarray:
    """A smooth float32 map mixed on the 1/LOW grid, upscaled bilinearly to (h, w)."""
    return cv2.resize(np.asarray(low, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _scale_add(a: np.ndarray, k: float, b: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``cv2.scaleAdd(a, k, b)`` (a * k + b), written into ``out`` when given."""
    return cv2.scaleAdd(a, k, b) if out is None else cv2.scaleAdd(a, k, b, dst=out)


def render_paint(
    rng: np.random.Generator,
    h: int,
    w: int,
    out: np.ndarray | None = None,
    out_height: np.ndarray | None = None,
) -> Layer:
    """Painted plaster / skim coat: roller stipple, patchy touch-ups, faint trowel relief."""
    bare = rng.random() < 0.15
    if bare:  # unpainted gypsum or cement render
        base = _jitter(
            rng,
            [(0.80, 0.77, 0.72), (0.70, 0.69, 0.66), (0.85, 0.80, 0.76)][int(rng.integers(3))],
            0.03,
        )
    else:
        base = paint_color(rng)
    stipple_scale = rng.uniform(0.8, 2.5)
    stipple = noise.field(rng, (h, w), stipple_scale, beta=0)
    # The smooth parts (mid-scale waviness, cloudy tone) are mixed at 1/LOW size, then each of
    # tone and relief is upscaled once (features are >= 20 px, 5x the low grid's pixel).
    hl, wl = -(-h // LOW), -(-w // LOW)
    mid = noise.field(rng, (hl, wl), rng.uniform(20, 120) / LOW, beta=2)
    cloud = noise.smooth(rng, (hl, wl), rng.uniform(2, 6))
    amp_st = rng.uniform(0.004, 0.02)
    amp_mid = rng.uniform(0.003, 0.02) * (3.0 if bare else 1.0)
    tone = 1.0 + amp_mid * mid + rng.uniform(0.0, 0.03) * cloud
    shade = cv2.scaleAdd(stipple, amp_st, _up(tone, h, w))
    if rng.random() < 0.35:  # roller laps: faint vertical bands
        laps = noise.field(rng, (h, w), rng.uniform(30, 90), beta=2, stretch=0.15)
        shade = cv2.scaleAdd(laps, rng.uniform(0.004, 0.015), shade)
    albedo = colour_times(base, shade, out)
    a_st = rng.uniform(0.2, 0.8)
    height = _scale_add(stipple, a_st, _up(rng.uniform(0.5, 4.0) * mid, h, w), out_height)
    if bare or rng.random() < 0.2:  # trowel / knockdown relief
        knock = noise.field(
            rng, (h, w), rng.uniform(8, 30), beta=1, fn=lambda n: noise.smoothstep(0.3, 0.9, n)
        )
        height = cv2.scaleAdd(knock, rng.uniform(1.0, 4.0), height, dst=height)
    gloss = 0.0 if bare else float(rng.choice([0.02, 0.05, 0.12, 0.25], p=[0.4, 0.3, 0.2, 0.1]))
    return Layer(
        albedo.astype(np.float32, copy=False), height.astype(np.float32, copy=False), gloss, "paint"
    )


TILE_COLORS = [
    ((0.93, 0.93, 0.91), 0.3),  # white glazed
    ((0.88, 0.85, 0.78), 0.12),  # cream
    ((0.62, 0.62, 0.61), 0.12),  # mid grey porcelain
    ((0.80, 0.78, 0.74), 0.1),  # light grey/beige
    ((0.74, 0.64, 0.52), 0.08),  # beige / sand
    ((0.22, 0.22, 0.23), 0.06),  # black/anthracite
    ((0.45, 0.58, 0.66), 0.06),  # blue
    ((0.55, 0.63, 0.53), 0.04),  # green
    ((0.55, 0.40, 0.28), 0.06),  # wood-look / terracotta
    ((0.75, 0.72, 0.70), 0.06),  # marble grey-white
]


def _tile_grid(rng: np.random.Generator, h: int, w: int):
    pitch_x = float(np.exp(rng.uniform(np.log(36), np.log(520))))
    shape = rng.choice(["square", "rect", "subway", "plank"], p=[0.45, 0.25, 0.2, 0.1])
    aspect = {
        "square": 1.0,
        "rect": rng.choice([0.5, 2.0 / 3.0]),
        "subway": 1 / 3.0 if rng.random() < 0.3 else 0.5,
        "plank": rng.uniform(0.15, 0.25),
    }[shape]
    pitch_y = pitch_x * aspect
    if rng.random() < 0.3:  # vertical orientation
        pitch_x, pitch_y = pitch_y, pitch_x
    pitch_x, pitch_y = max(pitch_x, 12.0), max(pitch_y, 12.0)
    bond = 0.0
    if shape in ("subway", "plank") or rng.random() < 0.2:
        bond = float(rng.choice([0.5, 1.0 / 3.0, 0.25]))
    grout_w = float(np.clip(min(pitch_x, pitch_y) * rng.uniform(0.01, 0.05), 0.8, 8.0))
    # Plain floats: a numpy float64 scalar would silently promote every grid array to float64.
    return float(pitch_x), float(pitch_y), bond, grout_w


def render_tiles(
    rng: np.random.Generator,
    h: int,
    w: int,
    out: np.ndarray | None = None,
    out_height: np.ndarray | None = None,
) -> Layer:
    """Ceramic/porcelain tiles in a grid or running bond with grout, glaze and patterns."""
    px, py, bond, gw = _tile_grid(rng, h, w)
    ox, oy = rng.uniform(0, px), rng.uniform(0, py)
    # Separable grid: rows depend on y only; columns on x and the row's bond shift (<= 4 kinds).
    half = gw / 2.0
    y1d = np.arange(h, dtype=np.float32)
    x1d = np.arange(w, dtype=np.float32)
    rowf = (y1d + oy) / py
    rowfl = np.floor(rowf)
    row = rowfl.astype(np.int32)
    fy = (rowf - rowfl) * py  # float32 throughout (float32 - int32 would give float64)
    dy = np.minimum(fy, py - fy)
    kinds = int(round(1.0 / bond)) if bond else 1
    sidx = row % kinds
    col_t, dx_t = [], []
    for k in range(kinds):
        colf = (x1d + ox + ((k * bond) % 1.0) * px) / px
        colfl = np.floor(colf)
        col_k = colfl.astype(np.int32)
        fx = (colf - colfl) * px
        col_t.append(col_k)
        dx_t.append(np.minimum(fx, px - fx))
    col_tab, dx_tab = np.stack(col_t), np.stack(dx_t)
    face_y = noise.smoothstep(half - 0.5, half + 0.5, dy)
    face_x = noise.smoothstep(half - 0.5, half + 0.5, dx_tab)
    face = face_y[:, None] * face_x[sidx]  # 1 on tile face, 0 in grout

    nrow = int(np.ceil((h + oy) / py)) + 2
    ncol = int(np.ceil((w + ox + px) / px)) + 2
    colors = np.array([c for c, _ in TILE_COLORS])
    p = np.array([q for _, q in TILE_COLORS])
    base = _jitter(rng, colors[int(rng.choice(len(colors), p=p / p.sum()))], 0.04)
    mosaic = px < 60 and py < 60 and rng.random() < 0.3
    var = rng.uniform(0.005, 0.03)
    tile_rgb = base[None, None, :] * (1.0 + rng.normal(0, var, (nrow, ncol, 1))).astype(np.float32)
    if mosaic:  # 2-3 shades mixed per tile
        shades = np.stack([_jitter(rng, base, 0.12) for _ in range(3)])
        tile_rgb = shades[rng.integers(0, 3, (nrow, ncol))].astype(np.float32)
    # Per-tile values are gathered one tile row at a time (a strip of width w per tile row and
    # bond kind), then whole image rows are copied from the strips: same values as a per-pixel
    # gather over (h, w) indices, far fewer random reads.
    rows_c = np.clip(row, 0, nrow - 1)
    cols_c = np.clip(col_tab, 0, ncol - 1)  # (kinds, w)
    r_lo = int(rows_c.min())
    r_ids = np.arange(r_lo, int(rows_c.max()) + 1)
    strip_of_y = rows_c - r_lo  # image row -> strip index

    def per_tile(vals: np.ndarray) -> np.ndarray:
        """(nrow, ncol, ...) per-tile values -> (h, w, ...) image, row strips gathered."""
        strips = vals[r_ids[:, None], cols_c[r_ids % kinds]]  # (n_strips, w, ...)
        return strips[strip_of_y]

    # Colour planes (one per channel): three (h, w) passes are cheaper than (h, w, 3) broadcasts.
    planes = [per_tile(np.ascontiguousarray(tile_rgb[..., k])) for k in range(3)]
    ys = y1d[:, None]
    xs = x1d[None, :]

    pattern = rng.choice(
        ["plain", "speckle", "marble", "stone", "wood", "cement"],
        p=[0.35, 0.15, 0.15, 0.15, 0.1, 0.1],
    )
    pat: np.ndarray
    if pattern == "speckle":
        n = noise.field(rng, (h, w), rng.uniform(0.7, 1.5), beta=0)
        pat = 1.0 - rng.uniform(0.05, 0.25) * noise.smoothstep(1.2, 2.2, np.abs(n))
    elif pattern == "marble":
        # Long flowing veins: a warped stripe field, thin where the stripe crosses zero.
        n = noise.field(rng, (h, w), rng.uniform(80, 250), beta=2)
        n2 = noise.field(rng, (h, w), rng.uniform(10, 30), beta=1)
        ang = rng.uniform(0, np.pi)
        u = xs * float(np.cos(ang)) + ys * float(np.sin(ang))
        v = np.abs(np.sin(u / rng.uniform(60, 200) + rng.uniform(0.8, 1.6) * n + 0.15 * n2))
        # Soft, fairly wide veins that fade in and out at large scale (not hairline-like).
        fade = noise.field(
            rng, (h, w), rng.uniform(60, 150), beta=2, fn=lambda n: noise.smoothstep(-0.8, 0.6, n)
        )
        veins = noise.smoothstep(rng.uniform(0.06, 0.16), 0.0, v) * fade
        veins = cv2.GaussianBlur(veins, (0, 0), rng.uniform(0.8, 2.0))
        vein_c = (
            _rgb(rng.uniform(0.25, 0.6) * np.ones(3))
            if rng.random() < 0.8
            else _rgb((0.65, 0.55, 0.35))
        )
        a = rng.uniform(0.15, 0.45) * veins
        vc = vein_c.reshape(3)
        planes = [pl * (1 - a) + vc[k] * a for k, pl in enumerate(planes)]
        pat = 1.0 + 0.04 * noise.field(rng, (h, w), 40, beta=2)
    elif pattern == "stone":
        sc, amp = rng.uniform(6, 40), rng.uniform(0.04, 0.12)
        pat = noise.field(rng, (h, w), sc, beta=1, fn=lambda n: 1.0 + amp * n)
    elif pattern == "wood":  # wood-look porcelain: grain stripes along the plank's long side
        along_x = px >= py
        warp = noise.field(
            rng, (h, w), rng.uniform(20, 60), beta=2, stretch=6.0 if along_x else 1 / 6.0
        )
        coord = ys if along_x else xs
        grain = np.sin(coord / rng.uniform(2.0, 6.0) + rng.uniform(2, 6) * warp)
        fine = noise.field(rng, (h, w), 1.0, beta=0, stretch=10.0 if along_x else 0.1)
        pat = 1.0 + rng.uniform(0.04, 0.12) * grain + 0.03 * fine
    elif pattern == "cement":
        sc, amp = rng.uniform(20, 80), rng.uniform(0.04, 0.1)
        n = noise.field(rng, (h, w), sc, beta=2, fn=lambda n: 1.0 + amp * n)
        pat = cv2.scaleAdd(noise.field(rng, (h, w), 1.0, beta=0), 0.03, n)
    else:
        amp = rng.uniform(0.003, 0.012)
        pat = noise.field(rng, (h, w), rng.uniform(1, 6), beta=1, fn=lambda n: 1.0 + amp * n)

    grout = _jitter(
        rng,
        [(0.85, 0.84, 0.80), (0.55, 0.55, 0.54), (0.3, 0.3, 0.31), (0.75, 0.70, 0.62)][
            int(rng.choice(4, p=[0.45, 0.3, 0.1, 0.15]))
        ],
        0.04,
    )
    grout_tex = 1.0 + 0.06 * noise.field(rng, (h, w), 1.2, beta=0)
    dirt_amp = rng.uniform(0.0, 0.15)
    dirt = noise.field(
        rng, (h, w), 25, beta=2, fn=lambda n: 1.0 - dirt_amp * noise.smoothstep(-0.5, 1.5, n)
    )
    # Cushion edge: tile face slightly darker in the last pixels before the grout.
    edge_w = rng.uniform(0.5, 3.0)
    ca = rng.uniform(0.0, 0.12)
    cush_y = 1.0 - ca * (1.0 - noise.smoothstep(half, half + edge_w, dy))
    cush_x = 1.0 - ca * (1.0 - noise.smoothstep(half, half + edge_w, dx_tab))
    # face x cushion, both separable: one outer product of the 1-D profiles
    f = (face_y * cush_y)[:, None] * (face_x * cush_x)[sidx]
    # One blend: tile colour x pattern x face mask + grout colour x texture x grout mask.
    on_tile = pat * f
    on_grout = grout_tex * dirt * (1.0 - f)
    for k, pl in enumerate(planes):
        pl *= on_tile
        cv2.scaleAdd(on_grout, float(grout[k]), pl, dst=pl)  # pl += grout[k] * on_grout
        np.clip(pl, 0, 1, out=pl)
    albedo = cv2.merge(planes) if out is None else cv2.merge(planes, dst=out)
    # Relief: grout recessed; tiles set very slightly unevenly (tiny steps at joints).
    offs = rng.normal(0, 0.25, nrow * ncol).astype(np.float32)
    height = np.multiply(
        per_tile(offs.reshape(nrow, ncol) + np.float32(rng.uniform(0.8, 2.0))), face, out=out_height
    )

    body = _jitter(
        rng,
        [(0.88, 0.85, 0.78), (0.78, 0.55, 0.42), (0.80, 0.80, 0.78)][int(rng.integers(3))],
        0.03,
    )
    # Face rectangles of every tile that reaches the layer, row by row (vectorised).
    r_i = np.arange(nrow, dtype=np.float64)[:, None]
    c_i = np.arange(ncol, dtype=np.float64)[None, :]
    sh = np.remainder(r_i * bond, 1.0) * px if bond else np.zeros_like(r_i)
    ty0 = np.broadcast_to(r_i * py - oy + half, (nrow, ncol))
    ty1 = np.broadcast_to((r_i + 1) * py - oy - half, (nrow, ncol))
    tx0 = c_i * px - ox - sh + half
    tx1 = (c_i + 1) * px - ox - sh - half
    keep = (ty1 >= 0) & (ty0 <= h) & (tx1 >= 0) & (tx0 <= w)
    boxes = np.round(np.stack([tx0[keep], ty0[keep], tx1[keep], ty1[keep]], 1)).astype(np.int64)
    tiles = TileSet(boxes, tile_rgb[keep].reshape(-1, 3).astype(np.float32), _t3(body))
    gloss = float(rng.choice([0.1, 0.3, 0.6, 0.9], p=[0.2, 0.25, 0.3, 0.25]))
    # Each tile sits at a slightly different angle, so a reflection breaks up tile by tile.
    per_tile_gloss = rng.uniform(0.4, 1.6, nrow * ncol).astype(np.float32)
    sheen = per_tile(per_tile_gloss.reshape(nrow, ncol)) * face
    return Layer(
        albedo,
        height,
        gloss,
        "tiles",
        tiles,
        _t3(grout),
        sheen.astype(np.float32, copy=False),
    )


def render_concrete(
    rng: np.random.Generator,
    h: int,
    w: int,
    out: np.ndarray | None = None,
    out_height: np.ndarray | None = None,
) -> Layer:
    """Cast concrete or screed: cloudy tone, grain, bug-hole pores, formwork joints, tie holes."""
    g = rng.uniform(0.45, 0.72)
    tint = rng.normal(0, 0.008, 3)
    base = np.clip(g + tint, 0, 1).astype(np.float32)
    # The cloudy tone (features >= 30 px) is made on the 1/LOW grid and upscaled once.
    c_scale, c_amp = rng.uniform(30, 150), rng.uniform(0.04, 0.12)
    cloud = noise.field(
        rng, (-(-h // LOW), -(-w // LOW)), c_scale / LOW, beta=2, fn=lambda n: 1.0 + c_amp * n
    )
    mid = noise.field(rng, (h, w), rng.uniform(4, 12), beta=1)
    grain = noise.field(rng, (h, w), rng.uniform(0.7, 1.4), beta=0)
    shade: np.ndarray = cv2.scaleAdd(mid, rng.uniform(0.01, 0.05), _up(cloud, h, w))
    shade = cv2.scaleAdd(grain, rng.uniform(0.02, 0.06), shade)
    height: np.ndarray = _scale_add(grain, 0.6, 1.5 * mid, out_height)
    kind = rng.choice(["formed", "screed", "ground"], p=[0.45, 0.35, 0.2])
    if kind == "ground":  # polished/ground slab showing aggregate
        agg = noise.field(rng, (h, w), rng.uniform(3, 8), beta=0)
        a = noise.smoothstep(0.8, 1.3, agg)
        shade = shade * (1 - 0.25 * a) + a * rng.uniform(0.9, 1.3) * 0.25
    if kind == "screed":  # trowel swirls
        sw = noise.field(rng, (h, w), rng.uniform(20, 60), beta=2)
        arcs = np.sin(sw * rng.uniform(6, 14))
        shade += rng.uniform(0.01, 0.04) * arcs
        height += 0.8 * arcs
    # Pores, formwork joints and tie holes darken the shade (one grey factor map); the colour
    # image is made once at the end.
    n_pores = int(rng.integers(20, 500)) if kind != "screed" else int(rng.integers(0, 80))
    if n_pores:
        # Pore density: a smooth field, read only at the candidate points (at 1/8 size).
        dens = noise.field(rng, ((h + 7) // 8, (w + 7) // 8), 10, beta=2)
        pts = rng.uniform(0, 1, (n_pores * 2, 2)) * (w, h)
        keep = dens[(pts[:, 1] / 8).astype(int), (pts[:, 0] / 8).astype(int)] > rng.uniform(
            -0.5, 0.5
        )
        pts = pts[keep][:n_pores]
        pore = np.zeros((h, w), np.uint8)
        k = len(pts)
        radii = np.clip(rng.gamma(1.5, 0.8, k), 0.5, 5.0)
        # Ellipse centres, axes (1/4 px) and angles for every pore, drawn in one loop of cv2 calls.
        cx, cy = (pts[:, 0] * 4).astype(int).tolist(), (pts[:, 1] * 4).astype(int).tolist()
        ax = (radii * 4).astype(int).tolist()
        ay = (radii * rng.uniform(2.5, 4, k)).astype(int).tolist()
        ang = rng.uniform(0, 180, k).tolist()
        for i in range(k):
            cv2.ellipse(
                pore, (cx[i], cy[i]), (ax[i], ay[i]), ang[i], 0, 360, 255, -1, cv2.LINE_AA, 2
            )
        # pf = blur / 255; the factors looked up from the 8-bit blur (same float32 values)
        p8 = cv2.GaussianBlur(pore, (0, 0), 0.6)
        shade *= cv2.LUT(p8, 1.0 - rng.uniform(0.3, 0.6) * UNIT)
        height -= cv2.LUT(p8, 3.0 * UNIT)
    if kind == "formed" and rng.random() < 0.7:  # formwork panel/board joints and tie holes
        horiz = rng.random() < 0.7
        spacing = rng.uniform(60, 400)
        off = rng.uniform(0, spacing)
        jl = np.zeros((h, w), np.uint8)
        pos = off
        lim = h if horiz else w
        while pos < lim:
            p0 = int((pos + rng.normal(0, 1.5)) * 4)
            p1 = int((pos + rng.normal(0, 1.5)) * 4)
            if horiz:
                cv2.line(jl, (0, p0), (w * 4, p1), 255, int(rng.integers(1, 3)), cv2.LINE_AA, 2)
            else:
                cv2.line(jl, (p0, 0), (p1, h * 4), 255, int(rng.integers(1, 3)), cv2.LINE_AA, 2)
            pos += spacing
        j8 = cv2.GaussianBlur(jl, (0, 0), rng.uniform(0.5, 1.5))
        sign = 1.0 if rng.random() < 0.6 else -1.0
        shade *= cv2.LUT(j8, 1.0 - sign * rng.uniform(0.05, 0.2) * UNIT)
        height += cv2.LUT(j8, sign * 1.5 * UNIT)
        if rng.random() < 0.5:
            sp = rng.uniform(90, 300)
            tie = np.zeros((h, w), np.uint8)
            for yy in np.arange(rng.uniform(0, sp), h, sp):
                for xx in np.arange(rng.uniform(0, sp), w, sp):
                    cv2.circle(
                        tie,
                        (int(xx * 4), int(yy * 4)),
                        int(rng.uniform(4, 10) * 4),
                        255,
                        -1,
                        cv2.LINE_AA,
                        2,
                    )
            t8 = cv2.GaussianBlur(tie, (0, 0), 1.0)
            shade *= cv2.LUT(t8, 1.0 - rng.uniform(-0.1, 0.4) * UNIT)
            height -= cv2.LUT(t8, 2.0 * UNIT)
    albedo = colour_times(base, shade, out)
    return Layer(
        np.clip(albedo, 0, 1, out=albedo),
        height.astype(np.float32, copy=False),
        float(rng.uniform(0.0, 0.08)),
        "concrete",
    )


def render_paving(
    rng: np.random.Generator,
    h: int,
    w: int,
    out: np.ndarray | None = None,
    out_height: np.ndarray | None = None,
) -> Layer:
    """Outdoor paving: asphalt with aggregate, or broom-finished concrete with saw-cut joints."""
    if rng.random() < 0.55:
        g = rng.uniform(0.18, 0.4)
        base = np.clip(g + rng.normal(0, 0.004, 3), 0, 1).astype(np.float32)
        s = rng.uniform(3.0, 10.0)  # aggregate size in px
        agg = noise.field(rng, (h, w), s, beta=1)
        tone = noise.field(rng, (h, w), s * 0.7, beta=0)
        agg2 = noise.field(rng, (h, w), s * 0.4, beta=0)
        # Stones: about half the surface, each with its own brightness; dark binder and voids between.
        stones = noise.smoothstep(-0.1, 0.5, agg)
        voids = noise.smoothstep(1.2, 2.2, -agg2) * (1.0 - stones)
        cloud = noise.field(rng, (h, w), rng.uniform(50, 200), beta=2)
        shade = (
            1.0
            + stones * (rng.uniform(0.2, 0.6) + 0.25 * tone)
            - rng.uniform(0.3, 0.6) * voids
            + 0.08 * cloud
        )
        albedo = colour_times(base, shade, out)
        height = np.subtract(2.0 * stones, 2.0 * voids, out=out_height)
        return Layer(
            np.clip(albedo, 0, 1, out=albedo),
            height.astype(np.float32, copy=False),
            0.0,
            "paving",
        )
    layer = render_concrete(rng, h, w, out, out_height)
    across = rng.random() < 0.5  # broom strokes along y instead of x (any layer shape)
    broom = noise.field(
        rng, (w, h) if across else (h, w), rng.uniform(1.0, 2.0), beta=0, stretch=rng.uniform(8, 25)
    )
    if across:
        broom = np.ascontiguousarray(broom.T)
    layer.albedo *= gray3(1.0 + rng.uniform(0.02, 0.06) * broom)
    layer.height += 0.8 * broom
    # Saw-cut / slab joints: straight, dark, uniform (unlabelled).
    jl = np.zeros((h, w), np.uint8)
    sp = rng.uniform(150, 500)
    for pos in np.arange(rng.uniform(0, sp), max(h, w), sp):
        cv2.line(
            jl,
            (0, int(pos * 4)),
            (w * 4, int((pos + rng.normal(0, 3)) * 4)),
            255,
            int(rng.integers(4, 12)),
            cv2.LINE_AA,
            2,
        )
        if rng.random() < 0.6:
            cv2.line(
                jl,
                (int(pos * 4), 0),
                (int((pos + rng.normal(0, 3)) * 4), h * 4),
                255,
                int(rng.integers(4, 12)),
                cv2.LINE_AA,
                2,
            )
    j8 = cv2.GaussianBlur(jl, (0, 0), 0.7)  # the joint map x 255
    layer.albedo *= cv2.LUT(
        cv2.cvtColor(j8, cv2.COLOR_GRAY2RGB), 1.0 - rng.uniform(0.3, 0.6) * UNIT
    )
    layer.height -= cv2.LUT(j8, 2.0 * UNIT)
    layer.material = "paving"
    return layer


def render_wood(
    rng: np.random.Generator,
    h: int,
    w: int,
    along_x: bool = True,
    out: np.ndarray | None = None,
    out_height: np.ndarray | None = None,
) -> Layer:
    """Wood grain (floor boards, skirting, door frames): unlabelled dark streaks that look crack-like."""
    base = _jitter(
        rng,
        [(0.62, 0.45, 0.30), (0.78, 0.64, 0.48), (0.45, 0.30, 0.20), (0.85, 0.76, 0.62)][
            int(rng.integers(4))
        ],
        0.05,
    )
    hh, ww = (h, w) if along_x else (w, h)
    n = noise.field(rng, (hh, ww), rng.uniform(4, 12), beta=1, stretch=rng.uniform(10, 30))
    rings = np.sin(n * rng.uniform(3, 7))
    fine = noise.field(rng, (hh, ww), 0.8, beta=0, stretch=20)
    streak = noise.smoothstep(0.7, 1.0, rings)
    shade = 1.0 + 0.08 * rings + 0.05 * fine - rng.uniform(0.1, 0.35) * streak
    # Boards
    bw = rng.uniform(60, 200)
    ys = np.arange(hh, dtype=np.float32)[:, None]
    board = np.floor(ys / bw).astype(np.int32)
    bshade = 1.0 + rng.normal(0, 0.06, board.max() + 2)[board]
    gap = np.abs(((ys + bw / 2) % bw) - bw / 2)
    shade = shade * bshade * (1.0 - 0.5 * (1.0 - noise.smoothstep(0.3, 1.3, gap)))
    if not along_x:
        shade = shade.T
    albedo = colour_times(base, shade, out)
    return Layer(
        np.clip(albedo, 0, 1, out=albedo),
        np.multiply(0.5, fine if along_x else fine.T, out=out_height),
        float(rng.uniform(0.05, 0.4)),
        "wood",
    )


RENDERERS = {
    "paint": render_paint,
    "tiles": render_tiles,
    "concrete": render_concrete,
    "paving": render_paving,
}
