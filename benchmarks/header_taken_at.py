"""``read_header`` reading the EXIF capture time in its own walk: CPU time, old vs new.

    python benchmarks/header_taken_at.py [--reps 7] [--n 2000] [--old-commit 0cf5a5e]

Builds a phone-like JPEG (IFD0 with make, model, orientation, resolutions; an Exif IFD of 40
tags with DateTimeOriginal, OffsetTimeOriginal and a 4 KB maker note; 1920x1440 pixels) and
times, interleaved (old, new, old, new, ...), CPU time (``time.process_time``) of ``--n`` calls of

- ``read_header`` at ``--old-commit`` (orientation only) against ``read_header`` as shipped
  (orientation and ``taken_at`` in one walk), and
- the header work of recording a new uploaded photo, pixels excluded: before, ``decode_image``'s
  ``read_header`` + ``jpeg_header`` and the register's own container walk
  (``register.capture.exif_taken_at`` at ``--old-commit``); now, the service's ``read_header``
  (which gives ``taken_at``) and ``decode_image``'s ``read_header`` + ``jpeg_header``.

The old modules are loaded from ``git show <commit>:<path>``. Prints the medians; asserts the
old and new code read the same size, orientation and date.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from detector import read_header  # noqa: E402
from detector.image import jpeg_header  # noqa: E402


def old_module(commit: str, path: str, name: str, tmp: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    file = tmp / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def phone_jpeg() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Phone maker", "Phone 15", 6
    exif[0x011A], exif[0x011B], exif[0x0128] = 72.0, 72.0, 2
    exif[0x0131], exif[0x0132] = "17.1", "2024:05:01 10:20:30"
    sub = exif.get_ifd(0x8769)
    for k in range(36):  # filler tags of the kinds cameras write (exposure, lens, ...)
        sub[0xA430 + k] = f"value {k}"
    sub[0x9003], sub[0x9004] = "2024:05:01 10:20:30", "2024:05:01 10:20:30"
    sub[0x9011], sub[0x927C] = "+08:00", bytes(4096)
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (1440, 1920, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def cpu(fn: Callable[[], object], n: int) -> float:
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e6  # µs per call


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--old-commit", default="0cf5a5e")
    args = ap.parse_args()
    data = phone_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        old_image = old_module(args.old_commit, "detector/image.py", "old_image", Path(tmp))
        old_capture = old_module(args.old_commit, "register/capture.py", "old_capture", Path(tmp))
    new = read_header(data)
    assert tuple(old_image.read_header(data)) == tuple(new[:4]), (old_image.read_header(data), new)
    assert old_capture.exif_taken_at(data) == new.taken_at is not None, new
    pairs = {
        "read_header": (lambda: old_image.read_header(data), lambda: read_header(data)),
        "upload": (
            lambda: (
                old_image.read_header(data),
                old_image.jpeg_header(data),
                old_capture.exif_taken_at(data),
            ),
            lambda: (read_header(data), read_header(data), jpeg_header(data)),
        ),
    }
    times: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
    for _ in range(args.reps):
        for name, (old, now) in pairs.items():
            times[name][0].append(cpu(old, args.n))
            times[name][1].append(cpu(now, args.n))
    print(f"JPEG {len(data)} bytes, header {new}; {args.reps} reps x {args.n} calls, CPU µs/call")
    for name, (old_t, new_t) in times.items():
        o, n = statistics.median(old_t), statistics.median(new_t)
        print(f"{name:12s} old {o:7.2f}  new {n:7.2f}  new/old {n / o:.2f}")


if __name__ == "__main__":
    main()
