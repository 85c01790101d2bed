"""Render a saved synthetic photo again, with some of its labelled defects erased.

A photo the generator wrote (``s<seed>_<i>.jpg`` of a folder with ``synth_config.json``) is a
function of its seed, index, size and config (:mod:`datasets.synthetic.writer`), so it can be
rendered again byte for byte, and rendered with any of its defects drawn and undone
(:func:`~datasets.synthetic.composer.render_pass`): every other draw, the light, the camera
and the noise stay as they were. ``dataset tile`` uses it to cut a tile from the photo without
a defect whose piece in that tile gets no label (a sliver, or a faint end), so the tile does
not teach a visible defect as background.

    replay = Replay(Path("r640-s17001"))
    photo = replay.photo(Path("r640-s17001/images/train/s17001_000012.jpg"))
    bgr = photo.without(frozenset({2}))    # the photo with its third label's defect erased
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from datasets.synthetic import composer
from datasets.synthetic.config import SynthConfig
from finishscan.errors import DatasetError

__all__ = ["RENDER_NAME", "PhotoReplay", "Replay", "load_recipe"]

RENDER_NAME = re.compile(r"^s(?P<seed>\d+)_(?P<i>\d+)$")  # the writer's file stem


def load_recipe(folder: Path) -> tuple[SynthConfig, int]:
    """The config and photo size a synthetic folder was rendered with (its
    ``synth_config.json``); a folder made before ``erase_unlabelled`` existed gets it off."""
    path = Path(folder) / "synth_config.json"
    try:
        spec = json.loads(path.read_text())
        raw: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()
        }
        raw.setdefault("erase_unlabelled", False)  # renders made before the generator erased
        return SynthConfig(**raw), int(spec["imgsz"])
    except FileNotFoundError as e:
        raise DatasetError(f"{folder} has no synth_config.json: not a synthetic folder") from e
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path}: not a synthetic recipe ({e})") from e


@dataclasses.dataclass(frozen=True)
class PhotoReplay:
    """One saved photo: its random key, the parts its rendering erased, and each label's part
    number (``labelled[j]`` is the drawing-order number of the photo's ``j``-th box)."""

    key: tuple[int, int]
    imgsz: int
    config: SynthConfig
    erased: frozenset[int]
    labelled: tuple[int, ...]

    def without(self, boxes: frozenset[int]) -> np.ndarray:
        """The photo (BGR, as decoded from its JPEG) with the defects of the boxes numbered in
        ``boxes`` (indices into its labels) drawn and undone."""
        bad = [j for j in boxes if not 0 <= j < len(self.labelled)]
        if bad:
            raise IndexError(f"no label {bad[0]} in a photo with {len(self.labelled)}")
        gone = self.erased | {self.labelled[j] for j in boxes}
        s = composer.render_pass(np.random.default_rng(self.key), self.imgsz, self.config, gone)
        img = cv2.imdecode(np.frombuffer(s.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None:  # pragma: no cover - the generator's own JPEG
            raise DatasetError(f"photo {self.key}: its rendering did not decode")
        return img


class Replay:
    """The photos of a synthetic folder (``folder/synth_config.json``), rendered again."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.config, self.imgsz = load_recipe(self.folder)

    def photo(self, path: Path) -> PhotoReplay | None:
        """The replay of the saved photo at ``path``; None when its name is not a render's.

        Renders it again first and raises :class:`DatasetError` when the bytes differ from the
        saved photo (another generator version, or an edited file): its labels would not
        match the defects erased."""
        m = RENDER_NAME.match(Path(path).stem)
        if not m:
            return None
        key = (int(m["seed"]), int(m["i"]))
        s = composer.render_sample(np.random.default_rng(key), self.imgsz, self.config)
        if s.jpeg != Path(path).read_bytes():
            raise DatasetError(
                f"{path}: rendering it again gave other bytes (made by another generator "
                "version?); tile it without erasing (--no-erase)"
            )
        return PhotoReplay(
            key, self.imgsz, self.config, frozenset(s.meta["erased"]), tuple(s.meta["labelled"])
        )

    def redraw(self, path: Path) -> Callable[[frozenset[int]], np.ndarray] | None:
        """:meth:`PhotoReplay.without` of the photo at ``path`` (the ``redraw`` that
        :func:`datasets.tools.tile.tile_dataset` takes); None when it is not a render."""
        photo = self.photo(path)
        return None if photo is None else photo.without
