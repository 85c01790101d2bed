"""The one detections type and the model description.

``Detections`` holds parallel numpy arrays; indexing with a boolean mask or an index array
returns a new ``Detections``. Adapters live beside it as functions, not methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes in pixels of one image: ``xyxy`` (N, 4) float32, ``confidence`` (N,) float32,
    ``class_id`` (N,) int64. Arrays are converted to those dtypes and shape-checked.

    >>> d = Detections(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([2]))
    >>> len(d[d.confidence > 0.5])
    1
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        conf = np.asarray(self.confidence, dtype=np.float32)
        cls = np.asarray(self.class_id, dtype=np.int64)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        if conf.shape != (n,) or cls.shape != (n,):
            raise ValueError(
                f"confidence and class_id must have shape ({n},), got {conf.shape} and {cls.shape}"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", conf)
        object.__setattr__(self, "class_id", cls)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: Any) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(self.xyxy[index], self.confidence[index], self.class_id[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.confidence, other.confidence)
            and np.array_equal(self.class_id, other.class_id)
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    @classmethod
    def concat(cls, items: Sequence[Detections]) -> Detections:
        """All detections of ``items`` in order; ``Detections.empty()`` for an empty list."""
        if not items:
            return cls.empty()
        return cls(
            np.concatenate([d.xyxy for d in items]),
            np.concatenate([d.confidence for d in items]),
            np.concatenate([d.class_id for d in items]),
        )

    def shift(self, dx: float, dy: float) -> Detections:
        """The same boxes moved by (dx, dy) pixels, e.g. from a tile's frame to the photo's."""
        offset = np.array([dx, dy, dx, dy], dtype=np.float32)
        return Detections(self.xyxy + offset, self.confidence, self.class_id)


@dataclass(frozen=True)
class ModelInfo:
    """What a detection was made with: ``name`` and ``version`` go into every record."""

    name: str
    version: str
    names: list[str]
    imgsz: tuple[int, int]
    metadata: dict[str, str] = field(default_factory=dict)
