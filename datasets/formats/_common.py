"""Helpers shared by the format modules: image discovery and size, atomic writes, copying.

Nothing here knows a label format. Writes go to a temporary sibling and are renamed into
place, so an interrupted or failed save never leaves a half-written file or directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from finishscan.errors import DatasetError, ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive), sorted; hidden directories are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"directory not found: {root}")
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if any(part.startswith(".") for part in rel):
            continue
        if p.is_file() and is_image(p):
            out.append(p)
    return sorted(out)


def split_of(path: Path) -> str:
    """The split an image belongs to, from its nearest parent directory named like one.

    ``split_of(Path("ds/images/val/a.jpg")) == "val"``; ``"train"`` when no parent says.
    """
    for part in reversed(Path(path).parent.parts):
        if part.lower() in SPLIT_ALIASES:
            return SPLIT_ALIASES[part.lower()]
    return "train"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- image size
def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image as ``cv2.imread`` shows it (orientation applied).

    Reads the header only, with ``detector.read_header`` (the parser inference uses,
    which knows where OpenCV finds the orientation in JPEG, PNG, WebP and TIFF) through a
    memory map, so the pixels are not read. A header it does not know is decoded instead.
    Raises DatasetError when the file is missing or not a readable image.
    """
    from detector import read_header  # here, not at the top: `import detector` loads onnxruntime

    path = Path(path)
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size:  # an empty file cannot be mapped
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    try:
                        width, height = read_header(data).size
                    except ImageError:
                        width = height = 0  # OpenCV decides below
                if width > 0 and height > 0:
                    return int(width), int(height)
    except FileNotFoundError as e:
        raise DatasetError(f"image not found: {path}") from e
    except OSError as e:
        raise DatasetError(f"cannot read image {path}: {e.strerror}") from e
    img = read_image(path)
    return int(img.shape[1]), int(img.shape[0])


def read_image(path: Path, flags: int | None = None):
    """Decode an image with OpenCV (BGR uint8 by default); DatasetError when unreadable."""
    import cv2
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if flags is None else flags) if data.size else None
    if img is None:
        raise DatasetError(f"unreadable image: {path}")
    return img


# --------------------------------------------------------------------------- atomic writes
def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``out`` when the block succeeds.

    ``out`` must not exist or be empty, unless ``overwrite`` (then it is replaced whole).
    On any exception the temporary directory is removed and ``out`` is untouched.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"output {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise DatasetError(f"output directory {out} is not empty; choose a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def place_file(src: Path, dst: Path, *, link: bool = True) -> None:
    """Hard-link ``src`` to ``dst`` when ``link`` and possible, else copy it."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DatasetError(f"image not found: {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def unique_names(paths: Iterable[Path], key: Callable[[Path], str] = lambda p: "") -> list[str]:
    """A file name per path whose stem is unique within each ``key`` bucket (e.g. split).

    Stems, not names, must differ, since a label file is named after the stem
    (``x.jpg`` and ``x.png`` would share ``x.txt``). A repeated stem gets
    ``_<8 hex of its source path>``, so the result is deterministic:
    ``unique_names([Path("a/x.jpg"), Path("b/x.png")])`` → ``["x_<h1>.jpg", "x_<h2>.png"]``.
    Raises DatasetError when one path is listed twice.
    """
    paths = [Path(p) for p in paths]
    counts: dict[tuple[str, str], int] = {}
    seen: set[Path] = set()
    for p in paths:
        if p in seen:
            raise DatasetError(f"image listed twice: {p}")
        seen.add(p)
        k = (key(p), p.stem.lower())
        counts[k] = counts.get(k, 0) + 1
    out = []
    for p in paths:
        if counts[(key(p), p.stem.lower())] > 1:
            tag = hashlib.sha1(str(p).encode()).hexdigest()[:8]
            out.append(f"{p.stem}_{tag}{p.suffix}")
        else:
            out.append(p.name)
    return out


def read_text(path: Path, what: str) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise DatasetError(f"{what} not found: {path}") from e
    except IsADirectoryError as e:
        raise DatasetError(f"{what} {path} is a directory, expected a file") from e
    except UnicodeDecodeError as e:
        raise DatasetError(f"{what} {path} is not UTF-8 text") from e


def default_names(names: list[str] | None) -> list[str]:
    """``names`` or, when None, the default taxonomy from configs/classes.yaml."""
    if names is not None:
        return list(names)
    from finishscan.classes import class_names

    return class_names()
