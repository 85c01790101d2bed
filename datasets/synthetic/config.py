"""What the generator draws and how often: :class:`SynthConfig`.

Class balance is set by ``class_weights`` (by class name): every defect instance picks its
class independently with these weights, and the scene's surfaces are chosen to fit the picked
classes (a tile class and a paint class in one photo give a half-tiled wall), so the label
balance follows the weights up to the few boxes dropped after the camera warp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets.visibility import LINE_CLASSES, MIN_LINE_CONTRAST, MIN_STEP
from finishscan.classes import class_names
from finishscan.errors import ConfigError

# The surfaces each defect can appear on.
COMPAT: dict[str, tuple[str, ...]] = {
    "crack": ("paint", "tiles", "concrete", "paving"),
    "hollow_tile": ("tiles",),
    "tile_chip": ("tiles",),
    "paint_peeling": ("paint",),
    "paint_bubble": ("paint",),
    "stain": ("paint", "concrete"),
}
SURFACES = ("paint", "tiles", "concrete", "paving")


def _default_class_weights() -> dict[str, float]:
    return {
        "crack": 2.0,
        "hollow_tile": 1.0,
        "tile_chip": 1.0,
        "paint_peeling": 1.0,
        "paint_bubble": 1.0,
        "stain": 1.0,
    }


def _default_surface_weights() -> dict[str, float]:
    return {"paint": 0.35, "tiles": 0.3, "concrete": 0.2, "paving": 0.15}


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the synthetic generator; the constructor validates them.

    Example: ``SynthConfig(class_weights={"crack": 1.0}, empty_fraction=0.5)`` draws only cracks
    (unlisted classes get weight 0) and half the photos without any defect.
    """

    class_weights: dict[str, float] = field(default_factory=_default_class_weights)
    surface_weights: dict[str, float] = field(default_factory=_default_surface_weights)
    defects_per_image: tuple[int, int] = (1, 4)  # inclusive range for photos with defects
    empty_fraction: float = 0.3  # photos with no defect at all (negatives only)
    negatives_per_image: tuple[int, int] = (2, 6)  # unlabelled look-alikes per photo
    second_zone_rate: float = 0.3  # extra material zone (floor, wainscot, corner) when not needed
    canvas_margin: float = 1.2  # canvas side / output side, room for the perspective warp
    jpeg_quality: tuple[int, int] = (45, 95)
    min_visible: float = 0.5  # keep a box only if this share of its mask stays in the photo
    min_box_side: float = 6.0  # keep a box only if its longer side has this many pixels
    # keep a box only if the defect's gray step against the 4-px ring around it (on its cue, for
    # a hollow tile) is at least this many levels in the developed photo: fainter labels were
    # never found (benchmarks/RESULTS.md, error_analysis_v0.4.0 and label_visibility)
    min_step: float = MIN_STEP
    # a box of a thin-line class (line_classes) also needs this line contrast in the saved photo:
    # its mean against the local background over the texture's robust spread around it
    # (datasets.visibility.line_contrast); below 0.8 a crack on rough or speckled plaster was not
    # to be seen, though its gray step passed min_step (benchmarks/RESULTS.md, label_texture).
    # 0 turns the test off.
    min_line_contrast: float = MIN_LINE_CONTRAST
    line_classes: tuple[str, ...] = LINE_CLASSES
    # a defect that shows in the photo without a label (below the rules above, a sliver at the
    # frame's edge, too small) is erased: the photo is rendered again without it. Left in, such
    # a defect teaches the model that what it sees is background: 66 of them beside 634 labels
    # in the 1,200 held-out seed-777 tiles, and v0.14.0 found 18 (benchmarks/RESULTS.md,
    # erase_unlabelled)
    erase_unlabelled: bool = True
    names: tuple[str, ...] = ()  # class names in id order; empty means configs/classes.yaml

    def __post_init__(self) -> None:
        names = self.names or tuple(class_names())
        object.__setattr__(self, "names", tuple(names))
        for name, w in self.class_weights.items():
            if name not in COMPAT:
                raise ConfigError(
                    f"the synthetic generator cannot draw class {name!r}; it draws {sorted(COMPAT)}"
                )
            if name not in names:
                raise ConfigError(f"class {name!r} is not in the taxonomy {list(names)}")
            if not w >= 0:
                raise ConfigError(f"class weight of {name!r} must be >= 0, got {w}")
        if sum(self.class_weights.values()) <= 0 and self.empty_fraction < 1:
            raise ConfigError("class_weights must give at least one class a positive weight")
        for name, w in self.surface_weights.items():
            if name not in SURFACES:
                raise ConfigError(f"unknown surface {name!r}; choose from {list(SURFACES)}")
            if not w >= 0:
                raise ConfigError(f"surface weight of {name!r} must be >= 0, got {w}")
        if sum(self.surface_weights.values()) <= 0:
            raise ConfigError("surface_weights must give at least one surface a positive weight")
        lo, hi = self.defects_per_image
        if not 1 <= lo <= hi:
            raise ConfigError(
                f"defects_per_image must be 1 <= lo <= hi, got {self.defects_per_image}"
            )
        lo, hi = self.negatives_per_image
        if not 0 <= lo <= hi:
            raise ConfigError(
                f"negatives_per_image must be 0 <= lo <= hi, got {self.negatives_per_image}"
            )
        for key in ("empty_fraction", "second_zone_rate", "min_visible"):
            v = getattr(self, key)
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {v}")
        if not 0.0 <= self.min_step <= 255.0:
            raise ConfigError(f"min_step must be in [0, 255] gray levels, got {self.min_step}")
        if not 0.0 <= self.min_line_contrast <= 255.0:
            raise ConfigError(
                f"min_line_contrast must be in [0, 255], got {self.min_line_contrast}"
            )
        for name in self.line_classes:
            if name not in COMPAT:
                raise ConfigError(
                    f"line_classes: the synthetic generator cannot draw class {name!r}; "
                    f"it draws {sorted(COMPAT)}"
                )
        if not 1.0 <= self.canvas_margin <= 2.0:
            raise ConfigError(f"canvas_margin must be in [1, 2], got {self.canvas_margin}")
        q0, q1 = self.jpeg_quality
        if not 1 <= q0 <= q1 <= 100:
            raise ConfigError(f"jpeg_quality must be 1 <= lo <= hi <= 100, got {self.jpeg_quality}")

    def class_id(self, name: str) -> int:
        return self.names.index(name)
