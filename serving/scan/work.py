"""The detection side of a scan: what a worker (process or Ray actor) runs on a photo's bytes.

A :class:`DetectorSpec` is a small picklable recipe; every worker calls ``spec.build(threads)``
once and then the returned :class:`PhotoDetector` on each photo. Tests pass their own spec
(any object with ``build`` and ``info``) to run the engines with a fake detector.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from finishscan.errors import ImageError, ModelError

# What a worker returns for one photo: {"width", "height", "defects": [...]} or {"error": msg}.
PhotoOutcome = dict[str, Any]
PhotoDetector = Callable[[bytes], PhotoOutcome]


class Spec(Protocol):
    def build(self, threads: int) -> PhotoDetector: ...

    def info(self) -> tuple[str, str]: ...


@dataclass(frozen=True)
class DetectorSpec:
    """How to build the project's ONNX detector in a worker.

    ``DetectorSpec(model="models/x.onnx").build(threads=1)(jpeg_bytes)`` →
    ``{"width": 640, "height": 480, "defects": [{"label": "crack", ...}]}``.
    """

    model: str
    conf: float | None = None  # None: the model's per-class thresholds
    iou: float = 0.7
    tile: Literal["auto", "on", "off"] = "auto"
    max_pixels: int | None = None
    tta: bool = False  # each photo also read mirrored (``Detector(tta=True)``)

    def build(self, threads: int) -> PhotoDetector:
        import detector

        det = detector.Detector(
            self.model, threads=threads, conf=self.conf, iou=self.iou, tta=self.tta
        )
        names = list(det.names)
        model = det.info
        tile = self.tile
        max_pixels = self.max_pixels

        def run(data: bytes) -> PhotoOutcome:
            kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
            image = detector.decode_image(data, **kwargs)
            height, width = image.shape[:2]
            dets = det.detect(image, tile=tile)
            record = detector.to_record(
                dets, names, image="", width=width, height=height, model=model
            )
            return {
                "width": width,
                "height": height,
                "defects": record["defects"],
                "quality": detector.photo_quality(image).to_dict(),
            }

        run.info = (det.info.name, det.info.version)  # type: ignore[attr-defined]
        return run

    def info(self) -> tuple[str, str]:
        """(model name, model version) as the register records them."""
        import detector

        info = detector.Detector(self.model, threads=1, tta=self.tta).info
        return (info.name, info.version)

    def class_thresholds(self) -> dict[str, float]:
        """The confidence each class's boxes are kept at (``conf`` for all, else the model's
        per-class thresholds, 0.25 for a class without one)."""
        import detector

        return detector.Detector(self.model, threads=1, conf=self.conf).class_thresholds


def safe_detect(run: PhotoDetector, data: bytes) -> PhotoOutcome:
    """``run(data)``, with an unreadable photo (or an unexpected failure on one photo) turned
    into ``{"error": reason}`` so the scan goes on; a :class:`ModelError` still stops it."""
    try:
        return run(data)
    except ModelError:
        raise
    except ImageError as e:
        return {"error": str(e)}
    except Exception as e:  # noqa: BLE001 - one bad photo must not end an archive scan
        return {"error": f"unexpected {type(e).__name__}: {e}"}


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """ONNX Runtime threads each of ``workers`` gets so they share the machine's cores.

    >>> threads_per_worker(2, cores=8)
    4
    """
    cores = cores or available_cores()
    return max(1, cores // max(1, workers))


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def model_path(model: str | Path | None) -> str:
    """``--model`` or the default model, checked to exist."""
    from finishscan.paths import default_model_path

    path = Path(model) if model else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return str(path.resolve())
