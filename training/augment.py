"""The albumentations pipeline of a recipe, handed to ultralytics as ``augmentations=[...]``.

Ultralytics applies it inside its own ``Albumentations`` step (after mosaic and the random
affine, before HSV and flips) and converts the boxes for spatial transforms such as
``Perspective``; the transforms are stored in checkpoints, so ``--resume`` keeps them.
"""

from __future__ import annotations

from typing import Any

from finishscan.errors import ConfigError
from training.recipe import AlbumentationsStep


def build_transform(step: AlbumentationsStep, *, source: str = "recipe") -> Any:
    """One albumentations transform from a validated step (``A.OneOf`` for ``one_of``)."""
    import os

    os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
    import albumentations as A

    if step.one_of is not None:
        return A.OneOf([build_transform(s, source=source) for s in step.one_of], p=step.p)
    if not step.transform:
        raise ConfigError(f"{source}: an albumentations step needs 'transform' or 'one_of'")
    cls = getattr(A, step.transform, None)
    if not isinstance(cls, type) or not issubclass(cls, A.BasicTransform):
        raise ConfigError(f"{source}: unknown albumentations transform {step.transform!r}")
    if issubclass(cls, A.Lambda):
        raise ConfigError(f"{source}: A.Lambda cannot be stored in checkpoints")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error")  # albumentations warns (not raises) on unknown args
            return cls(**step.params, p=step.p)
    except (TypeError, ValueError, UserWarning) as e:
        raise ConfigError(f"{source}: bad parameters for {step.transform}: {e}") from e


def build_pipeline(steps: list[AlbumentationsStep], *, source: str = "recipe") -> list[Any]:
    """All transforms of a recipe, in order (an empty list means ultralytics' defaults are off)."""
    return [build_transform(s, source=source) for s in steps]
