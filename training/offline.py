"""Make ultralytics run with no network: local fonts, no settings sync, no downloads.

Call :func:`prepare_offline` before the first ``import ultralytics`` of a process (it sets
``YOLO_CONFIG_DIR``, which ultralytics reads at import time); calling it later still copies
the fonts into whatever config dir ultralytics already chose.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from finishscan.errors import ModelError
from finishscan.paths import ROOT, data_dir

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
INTEGRATIONS = (
    "raytune",
    "mlflow",
    "wandb",
    "comet",
    "clearml",
    "neptune",
    "dvc",
    "tensorboard",
    "hub",
    "platform",
)


def _bundled_font() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def install_fonts(config_dir: Path) -> None:
    """Copy matplotlib's DejaVuSans under the names ultralytics' plots would download."""
    config_dir.mkdir(parents=True, exist_ok=True)
    src = _bundled_font()
    for name in FONT_NAMES:
        dst = config_dir / name
        if not dst.exists():
            shutil.copyfile(src, dst)


def prepare_offline(config_dir: Path | None = None) -> Path:
    """Set the offline environment for ultralytics and return its config dir.

    Example: ``prepare_offline(); from ultralytics import YOLO``.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "True")
    os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    if config_dir is None:
        config_dir = Path(os.environ.get("YOLO_CONFIG_DIR") or data_dir() / "ultralytics")
    if "ultralytics" not in sys.modules:  # ultralytics reads it once, at import time
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    install_fonts(Path(USER_CONFIG_DIR))  # where check_font() looks first
    # no telemetry and no third-party loggers (ray tune, mlflow, wandb, ...): they phone home or
    # warn outside their own runners
    off = {k: False for k in ("sync", *INTEGRATIONS) if k in SETTINGS and SETTINGS[k]}
    if off:
        SETTINGS.update(off)
    return Path(USER_CONFIG_DIR)


WEIGHT_SUFFIXES = (".pt", ".pth")
ARCH_SUFFIXES = (".yaml", ".yml")


def resolve_model_source(model: str) -> str:
    """Return a model source ultralytics can build without a download, or raise ModelError.

    Accepts an existing ``.pt`` file, an existing ``.yaml`` file, or an architecture YAML name
    that ships inside ultralytics (``yolo11n.yaml``, ``yolo26s.yaml``: the scale letter is kept).
    A weights name that is not on disk (``yolo11n.pt``) would be downloaded, so it is refused.
    """
    path = Path(model).expanduser()
    if not path.is_absolute() and not path.exists() and (ROOT / path).exists():
        path = ROOT / path  # a recipe's repository-relative path (models/<name>.pt)
    suffix = path.suffix.lower()
    if suffix in WEIGHT_SUFFIXES:
        if not path.is_file():
            raise ModelError(
                f"weights file not found: {model} (finishscan never downloads weights; "
                "pass a local .pt file or an architecture YAML such as yolo11n.yaml)"
            )
        return str(path)
    if suffix in ARCH_SUFFIXES:
        if path.is_file():
            return str(path)
        if _packaged_yaml(path.name) is not None:
            return path.name  # ultralytics finds it in its own cfg/models tree
        raise ModelError(f"model YAML not found: {model}")
    raise ModelError(
        f"unsupported model {model!r}: give a local .pt weights file or a model .yaml "
        "(e.g. yolo11n.yaml, yolo26n.yaml)"
    )


def _packaged_yaml(name: str) -> Path | None:
    import re

    import ultralytics

    root = Path(ultralytics.__file__).parent / "cfg" / "models"
    unscaled = re.sub(r"(\d+)([nslmx])(?=[-.])", r"\1", name)  # yolo11n.yaml -> yolo11.yaml
    for candidate in (name, unscaled):
        hits = sorted(root.rglob(candidate))
        if hits:
            return hits[0]
    return None
