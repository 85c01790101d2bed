"""finishscan: shared core (version, exception tree, well-known paths).

The working packages are top-level: ``detector`` (ONNX inference), ``datasets``
(formats and the synthetic generator), ``training`` (ultralytics), ``register``
(the per-unit defect register) and ``serving`` (HTTP service and CLI).
"""

from finishscan.errors import (
    ConfigError,
    DatasetError,
    FinishscanError,
    ImageError,
    ModelError,
    RegisterError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "FinishscanError",
    "ModelError",
    "ImageError",
    "DatasetError",
    "ConfigError",
    "RegisterError",
]
