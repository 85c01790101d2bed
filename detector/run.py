"""Detect on many photo files: the library side of ``finishscan detect``.

Photos are read one ahead in a background thread (decoding overlaps inference); a photo that
cannot be read becomes an error record and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from detector.draw import draw_detections
from detector.image import DEFAULT_MAX_PIXELS, load_image
from detector.model import TileMode
from detector.quality import photo_quality
from detector.record import error_record, to_record
from detector.types import Detections, ModelInfo
from finishscan.errors import ImageError


class PhotoDetector(Protocol):
    """What :func:`detect_paths` needs: a :class:`detector.Detector` (or a fake in tests)."""

    names: list[str]
    info: ModelInfo

    def detect(self, image: np.ndarray, *, tile: TileMode = "auto") -> Detections: ...


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def expand_paths(paths: Iterable[str | Path]) -> list[str]:
    """Each path as given; a directory becomes its image files (sorted, recursive).

    >>> expand_paths(["a.jpg"])
    ['a.jpg']
    """
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
            out.extend(str(f) for f in files if f.is_file())
        else:
            out.append(str(p))
    return out


def _read(path: str, max_pixels: int) -> np.ndarray | ImageError:
    try:
        return load_image(path, max_pixels=max_pixels)
    except ImageError as e:
        return e


def _prefetched(
    paths: Sequence[str], max_pixels: int
) -> Iterator[tuple[str, np.ndarray | ImageError]]:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finishscan-read") as pool:
        pending: Future[np.ndarray | ImageError] | None = None
        for k, path in enumerate(paths):
            current = pending or pool.submit(_read, path, max_pixels)
            pending = pool.submit(_read, paths[k + 1], max_pixels) if k + 1 < len(paths) else None
            yield path, current.result()


def annotated_name(path: str, used: set[str]) -> str:
    """``<stem>.jpg``, or ``<stem>-1.jpg``, ... when an earlier photo had the same stem."""
    stem = Path(path).stem or "image"
    name, k = f"{stem}.jpg", 0
    while name in used:
        k += 1
        name = f"{stem}-{k}.jpg"
    used.add(name)
    return name


def detect_paths(
    paths: Sequence[str | Path],
    detector: PhotoDetector,
    *,
    tile: TileMode = "auto",
    annotate_dir: Path | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """One detection record per path, in order (INTERFACE.md JSON); unreadable photos get
    ``"error"``. With ``annotate_dir``, an annotated JPEG per readable photo is written there.
    ``on_result`` is called after each photo (e.g. to advance a progress bar)."""
    names = [str(p) for p in paths]
    if annotate_dir is not None:
        annotate_dir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    records: list[dict[str, Any]] = []
    for path, image in _prefetched(names, max_pixels):
        if isinstance(image, ImageError):
            rec = error_record(path, str(image), model=detector.info)
        else:
            dets = detector.detect(image, tile=tile)
            h, w = image.shape[:2]
            rec = to_record(
                dets,
                detector.names,
                image=path,
                width=w,
                height=h,
                model=detector.info,
                quality=photo_quality(image),
            )
            if annotate_dir is not None:
                out = draw_detections(image, dets, detector.names)
                target = annotate_dir / annotated_name(path, used)
                ok = cv2.imwrite(
                    str(target),
                    cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90],
                )
                if not ok:
                    raise OSError(f"cannot write {target}")
                rec["annotated"] = str(target)
        records.append(rec)
        if on_result is not None:
            on_result(rec)
    return records
