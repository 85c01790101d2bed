"""INT8 options of ``quantize_int8`` on a hand-built 3-conv ONNX model (no training needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from finishscan.errors import ConfigError
from training.export import (
    Int8Config,
    _stride,
    attention_float_nodes,
    describe_int8,
    quantize_int8,
    silu_nodes,
    stem_nodes,
)

SIZE = 16


def _conv(name: str, x: str, y: str, cin: int, cout: int, rng: np.random.Generator):
    w = numpy_helper.from_array(
        rng.normal(0, 0.3, (cout, cin, 3, 3)).astype(np.float32), name + "_w"
    )
    b = numpy_helper.from_array(rng.normal(0, 0.1, cout).astype(np.float32), name + "_b")
    node = helper.make_node("Conv", [x, w.name, b.name], [y], name=name, pads=[1, 1, 1, 1])
    return node, [w, b]


def _silu(prefix: str, x: str, y: str):
    return [
        helper.make_node("Sigmoid", [x], [prefix + "_s"], name=prefix + "/Sigmoid"),
        helper.make_node("Mul", [x, prefix + "_s"], [y], name=prefix + "/Mul"),
    ]


def tiny_model(path: Path) -> Path:
    """images -> stem Conv+SiLU -> Conv+SiLU -> attn MatMul-free Mul by 2 -> head Conv -> Sigmoid."""
    rng = np.random.default_rng(0)
    c0, i0 = _conv("/model.0/conv/Conv", "images", "a", 3, 8, rng)
    c1, i1 = _conv("/model.1/conv/Conv", "a2", "b", 8, 8, rng)
    c2, i2 = _conv("/model.3/cv2.0/Conv", "c", "d", 8, 4, rng)
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    nodes = [
        c0,
        *_silu("/model.0/act", "a", "a2"),
        c1,
        *_silu("/model.1/act", "b", "b2"),
        helper.make_node("Mul", ["b2", "two"], ["c"], name="/model.2/attn/Mul"),
        c2,
        helper.make_node("Sigmoid", ["d"], ["output0"], name="/model.3/Sigmoid"),
    ]
    g = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4, SIZE, SIZE])],
        [*i0, *i1, *i2, two],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    helper.set_model_props(m, {"imgsz": f"[{SIZE}, {SIZE}]", "names": "{0: 'crack'}"})
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


@pytest.fixture()
def model_and_calib(tmp_path):
    model = tiny_model(tmp_path / "m.onnx")
    calib = tmp_path / "calib"
    calib.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        cv2.imwrite(str(calib / f"{i}.png"), rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8))
    return model, calib


def test_node_pickers_on_hand_built_graph(tmp_path):
    m = tiny_model(tmp_path / "m.onnx")
    assert stem_nodes(m) == ["/model.0/conv/Conv"]
    assert silu_nodes(m) == [
        "/model.0/act/Sigmoid",
        "/model.0/act/Mul",
        "/model.1/act/Sigmoid",
        "/model.1/act/Mul",
    ]  # the head's lone Sigmoid and the Mul by a constant are not SiLU
    assert attention_float_nodes(m) == ["/model.2/attn/Mul"]


def test_config_refuses_unknown_values_and_describes_itself():
    with pytest.raises(ConfigError, match="format"):
        Int8Config(fmt="qlinear")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="activations"):
        Int8Config(activations="u16")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="calibration"):
        Int8Config(calibration="entropy")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="percentile"):
        Int8Config(percentile=100.5)
    assert (
        describe_int8(Int8Config(float_stem=False))
        == "QDQ U8S8 per-channel, percentile calibration (99.9999 %)"
    )
    assert (
        describe_int8(Int8Config(calibration="moving-average", float_stem=False))
        == "QDQ U8S8 per-channel, moving-average calibration"
    )
    assert describe_int8(
        Int8Config(fmt="qoperator", activations="s8", per_channel=False, calibration="minmax")
    ) == ("QOperator S8S8 per-tensor, minmax calibration, stem conv in float")


def _weight_quantized(model: onnx.ModelProto, conv: str) -> bool:
    """True when the Conv's weight reaches it through a DequantizeLinear (QDQ)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    node = next(n for n in model.graph.node if n.name == conv)
    src = producers.get(node.input[1])
    return src is not None and src.op_type == "DequantizeLinear"


@pytest.mark.parametrize("stem_float", [True, False])
def test_float_stem_keeps_only_the_stem_in_float(model_and_calib, tmp_path, stem_float):
    model, calib = model_and_calib
    cfg = Int8Config(float_stem=stem_float, calibration="minmax")  # the input's full range
    out = quantize_int8(model, tmp_path / "q.onnx", calib=calib, config=cfg)
    q = onnx.load(str(out))
    assert _weight_quantized(q, "/model.0/conv/Conv") is not stem_float
    assert _weight_quantized(q, "/model.1/conv/Conv")
    assert _weight_quantized(q, "/model.3/cv2.0/Conv")
    assert {p.key: p.value for p in q.metadata_props}["imgsz"] == f"[{SIZE}, {SIZE}]"

    x = np.random.default_rng(2).random((1, 3, SIZE, SIZE), dtype=np.float32)
    ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )[0]
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(
        None, {"images": x}
    )[0]
    assert np.abs(got - ref).max() < 0.1  # sigmoid outputs in 0..1; int8 error is a few 1/255 steps


def test_moving_average_calibration_ignores_one_odd_photo(model_and_calib, tmp_path):
    """One saturated photo among three sets the MinMax range; the averaged range stays narrower."""
    model, calib = model_and_calib
    rng = np.random.default_rng(3)
    for i in range(3):  # photos in 64..191, i.e. inputs up to 0.75
        cv2.imwrite(str(calib / f"{i}.png"), rng.integers(64, 192, (SIZE, SIZE, 3), np.uint8))
    cv2.imwrite(str(calib / "odd.png"), np.full((SIZE, SIZE, 3), 255, np.uint8))

    def input_scale(cfg: Int8Config) -> float:
        q = onnx.load(str(quantize_int8(model, tmp_path / "q.onnx", calib=calib, config=cfg)))
        init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
        node = next(n for n in q.graph.node if n.op_type == "QuantizeLinear")
        return float(init[node.input[1]])

    wide = input_scale(Int8Config(calibration="minmax", float_stem=False))
    avg = input_scale(Int8Config(calibration="moving-average", float_stem=False))
    assert wide == pytest.approx(1 / 255, rel=1e-3)  # the white photo reaches 1.0
    assert avg == pytest.approx((3 * 191 / 255 + 1) / 4 / 255, rel=1e-3)  # mean of the maxima


def test_qoperator_writes_integer_convolutions(model_and_calib, tmp_path):
    model, calib = model_and_calib
    out = quantize_int8(model, tmp_path / "q.onnx", calib=calib, config=Int8Config(fmt="qoperator"))
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert ops.count("QLinearConv") == 2 and ops.count("Conv") == 1  # stem stays float


def test_percentile_calibration_cuts_a_lone_outlier(model_and_calib, tmp_path):
    """Four photos of 768 values at 128 but for one value at 255: MinMax spans 0..1; the
    99.9th percentile (1.5 values cut per side) ends at the left edge of 128/255's bin."""
    model, calib = model_and_calib
    for p in calib.iterdir():
        p.unlink()
    for i in range(4):
        img = np.full((SIZE, SIZE, 3), 128, np.uint8)
        if i == 3:
            img[5, 7, 1] = 255
        cv2.imwrite(str(calib / f"{i}.png"), img)

    def input_scale(cfg: Int8Config) -> float:
        q = onnx.load(str(quantize_int8(model, tmp_path / "q.onnx", calib=calib, config=cfg)))
        init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
        node = next(n for n in q.graph.node if n.op_type == "QuantizeLinear")
        return float(init[node.input[1]])

    wide = input_scale(Int8Config(calibration="minmax", float_stem=False))
    cut = input_scale(Int8Config(calibration="percentile", percentile=99.9, float_stem=False))
    assert wide == pytest.approx(1 / 255, rel=1e-3)
    # 2048 bins over -1..1: 128/255 = 0.50196 lies in the bin that starts at 1538/1024 - 1
    assert cut == pytest.approx((1538 / 1024 - 1) / 255, rel=1e-4)


@pytest.mark.parametrize(("n", "stride"), [(150, 10), (7, 7), (13, 1), (4, 4), (36, 9), (1, 1)])
def test_stride_divides_the_photo_count(n, stride):
    assert _stride(n) == stride
