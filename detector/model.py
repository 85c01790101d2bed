"""``Detector``: a YOLO ONNX model behind ONNX Runtime, stateless per call.

Preprocessing and decoding are ultralytics' (see :mod:`detector.geometry`): for a model with
dynamic height/width and ``rect=True`` a photo (or a batch of same-size photos) is letterboxed to
the minimum stride-32 rectangle around the resized photo, as ``YOLO(onnx).predict`` does; photos
of different sizes are letterboxed to the full ``imgsz`` square.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from detector.geometry import (
    Letterbox,
    decode_classic,
    decode_end2end,
    fuse_views,
    letterbox,
    letterbox_params,
    mirror_x,
    nms,
    scale_boxes,
)
from detector.tiling import should_tile, tiled_detect
from detector.types import Detections, ModelInfo
from finishscan.errors import ImageError, ModelError

TileMode = Literal["auto", "on", "off"]

DEFAULT_CONF = 0.25  # a class's threshold when no conf is given and the model stores none for it
CONF_THRESHOLDS_KEY = "conf_thresholds"  # ONNX metadata: JSON {class name: confidence}
CARD_KEY = "finishscan_card"  # ONNX metadata: the model card as JSON (training.card.ModelCard)
# flip test-time augmentation (``Detector(tta=True)``): a box of one view and its partner in the
# mirrored view are fused when their IoU is at least TTA_PAIR_IOU, then NMS at TTA_NMS_IOU (or
# ``iou``, if lower) removes what still overlaps; each view is decoded down to TTA_VIEW_CONF (or
# the lowest class threshold, if lower) before fusing. Chosen on v0.17.0's seed-777 tiles and
# confirmed on 2,400 others (benchmarks/RESULTS.md, tta_fused_v0.17.0)
TTA_PAIR_IOU = 0.55
TTA_NMS_IOU = 0.6
TTA_VIEW_CONF = 0.01
TTA_SUFFIX = "+flip"  # appended to the model version under TTA


def session_options(threads: int | None, *, spinning: bool = False) -> ort.SessionOptions:
    """ORT settings used by every Detector: full graph optimisation, sequential execution,
    ``threads`` intra-op threads (None: all cores), one inter-op thread, and no busy-wait
    spinning of idle worker threads (on a shared 2-core machine spinning threads steal the CPU
    from each other and from concurrent requests; measured in benchmarks/detect_speed.py)."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = threads if threads else (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
    return opts


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _parse_names(raw: str | None, nc: int | None) -> list[str]:
    if raw:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError) as e:
            raise ModelError(
                f"the model's 'names' metadata is not a dict or list: {raw[:80]}"
            ) from e
        if isinstance(value, dict):
            return [str(value[k]) for k in sorted(value)]
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        raise ModelError(f"the model's 'names' metadata is not a dict or list: {raw[:80]}")
    if nc is None:
        raise ModelError("the model has no 'names' metadata and no static class count")
    return [f"class{i}" for i in range(nc)]


def parse_conf_thresholds(raw: str | None, names: Sequence[str]) -> dict[str, float]:
    """The per-class operating confidences a model stores under ``conf_thresholds`` in its
    metadata (JSON ``{class name: confidence}``, written by ``finishscan export --data``);
    ``{}`` when it has none. Raises :class:`ModelError` for a malformed value or unknown class.

    >>> parse_conf_thresholds('{"crack": 0.2}', ["crack", "stain"])
    {'crack': 0.2}
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ModelError(f"the model's 'conf_thresholds' metadata is not JSON: {raw[:80]}") from e
    if not isinstance(value, dict):
        raise ModelError(f"the model's 'conf_thresholds' metadata is not an object: {raw[:80]}")
    out: dict[str, float] = {}
    for name, conf in value.items():
        if name not in names:
            raise ModelError(
                f"the model's 'conf_thresholds' name a class it does not have: {name!r}"
            )
        if (
            isinstance(conf, bool)
            or not isinstance(conf, (int, float))
            or not math.isfinite(conf)
            or not 0 <= conf <= 1
        ):
            raise ModelError(f"the model's 'conf_thresholds' for {name!r} is not in [0, 1]: {conf}")
        out[str(name)] = float(conf)
    return out


def parse_card(raw: str | None) -> dict[str, Any] | None:
    """The ``finishscan_card`` metadata as a dict, or ``None`` when absent or not a JSON object."""
    if not raw:
        return None
    try:
        card = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return card if isinstance(card, dict) else None


def _parse_imgsz(raw: str | None, input_shape: list) -> tuple[int, int]:
    if raw:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError) as e:
            raise ModelError(f"the model's 'imgsz' metadata is not a size: {raw[:80]}") from e
        if isinstance(value, int):
            return value, value
        if isinstance(value, (list, tuple)) and len(value) == 2:
            return int(value[0]), int(value[1])
        raise ModelError(f"the model's 'imgsz' metadata is not a size: {raw[:80]}")
    h, w = input_shape[2], input_shape[3]
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    return 640, 640


class Detector:
    """A YOLO detection model (ONNX) loaded once; calls are stateless and thread-safe.

    ``conf``: one confidence threshold for every class. ``None`` (the default) uses the
    per-class operating thresholds stored in the model (``conf_thresholds``, its max-F1
    confidences; see ``conf_thresholds`` / ``class_conf``), ``DEFAULT_CONF`` (0.25) for a
    class without one and for a model without any. Whole photos and tiles are filtered alike.

    >>> det = Detector(default_model_path())                    # doctest: +SKIP
    >>> det(load_image("wall.jpg")).xyxy                        # doctest: +SKIP
    """

    def __init__(
        self,
        model: str | Path,
        *,
        threads: int | None = None,
        conf: float | None = None,
        iou: float = 0.7,
        max_det: int = 300,
        rect: bool = True,
        max_batch: int = 1,
        tile_overlap: float = 0.2,
        tta: bool = False,
    ) -> None:
        path = Path(model)
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        if not path.is_file():
            raise ModelError(f"model path is not a file: {path}")
        if path.stat().st_size == 0:
            raise ModelError(f"model file is empty: {path}")
        if not ((conf is None or 0 <= conf <= 1) and 0 <= iou <= 1):
            raise ValueError(f"conf and iou must be in [0, 1], got {conf} and {iou}")
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads), providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # ORT raises its own non-hierarchical exception types
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise ModelError(f"model file {path} is not a loadable ONNX model ({first})") from e
        self.path = path
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.max_batch, self.tile_overlap, self.tta = max_batch, tile_overlap, tta

        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            raise ModelError(f"model {path} does not take one (batch, 3, h, w) image input")
        if "float" not in inputs[0].type or "16" in inputs[0].type:
            raise ModelError(
                f"model {path} takes {inputs[0].type}, only float32 input is supported"
            )
        if not outputs or len(outputs[0].shape) != 3:
            raise ModelError(f"model {path} is not a YOLO detection model (its output is not 3-D)")
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        in_shape, out_shape = list(inputs[0].shape), list(outputs[0].shape)
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.dynamic_batch = not isinstance(in_shape[0], int)
        self.dynamic_hw = not (isinstance(in_shape[2], int) and isinstance(in_shape[3], int))
        self.rect = rect and self.dynamic_hw
        self.stride = int(meta.get("stride", 32))
        if meta.get("task") not in (None, "detect"):
            raise ModelError(f"model {path} is a '{meta['task']}' model, not a detection model")
        # ultralytics' rule: end-to-end (N, 6) rows when the metadata says so or the last axis is 6
        self.end2end = meta.get("end2end", "").lower() == "true" or out_shape[2] == 6
        channels = out_shape[1] if isinstance(out_shape[1], int) and not self.end2end else None
        self.names = _parse_names(meta.get("names"), None if channels is None else channels - 4)
        if channels is not None and channels != 4 + len(self.names):
            raise ModelError(
                f"model {path} outputs {channels} values per box but names {len(self.names)} "
                "classes (4 + classes expected)"
            )
        self.imgsz = _parse_imgsz(meta.get("imgsz"), in_shape)
        self.conf_thresholds = parse_conf_thresholds(meta.get(CONF_THRESHOLDS_KEY), self.names)
        # the threshold each class id is filtered at: ``conf`` for all when given, else the
        # model's own per-class thresholds, DEFAULT_CONF for a class it has none for
        self.class_conf = np.array(
            [
                conf if conf is not None else self.conf_thresholds.get(n, DEFAULT_CONF)
                for n in self.names
            ],
            dtype=np.float32,
        )
        self._decode_conf: float | np.ndarray = (
            conf if conf is not None else self.class_conf if self.conf_thresholds else DEFAULT_CONF
        )
        self.info = ModelInfo(
            name=meta.get("model_name") or path.stem,
            # flip TTA gives other detections from the same weights: another version string,
            # so the register and `scan`'s resume do not take one for the other
            version=(meta.get("model_version") or _file_digest(path)) + (TTA_SUFFIX if tta else ""),
            names=list(self.names),
            imgsz=self.imgsz,
            metadata=meta,
        )

    def __repr__(self) -> str:
        return f"Detector({str(self.path)!r}, imgsz={self.imgsz}, classes={len(self.names)})"

    @property
    def class_thresholds(self) -> dict[str, float]:
        """The confidence each class is filtered at (``class_conf`` by class name)."""
        return dict(zip(self.names, (float(c) for c in self.class_conf), strict=True))

    @property
    def card(self) -> dict[str, Any] | None:
        """The model card stored in the ONNX metadata (``finishscan export``): what the model
        was trained on, its held-out metrics and limits; ``None`` for a model without one or
        with one that is not a JSON object (a card is description, never needed to detect)."""
        return parse_card(self.info.metadata.get(CARD_KEY))

    def with_tta(self, tta: bool) -> Detector:
        """This detector reading photos with (``True``) or without flip TTA, its model version
        marked accordingly: ``self`` when it already does, else a copy sharing the same ONNX
        Runtime session (so a service can offer both per request with one model loaded)."""
        if tta == self.tta:
            return self
        other = copy.copy(self)
        other.tta = tta
        plain = self.info.version.removesuffix(TTA_SUFFIX) if self.tta else self.info.version
        other.info = dataclasses.replace(
            self.info, version=plain + (TTA_SUFFIX if tta else ""), names=list(self.names)
        )
        return other

    def __call__(self, image: np.ndarray) -> Detections:
        """Detections on the whole RGB uint8 (H, W, 3) ``image``, boxes in its pixels."""
        return self.batch([image])[0]

    def batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for each image, letterboxed together: images of one size get the minimum
        rectangle, mixed sizes the full square (as ultralytics does, so a mixed batch can differ
        slightly from single calls). One ``session.run`` per ``max_batch`` images when the model
        has a dynamic batch axis. The default ``max_batch=1`` is the fastest on a CPU: a tiled
        4000x3000 photo took 4.4 s with runs of 1 and 7.3 s with runs of 4 here (see
        benchmarks/RESULTS.md); raise it for a GPU build of ONNX Runtime."""
        if not images:
            return []
        for im in images:
            _check_image(im)
        if not self.tta:
            return self._run(images, self._decode_conf)
        flipped = [np.ascontiguousarray(im[:, ::-1]) for im in images]
        # each view decoded below the threshold, so a box's partner in the other view counts
        floor = min(TTA_VIEW_CONF, float(self.class_conf.min()))
        views = self._run([*images, *flipped], floor)
        n = len(images)
        return [
            self._fuse(a, b, im.shape[1])
            for im, a, b in zip(images, views[:n], views[n:], strict=True)
        ]

    def _run(self, images: Sequence[np.ndarray], conf: float | np.ndarray) -> list[Detections]:
        shapes = {im.shape[:2] for im in images}
        auto = self.rect and len(shapes) == 1
        params = [
            letterbox_params(im.shape[:2], self.imgsz, auto=auto, stride=self.stride)
            for im in images
        ]
        step = self.max_batch if self.dynamic_batch else 1
        results: list[Detections] = []
        for start in range(0, len(images), step):
            chunk = range(start, min(start + step, len(images)))
            blob = self.blob([images[i] for i in chunk], [params[i] for i in chunk])
            (out,) = self.session.run([self.output_name], {self.input_name: blob})
            for k, i in enumerate(chunk):
                results.append(
                    self._decode(out[k], params[i].input_shape, images[i].shape[:2], conf)
                )
        return results

    def _fuse(self, a: Detections, flipped: Detections, width: int) -> Detections:
        """One image's detections from its own view ``a`` and its left-right mirror's: fused
        pairwise (:func:`~detector.geometry.fuse_views`), then NMS (the two views' unpaired
        boxes can still overlap), then each class's threshold."""
        b = Detections(mirror_x(flipped.xyxy, width), flipped.confidence, flipped.class_id)
        d = fuse_views(a, b, TTA_PAIR_IOU)
        d = d[nms(d.xyxy, d.confidence, min(self.iou, TTA_NMS_IOU), d.class_id)]
        return d[d.confidence > self.class_conf[d.class_id]][: self.max_det]

    @staticmethod
    def blob(images: Sequence[np.ndarray], params: Sequence[Letterbox]) -> np.ndarray:
        """The model's input for ``images``, each letterboxed by its ``params``: float32
        (N, 3, H, W) in [0, 1], contiguous."""
        blob = np.stack([letterbox(im, p) for im, p in zip(images, params, strict=True)])
        blob = np.ascontiguousarray(blob.transpose(0, 3, 1, 2), dtype=np.float32)
        blob *= np.float32(1 / 255)
        return blob

    def _decode(
        self,
        out: np.ndarray,
        input_shape: tuple[int, int],
        shape: tuple[int, int],
        conf: float | np.ndarray | None = None,
    ) -> Detections:
        """One image's detections from its row of the model's output, boxes scaled from the
        model input's ``input_shape`` to the image's ``shape``; ``conf``: the decode threshold
        (default: the detector's own)."""
        conf = self._decode_conf if conf is None else conf
        if self.end2end:
            d = decode_end2end(out, conf=conf, max_det=self.max_det)
        else:
            d = decode_classic(out, conf=conf, iou=self.iou, max_det=self.max_det)
        return Detections(scale_boxes(d.xyxy, input_shape, shape), d.confidence, d.class_id)

    def detect(self, image: np.ndarray, *, tile: TileMode = "auto") -> Detections:
        """Detections on a photo of any size. ``tile="auto"`` tiles when the long side is more
        than twice the model's input (see :func:`detector.tiling.should_tile`); tiles are
        model-sized slices overlapping by ``tile_overlap``, sent as one batch together with the
        whole photo, and merged across slice borders."""
        if tile not in ("auto", "on", "off"):
            raise ValueError(f"tile must be 'auto', 'on' or 'off', got {tile!r}")
        _check_image(image)
        if tile == "off" or (tile == "auto" and not should_tile(image.shape[:2], self.imgsz)):
            return self(image)
        return tiled_detect(
            image,
            self.batch,
            self.imgsz,
            overlap=self.tile_overlap,
            whole=True,
            max_det=self.max_det,
        )


def _check_image(image: np.ndarray) -> None:
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        desc = (
            f"{image.dtype} {image.shape}"
            if isinstance(image, np.ndarray)
            else type(image).__name__
        )
        raise ImageError(f"expected an RGB uint8 image of shape (H, W, 3), got {desc}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError("the image is empty (0 pixels)")
