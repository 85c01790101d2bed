"""Well-known locations: the repository's configs/ and models/, the user's data dir.

Nothing here creates files at import time; callers create what they need.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
MODELS = ROOT / "models"


def data_dir() -> Path:
    """Where the embedded register and photo store live by default.

    ``$FINISHSCAN_HOME`` if set, else ``$XDG_DATA_HOME/finishscan``, else
    ``~/.local/share/finishscan``.
    """
    if home := os.environ.get("FINISHSCAN_HOME"):
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "finishscan"


def default_db_url() -> str:
    """``$FINISHSCAN_DB``, else an SQLite file in :func:`data_dir`."""
    if url := os.environ.get("FINISHSCAN_DB"):
        return url
    return f"sqlite:///{data_dir() / 'register.db'}"


def default_model_path() -> Path:
    """``$FINISHSCAN_MODEL``, else the shipped default model named in models/DEFAULT."""
    if env := os.environ.get("FINISHSCAN_MODEL"):
        return Path(env).expanduser()
    pointer = MODELS / "DEFAULT"
    name = pointer.read_text().strip() if pointer.exists() else "finishscan-default.onnx"
    return MODELS / name
