"""Upload → bytes (limited, sniffed) → RGB image (pixel limit) → detections, off the event loop.

Shared by ``POST /v1/detect`` and the unit photo upload, so both refuse the same inputs the
same way and neither touches the register before the photo was read and analysed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import numpy as np
from fastapi import UploadFile

from serving.deps import Services
from serving.uploads import read_limited

__all__ = ["Analysed", "analyse_bytes", "analyse_upload", "detection_record"]


@dataclass
class Analysed:
    data: bytes
    image: np.ndarray
    detections: Any
    model: Any  # detector.ModelInfo of the detector (view) that read it
    quality: Any = None  # detector.PhotoQuality of the photo

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


async def analyse_upload(
    file: UploadFile, tile: str, services: Services, tta: bool | None = None
) -> Analysed:
    """Read, decode and detect one uploaded photo; HTTP/Image errors propagate as 4xx."""
    data = await read_limited(file, services.settings.max_upload_bytes)
    return await analyse_bytes(data, tile, services, tta)


async def analyse_bytes(
    data: bytes, tile: str, services: Services, tta: bool | None = None
) -> Analysed:
    """Decode (pixel limit) and detect already-read photo bytes; ``tta``: flip TTA for this
    photo (``None``: the service's setting)."""
    from detector import decode_image, photo_quality

    def decode() -> tuple[np.ndarray, Any]:
        image = decode_image(data, max_pixels=services.settings.max_pixels)
        return image, photo_quality(image)

    image, quality = await anyio.to_thread.run_sync(decode)
    dets = await services.runner.detect(image, tile, tta)
    return Analysed(
        data=data,
        image=image,
        detections=dets,
        model=services.runner.view(tta).info,
        quality=quality,
    )


def detection_record(a: Analysed, services: Services, image_name: str) -> dict[str, Any]:
    """The detection JSON object of INTERFACE.md for an analysed upload."""
    from detector import to_record

    info = a.model
    record = to_record(
        a.detections,
        services.detector.names,
        image=image_name,
        width=a.width,
        height=a.height,
        model=info,
        quality=a.quality,
    )
    for d in record["defects"]:
        services.metrics.detections.labels(d["label"]).inc()
    return record
