"""InferenceRunner: off-loop inference, micro-batching of concurrent requests, error fan-out."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from detector import decode_image
from serving.inference import InferenceRunner, _will_tile
from serving.metrics import Metrics


def run(coro):
    return asyncio.run(coro)


def test_single_calls_go_to_detect(fake_detector, make_photo) -> None:
    image = decode_image(make_photo([("crack", 0.8)]))

    async def go():
        async with InferenceRunner(fake_detector, metrics=Metrics()) as r:
            return await r.detect(image, "off")

    dets = run(go())
    assert len(dets) == 1 and dets.class_id.tolist() == [0]
    assert fake_detector.calls == [("detect", 1)] and fake_detector.tiles == ["off"]


def test_concurrent_requests_are_batched(fake_detector, make_photo) -> None:
    images = [decode_image(make_photo([("stain", 0.5)] * (i % 3), seed=i)) for i in range(6)]

    async def go():
        async with InferenceRunner(
            fake_detector, metrics=Metrics(), batch_max=4, batch_wait_ms=50
        ) as r:
            return await asyncio.gather(*(r.detect(im, "auto") for im in images))

    results = run(go())
    # each request gets its own answer back, in order
    assert [len(d) for d in results] == [i % 3 for i in range(6)]
    sizes = [n for kind, n in fake_detector.calls if kind == "batch"]
    assert sum(sizes) == 6 and max(sizes) == 4 and len(sizes) == 2


def test_tiled_requests_bypass_the_batcher(fake_detector, make_photo) -> None:
    image = decode_image(make_photo([("crack", 0.8)]))

    async def go():
        async with InferenceRunner(fake_detector, metrics=Metrics(), batch_max=4) as r:
            return await r.detect(image, "on")

    run(go())
    assert fake_detector.calls == [("detect", 1)] and fake_detector.tiles == ["on"]


def test_batch_failure_reaches_every_waiter(fake_detector, make_photo) -> None:
    def boom(images):
        raise RuntimeError("model exploded")

    fake_detector.batch = boom
    image = decode_image(make_photo())

    async def go():
        async with InferenceRunner(
            fake_detector, metrics=Metrics(), batch_max=4, batch_wait_ms=20
        ) as r:
            return await asyncio.gather(
                r.detect(image, "off"), r.detect(image, "off"), return_exceptions=True
            )

    out = run(go())
    assert all(isinstance(e, RuntimeError) for e in out)


@pytest.mark.parametrize(
    ("shape", "tile", "expected"),
    [
        ((480, 640), "auto", False),
        ((1280, 1280), "auto", False),  # exactly 2x the 640 model: not tiled
        ((3000, 4000), "auto", True),
        ((3000, 4000), "off", False),
        ((48, 64), "on", True),
    ],
)
def test_will_tile_follows_the_detector_rule(fake_detector, shape, tile, expected) -> None:
    assert _will_tile(fake_detector, np.zeros((*shape, 3), np.uint8), tile) is expected


def test_tta_views_are_made_once_and_never_batched_together(fake_detector, make_photo) -> None:
    images = [decode_image(make_photo([("stain", 0.5)] * (i % 3), seed=i)) for i in range(6)]
    asked = [None, True, False, True, None, None]  # per request; None: the service's own

    async def go():
        async with InferenceRunner(
            fake_detector, metrics=Metrics(), batch_max=8, batch_wait_ms=200
        ) as r:
            assert r.view(None) is fake_detector and r.view(False) is fake_detector
            assert r.view(True) is r.view(True) and r.view(True).info.version == "1+flip"
            return await asyncio.gather(
                *(r.detect(im, "auto", tta) for im, tta in zip(images, asked, strict=True))
            )

    results = run(go())
    assert [len(d) for d in results] == [i % 3 for i in range(6)]
    # one batch call per view, in order of arrival: the 4 plain photos, then the 2 flipped
    assert fake_detector.calls == [("batch", 4), ("batch", 2)]
    assert fake_detector.views == [False, True]


def test_tiled_tta_request_runs_on_the_tta_view(fake_detector, make_photo) -> None:
    image = decode_image(make_photo([("crack", 0.8)]))

    async def go():
        async with InferenceRunner(fake_detector, metrics=Metrics(), batch_max=4) as r:
            return await r.detect(image, "on", tta=True)

    run(go())
    assert fake_detector.calls == [("detect", 1)] and fake_detector.views == [True]
