"""ONNX export with a model card, and static INT8 quantization calibrated on real photos.

``export_onnx`` runs ultralytics' exporter (dynamic batch and size, simplified, names/imgsz/
stride in the metadata) and adds the card; ``quantize_int8`` makes a QDQ, per-channel INT8
copy whose calibration inputs are prepared exactly as the detector prepares photos.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from finishscan.errors import ModelError
from training.card import ModelCard, read_card, write_card
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


def quantize_int8(
    fp32: str | Path, out: str | Path, *, calib: str | Path, limit: int = 200
) -> Path:
    """Static QDQ INT8 (per-channel weights, u8 activations) calibrated on photos in ``calib``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(fp32), Path(out)
    card = read_card(src)
    imgsz = card.imgsz if card else _imgsz_from_metadata(src)
    files = calibration_images(calib, limit=limit)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[Path] = iter(files)

        def get_next(self) -> dict[str, np.ndarray] | None:
            p = next(self._it, None)
            return None if p is None else {"images": _letterboxed(p, imgsz)}

    with tempfile.TemporaryDirectory(prefix="finishscan-int8-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=head_float_nodes(pre),
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    _copy_metadata(src, dst)
    if card:
        card.precision = "int8"
        card.name = dst.stem
        card.notes = (
            card.notes
            + f"\nINT8 static QDQ quantization of {src.name}, calibrated on {len(files)} photos."
        ).strip()
        write_card(dst, card)
    return dst


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
