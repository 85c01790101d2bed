"""Cut a labelled dataset into model-sized tiles (``finishscan dataset tile``).

A detector trained at 320 px sees a 4000x3000 photo as ~170 tiles of 320 px
(``finishscan detect --tile auto``); trained on the same photo shrunk to 320 px it would
learn defects 12x smaller than it meets them. Tiling the training photos with the grid the
detector uses (:func:`detector.tiling.slice_grid`) keeps training and inference at one scale.

A label crossing a tile border is clipped by the defect's own pixels when the source has them
(a COCO file's ``segmentation``, RLE or polygons, e.g. the ``annotations.coco.json`` the
synthetic generator writes, see :func:`coco_masks`): the tile's box is the tight box of the
defect's pixels inside the tile, and the piece is dropped when fewer than ``min_pixels`` of them
fall inside, unless that is at least half of the defect (a small defect that is mostly in the
tile). A long diagonal crack crossing a tile corner thus gets a small box around the few pixels
that are there, or none, where its clipped box would cover most of the tile. A defect whose
annotation also has a ``cue`` mask (the pixels that show it: a hollow tile's lifted or shifted
edge and the inspector's ring, where its label covers the whole tile) is labelled in a tile only
when the tile holds at least ``min_pixels`` of its cue, or half of it: a tile showing only a
plain piece of a hollow tile gets no label. A piece cut by the tile's edge must also pass the
generator's label rule in its tile (:func:`datasets.visibility.is_visible`: a gray step of
``min_step`` levels against its ring, on its cue where it has one, and for ``line_classes`` a
line contrast of ``min_line_contrast`` against the texture), so a crack's faint end or a
piece lost in rough plaster gets no label. Without a mask a box is clipped to the
tile and kept when at least ``min_visible`` of its area (and ``min_side`` px on each side)
falls inside, else dropped.
Tiles keep their photo's split folder and take the photo's name as their group, so a later
``dataset split`` keeps the tiles of one photo together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from datasets.formats._common import atomic_dir, read_image, read_text, split_of, unique_names
from datasets.formats.coco import decode_segmentation
from datasets.formats.yolo import label_path_for, write_data_yaml, write_labels
from datasets.types import Box, Dataset, LabeledImage
from datasets.visibility import LINE_CLASSES, MIN_LINE_CONTRAST, MIN_STEP, is_visible
from detector.tiling import slice_grid
from finishscan.errors import DatasetError

__all__ = [
    "Clipped",
    "DefectMask",
    "DefectShape",
    "MAX_REDRAWS",
    "MIN_PIXELS",
    "PieceRule",
    "Redraw",
    "TileSummary",
    "clip_boxes",
    "clip_masks",
    "coco_masks",
    "coco_polygons",
    "tile_dataset",
    "tile_source",
    "tile_stem",
]

# A tile label needs this many of its defect's pixels in the tile (or half of the defect):
# see the tile_labels section of benchmarks/RESULTS.md for the counts behind it.
MIN_PIXELS = 24
# Redrawings of one tile at most: erasing a defect can leave an overlapping piece under the
# label rule, which the next redrawing erases too.
MAX_REDRAWS = 3

# The photo rendered again without the defects of the given boxes (indices), BGR.
Redraw = Callable[[frozenset[int]], np.ndarray]

Polygons = Sequence[Sequence[float]]  # one defect's rings, flat [x0, y0, x1, y1, ...]


_TILE_STEM = re.compile(r"^(?P<source>.+)_x\d+_y\d+$")


def tile_stem(stem: str, x0: int, y0: int) -> str:
    """The file stem of the tile at (x0, y0) of photo ``stem``: ``wall_x320_y0``."""
    return f"{stem}_x{x0}_y{y0}"


def tile_source(stem: str) -> str:
    """The photo a tile was cut from, by the tile's file stem (:func:`tile_stem`); any other
    stem is its own source.

    >>> tile_source("s777_000012_x320_y0"), tile_source("wall_03")
    ('s777_000012', 'wall_03')
    """
    m = _TILE_STEM.match(stem)
    return m["source"] if m else stem


@dataclass(frozen=True)
class TileSummary:
    photos: int
    tiles: int
    boxes_in: int  # boxes of the photos
    boxes_out: int  # boxes over all tiles (a box on a border can appear in two tiles)
    dropped: int  # box pieces dropped as too small a part of their box (or defect)
    by_pixels: int = 0  # tile boxes placed from their defect's pixels (the rest: box rule)
    dropped_pixels: int = 0  # of ``dropped``: pieces with too few defect pixels in the tile
    dropped_cue: int = 0  # pieces with defect pixels but too little of their cue (not in dropped)
    dropped_faint: int = 0  # cut pieces their tile does not show (PieceRule; not in dropped)
    erased: int = 0  # of those unlabelled pieces: erased (their tile cut from the photo redrawn)
    redrawn: int = 0  # tiles cut from a photo redrawn without a defect (``redraw``)


@dataclass(frozen=True)
class DefectMask:
    """One defect's pixels: ``mask`` (bool, H x W) placed at (x0, y0) of the photo, and
    optionally its ``cue`` (bool, same shape and place): the pixels that show the defect."""

    mask: np.ndarray
    x0: int
    y0: int
    cue: np.ndarray | None = None

    @property
    def pixels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def cue_pixels(self) -> int:
        return 0 if self.cue is None else int(np.count_nonzero(self.cue))

    @classmethod
    def from_full(cls, mask: np.ndarray, cue: np.ndarray | None = None) -> DefectMask | None:
        """The crop of photo-sized bool masks around their pixels; None when ``mask`` is empty.

        >>> m = np.zeros((4, 5), bool); m[1:3, 2] = True
        >>> d = DefectMask.from_full(m); (d.x0, d.y0, d.mask.shape)
        (2, 1, (2, 1))
        """
        if not mask.any():
            return None
        both = mask if cue is None else mask | cue
        cols, rows = np.flatnonzero(both.any(axis=0)), np.flatnonzero(both.any(axis=1))
        sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        return cls(
            mask[sl].copy(), int(cols[0]), int(rows[0]), None if cue is None else cue[sl].copy()
        )

    @classmethod
    def from_polygons(cls, polygons: Polygons) -> DefectMask | None:
        """The pixels of filled polygons, their union as in COCO (vertices at pixel centres, as
        cv2.findContours traces a mask: each vertex is a pixel of the defect); None when there
        are none.

        >>> DefectMask.from_polygons([[2, 1, 4, 1, 4, 2, 2, 2]]).mask.astype(int).tolist()
        [[1, 1, 1], [1, 1, 1]]
        """
        import cv2

        rings = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons if len(p) >= 2]
        if not rings:
            return None
        pts = np.concatenate(rings)
        x0, y0 = np.floor(pts.min(0)).astype(int)
        x1, y1 = np.floor(pts.max(0)).astype(int) + 1
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        one = np.empty_like(mask)
        for r in rings:  # one by one: overlapping rings are a union, not an even-odd fill
            one[:] = 0
            cv2.fillPoly(one, [np.round(r - (x0, y0)).astype(np.int32)], 1)
            mask |= one
        if not mask.any():
            return None
        return cls(mask.astype(bool), int(x0), int(y0))


def clip_boxes(
    boxes: list[Box], window: tuple[int, int, int, int], *, min_visible: float, min_side: float
) -> tuple[list[Box], int]:
    """Boxes of ``window`` (x0, y0, x1, y1) in its own coordinates, and how many were dropped.

    A box that touches the window is clipped; it is kept when the clipped area is at least
    ``min_visible`` of the box's area and both clipped sides are at least ``min_side`` px.

    >>> clip_boxes([Box(0, 90, 10, 130, 20)], (0, 0, 100, 100), min_visible=0.2, min_side=2)
    ([Box(class_id=0, x0=90, y0=10, x1=100, y1=20)], 0)
    >>> clip_boxes([Box(0, 95, 10, 135, 20)], (0, 0, 100, 100), min_visible=0.2, min_side=2)
    ([], 1)
    """
    wx0, wy0, wx1, wy1 = window
    kept: list[Box] = []
    dropped = 0
    for b in boxes:
        x0, y0 = max(b.x0, wx0), max(b.y0, wy0)
        x1, y1 = min(b.x1, wx1), min(b.y1, wy1)
        if x1 <= x0 or y1 <= y0:
            continue  # not in this tile at all
        area = (b.x1 - b.x0) * (b.y1 - b.y0)
        if (x1 - x0) * (y1 - y0) < min_visible * area or min(x1 - x0, y1 - y0) < min_side:
            dropped += 1
            continue
        kept.append(Box(b.class_id, x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0))
    return kept, dropped


class Clipped(NamedTuple):
    """What :func:`clip_masks` made of one window's boxes."""

    boxes: list[Box]  # in window coordinates
    dropped: int  # pieces dropped by the box rule or for too few defect pixels
    few: int  # of ``dropped``: too few defect pixels
    placed: int  # kept boxes placed by their defect's pixels
    no_cue: int = 0  # pieces with enough defect pixels but too little of their cue
    faint: int = 0  # cut pieces that fail the label rule in the window
    # boxes (indices) whose defect has pixels in the window but no label there: few, faint
    unshown: tuple[int, ...] = ()


@dataclass(frozen=True)
class PieceRule:
    """The label rule a cut piece must pass in its tile (:func:`datasets.visibility.is_visible`):
    a gray step of ``min_step`` levels, and for the class ids in ``line_ids`` a line contrast of
    ``min_line_contrast`` (0 turns that part off)."""

    min_step: float = MIN_STEP
    min_line_contrast: float = MIN_LINE_CONTRAST
    line_ids: frozenset[int] = frozenset()

    def shows(self, gray: np.ndarray, mask: np.ndarray, x0: int, y0: int, class_id: int) -> bool:
        """Whether ``gray`` shows the bool ``mask`` placed at (x0, y0) by this rule."""
        line = self.min_line_contrast if class_id in self.line_ids else 0.0
        return is_visible(gray, mask, x0, y0, min_step=self.min_step, min_line_contrast=line)


def _faint(
    gray: np.ndarray | None,
    rule: PieceRule | None,
    cut: bool,
    mask: np.ndarray,
    at: tuple[int, int],
    class_id: int,
) -> bool:
    """A cut piece the window's ``gray`` does not show by ``rule`` (False without either)."""
    return (
        cut and gray is not None and rule is not None and not rule.shows(gray, mask, *at, class_id)
    )


def clip_masks(
    boxes: list[Box],
    masks: Sequence[DefectMask | None],
    window: tuple[int, int, int, int],
    *,
    min_pixels: int,
    min_visible: float,
    min_side: float,
    gray: np.ndarray | None = None,
    rule: PieceRule | None = None,
) -> Clipped:
    """Like :func:`clip_boxes`, but a box with a mask is placed by its defect's pixels.

    A masked box's piece is the tight box of its pixels inside the window; it is kept when it
    has at least ``min_pixels`` of them or at least half of the defect's pixels, dropped
    otherwise, and ignored when the window holds none of them (even if the box reaches into
    it). A mask with a ``cue`` needs the same of its cue in the window (``min_pixels`` of the
    cue's pixels or half of them), else the piece is left out (counted in ``no_cue``). Given
    the window's ``gray`` pixels (2-D, the window's shape) and a ``rule``, a piece cut by the
    window's edge (some of its defect's pixels outside) is also left out when the window does
    not show it by the rule, judged on its cue's piece where it has a cue (counted in
    ``faint``). Boxes whose mask is None follow :func:`clip_boxes` (``min_visible``,
    ``min_side``). ``unshown`` lists the boxes whose defect has pixels in the window but no
    label there (too few pixels, or faint): what the tile shows of a defect unlabelled.
    """
    wx0, wy0, wx1, wy1 = window
    if gray is not None and gray.shape[:2] != (wy1 - wy0, wx1 - wx0):
        raise ValueError(f"gray {gray.shape[:2]} is not the window's {(wy1 - wy0, wx1 - wx0)}")
    kept: list[Box] = []
    dropped = few = placed = no_cue = faint = 0
    unshown: list[int] = []
    for j, (b, m) in enumerate(zip(boxes, masks, strict=True)):
        if m is None:
            k, d = clip_boxes([b], window, min_visible=min_visible, min_side=min_side)
            kept += k
            dropped += d
            continue
        mh, mw = m.mask.shape
        x0, y0 = max(m.x0, wx0), max(m.y0, wy0)
        x1, y1 = min(m.x0 + mw, wx1), min(m.y0 + mh, wy1)
        if x1 <= x0 or y1 <= y0:
            continue
        sub = m.mask[y0 - m.y0 : y1 - m.y0, x0 - m.x0 : x1 - m.x0]
        n = int(np.count_nonzero(sub))
        if n == 0:
            continue  # the box reaches into the tile, the defect does not
        if n < min_pixels and 2 * n < m.pixels:
            dropped += 1
            few += 1
            unshown.append(j)
            continue
        cue = None if m.cue is None else m.cue[y0 - m.y0 : y1 - m.y0, x0 - m.x0 : x1 - m.x0]
        if cue is not None:
            nc = int(np.count_nonzero(cue))
            if nc < min_pixels and 2 * nc < m.cue_pixels:
                no_cue += 1
                continue
        judged = sub if cue is None else cue  # a cut piece: does the window show it?
        if _faint(gray, rule, n < m.pixels, judged, (x0 - wx0, y0 - wy0), b.class_id):
            faint += 1
            unshown.append(j)
            continue
        cols = np.flatnonzero(sub.any(axis=0))
        rows = np.flatnonzero(sub.any(axis=1))
        kept.append(
            Box(
                b.class_id,
                float(x0 - wx0 + cols[0]),
                float(y0 - wy0 + rows[0]),
                float(x0 - wx0 + cols[-1] + 1),
                float(y0 - wy0 + rows[-1] + 1),
            )
        )
        placed += 1
    return Clipped(kept, dropped, few, placed, no_cue, faint, tuple(unshown))


@dataclass(frozen=True)
class DefectShape:
    """One defect's undecoded COCO ``segmentation`` (polygons or RLE) and optional ``cue`` on a
    ``height`` x ``width`` photo; :meth:`decode` gives its :class:`DefectMask`."""

    segmentation: Any
    height: int
    width: int
    cue: Any = None

    def decode(self) -> DefectMask | None:
        mask = decode_segmentation(self.segmentation, self.height, self.width)
        cue = None if self.cue is None else decode_segmentation(self.cue, self.height, self.width)
        return DefectMask.from_full(mask, cue)


def _shape_of(seg: object) -> bool:
    """Whether a ``segmentation`` holds a mask: RLE, or a non-empty list of polygons."""
    if isinstance(seg, dict):
        return "counts" in seg and "size" in seg
    return isinstance(seg, list) and bool(seg) and all(isinstance(p, list) for p in seg)


def coco_masks(path: Path, dataset: Dataset, *, tol: float = 1.0) -> dict[Path, list]:
    """Masks of ``dataset``'s boxes from a COCO file (``segmentation`` as polygons or RLE, and
    an optional ``cue`` in the same forms: :mod:`datasets.formats.coco`).

    Images are matched by path (``file_name`` against the COCO file's folder), boxes by class
    and a bbox within ``tol`` px, in order; crowd annotations (``iscrowd``) are not matched.
    Returns {image path: [:class:`DefectShape` or None per box]} for the images that have any;
    a box with no matching annotation with a mask gets None (box rule). Masks are decoded when
    tiled, one photo at a time.
    """
    path = Path(path)
    try:
        doc = json.loads(read_text(path, "COCO file"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from e
    try:
        cats = sorted(doc.get("categories") or [], key=lambda c: int(c["id"]))
        names = {int(c["id"]): str(c["name"]) for c in cats}
        files = {
            int(im["id"]): ((path.parent / str(im["file_name"])).resolve(), im)
            for im in doc["images"]
        }
        anns: dict[Path, list[tuple[str, tuple[float, ...], DefectShape]]] = {}
        for a in doc.get("annotations") or []:
            seg = a.get("segmentation")
            if a.get("iscrowd") or not _shape_of(seg):
                continue  # a crowd region, or no mask: box rule
            cue = a.get("cue")
            x, y, w, h = (float(v) for v in a["bbox"])
            file, im = files[int(a["image_id"])]
            shape = DefectShape(
                seg, int(im["height"]), int(im["width"]), cue if _shape_of(cue) else None
            )
            anns.setdefault(file, []).append(
                (names[int(a["category_id"])], (x, y, x + w, y + h), shape)
            )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DatasetError(f"{path}: not a COCO detection file with masks ({e})") from e
    out: dict[Path, list] = {}
    for im in dataset.images:
        cand = anns.get(Path(im.path).resolve())
        if not cand:
            continue
        used = [False] * len(cand)
        per: list[DefectShape | None] = []
        for b in im.boxes:
            name = dataset.names[b.class_id] if 0 <= b.class_id < len(dataset.names) else None
            hit = None
            for j, (cn, bb, _shape) in enumerate(cand):
                if (
                    not used[j]
                    and cn == name
                    and max(abs(u - v) for u, v in zip(bb, b.xyxy, strict=True)) <= tol
                ):
                    hit = j
                    break
            if hit is None:
                per.append(None)
            else:
                used[hit] = True
                per.append(cand[hit][2])
        if any(p is not None for p in per):
            out[im.path] = per
    return out


coco_polygons = coco_masks  # the former name (it read polygons only)


def _decode(shape: DefectShape | Polygons | None, where: Path) -> DefectMask | None:
    if shape is None:
        return None
    try:
        if isinstance(shape, DefectShape):
            return shape.decode()
        return DefectMask.from_polygons(shape)
    except DatasetError as e:
        raise DatasetError(f"{where}: {e}") from e


def _redrawn(
    first: Clipped,
    boxes: list[Box],
    masks: list[DefectMask | None],
    window: tuple[int, int, int, int],
    redraw: Redraw,
    photos: dict[frozenset[int], np.ndarray],
    clip: dict[str, Any],
    rule: PieceRule | None,
) -> tuple[Clipped, np.ndarray, int]:
    """The window's labels and pixels cut from the photo redrawn without the defects the window
    shows unlabelled (``first.unshown``, and any a redrawing leaves unlabelled next, up to
    :data:`MAX_REDRAWS` times), and how many defects were erased. ``photos`` caches the photo's
    redrawings by the boxes erased."""
    import cv2

    x0, y0, x1, y1 = window
    gone: set[int] = set()
    index = list(range(len(boxes)))  # the boxes of ``c``, as indices into ``boxes``
    c = first
    for _ in range(MAX_REDRAWS):
        gone |= {index[j] for j in c.unshown}
        key = frozenset(gone)
        if key not in photos:
            photos[key] = redraw(key)
        pixels = photos[key][y0:y1, x0:x1]
        index = [j for j in range(len(boxes)) if j not in gone]
        gray = None
        if rule is not None:
            gray = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        c = clip_masks(
            [boxes[j] for j in index],
            [masks[j] for j in index],
            window,
            gray=gray,
            rule=rule,
            **clip,
        )
        if not c.unshown:
            break
    return c, pixels, len(gone)


def tile_dataset(
    dataset: Dataset,
    out: Path,
    *,
    size: int = 320,
    overlap: float = 0.2,
    min_visible: float = 0.2,
    min_side: float = 3.0,
    min_pixels: int = MIN_PIXELS,
    min_step: float = MIN_STEP,
    min_line_contrast: float = MIN_LINE_CONTRAST,
    line_classes: Sequence[str] = LINE_CLASSES,
    polygons: Mapping[Path, Sequence[DefectShape | Polygons | None]] | None = None,
    keep_empty: float = 1.0,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
    redraw: Callable[[Path], Redraw | None] | None = None,
) -> TileSummary:
    """Write every photo of ``dataset`` as ``size`` x ``size`` PNG tiles in a YOLO folder.

    ``polygons`` ({image path: [mask or None per box]}, a mask being a :class:`DefectShape`
    from :func:`coco_masks` or a list of polygons) clips those boxes by their defect's pixels
    and cue (``min_pixels``, see :func:`clip_masks`), and keeps a piece cut by a tile's edge
    only if the tile shows it by the label rule (``min_step``, and ``min_line_contrast`` for
    the classes named in ``line_classes``; :class:`PieceRule`; 0 and 0 turn it off); the other
    boxes by ``min_visible`` and ``min_side``. Photos no larger than ``size`` are copied
    as one tile. ``keep_empty`` is the share of tiles without any box that is kept (chosen with
    ``seed``; 1.0 keeps all), since a wall photo cut into tiles is mostly clean wall. Tiles are
    PNG so the photo's JPEG is not compressed twice. The folder appears only when complete
    (nothing is written on an error).

    ``redraw`` (a photo's path -> a :data:`Redraw` of it, or None when it cannot be drawn
    again; e.g. :class:`datasets.synthetic.replay.Replay`) erases what a tile would show of a
    defect without a label: a tile holding such a piece (too few pixels, or faint there) is cut
    from the photo drawn again without that defect, so it does not teach a visible defect as
    background. Other tiles, and every label, stay as they were.
    """
    import cv2

    if size < 32:
        raise DatasetError(f"tile size must be at least 32 px, got {size}")
    if not 0.0 <= overlap < 1.0:
        raise DatasetError(f"overlap must be in [0, 1), got {overlap}")
    if not 0.0 < min_visible <= 1.0:
        raise DatasetError(f"min_visible must be in (0, 1], got {min_visible}")
    if min_pixels < 1:
        raise DatasetError(f"min_pixels must be at least 1, got {min_pixels}")
    if not 0.0 <= keep_empty <= 1.0:
        raise DatasetError(f"keep_empty must be in [0, 1], got {keep_empty}")
    if not (0.0 <= min_step <= 255.0 and 0.0 <= min_line_contrast <= 255.0):
        raise DatasetError(
            f"min_step and min_line_contrast must be in [0, 255], got {min_step}, "
            f"{min_line_contrast}"
        )
    rule = None
    if min_step > 0 or min_line_contrast > 0:
        ids = frozenset(dataset.names.index(n) for n in line_classes if n in dataset.names)
        rule = PieceRule(min_step, min_line_contrast, ids)
    if not dataset.images:
        raise DatasetError("the dataset has no images to tile")
    polygons = polygons or {}
    rng = np.random.default_rng(seed)
    stems = unique_names([im.path for im in dataset.images], key=lambda p: split_of(p))
    tiles = boxes_out = dropped = by_pixels = few = no_cue = faint = erased = redrawn = 0
    clip: dict[str, Any] = {
        "min_pixels": min_pixels,
        "min_visible": min_visible,
        "min_side": min_side,
    }
    splits: set[str] = set()
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for k, (im, name) in enumerate(zip(dataset.images, stems, strict=True)):
            img = read_image(im.path)  # BGR, EXIF orientation applied like the labels'
            h, w = img.shape[:2]
            if (w, h) != (im.width, im.height):
                raise DatasetError(
                    f"{im.path}: decoded size {w}x{h} differs from its labels' "
                    f"{im.width}x{im.height}"
                )
            polys = polygons.get(im.path)
            if polys is not None and len(polys) != len(im.boxes):
                raise DatasetError(
                    f"{im.path}: {len(polys)} polygon entries for {len(im.boxes)} boxes"
                )
            masks = [_decode(p, im.path) for p in polys or [None] * len(im.boxes)]
            gray = None  # the photo's gray, for the label rule on cut pieces
            if rule is not None and any(m is not None for m in masks):
                gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            split = split_of(im.path)
            splits.add(split)
            stem = Path(name).stem
            again: Redraw | None = None
            looked = False  # whether ``redraw`` was asked for this photo
            photos: dict[frozenset[int], np.ndarray] = {}  # its redrawings
            for x0, y0, x1, y1 in slice_grid(h, w, size, size, overlap).tolist():
                window = (x0, y0, x1, y1)
                c = clip_masks(
                    im.boxes,
                    masks,
                    window,
                    gray=None if gray is None else gray[y0:y1, x0:x1],
                    rule=rule,
                    **clip,
                )
                dropped += c.dropped
                few += c.few
                no_cue += c.no_cue
                faint += c.faint
                pixels = img[y0:y1, x0:x1]
                if redraw is not None and c.unshown and not looked:
                    again, looked = redraw(im.path), True
                if again is not None and c.unshown:
                    c, pixels, n_gone = _redrawn(
                        c,
                        im.boxes,
                        masks,
                        window,
                        again,
                        photos,
                        clip,
                        rule if gray is not None else None,
                    )
                    if pixels.shape != img[y0:y1, x0:x1].shape:
                        raise DatasetError(f"{im.path}: redrawn as {pixels.shape}, not {img.shape}")
                    erased += n_gone
                    redrawn += 1
                if not c.boxes and keep_empty < 1.0 and rng.random() >= keep_empty:
                    continue
                dst = tmp / "images" / split / f"{tile_stem(stem, x0, y0)}.png"
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(dst), pixels):
                    raise DatasetError(f"could not write tile {dst}")
                tile = LabeledImage(dst, x1 - x0, y1 - y0, c.boxes, group=stem)
                write_labels(tile, label_path_for(dst))
                tiles += 1
                boxes_out += len(c.boxes)
                by_pixels += c.placed
            if progress:
                progress(k + 1)
        order: list[str] = [s for s in ("train", "val", "test") if s in splits]
        order += sorted(splits - set(order))
        split_dirs: dict[str, str] = {s: f"images/{s}" for s in order}
        if "val" not in split_dirs:
            split_dirs["val"] = split_dirs[order[0]]  # ultralytics needs a val entry
        write_data_yaml(tmp, dataset.names, split_dirs)
    return TileSummary(
        photos=len(dataset.images),
        tiles=tiles,
        boxes_in=sum(len(im.boxes) for im in dataset.images),
        boxes_out=boxes_out,
        dropped=dropped,
        by_pixels=by_pixels,
        dropped_pixels=few,
        dropped_cue=no_cue,
        dropped_faint=faint,
        erased=erased,
        redrawn=redrawn,
    )
