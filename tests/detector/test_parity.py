"""Parity: our Detector and ultralytics' own predictor on the same ONNX file give the same
boxes (<= 1 px), classes and confidences (<= 1e-3), for both YOLO output layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detector import Detections, Detector, load_image

from .conftest import FIXTURE_IMGSZ, texture, write_rgb

pytestmark = pytest.mark.train

# (h, w): squares, landscape, portrait, extreme strips, odd sizes, smaller and larger than 320
SIZES = [
    (320, 320), (240, 320), (320, 240), (480, 640), (640, 480), (100, 700), (700, 100),
    (333, 517), (517, 333), (1000, 750), (750, 1000), (64, 64), (31, 300), (300, 31),
    (1200, 1600), (1080, 1920), (1920, 1080), (401, 401), (250, 1000), (999, 998),
    (150, 200), (2000, 500),
]  # fmt: skip
CONF = 0.001  # random weights: a low threshold so many boxes (and NMS) are exercised


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    rng = np.random.default_rng(42)
    out = tmp_path_factory.mktemp("parity_photos")
    paths = []
    for k, (h, w) in enumerate(SIZES):
        img = texture(rng, h, w)
        # alternate PNG and JPEG: both sides read the same file with OpenCV
        suffix, params = (".png", {}) if k % 2 else (".jpg", {"quality": 90})
        paths.append(write_rgb(out / f"p{k:02d}{suffix}", img, **params))
    return paths


def ultralytics_predict(
    model: Path, paths: list[Path], *, as_batch: bool = False
) -> list[Detections]:
    """ultralytics' predictor per photo (``as_batch``: the list as one batch, which it
    letterboxes to the full square when sizes differ)."""
    ultralytics = pytest.importorskip("ultralytics")
    yolo = ultralytics.YOLO(str(model), task="detect")
    args = {"conf": CONF, "iou": 0.7, "max_det": 300, "imgsz": FIXTURE_IMGSZ, "verbose": False}
    if as_batch:
        results = yolo.predict([str(p) for p in paths], **args)
    else:
        results = [yolo.predict(str(p), **args)[0] for p in paths]
    return [
        Detections(r.boxes.xyxy.numpy(), r.boxes.conf.numpy(), r.boxes.cls.numpy().astype(np.int64))
        for r in results
    ]


def assert_same(ours: Detections, ref: Detections, where: str) -> None:
    """One-to-one match: same class, |conf diff| <= 1e-3, every coordinate within 1 px."""
    assert len(ours) == len(ref), f"{where}: {len(ours)} boxes vs ultralytics {len(ref)}"
    free = np.ones(len(ref), bool)
    for k in range(len(ours)):
        ok = (
            free
            & (ref.class_id == ours.class_id[k])
            & (np.abs(ref.confidence - ours.confidence[k]) <= 1e-3)
            & (np.abs(ref.xyxy - ours.xyxy[k]).max(1) <= 1.0)
        )
        assert ok.any(), f"{where}: box {ours.xyxy[k]} conf {ours.confidence[k]} has no match"
        # the closest candidate, so near-duplicates pair up correctly
        cand = np.flatnonzero(ok)
        best = cand[np.abs(ref.xyxy[cand] - ours.xyxy[k]).max(1).argmin()]
        free[best] = False


@pytest.mark.parametrize("arch", ["yolo11", "yolo26"])
def test_parity_with_ultralytics_predictor(
    tiny_models: dict[str, Path], photos: list[Path], arch: str
) -> None:
    model = tiny_models[arch]
    det = Detector(model, conf=CONF, iou=0.7, max_det=300)
    assert det.end2end is (arch == "yolo26")
    ref = ultralytics_predict(model, photos)
    total = 0
    for path, r in zip(photos, ref, strict=True):
        ours = det(load_image(path))
        assert_same(ours, r, f"{arch} {path.name}")
        total += len(ours)
    assert total > 20 * len(photos), "too few boxes to say anything about parity"


@pytest.mark.parametrize("arch", ["yolo11", "yolo26"])
def test_batch_parity_mixed_sizes(
    tiny_models: dict[str, Path], photos: list[Path], arch: str
) -> None:
    """A batch of different sizes is letterboxed to the full square, as ultralytics does."""
    model = tiny_models[arch]
    subset = photos[:4]
    det = Detector(model, conf=CONF, iou=0.7, max_det=300, max_batch=4)  # one ONNX batch
    ours = det.batch([load_image(p) for p in subset])
    ref = ultralytics_predict(model, subset, as_batch=True)
    for path, o, r in zip(subset, ours, ref, strict=True):
        assert_same(o, r, f"batch {arch} {path.name}")


def test_model_metadata(tiny_models: dict[str, Path]) -> None:
    det = Detector(tiny_models["yolo11"])
    assert det.names == ["crack", "stain", "tile_chip"]
    assert det.imgsz == (FIXTURE_IMGSZ, FIXTURE_IMGSZ)
    assert det.info.names == det.names and det.info.imgsz == det.imgsz
    assert det.info.name == "yolo11n" and len(det.info.version) == 12
    assert det.info.metadata["task"] == "detect"


@pytest.mark.parametrize("auto", [False, True])
def test_letterbox_pixels_equal_ultralytics(auto: bool) -> None:
    from ultralytics.data.augment import LetterBox

    from detector.geometry import letterbox, letterbox_params

    rng = np.random.default_rng(7)
    for h, w in SIZES:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = LetterBox((FIXTURE_IMGSZ, FIXTURE_IMGSZ), auto=auto, stride=32)(image=img)
        ours = letterbox(img, letterbox_params((h, w), (FIXTURE_IMGSZ, FIXTURE_IMGSZ), auto=auto))
        assert ours.shape == ref.shape and np.array_equal(ours, ref), (h, w)


def test_scale_boxes_equal_ultralytics() -> None:
    import torch
    from ultralytics.utils.ops import scale_boxes as ul_scale_boxes

    from detector.geometry import letterbox_params, scale_boxes

    rng = np.random.default_rng(8)
    for h, w in SIZES:
        for auto in (False, True):
            p = letterbox_params((h, w), (640, 640), auto=auto)
            boxes = rng.uniform(-20, 660, (50, 4)).astype(np.float32)
            boxes[:, 2:] = boxes[:, :2] + np.abs(boxes[:, 2:] - boxes[:, :2])
            ref = ul_scale_boxes(p.input_shape, torch.from_numpy(boxes.copy()), (h, w)).numpy()
            np.testing.assert_allclose(scale_boxes(boxes, p.input_shape, (h, w)), ref, atol=1e-3)


def test_nms_equals_torchvision() -> None:
    import torch
    import torchvision

    from detector.geometry import MAX_WH, nms

    rng = np.random.default_rng(9)
    for _ in range(20):
        n = int(rng.integers(1, 400))
        xy = rng.uniform(0, 600, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 120, (n, 2))], 1).astype(np.float32)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        cls = rng.integers(0, 3, n)
        offset = torch.from_numpy(boxes) + torch.from_numpy(cls[:, None] * float(MAX_WH)).float()
        ref = torchvision.ops.nms(offset, torch.from_numpy(scores), 0.5).numpy()
        assert nms(boxes, scores, 0.5, cls).tolist() == ref.tolist()
