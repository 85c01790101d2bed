"""Training recipes: ``configs/train/*.yaml`` validated by pydantic at the edge.

A recipe names the model (architecture YAML or local weights), image size, schedule,
ultralytics' own augmentation knobs and an albumentations pipeline for photographic realism.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finishscan.errors import ConfigError
from finishscan.paths import CONFIGS

RECIPES = CONFIGS / "train"


class AlbumentationsStep(BaseModel):
    """One albumentations transform: ``{transform: GaussNoise, p: 0.3, params: {...}}``.

    ``one_of`` makes it an ``A.OneOf`` over the listed steps instead.
    """

    model_config = ConfigDict(extra="forbid")
    transform: str | None = None
    p: float = Field(0.5, ge=0.0, le=1.0)
    params: dict[str, Any] = Field(default_factory=dict)
    one_of: list[AlbumentationsStep] | None = None

    @field_validator("one_of")
    @classmethod
    def _nonempty(cls, v: list[AlbumentationsStep] | None) -> list[AlbumentationsStep] | None:
        if v is not None and not v:
            raise ValueError("one_of needs at least one step")
        return v


class Augmentation(BaseModel):
    """Ultralytics' built-in augmentation hyper-parameters (same names and meaning)."""

    model_config = ConfigDict(extra="forbid")
    hsv_h: float = Field(0.015, ge=0, le=1)
    hsv_s: float = Field(0.5, ge=0, le=1)
    hsv_v: float = Field(0.4, ge=0, le=1)
    degrees: float = Field(
        0.0,
        ge=0,
        le=180,
        description="rotation; ultralytics rotates a box by its corners, so every rotated box is"
        " larger than its object (benchmarks/RESULTS.md, box_bias): keep 0 for box labels",
    )
    translate: float = Field(0.1, ge=0, le=1)
    scale: float = Field(0.3, ge=0, le=1)
    shear: float = Field(0.0, ge=0, le=90)
    perspective: float = Field(0.0, ge=0, le=0.001)
    fliplr: float = Field(0.5, ge=0, le=1)
    flipud: float = Field(0.2, ge=0, le=1)
    mosaic: float = Field(1.0, ge=0, le=1)
    mixup: float = Field(0.0, ge=0, le=1)
    close_mosaic: int = Field(3, ge=0)


class Recipe(BaseModel):
    """A validated training recipe. ``Recipe(model="yolo11n.yaml", imgsz=320, epochs=30)``."""

    model_config = ConfigDict(extra="forbid")
    name: str = "custom"
    model: str = "yolo11n.yaml"
    imgsz: int = Field(320, ge=32, le=2048, multiple_of=32)
    epochs: int = Field(30, ge=1)
    batch: int = Field(16, ge=1)
    seed: int = 0
    workers: int = Field(2, ge=0, le=16)
    patience: int = Field(50, ge=0)
    optimizer: str = "AdamW"
    lr0: float = Field(0.002, gt=0)
    cos_lr: bool = False
    warmup_epochs: float = Field(
        3.0, ge=0, description="linear LR warm-up; short when fine-tuning a trained model"
    )
    warmup_bias_lr: float = Field(
        0.0,
        ge=0,
        description="the biases' learning rate at the start of warm-up (falling to lr0)."
        " ultralytics' 0.1 is meant for SGD; with AdamW, which steps every parameter by about its"
        " learning rate, it knocked a trained model's validation mAP50 from 0.575 to 0.485 in"
        " 118 steps (0.526 at 0.0; benchmarks/RESULTS.md, continue_lr)",
    )
    save_period: int = Field(-1, ge=-1)
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16: network in bfloat16 autocast, loss and checkpoints float32 (CPUs"
        " with AVX512-BF16/AMX: 1.5-1.9x the steps per hour; float32 with a warning elsewhere)."
        " Either way a CPU run trains with channels-last weights",
    )
    cache: bool = Field(False, description="decode images once into RAM (saves CPU on small sets)")
    time_hours: float | None = Field(
        None,
        gt=0,
        description="train for this long instead of `epochs` (the schedule fits the budget)",
    )
    augment: Augmentation = Field(default_factory=lambda: Augmentation.model_validate({}))
    albumentations: list[AlbumentationsStep] = Field(default_factory=list)

    def with_overrides(self, **values: Any) -> Recipe:
        """A validated copy with the given fields replaced; ``None`` values are ignored.

        >>> Recipe().with_overrides(epochs=3, imgsz=None).epochs
        3
        """
        changes = {k: v for k, v in values.items() if v is not None}
        unknown = set(changes) - set(type(self).model_fields)
        if unknown:
            raise ConfigError(f"unknown recipe fields {sorted(unknown)}")
        try:
            return type(self).model_validate({**self.model_dump(), **changes})
        except ValidationError as e:
            first = e.errors()[0]
            raise ConfigError(f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from e

    def ultralytics_args(self) -> dict[str, Any]:
        """Keyword arguments for ``YOLO.train`` (without data/out/augmentations)."""
        return {
            "imgsz": self.imgsz,
            "epochs": self.epochs,
            "batch": self.batch,
            "seed": self.seed,
            "deterministic": True,
            "workers": self.workers,
            "patience": self.patience,
            "optimizer": self.optimizer,
            "lr0": self.lr0,
            "cos_lr": self.cos_lr,
            "warmup_epochs": self.warmup_epochs,
            "warmup_bias_lr": self.warmup_bias_lr,
            "save_period": self.save_period,
            "cache": "ram" if self.cache else False,
            **({"time": self.time_hours} if self.time_hours else {}),
            **self.augment.model_dump(),
        }


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; a bare name looks in ``configs/train/`` (``load_recipe("tiny")``)."""
    p = Path(path)
    if not p.exists() and not p.suffix:
        p = RECIPES / f"{p.name}.yaml"
    try:
        doc = yaml.safe_load(p.read_text()) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"training recipe not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"training recipe {p} is not valid YAML: {e}") from e
    try:
        recipe = Recipe.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"training recipe {p}: {where}: {first['msg']}") from e
    from training.augment import build_pipeline  # validates transform names and parameters

    build_pipeline(recipe.albumentations, source=str(p))
    return recipe
