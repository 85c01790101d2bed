"""The defect taxonomy, read from ``configs/classes.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from finishscan.errors import ConfigError
from finishscan.paths import CONFIGS


@dataclass(frozen=True)
class DefectClass:
    name: str
    definition: str


def load_classes(path: Path | None = None) -> list[DefectClass]:
    """The classes in id order. ``load_classes()[0].name == "crack"`` for the default file."""
    path = path or CONFIGS / "classes.yaml"
    try:
        doc = yaml.safe_load(Path(path).read_text())
        items = doc["classes"]
        classes = [DefectClass(str(c["name"]), str(c.get("definition", ""))) for c in items]
    except FileNotFoundError as e:
        raise ConfigError(f"classes file not found: {path}") from e
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise ConfigError(f"classes file {path} is not a list of {{name, definition}}: {e}") from e
    names = [c.name for c in classes]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"classes file {path} must list unique, non-empty class names")
    return classes


def class_names(path: Path | None = None) -> list[str]:
    """Just the names, in id order."""
    return [c.name for c in load_classes(path)]
