"""The one exception tree of finishscan.

Library code raises these; only ``serving/`` (HTTP) and the CLI map them to status
codes, exit codes and one-line messages. The message of each is a complete sentence
a user can act on, e.g. ``ModelError("model file not found: models/x.onnx")``.

    FinishscanError
    ├── ModelError      model file missing, unreadable or of an unsupported layout
    ├── ImageError      photo unreadable, empty, truncated, too large, unsupported
    ├── DatasetError    labels or dataset layout invalid
    ├── ConfigError     YAML / settings invalid
    └── RegisterError   register (database, photo store) failure or refused change
        ├── NotFoundError       a project/unit/defect that does not exist
        ├── TransitionError     a status change the workflow does not allow
        └── PermissionDenied    an API key without the right role or project
"""

from __future__ import annotations


class FinishscanError(Exception):
    """Base of every error finishscan raises on purpose."""


class ModelError(FinishscanError):
    """The model cannot be loaded or used."""


class ImageError(FinishscanError):
    """A photo cannot be read or is not acceptable.

    ``too_large`` is True when the photo was refused for its byte or pixel size
    (the service answers 413 for those, 400/415/422 for the rest).
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


class DatasetError(FinishscanError):
    """A dataset or label file is invalid."""


class ConfigError(FinishscanError):
    """A configuration file or setting is invalid."""


class RegisterError(FinishscanError):
    """The defect register refused or failed an operation."""


class NotFoundError(RegisterError):
    """A project, unit, photo or defect does not exist."""


class TransitionError(RegisterError):
    """A defect status change that the rectification workflow does not allow."""


class PermissionDenied(RegisterError):
    """The caller's API key does not allow this action."""
