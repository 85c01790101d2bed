"""How far the training augmentations move a box away from the tight box of its object.

    python benchmarks/augment_boxes.py [--trials 200] [--no-write]

ultralytics' ``RandomPerspective`` (rotation, shear) and albumentations' ``Perspective`` move a
box by its four corners, while the object's pixels move one by one; the box the model then
trains on encloses more than the object. For three shapes drawn on a 320-px image (a disc of
radius 40, a 2-px crack at 40 degrees, a 2-px crack 1 degree off level), each transformation
is applied ``--trials`` times (seeds 0..trials-1) to the image and its box; the transformed
box is compared with the tight box of the transformed pixels: median and 5th-percentile IoU,
median width and height ratio (box / tight box). Results: stdout and ``benchmarks/RESULTS.md``
(``augment_boxes``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"

from benchmarks._results import write_section  # noqa: E402
from detector.geometry import box_iou  # noqa: E402
from training.augment import build_pipeline  # noqa: E402
from training.recipe import AlbumentationsStep, load_recipe  # noqa: E402

Shape = Callable[[np.ndarray], object]  # draws the object into a 320x320 uint8 mask
SHAPES: dict[str, Shape] = {
    "disc": lambda m: cv2.circle(m, (160, 160), 40, 255, -1),
    "crack at 40 deg": lambda m: cv2.line(m, (100, 110), (220, 210), 255, 2),
    "crack 1 deg off level": lambda m: cv2.line(m, (80, 160), (240, 163), 255, 2),
}
# One transformation: (mask, box xyxy, seed) -> (moved mask, moved box).
Move = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def tight_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


def ultralytics_move(degrees: float, shear: float) -> Move:
    from ultralytics.data.augment import RandomPerspective
    from ultralytics.utils.instance import Instances

    transform = RandomPerspective(degrees=degrees, translate=0.0, scale=0.0, shear=shear)

    def move(mask: np.ndarray, box: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        random.seed(seed)
        np.random.seed(seed)
        labels = {
            "img": np.dstack([mask] * 3),
            "cls": np.zeros((1, 1), np.float32),
            "instances": Instances(
                bboxes=box[None].copy(),
                segments=np.zeros((0, 1000, 2), np.float32),
                bbox_format="xyxy",
                normalized=False,
            ),
        }
        out = transform(labels)
        return out["img"][..., 0], out["instances"].bboxes[0]

    return move


def albumentations_move(steps: list[AlbumentationsStep]) -> Move:
    import albumentations as A

    pipeline = build_pipeline(steps)

    def move(mask: np.ndarray, box: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():  # a pipeline without spatial steps has no box to move
            warnings.filterwarnings("ignore", "Got processor for bboxes", UserWarning)
            t = A.Compose(
                pipeline,
                bbox_params=A.BboxParams(format="pascal_voc", label_fields=["c"]),
                seed=seed,
            )
        out = t(image=np.dstack([mask] * 3), mask=mask, bboxes=[box.tolist()], c=[0])
        return out["mask"], np.asarray(out["bboxes"][0], np.float32)

    return move


def measure(move: Move, shape: Shape, trials: int) -> tuple[float, float, float, float]:
    """Median and 5th-percentile IoU, median width and height ratio over ``trials`` seeds."""
    mask = np.zeros((320, 320), np.uint8)
    shape(mask)
    box = tight_box(mask)
    ious, wr, hr = [], [], []
    for seed in range(trials):
        moved, got = move(mask, box, seed)
        tight = tight_box(moved)
        ious.append(float(box_iou(got[None], tight[None])[0, 0]))
        wr.append((got[2] - got[0]) / (tight[2] - tight[0]))
        hr.append((got[3] - got[1]) / (tight[3] - tight[1]))
    med = np.median
    return float(med(ious)), float(np.percentile(ious, 5)), float(med(wr)), float(med(hr))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    perspective = AlbumentationsStep(transform="Perspective", p=1.0, params={"scale": [0.02, 0.06]})
    moves: dict[str, Move] = {
        "ultralytics: rotation 10 deg, shear 2 deg (recipes to v0.11.0)": ultralytics_move(10, 2),
        "albumentations: Perspective scale 0.02-0.06, every image (recipes to v0.12.0: p 0.25)": (
            albumentations_move([perspective])
        ),
        "ultralytics: the continue recipe's affine (no rotation or shear)": ultralytics_move(
            load_recipe("continue").augment.degrees, load_recipe("continue").augment.shear
        ),
        "albumentations: the continue recipe's pipeline (no Perspective)": albumentations_move(
            load_recipe("continue").albumentations
        ),
    }
    lines = [
        f"`python benchmarks/augment_boxes.py --trials {a.trials}`: the box the augmentation "
        "gives an object vs the tight box of the object's moved pixels, over "
        f"{a.trials} seeds (320-px image; disc radius 40, cracks 2 px wide and ~150 px long). "
        "IoU median / 5th percentile; width and height as box / tight box, medians.",
        "",
        "| augmentation | shape | IoU median | IoU 5 % | width | height |",
        "|---|---|---|---|---|---|",
    ]
    for what, move in moves.items():
        for name, shape in SHAPES.items():
            iou, low, w, h = measure(move, shape, a.trials)
            lines.append(f"| {what} | {name} | {iou:.3f} | {low:.3f} | {w:.3f} | {h:.3f} |")
    md = "\n".join(lines)
    print(md)
    if a.write:
        write_section("augment_boxes", md)


if __name__ == "__main__":
    main()
