"""Inference off the event loop: one shared detector, a bounded worker pool, optional
micro-batching of concurrent requests.

``InferenceRunner.detect(image, tile, tta)`` is awaited by the routes; it runs
``detector.detect`` in a worker thread (at most ``concurrency`` at once, since each ONNX
Runtime call already uses every intra-op thread). With ``batch_max > 1`` photos that are
not tiled are queued, and a collector sends up to ``batch_max`` of them, gathered for at
most ``batch_wait_ms``, to ``detector.batch`` in one call. ``tta`` asks for the detector
with (or without) flip TTA for one request (``detector.with_tta``, the same loaded model);
photos that asked for different views are never batched together.

    runner = InferenceRunner(detector, metrics=Metrics(), batch_max=4)
    async with runner:
        dets = await runner.detect(image, "auto", tta=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

import anyio
import anyio.to_thread
import numpy as np

from serving.metrics import Metrics

__all__ = ["DetectorLike", "InferenceRunner"]


class DetectorLike(Protocol):
    """What the service needs of ``detector.Detector`` (tests pass a fake with these)."""

    names: list[str]
    info: Any  # detector.ModelInfo: name, version, imgsz
    tta: bool

    @property
    def class_thresholds(self) -> dict[str, float]: ...  # each class's reporting confidence

    @property
    def card(self) -> dict[str, Any] | None: ...  # the model card (ONNX metadata), if any

    def detect(self, image: np.ndarray, *, tile: Any = "auto") -> Any: ...

    def batch(self, images: list[np.ndarray]) -> list[Any]: ...

    def with_tta(self, tta: bool) -> Any: ...


def _will_tile(detector: Any, image: np.ndarray, tile: str) -> bool:
    """Whether ``detector.detect(image, tile=tile)`` would slice the photo (then it is not batched)."""
    if tile == "on":
        return True
    if tile == "off":
        return False
    imgsz = getattr(detector, "imgsz", None)
    if imgsz is not None:
        from detector import should_tile

        return should_tile(image.shape[:2], tuple(imgsz))
    return True  # unknown policy: keep "auto" on the detector's own path


class InferenceRunner:
    """Runs a shared detector for many concurrent requests (see module doc)."""

    def __init__(
        self,
        detector: DetectorLike,
        *,
        metrics: Metrics,
        concurrency: int = 1,
        batch_max: int = 1,
        batch_wait_ms: float = 5.0,
    ) -> None:
        self.detector = detector
        self.metrics = metrics
        self.batch_max = batch_max
        self.batch_wait = batch_wait_ms / 1000.0
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._queue: asyncio.Queue[tuple[np.ndarray, Any, asyncio.Future[Any]]] | None = None
        self._views: dict[bool, Any] = {}
        self._collector: asyncio.Task[None] | None = None

    async def __aenter__(self) -> InferenceRunner:
        if self.batch_max > 1:
            self._queue = asyncio.Queue()
            self._collector = asyncio.create_task(self._collect(), name="finishscan-batcher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
            self._collector = None

    def view(self, tta: bool | None = None) -> Any:
        """The detector a request with ``tta`` uses: the service's own for ``None``, else
        ``detector.with_tta(tta)`` (made once; its ``info.version`` names the view)."""
        if tta is None:
            return self.detector
        if tta not in self._views:
            self._views[tta] = self.detector.with_tta(tta)
        return self._views[tta]

    async def detect(self, image: np.ndarray, tile: str = "auto", tta: bool | None = None) -> Any:
        """Detections of one RGB uint8 photo by :meth:`view` ``(tta)``, computed in a worker
        thread."""
        detector = self.view(tta)
        if self._queue is not None and not _will_tile(detector, image, tile):
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            await self._queue.put((image, detector, fut))
            return await fut
        return await anyio.to_thread.run_sync(
            self._detect_one, detector, image, tile, limiter=self._limiter
        )

    def _detect_one(self, detector: Any, image: np.ndarray, tile: str) -> Any:
        start = time.perf_counter()
        dets = detector.detect(image, tile=tile)
        self.metrics.inference.labels("tiled" if tile == "on" else "single").observe(
            time.perf_counter() - start
        )
        self.metrics.batch_size.observe(1)
        return dets

    def _detect_batch(self, detector: Any, images: list[np.ndarray]) -> list[Any]:
        start = time.perf_counter()
        out = list(detector.batch(images))
        self.metrics.inference.labels("batch").observe(time.perf_counter() - start)
        self.metrics.batch_size.observe(len(images))
        return out

    async def _collect(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + self.batch_wait
            while len(batch) < self.batch_max:
                try:
                    batch.append(queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            # one detector.batch call per view (with or without TTA), in order of arrival
            groups: dict[int, tuple[Any, list[tuple[np.ndarray, asyncio.Future[Any]]]]] = {}
            for img, detector, fut in batch:
                if not fut.done():
                    groups.setdefault(id(detector), (detector, []))[1].append((img, fut))
            for detector, live in groups.values():
                await self._run_group(detector, live)

    async def _run_group(
        self, detector: Any, live: list[tuple[np.ndarray, asyncio.Future[Any]]]
    ) -> None:
        try:
            results = await anyio.to_thread.run_sync(
                self._detect_batch, detector, [img for img, _ in live], limiter=self._limiter
            )
        except Exception as e:  # the detector failed: every waiting request gets the error
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(e)
            return
        for (_, fut), dets in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(dets)
