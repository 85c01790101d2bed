"""The Detector on the shipped model: loading errors, metadata, batch, threads, tiling switch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from detector import Detections, Detector, slice_grid
from finishscan.classes import class_names
from finishscan.errors import ImageError, ModelError
from finishscan.paths import MODELS

from .conftest import texture

DEFAULT = MODELS / (MODELS / "DEFAULT").read_text().strip()
# Generic Detector behaviour is pinned to the placeholder (640 px, classic head), whatever ships.
PLACEHOLDER = MODELS / "finishscan-placeholder.onnx"


def written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def det() -> Detector:
    return Detector(PLACEHOLDER, conf=0.001, threads=2)


def test_placeholder_model_metadata(det: Detector) -> None:
    assert det.names == class_names()
    assert det.imgsz == (640, 640)
    assert det.info.names == det.names and det.info.imgsz == (640, 640)
    assert len(det.info.version) == 12 and det.info.name  # no card: sha256 prefix as version
    assert det.dynamic_batch and not det.end2end


def test_shipped_default_model_has_classes_size_and_card(default_model: Path) -> None:
    shipped = Detector(default_model, threads=1)
    assert shipped.names == class_names()
    h, w = shipped.imgsz
    assert h == w and h % 32 == 0 and shipped.dynamic_batch
    assert shipped.info.name and shipped.info.version
    assert default_model.stat().st_size <= 15 * 2**20  # shipped ONNX stays small
    if default_model != PLACEHOLDER:  # a trained model carries its card
        assert "finishscan_card" in shipped.info.metadata
        assert default_model.with_suffix(".md").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.onnx", "not found"),
        (lambda d: d, "not a file"),
        (lambda d: written(d / "empty.onnx", b""), "empty"),
        (lambda d: written(d / "text.onnx", b"not a model"), "not a loadable ONNX model"),
        (lambda d: written(d / "cut.onnx", DEFAULT.read_bytes()[:5000]), "not a loadable"),
    ],
)
def test_model_errors_are_one_sentence(tmp_path: Path, make, message) -> None:
    with pytest.raises(ModelError, match=message) as e:
        Detector(make(tmp_path))
    assert "\n" not in str(e.value)


def test_non_detection_onnx_is_refused(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "relu.onnx")
    with pytest.raises(ModelError, match="image input"):
        Detector(tmp_path / "relu.onnx")


@pytest.mark.parametrize(
    "image",
    [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32),
     np.zeros((0, 10, 3), np.uint8)],
)  # fmt: skip
def test_bad_arrays(det: Detector, image: np.ndarray) -> None:
    with pytest.raises(ImageError):
        det(image)


def test_boxes_inside_the_image(det: Detector) -> None:
    img = texture(np.random.default_rng(1), 300, 900)
    d = det(img)
    assert len(d) > 0
    assert (
        (d.xyxy[:, [0, 2]] <= 900).all()
        and (d.xyxy[:, [1, 3]] <= 300).all()
        and (d.xyxy >= 0).all()
    )
    assert (d.confidence > 0.001).all() and len(d) <= 300


@pytest.mark.parametrize("max_batch", [1, 2, 4])
def test_batch_equals_single_calls_for_same_size(det: Detector, max_batch: int) -> None:
    """Same-size photos in one ONNX batch (3 photos: runs of 1+1+1, 2+1, or 3) = single calls."""
    rng = np.random.default_rng(2)
    images = [texture(rng, 360, 480) for _ in range(3)]
    batched = Detector(PLACEHOLDER, conf=0.001, threads=2, max_batch=max_batch)
    for b, s in zip(batched.batch(images), [det(i) for i in images], strict=True):
        np.testing.assert_allclose(b.xyxy, s.xyxy, atol=1e-2)
        np.testing.assert_allclose(b.confidence, s.confidence, atol=1e-4)
        assert b.class_id.tolist() == s.class_id.tolist()
    assert det.batch([]) == []


def test_concurrent_calls_are_independent(det: Detector) -> None:
    rng = np.random.default_rng(3)
    images = [texture(rng, h, w) for h, w in [(200, 300), (500, 400), (256, 256), (120, 640)]]
    expected = [det(i) for i in images]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(det, images + images[::-1]))
    for g, e in zip(got, expected + expected[::-1], strict=True):
        assert g == e


def test_detect_tile_switch(det: Detector, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[tuple[int, ...]]] = []
    real = det.batch

    def spy(images):
        calls.append([i.shape for i in images])
        return real(images)

    monkeypatch.setattr(det, "batch", spy)
    small = texture(np.random.default_rng(4), 480, 640)
    assert det.detect(small, tile="auto") == det(small)  # 640 <= 2 x 640: no tiling
    calls.clear()
    big = texture(np.random.default_rng(5), 1000, 1400)  # 1400 > 1280: tiled
    d = det.detect(big, tile="auto")
    assert len(calls) == 1 and len(calls[0]) == 1 + len(slice_grid(1000, 1400, 640, 640, 0.2))
    assert isinstance(d, Detections) and (d.xyxy[:, 2] <= 1400).all()
    calls.clear()
    det.detect(big, tile="off")
    assert calls == [[(1000, 1400, 3)]]
    calls.clear()
    det.detect(small, tile="on")
    assert len(calls) == 1 and len(calls[0]) == 2  # whole photo + one slice
    with pytest.raises(ValueError):
        det.detect(small, tile="sometimes")  # type: ignore[arg-type]


def with_metadata(tmp_path: Path, **props: str) -> Path:
    """A copy of the shipped model with some metadata entries replaced or added."""
    onnx = pytest.importorskip("onnx")
    m = onnx.load(str(DEFAULT))
    current = {p.key: p.value for p in m.metadata_props}
    current.update(props)
    del m.metadata_props[:]
    for k, v in current.items():
        m.metadata_props.add(key=k, value=v)
    out = tmp_path / "m.onnx"
    onnx.save(m, str(out))
    return out


def test_model_name_and_version_from_metadata(tmp_path: Path) -> None:
    det = Detector(with_metadata(tmp_path, model_name="finishscan-yolo11n", model_version="3"))
    assert (det.info.name, det.info.version) == ("finishscan-yolo11n", "3")


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"names": "{0: 'crack', 1: 'stain'}"}, "10 values per box but names 2 classes"),
        ({"names": "not python"}, "'names' metadata"),
        ({"task": "segment"}, "'segment' model"),
    ],
)
def test_inconsistent_metadata_is_refused(tmp_path: Path, props, message) -> None:
    with pytest.raises(ModelError, match=message):
        Detector(with_metadata(tmp_path, **props))
