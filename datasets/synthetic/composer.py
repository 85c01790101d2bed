"""Compose one synthetic photo: surfaces -> negatives -> defects -> light -> camera -> JPEG.

``render_sample(rng, 640)`` returns a :class:`Sample` whose boxes are the bounding boxes of the
defect masks after the perspective warp (masks are warped, never the boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import cv2
import numpy as np

from datasets.synthetic import camera, defects, negatives, surfaces
from datasets.synthetic._ops import gray3
from datasets.synthetic.config import COMPAT, SynthConfig
from datasets.synthetic.scene import Instance, Scene
from datasets.types import Box
from datasets.visibility import gray_step, line_contrast

REF_SIZE = 640
# The JPEG moves a label's gray step (against the developed frame's) by up to 3.4 levels at
# 640 px and 7.4 at 256 (benchmarks/label_visibility.py); closer than this to the threshold a
# label is judged on the decoded JPEG itself.
JPEG_MARGIN = 8.0
# Renderings of one photo at most (erase_unlabelled): an erased defect can take a kept one
# below the label rule with it (an overlap), which the next pass erases too.
MAX_PASSES = 3


@lru_cache(maxsize=1)
def default_config() -> SynthConfig:
    """The default (immutable) config, built once: building it reads configs/classes.yaml."""
    return SynthConfig()


@dataclass
class Sample:
    """A rendered photo: boxes in pixels, one bool (S, S) mask per box, the JPEG bytes.

    ``image`` is the RGB uint8 (S, S, 3) photo decoded from ``jpeg`` (what is saved, so the
    labels match it), decoded on first access: the dataset writer only needs the bytes.
    ``cues`` holds, per box, the bool (S, S) pixels that show the defect when only part of its
    mask does (a hollow tile's ring, lifted edge, shadow or moved edge), else None.
    """

    boxes: list[Box]
    masks: list[np.ndarray]
    jpeg: bytes
    meta: dict = field(default_factory=dict)
    cues: list[np.ndarray | None] = field(default_factory=list)

    @cached_property
    def image(self) -> np.ndarray:
        return camera.decode_jpeg(self.jpeg)


def _choose(rng: np.random.Generator, weights: dict[str, float], allowed=None) -> str | None:
    items = [(k, w) for k, w in weights.items() if w > 0 and (allowed is None or k in allowed)]
    if not items:
        return None
    p = np.array([w for _, w in items], np.float64)
    return items[int(rng.choice(len(items), p=p / p.sum()))][0]


def _plan(rng: np.random.Generator, cfg: SynthConfig) -> tuple[list[str], list[str]]:
    """Defect classes for the photo and the materials of its zones (1 or 2)."""
    classes: list[str] = []
    if rng.random() >= cfg.empty_fraction:
        lo, hi = cfg.defects_per_image
        k = int(rng.integers(lo, hi + 1))
        classes = [c for c in (_choose(rng, cfg.class_weights) for _ in range(k)) if c]
    tile_only = any(COMPAT[c] == ("tiles",) for c in classes)
    paint_only = any(COMPAT[c] == ("paint",) for c in classes)
    if tile_only:
        primary = "tiles"
    elif paint_only:
        primary = "paint"
    else:
        allowed = set(surfaces.RENDERERS)
        for c in classes:
            allowed &= set(COMPAT[c])
        primary = _choose(rng, cfg.surface_weights, allowed) or "paint"
    mats = [primary]
    rest = [c for c in classes if primary not in COMPAT[c]]
    if rest:  # a second zone for the classes the first material cannot hold
        allowed = set(surfaces.RENDERERS)
        for c in rest:
            allowed &= set(COMPAT[c])
        second = _choose(
            rng,
            {**cfg.surface_weights, "paint": max(cfg.surface_weights.get("paint", 0.0), 0.1)},
            allowed,
        )
        mats.append(second or "paint")
    elif rng.random() < cfg.second_zone_rate:
        other = _choose(rng, {"paint": 1.0, "tiles": 1.0, "concrete": 0.5, "wood": 0.7}, None)
        if other and other != primary:
            mats.append(other)
    if rng.random() < 0.5:
        mats.reverse()
    return classes, mats


def _zones(rng: np.random.Generator, c: int, n: int) -> np.ndarray:
    """Zone map: 0 everywhere, or a split (wainscot line, floor/wall corner) into 0 and 1."""
    if n == 1:
        return np.zeros((c, c), np.uint8)
    t = np.arange(c, dtype=np.float32)
    pos = rng.uniform(0.3, 0.7) * c
    tilt = rng.normal(0, 0.05)
    horizontal = rng.random() < 0.7  # wainscot / floor line; else a wall corner
    # The split line's position along the other axis, then one comparison pass.
    line = (pos + tilt * (t - c / 2)).astype(np.float32)
    z = t[:, None] > line[None, :] if horizontal else t[None, :] > line[:, None]
    if rng.random() >= 0.5:
        np.logical_not(z, out=z)
    return z.view(np.uint8)


def _roi(quad: np.ndarray, c: int, margin: int = 3) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the canvas box the camera sees (``quad``) plus a bilinear margin."""
    x0 = int(max(0, np.floor(quad[:, 0].min()) - margin))
    y0 = int(max(0, np.floor(quad[:, 1].min()) - margin))
    x1 = int(min(c, np.ceil(quad[:, 0].max()) + margin + 1))
    y1 = int(min(c, np.ceil(quad[:, 1].max()) + margin + 1))
    return x0, y0, x1, y1


def _zone_box(zr: np.ndarray, k: int, least: int = 16) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the pixels of zone ``k`` in ``zr`` (the whole of it for a
    single zone), grown to at least ``least`` px a side inside ``zr``."""
    h, w = zr.shape
    if k == 0 and not zr.any():
        return 0, 0, w, h
    bx, by, bw, bh = cv2.boundingRect((zr == k).view(np.uint8))
    bw, bh = max(bw, min(least, w)), max(bh, min(least, h))
    bx, by = min(bx, w - bw), min(by, h - bh)
    return bx, by, bx + bw, by + bh


def _canvas(c: int, roi: tuple[int, int, int, int], ch: int, fill: float) -> np.ndarray:
    """An uninitialised float32 (c, c) or (c, c, ch) canvas whose pixels outside ``roi`` are
    ``fill`` (the roi itself is left for the caller to fill)."""
    x0, y0, x1, y1 = roi
    a = np.empty((c, c, ch) if ch else (c, c), np.float32)
    a[:y0] = fill
    a[y1:] = fill
    a[y0:y1, :x0] = fill
    a[y0:y1, x1:] = fill
    return a


def _junction(albedo: np.ndarray, zr: np.ndarray, sigma: float, dark: float) -> None:
    """Darken ``albedo`` (in place) by ``1 - dark * blur(edge, sigma)`` where ``edge`` is the
    1-px boundary of the zone map ``zr``: computed on the band around the boundary only (the
    factor is 1 further away than the blur reaches)."""
    edge = cv2.morphologyEx(zr, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    bx, by, bw, bh = cv2.boundingRect(edge)
    if bw == 0:
        return
    r = int(np.ceil(4.0 * sigma)) + 2  # GaussianBlur's float kernel reaches ~4 sigma
    h, w = zr.shape
    x0, y0 = max(0, bx - r), max(0, by - r)
    x1, y1 = min(w, bx + bw + r), min(h, by + bh + r)
    e = cv2.GaussianBlur(edge[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
    band = albedo[y0:y1, x0:x1]
    cv2.multiply(band, gray3(1.0 - dark * e), dst=band)


def _build_scene(
    rng: np.random.Generator, c: int, mats: list[str], roi: tuple[int, int, int, int]
) -> Scene:
    """The (c, c) canvas with its surfaces rendered inside ``roi`` only (what the camera sees;
    the rest stays black, nothing outside it reaches the photo)."""
    x0, y0, x1, y1 = roi
    zone = _zones(rng, c, len(mats))
    zr = zone[y0:y1, x0:x1]
    # Each material is rendered over the box its zone covers in the roi only (at least 16 px a
    # side, so an out-of-view zone still gets a valid layer and tile set).
    boxes = [_zone_box(zr, k) for k in range(len(mats))]
    # Layer 0 renders its albedo and height straight into the canvas (its box holds every
    # zone-0 pixel; a single zone's box is the whole roi); outside the roi the canvas is black
    # and flat.
    full_albedo = _canvas(c, roi, 3, 0.0)
    full_height = _canvas(c, roi, 0, 0.0)
    albedo = full_albedo[y0:y1, x0:x1]
    height = full_height[y0:y1, x0:x1]
    layers = []
    for k, (m, (bx0, by0, bx1, by1)) in enumerate(zip(mats, boxes, strict=True)):
        bh, bw = by1 - by0, bx1 - bx0
        out = albedo[by0:by1, bx0:bx1] if k == 0 else None
        out_h = height[by0:by1, bx0:bx1] if k == 0 else None
        if m == "wood":
            lay = surfaces.render_wood(
                rng, bh, bw, along_x=rng.random() < 0.5, out=out, out_height=out_h
            )
        else:
            lay = surfaces.RENDERERS[m](rng, bh, bw, out=out, out_height=out_h)
        # Renderers honour out= (kept safe for any that would not).
        if out is not None and lay.albedo is not out:  # pragma: no cover
            out[:] = lay.albedo
        if out_h is not None and lay.height is not out_h:  # pragma: no cover
            out_h[:] = lay.height
        layers.append(lay)
    if len(layers) > 1:
        # Layer 1 is copied over layer 0 on the zone-1 pixels of its own box.
        # A visible junction (shadow line / sealant bead where the materials meet), and the
        # second plane facing the light differently (wall/floor corner).
        sig, dark, turn = rng.uniform(0.6, 2.0), rng.uniform(0.1, 0.4), rng.uniform(0.75, 1.1)
        cx0, cy0, cx1, cy1 = boxes[1]
        z1 = zr[cy0:cy1, cx0:cx1]
        lay1 = layers[1].albedo
        lay1 *= np.float32(turn)  # the layer's own array: only its zone-1 pixels are used
        cv2.copyTo(lay1, z1, albedo[cy0:cy1, cx0:cx1])  # writes into the canvas view
        cv2.copyTo(layers[1].height + np.float32(3.0), z1, height[cy0:cy1, cx0:cx1])
        _junction(albedo, zr, sig, dark)
    pad = (y0, c - y1, x0, c - x1)
    tiles = None
    grout = None
    full_sheen = None
    for k, (lay, (bx0, by0, bx1, by1)) in enumerate(zip(layers, boxes, strict=True)):
        if lay.material == "tiles":
            tiles = None if lay.tiles is None else lay.tiles.shifted(x0 + bx0, y0 + by0)
            grout = lay.grout
            if lay.sheen is not None:
                if len(layers) == 1:
                    full_sheen = cv2.copyMakeBorder(lay.sheen, *pad, cv2.BORDER_CONSTANT, value=1.0)
                else:  # no sheen (1) outside the tile zone
                    full_sheen = np.ones((c, c), np.float32)
                    view = full_sheen[y0 + by0 : y0 + by1, x0 + bx0 : x0 + bx1]
                    cv2.copyTo(lay.sheen, (zr[by0:by1, bx0:bx1] == k).view(np.uint8), view)
    return Scene(
        albedo=full_albedo,
        height=full_height,
        zone=zone,
        materials=[lay.material for lay in layers],
        gloss=[lay.gloss for lay in layers],
        tiles=tiles,
        grout=grout,
        sheen=full_sheen,
        roi=roi,
    )


def _place(
    rng: np.random.Generator, scene: Scene, allowed: tuple[str, ...]
) -> tuple[float, float, str] | None:
    ok = [i for i, m in enumerate(scene.materials) if m in allowed]
    if not ok:
        return None
    c = scene.size
    assert scene.visible is not None
    for _ in range(40):
        x, y = rng.uniform(0, c, 2)
        xi, yi = int(x), int(y)
        if scene.visible[yi, xi] and scene.zone[yi, xi] in ok:
            return float(x), float(y), scene.materials[int(scene.zone[yi, xi])]
    return None


def _in_photo(
    warped: tuple[np.ndarray, int, int], ref: int, imgsz: int, least: int = 4
) -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """A mask warped to the ``ref`` frame (:func:`camera.warp_mask`'s crop and offset) in the
    ``imgsz`` photo: ``(full, crop, x0, y0)``, the bool photo-sized mask, its tight crop and the
    crop's place; None when it has fewer than ``least`` pixels. A smaller photo keeps every
    output pixel the defect touches."""
    m, ox, oy = warped
    if ref != imgsz:
        full = np.zeros((ref, ref), bool)
        full[oy : oy + m.shape[0], ox : ox + m.shape[1]] = m
        full = cv2.resize(full.view(np.uint8), (imgsz, imgsz), interpolation=cv2.INTER_AREA) > 0
        ys, xs = np.nonzero(full)
    else:  # same pixels as np.nonzero(full), found in the small warped crop
        ys, xs = np.nonzero(m)
        ys, xs = ys + oy, xs + ox
    if len(xs) < least:
        return None
    x0, x1 = int(xs.min()), int(xs.max()) + 1
    y0, y1 = int(ys.min()), int(ys.max()) + 1
    if ref == imgsz:
        full = np.zeros((ref, ref), bool)
        full[oy : oy + m.shape[0], ox : ox + m.shape[1]] = m
    return full, full[y0:y1, x0:x1], x0, y0


OUTDOOR_NEGATIVES = ("hair", "pencil", "scratch", "smudge", "holes", "shadow", "joint", "trowel")


def _negatives(rng: np.random.Generator, scene: Scene, k: int) -> list[str]:
    names = list(negatives.NEGATIVES)
    if "paving" in scene.materials:  # no sockets, cables or tape on a pavement
        names = [n for n in names if n in OUTDOOR_NEGATIVES]
    w = np.array([negatives.NEGATIVES[n][1] for n in names])
    done = []
    for _ in range(k):
        n = names[int(rng.choice(len(names), p=w / w.sum()))]
        negatives.NEGATIVES[n][0](rng, scene)
        done.append(n)
    return done


def render_sample(
    rng: np.random.Generator, imgsz: int = 640, config: SynthConfig | None = None
) -> Sample:
    """Render one labelled synthetic photo of ``imgsz`` x ``imgsz`` pixels.

    With ``config.erase_unlabelled`` (the default) a defect that shows in the photo but gets no
    label (too faint for the label rule, a sliver at the frame's edge, too small) is erased: the
    photo is rendered again from the same random state without it, so nothing the photo shows
    as a defect is taught as background. ``meta["erased"]`` numbers them (parts in drawing
    order, for :func:`render_pass`), ``meta["erased_classes"]`` names their classes.

    Example: ``s = render_sample(np.random.default_rng(0)); s.image.shape == (640, 640, 3)``.
    """
    cfg = config or default_config()
    if not cfg.erase_unlabelled:
        return render_pass(rng, imgsz, cfg)
    start = rng.bit_generator.state
    erase: frozenset[int] = frozenset()
    for n in range(1, MAX_PASSES + 1):
        sample = render_pass(rng, imgsz, cfg, erase)
        sample.meta["passes"] = n
        more = frozenset(sample.meta["unlabelled"]) - erase
        if not more or n == MAX_PASSES:
            break
        erase |= more
        rng.bit_generator.state = start  # the same draws again: the same photo, minus those
    return sample


def _restore(scene: Scene, saved: tuple[np.ndarray, np.ndarray], gone: list[Instance]) -> None:
    """Undo what a renderer painted around the parts in ``gone`` (their masks grown by 8 px or
    two blister radii), from the albedo and height saved before it ran."""
    H, W = int(scene.height.shape[0]), int(scene.height.shape[1])
    where = np.zeros((H, W), bool)
    for p in gone:
        r = max(8, int(round(2 * float(p.meta.get("r0", 0)))))
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        m = cv2.dilate(np.pad(p.mask.astype(np.uint8), r), disk)  # origin (y0 - r, x0 - r)
        oy, ox = p.y0 - r, p.x0 - r
        y0, x0 = max(0, oy), max(0, ox)
        y1, x1 = min(H, oy + m.shape[0]), min(W, ox + m.shape[1])
        where[y0:y1, x0:x1] |= m[y0 - oy : y1 - oy, x0 - ox : x1 - ox] > 0
    scene.albedo[where] = saved[0][where]
    scene.height[where] = saved[1][where]


def render_pass(
    rng: np.random.Generator,
    imgsz: int,
    cfg: SynthConfig,
    erase: frozenset[int] = frozenset(),
) -> Sample:
    """One rendering of a photo from ``rng``'s state; the defects (parts, in drawing order)
    numbered in ``erase`` are drawn and undone, so every other draw stays as it was.
    ``meta["unlabelled"]`` numbers the parts that show in the photo without a label,
    ``meta["labelled"]`` each box's part (for :mod:`datasets.synthetic.replay`)."""
    ref = max(imgsz, REF_SIZE)  # scene scale is fixed by a 640-px photo; smaller = downscaled
    c = int(round(ref * cfg.canvas_margin))
    classes, mats = _plan(rng, cfg)
    H, quad = camera.homography(rng, c, ref)
    roi = _roi(quad, c)
    scene = _build_scene(rng, c, mats, roi)
    vis = np.zeros((c, c), np.uint8)
    cv2.fillConvexPoly(vis, np.round(quad).astype(np.int32), 1)
    scene.visible = vis

    lo, hi = cfg.negatives_per_image
    k_neg = int(rng.integers(lo, hi + 1))
    if rng.random() < 0.2 and "paving" not in scene.materials:
        negatives.trim(rng, scene)
    k_before = int(rng.integers(0, k_neg + 1))
    neg_names = _negatives(rng, scene, k_before)

    instances: list[tuple[int, Instance]] = []  # (number in drawing order, part)
    unplaced = []
    drawn: list[str] = []  # every part's class, in drawing order
    k = 0
    for name in classes:
        for _ in range(5):  # a few tries to find a spot
            spot = _place(rng, scene, COMPAT[name])
            if spot is None:
                continue
            x, y, mat = spot
            # a copy to undo from, while a part still to be erased may come of this call
            saved = (
                (scene.albedo.copy(), scene.height.copy()) if erase and max(erase) >= k else None
            )
            inst = defects.RENDERERS[name](rng, scene, x, y, material=mat)
            if inst is not None:
                ps = defects.parts(inst)  # a blister cluster: one per compact group
                gone = [p for i, p in enumerate(ps) if k + i in erase]
                if gone and saved is not None:
                    if len(gone) == len(ps):
                        scene.albedo[:], scene.height[:] = saved
                    else:
                        _restore(scene, saved, gone)
                instances += [(k + i, p) for i, p in enumerate(ps) if k + i not in erase]
                drawn += [p.name for p in ps]
                k += len(ps)
                break
        else:
            unplaced.append(name)
    # Thin occluders/look-alikes drawn after defects never cover them much: hair, pencil, scratch.
    neg_names += _negatives(rng, scene, k_neg - k_before)

    # The roi crop of the canvas, lit in place (the albedo is not needed after); illumination.
    lit, ill = camera.light(rng, scene, in_place=True)
    rx0, ry0 = roi[0], roi[1]
    shift = np.array([[1, 0, rx0], [0, 1, ry0], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(
        lit, H @ shift, (ref, ref), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if ref != imgsz:
        warped = cv2.resize(warped, (imgsz, imgsz), interpolation=cv2.INTER_AREA)
    bgr, quality = camera.develop(  # the warped frame is not needed after: developed in place
        rng,
        warped,
        cfg.jpeg_quality,
        camera.illumination_in_view(ill, H, c, ref),
        bgr=True,
        in_place=True,
    )
    jpeg = camera.encode_jpeg(bgr, quality, bgr=True)
    # Labels are judged on the developed frame's gray, and on the decoded JPEG's (decoded once,
    # only then) when that is within JPEG_MARGIN of the threshold; a thin line's contrast against
    # the texture is always taken on the decoded JPEG.
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if instances else None
    final: list[np.ndarray] = []

    boxes: list[Box] = []
    masks: list[np.ndarray] = []
    cues: list[np.ndarray | None] = []
    steps: list[float] = []
    lines: list[float | None] = []
    dropped = invisible = 0
    unlabelled: list[int] = []  # parts that show in the photo without a label
    labelled: list[int] = []  # each box's part (its number in drawing order)
    for idx, inst in instances:
        total = int(inst.mask.sum())
        inside = int(
            (
                inst.mask
                & vis[
                    inst.y0 : inst.y0 + inst.mask.shape[0], inst.x0 : inst.x0 + inst.mask.shape[1]
                ].astype(bool)
            ).sum()
        )
        res = camera.warp_mask(inst.mask, inst.x0, inst.y0, H, ref)
        # Keep a box when most of the defect is in view, or (long cracks) when plenty of it is.
        found = None if total == 0 or res is None else _in_photo(res, ref, imgsz)
        if found is None:  # nothing of it in the photo
            dropped += 1
            continue
        full, crop, bx0, by0 = found
        bx1, by1 = bx0 + crop.shape[1], by0 + crop.shape[0]
        if (inside / total < cfg.min_visible and inside < 60) or max(
            bx1 - bx0, by1 - by0
        ) < cfg.min_box_side * imgsz / ref:  # a sliver at the frame's edge, or too small
            dropped += 1
            unlabelled.append(idx)
            continue
        cue = None
        assert gray is not None
        judged: tuple[np.ndarray, int, int] | None = (crop, bx0, by0)
        if inst.cue is not None:  # judged on the pixels that show it; none in view: no label
            cres = camera.warp_mask(inst.cue, inst.x0, inst.y0, H, ref) if inst.cue.any() else None
            cfound = None if cres is None else _in_photo(cres, ref, imgsz, least=1)
            judged = None if cfound is None else cfound[1:]
            cue = None if cfound is None else cfound[0]
        step = 0.0 if judged is None else gray_step(gray, *judged)
        if judged is not None and abs(step - cfg.min_step) < JPEG_MARGIN and cfg.min_step > 0:
            if not final:
                final.append(camera.decode_gray(jpeg))
            step = gray_step(final[0], *judged)
        if step < cfg.min_step:
            invisible += 1
            unlabelled.append(idx)
            continue
        line = None
        if judged is not None and cfg.min_line_contrast > 0 and inst.name in cfg.line_classes:
            if not final:
                final.append(camera.decode_gray(jpeg))
            line = line_contrast(final[0], *judged)
            if line < cfg.min_line_contrast:  # a thin line lost in the surface's texture
                invisible += 1
                unlabelled.append(idx)
                continue
        boxes.append(Box(cfg.class_id(inst.name), float(bx0), float(by0), float(bx1), float(by1)))
        labelled.append(idx)
        masks.append(full)
        cues.append(cue)
        steps.append(round(step, 1))
        lines.append(None if line is None else round(line, 2))
    meta = {
        "materials": scene.materials,
        "planned": classes,
        "negatives": neg_names,
        "dropped": dropped,
        # defects drawn in view but too faint to label (min_step, min_line_contrast)
        "invisible": invisible,
        "unlabelled": unlabelled,  # parts in the photo without a label (numbers, drawing order)
        "labelled": labelled,  # each box's part number, in the order of the boxes
        "erased": sorted(erase),  # parts drawn and undone (config.erase_unlabelled), as numbered
        "erased_classes": [n for i, n in enumerate(drawn) if i in erase],
        "steps": steps,  # each box's gray step (levels) against the ring around it
        "lines": lines,  # each box's line contrast (line_classes), else None
        "unplaced": unplaced,
        "jpeg_quality": quality,
    }
    return Sample(boxes=boxes, masks=masks, jpeg=jpeg, meta=meta, cues=cues)


__all__ = ["Sample", "render_pass", "render_sample"]
