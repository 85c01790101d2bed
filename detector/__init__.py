"""finishscan's ONNX detector: numpy + OpenCV + ONNX Runtime only (no torch).

>>> from detector import Detector, load_image, to_record          # doctest: +SKIP
>>> det = Detector("models/finishscan-placeholder.onnx")            # doctest: +SKIP
>>> d = det.detect(load_image("wall.jpg"), tile="auto")             # doctest: +SKIP
"""

from detector.draw import draw_detections
from detector.image import (
    DEFAULT_MAX_PIXELS,
    ImageHeader,
    decode_image,
    image_header,
    load_image,
    read_header,
)
from detector.model import (
    CARD_KEY,
    CONF_THRESHOLDS_KEY,
    DEFAULT_CONF,
    Detector,
    TileMode,
    parse_card,
    parse_conf_thresholds,
    session_options,
)
from detector.quality import PhotoQuality, photo_quality
from detector.record import error_record, to_record
from detector.tiling import merge_slices, should_tile, slice_grid, tiled_detect
from detector.types import Detections, ModelInfo

__all__ = [
    "CARD_KEY",
    "CONF_THRESHOLDS_KEY",
    "DEFAULT_CONF",
    "DEFAULT_MAX_PIXELS",
    "Detections",
    "Detector",
    "ImageHeader",
    "ModelInfo",
    "PhotoQuality",
    "TileMode",
    "decode_image",
    "draw_detections",
    "error_record",
    "image_header",
    "load_image",
    "merge_slices",
    "parse_card",
    "parse_conf_thresholds",
    "photo_quality",
    "read_header",
    "session_options",
    "should_tile",
    "slice_grid",
    "tiled_detect",
    "to_record",
]
