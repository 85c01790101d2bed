"""The canvas every renderer paints into before lighting and the camera warp."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from datasets.synthetic.surfaces import TileSet


@dataclass
class Scene:
    """Albedo (C, C, 3) and relief height (C, C) float32, a material zone map and the tiles.

    ``zone`` holds an index into ``materials`` per pixel; ``gloss`` is a per-zone scalar.
    ``visible`` is the canvas quad the camera will see (uint8 0/1), used to place things;
    ``roi`` the box around it that is rendered and lit (outside it the canvas stays black).
    """

    albedo: np.ndarray
    height: np.ndarray
    zone: np.ndarray
    materials: list[str]
    gloss: list[float]
    tiles: TileSet | None = None
    grout: tuple[float, float, float] | None = None
    visible: np.ndarray | None = None
    sheen: np.ndarray | None = None  # per-pixel glare factor, None = uniform
    roi: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) rendered; None = all

    @property
    def size(self) -> int:
        return int(self.albedo.shape[0])

    def window(self, cx: float, cy: float, rx: float, ry: float) -> tuple[int, int, int, int]:
        """Integer crop (x0, y0, x1, y1) around a centre, clipped to the canvas; may be empty."""
        c = self.size
        x0 = int(np.clip(np.floor(cx - rx), 0, c))
        y0 = int(np.clip(np.floor(cy - ry), 0, c))
        x1 = int(np.clip(np.ceil(cx + rx), 0, c))
        y1 = int(np.clip(np.ceil(cy + ry), 0, c))
        return x0, y0, x1, y1


@dataclass
class Instance:
    """A rendered defect: its class and a boolean mask crop placed at (x0, y0) on the canvas.

    ``cue`` (bool, the mask's shape and place) is set when only part of the mask shows the
    defect: a hollow tile's mask is the whole tile, its cue the ring, cross, lifted edge, shadow
    or moved edge the renderer drew. Visibility is judged on the cue when there is one.
    """

    name: str
    mask: np.ndarray
    x0: int
    y0: int
    meta: dict = field(default_factory=dict)
    cue: np.ndarray | None = None
