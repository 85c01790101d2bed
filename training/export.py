"""ONNX export with a model card, and static INT8 quantization calibrated on real photos.

``export_onnx`` runs ultralytics' exporter (dynamic batch and size, simplified, names/imgsz/
stride in the metadata) and adds the card; ``quantize_int8`` makes a static INT8 copy (QDQ,
U8S8, per-channel, percentile calibration ranges, stem and head decoding in float by default; see
``Int8Config``) whose calibration inputs are prepared exactly as the detector prepares photos.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from finishscan.errors import ConfigError, ModelError
from training.card import CONF_FLOOR, ModelCard, read_card, write_card
from training.data import IMAGE_SUFFIXES
from training.offline import prepare_offline


def export_onnx(
    weights: str | Path, out: str | Path, *, imgsz: int | None = None, card: ModelCard | None = None
) -> Path:
    """Export ``weights`` (.pt) to ``out`` (.onnx); the card goes into its metadata and ``out.md``.

    Example: ``export_onnx("runs/a/weights/best.pt", "models/m.onnx", imgsz=320)``.
    """
    src = Path(weights).expanduser()
    if not src.is_file():
        raise ModelError(f"weights file not found: {weights}")
    dst = Path(out).expanduser()
    if dst.suffix != ".onnx":
        raise ModelError(f"export target must end in .onnx: {out}")
    prepare_offline()
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory(prefix="finishscan-export-") as tmp:
        local = Path(tmp) / "model.pt"
        shutil.copyfile(src, local)
        model = YOLO(str(local), task="detect")
        size = imgsz or int(
            model.ckpt.get("train_args", {}).get("imgsz", 640) if model.ckpt else 640
        )
        produced = model.export(
            format="onnx", imgsz=size, dynamic=True, simplify=True, device="cpu"
        )
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(produced), dst)
        names = [model.names[i] for i in sorted(model.names)]
    card = card or ModelCard(name=dst.stem, version="1", classes=names)
    card.classes = names
    card.imgsz = size
    write_card(dst, card)
    return dst


def operating_thresholds(
    evaluation: Mapping[str, object], *, floor: float = CONF_FLOOR
) -> dict[str, float]:
    """Per-class operating confidences to store with a model, from ``finishscan evaluate``'s
    JSON (``EvalResult.to_dict()``): each class's own max-F1 confidence, at least ``floor``;
    a class without one (no labels or no true positive in the set) takes the set's overall
    max-F1 confidence (also at least ``floor``). ``{}`` when no class has its own (nothing
    measured worth storing: the detector then keeps its default).

    >>> operating_thresholds({"conf_threshold_max_f1": 0.17, "per_class": {
    ...     "crack": {"conf_threshold_max_f1": 0.31}, "stain": {"conf_threshold_max_f1": 0.02},
    ...     "tile_chip": {"conf_threshold_max_f1": None}}})
    {'crack': 0.31, 'stain': 0.05, 'tile_chip': 0.17}
    """
    per = evaluation.get("per_class") or {}
    if not isinstance(per, Mapping):
        raise ValueError("evaluation['per_class'] must be a mapping of class name to metrics")
    own = {str(c): (v or {}).get("conf_threshold_max_f1") for c, v in per.items()}
    if all(t is None for t in own.values()):
        return {}
    overall = float(evaluation.get("conf_threshold_max_f1") or 0.0)  # type: ignore[arg-type]
    return {c: round(max(floor, overall if t is None else float(t)), 3) for c, t in own.items()}


def _letterboxed(path: Path, imgsz: int) -> np.ndarray:
    from detector import load_image
    from detector.geometry import letterbox, letterbox_params

    rgb = load_image(path)
    lb = letterbox(rgb, letterbox_params(rgb.shape[:2], (imgsz, imgsz)))
    return (lb.transpose(2, 0, 1)[None].astype(np.float32) / 255.0).copy()


def calibration_images(calib: str | Path, *, limit: int = 200, seed: int = 0) -> list[Path]:
    """Up to ``limit`` photos from a folder (recursively), a seeded sample when there are more."""
    root = Path(calib).expanduser()
    if not root.is_dir():
        raise ModelError(f"calibration folder not found: {calib}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ModelError(f"no calibration photos in {calib}")
    if len(files) > limit:
        idx = np.random.default_rng(seed).choice(len(files), limit, replace=False)
        files = [files[i] for i in sorted(idx)]
    return files


def head_float_nodes(model_path: Path) -> list[str]:
    """Nodes of the detection head's decoding (DFL, sigmoid, anchors, concat of boxes and scores).

    Quantizing them would put box coordinates (0..imgsz) and class scores (0..1) on one
    INT8 scale and destroy the scores, so they stay in float; the head's convolution
    branches (``cv2``/``cv3``/``one2one_*``) and the backbone are quantized.
    """
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    if not convs:
        return []
    head = "/".join(convs[-1].name.split("/")[:2]) + "/"  # "/model.23/" in ultralytics' names
    branches = ("/cv2.", "/cv3.", "/cv4.", "/one2one_cv2.", "/one2one_cv3.")
    return [
        n.name
        for n in m.graph.node
        if n.name.startswith(head)
        and n.op_type != "Conv"
        and not any(b in n.name for b in branches)
    ]


@dataclass(frozen=True)
class Int8Config:
    """How :func:`quantize_int8` quantizes; the defaults are the fastest accurate setting measured
    on a 2-core AVX2 (no VNNI) CPU (benchmarks/int8_speed.py, benchmarks/RESULTS.md).

    ``fmt``: ``"qdq"`` (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into
    integer kernels) or ``"qoperator"`` (QLinearConv etc. written into the file).
    ``activations``: ``"u8"`` or ``"s8"``; weights are always int8 (U8S8 or S8S8).
    ``per_channel``: one weight scale per output channel instead of one per tensor.
    ``reduce_range``: 7-bit weights (avoids int16 saturation of AVX2 kernels without VNNI).
    ``calibration``: how activation ranges come from the photos: ``"minmax"`` (the extreme
    value seen; one odd photo can widen a range 15-fold), ``"moving-average"`` (per-photo
    extremes averaged, ORT's ``CalibMovingAverage``; clips every photo's tails, mAP50 -0.011 on
    the shipped v0.2.0) or ``"percentile"`` (a histogram of all photos' values, cut where
    ``percentile`` % of them lie inside, half the rest on each side; -0.002 to +0.003).
    ``percentile``: share of activation values kept inside the range (``"percentile"`` only).
    ``float_stem``: keep the convolutions that read the input image in float (3 input channels
    make ORT's int8 NHWC kernel slower than its float one).
    ``float_silu``: keep SiLU (``x * Sigmoid(x)``) in float; ``float_attention``: keep the
    attention blocks' non-convolution nodes in float. The head's decoding is always float.

    Example: ``quantize_int8(m, out, calib=d, config=Int8Config(float_silu=True))``.
    """

    fmt: Literal["qdq", "qoperator"] = "qdq"
    activations: Literal["u8", "s8"] = "u8"
    per_channel: bool = True
    reduce_range: bool = False
    calibration: Literal["minmax", "moving-average", "percentile"] = "percentile"
    percentile: float = 99.9999
    float_stem: bool = True
    float_silu: bool = False
    float_attention: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in ("qdq", "qoperator"):
            raise ConfigError(f"INT8 format must be 'qdq' or 'qoperator', got {self.fmt!r}")
        if self.activations not in ("u8", "s8"):
            raise ConfigError(f"INT8 activations must be 'u8' or 's8', got {self.activations!r}")
        if self.calibration not in ("minmax", "moving-average", "percentile"):
            raise ConfigError(
                "INT8 calibration must be 'minmax', 'moving-average' or 'percentile',"
                f" got {self.calibration!r}"
            )
        if not 50.0 < self.percentile <= 100.0:
            raise ConfigError(f"INT8 percentile must be in (50, 100], got {self.percentile}")


def silu_nodes(model_path: Path) -> list[str]:
    """Names of the Sigmoid and Mul nodes that form SiLU, ``Mul(x, Sigmoid(x))``."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    sig = {n.output[0]: n for n in nodes if n.op_type == "Sigmoid"}
    out: list[str] = []
    for n in nodes:
        if n.op_type != "Mul" or len(n.input) != 2:
            continue
        for a, b in (n.input, n.input[::-1]):
            s = sig.get(b)
            if s is not None and s.input[0] == a:
                out += [s.name, n.name]
                break
    return out


def stem_nodes(model_path: Path) -> list[str]:
    """Names of the Conv nodes that read a graph input (the image) directly."""
    import onnx

    g = onnx.load(str(model_path), load_external_data=False).graph
    inputs = {i.name for i in g.input}
    return [n.name for n in g.node if n.op_type == "Conv" and n.input[0] in inputs]


def attention_float_nodes(model_path: Path) -> list[str]:
    """Non-convolution nodes of the attention blocks (``/attn/`` in ultralytics' names)."""
    import onnx

    nodes = onnx.load(str(model_path), load_external_data=False).graph.node
    return [n.name for n in nodes if "/attn/" in n.name and n.op_type != "Conv"]


def quantize_int8(
    fp32: str | Path,
    out: str | Path,
    *,
    calib: str | Path,
    limit: int = 200,
    config: Int8Config | None = None,
) -> Path:
    """Static INT8 copy of ``fp32`` calibrated on photos in ``calib``, as ``config`` says."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    cfg = config or Int8Config()
    src, dst = Path(fp32), Path(out)
    card = read_card(src)
    imgsz = card.imgsz if card else _imgsz_from_metadata(src)
    files = calibration_images(calib, limit=limit)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[Path] = iter(files)

        def __len__(self) -> int:
            return len(files)

        def set_range(self, start_index: int, end_index: int) -> None:
            self._it = iter(files[start_index:end_index])

        def get_next(self) -> dict[str, np.ndarray] | None:
            p = next(self._it, None)
            return None if p is None else {"images": _letterboxed(p, imgsz)}

    options: dict[str, object] = {
        "ActivationSymmetric": False,
        "WeightSymmetric": True,
        "CalibMovingAverage": cfg.calibration == "moving-average",
    }
    method = CalibrationMethod.MinMax
    if cfg.calibration == "percentile":
        method = CalibrationMethod.Percentile
        options |= {
            "CalibPercentile": cfg.percentile,
            "CalibTensorRangeSymmetric": False,  # cut each tail, not |x| (SiLU outputs >= -0.28)
            # ORT keeps every photo's activations until the histograms are made (4 GB for 150
            # photos at 320 px); histograms of a few photos at a time merge into the same bins.
            "CalibStridedMinMax": _stride(len(files)),
        }

    with tempfile.TemporaryDirectory(prefix="finishscan-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        exclude = head_float_nodes(pre)
        if cfg.float_stem:
            exclude += stem_nodes(pre)
        if cfg.float_silu:
            exclude += silu_nodes(pre)
        if cfg.float_attention:
            exclude += attention_float_nodes(pre)
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ if cfg.fmt == "qdq" else QuantFormat.QOperator,
            per_channel=cfg.per_channel,
            reduce_range=cfg.reduce_range,
            activation_type=QuantType.QUInt8 if cfg.activations == "u8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=sorted(set(exclude)),
            extra_options=options,
        )
    _copy_metadata(src, dst)
    if card:
        card.precision = "int8"
        card.name = dst.stem
        card.notes = (
            card.notes + f"\nINT8 static quantization of {src.name} ({describe_int8(cfg)}),"
            f" calibrated on {len(files)} photos."
        ).strip()
        write_card(dst, card)
    return dst


def describe_int8(cfg: Int8Config) -> str:
    """One-line summary, e.g. ``"QDQ U8S8 per-channel, SiLU in float"``."""
    fmt = "QDQ" if cfg.fmt == "qdq" else "QOperator"
    grain = "per-channel" if cfg.per_channel else "per-tensor"
    parts = [f"{fmt} {cfg.activations.upper()}S8 {grain}"]
    if cfg.calibration == "percentile":
        parts.append(f"percentile calibration ({cfg.percentile:g} %)")
    else:
        parts.append(f"{cfg.calibration} calibration")
    if cfg.reduce_range:
        parts.append("7-bit weights")
    if cfg.float_stem:
        parts.append("stem conv in float")
    if cfg.float_silu:
        parts.append("SiLU in float")
    if cfg.float_attention:
        parts.append("attention in float")
    return ", ".join(parts)


def _stride(n: int, most: int = 10) -> int:
    """The largest divisor of ``n`` up to ``most`` (ORT's strided calibration needs one)."""
    return next(s for s in range(min(n, most), 0, -1) if n % s == 0)


def _imgsz_from_metadata(path: Path) -> int:
    import ast

    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    try:
        return int(ast.literal_eval(props["imgsz"])[0])
    except (KeyError, ValueError, SyntaxError) as e:
        raise ModelError(f"{path} has no imgsz in its metadata") from e


def _copy_metadata(src: Path, dst: Path) -> None:
    import onnx

    a = onnx.load(str(src), load_external_data=False)
    b = onnx.load(str(dst))
    have = {p.key for p in b.metadata_props}
    for p in a.metadata_props:
        if p.key not in have:
            b.metadata_props.add(key=p.key, value=p.value)
    onnx.save(b, str(dst))
