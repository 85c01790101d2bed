"""Training augmentation keeps a box the tight box of its object (benchmarks/RESULTS.md, box_bias).

ultralytics moves a box through a rotation or shear by its four corners, so the box it trains on
encloses the turned box, not the object: a disc turned 10 degrees gets a box up to 16 % wider
and higher than the disc, and a model trained on such boxes draws every box too large.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("ultralytics")

from training.recipe import Augmentation, load_recipe  # noqa: E402


def worst_iou(aug: Augmentation, trials: int = 20) -> float:
    """The lowest IoU over ``trials`` seeds between the box ultralytics' affine augmentation
    (the recipe's rotation, shear and perspective) gives a disc and the tight box of the disc's
    pixels after the same transformation."""
    import cv2
    from ultralytics.data.augment import RandomPerspective
    from ultralytics.utils.instance import Instances

    from detector.geometry import box_iou

    transform = RandomPerspective(
        degrees=aug.degrees, translate=0.0, scale=0.0, shear=aug.shear, perspective=aug.perspective
    )
    worst = 1.0
    for seed in range(trials):
        random.seed(seed)
        np.random.seed(seed)
        img = np.zeros((320, 320, 3), np.uint8)
        cv2.circle(img, (160, 160), 60, (255, 255, 255), -1)
        labels = {
            "img": img,
            "cls": np.zeros((1, 1), np.float32),
            "instances": Instances(
                bboxes=np.array([[100, 100, 221, 221]], np.float32),
                segments=np.zeros((0, 1000, 2), np.float32),
                bbox_format="xyxy",
                normalized=False,
            ),
        }
        out = transform(labels)
        ys, xs = np.nonzero(out["img"][..., 0] > 127)
        tight = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        worst = min(worst, float(box_iou(out["instances"].bboxes[:1], tight)[0, 0]))
    return worst


def test_rotation_by_corners_inflates_boxes():
    # the effect the recipes avoid: 10 degrees of rotation gives boxes far looser than the disc
    assert worst_iou(Augmentation(degrees=10.0)) < 0.85
    assert worst_iou(Augmentation(degrees=0.0, shear=2.0)) < 0.98


@pytest.mark.parametrize("name", ["default", "continue", "finetune", "tiny"])
def test_shipped_recipes_keep_boxes_tight(name):
    assert worst_iou(load_recipe(name).augment) > 0.97


def worst_album_iou(steps: list, trials: int = 40) -> float:
    """The lowest IoU over ``trials`` seeds between the box a recipe's albumentations steps give
    a thin, nearly level line (a crack) and the tight box of the line's pixels after the same
    steps (albumentations moves the mask by its pixels and the box by its corners)."""
    import os
    import warnings

    import cv2

    os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
    import albumentations as A

    from detector.geometry import box_iou
    from training.augment import build_pipeline

    mask = np.zeros((320, 320), np.uint8)
    cv2.line(mask, (80, 160), (240, 163), 255, 2)
    ys, xs = np.nonzero(mask)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    worst = 1.0
    for seed in range(trials):
        with warnings.catch_warnings():  # a pipeline without spatial steps has no box to move
            warnings.filterwarnings("ignore", "Got processor for bboxes", UserWarning)
            t = A.Compose(
                build_pipeline(steps),
                bbox_params=A.BboxParams(format="pascal_voc", label_fields=["c"]),
                seed=seed,
            )
        out = t(image=np.dstack([mask] * 3), mask=mask, bboxes=[box], c=[0])
        ys, xs = np.nonzero(out["mask"] > 127)
        tight = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        got = np.asarray(out["bboxes"], np.float32)[:1]
        worst = min(worst, float(box_iou(got, tight)[0, 0]))
    return worst


def test_perspective_by_corners_inflates_a_crack_box():
    from training.recipe import AlbumentationsStep

    step = AlbumentationsStep(transform="Perspective", p=1.0, params={"scale": [0.02, 0.06]})
    assert worst_album_iou([step]) < 0.8


@pytest.mark.parametrize("name", ["default", "continue", "finetune", "tiny"])
def test_shipped_albumentations_keep_boxes_tight(name):
    assert worst_album_iou(load_recipe(name).albumentations) > 0.97
