"""``finishscan dataset check`` on phone-sized photos: CPU time of the image check, old vs new.

    python benchmarks/check_speed.py [--n 30] [--reps 3]

Writes ``--n`` seeded 4000x3000 JPEGs (quality 92, 4:2:0 like phone cameras; every fifth
progressive) plus two broken ones (a JPEG cut in half, random bytes named .jpg) to a
temporary YOLO folder, then times, interleaved (old, new, old, new, ...), CPU time of
``check_dataset`` with

- old: the former ``check_image_bytes`` (full ``cv2.imdecode(IMREAD_COLOR)`` of each photo),
- new: ``check_image_bytes`` as shipped (JPEG decoded DCT-scaled, ``IMREAD_REDUCED_GRAYSCALE_8``),

asserts both report the same problems (the broken files as unreadable), and writes the
``check_speed`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._results import write_section  # noqa: E402
from datasets.tools import check  # noqa: E402
from datasets.tools.check import Problem  # noqa: E402


def old_check_image_bytes(data: bytes, path: Path) -> list[Problem]:
    """``check_image_bytes`` before this change (commit 98245f4), the reference."""
    if not data:
        return [Problem(path, None, "error", "unreadable image (empty file)")]
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return [Problem(path, None, "error", "unreadable image (not a decodable image file)")]
    if min(img.shape[:2]) < 10:
        h, w = img.shape[:2]
        return [
            Problem(
                path, None, "error", f"image is {w}x{h} px; ultralytics ignores images under 10 px"
            )
        ]
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return [
            Problem(path, None, "warning", "JPEG has no end marker (truncated or trailing data)")
        ]
    return []


def photo(rng: np.random.Generator) -> np.ndarray:
    """A 4000x3000 photo-like image: smooth lighting, grain, a few dark lines (cracks)."""
    h, w = 3000, 4000
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    base = 150 + 40 * np.sin(xx / rng.uniform(300, 900)) * np.cos(yy / rng.uniform(300, 900))
    small = np.repeat(base[..., None], 3, axis=2) + rng.uniform(-15, 15, 3)
    img = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(5):
        p = rng.integers(0, (w, h), size=(6, 2)).astype(np.int32)
        cv2.polylines(img, [p], False, (50, 50, 50), int(rng.integers(2, 6)))
    return img


def write_set(root: Path, n: int, rng: np.random.Generator) -> None:
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [crack]\n")
    for i in range(n):
        params = [cv2.IMWRITE_JPEG_QUALITY, 92, cv2.IMWRITE_JPEG_PROGRESSIVE, int(i % 5 == 4)]
        ok, buf = cv2.imencode(".jpg", photo(rng), params)
        assert ok
        (root / "images" / "train" / f"p{i:02d}.jpg").write_bytes(buf.tobytes())
        (root / "labels" / "train" / f"p{i:02d}.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    whole = (root / "images" / "train" / "p00.jpg").read_bytes()
    (root / "images" / "train" / "cut_in_half.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "images" / "train" / "random_bytes.jpg").write_bytes(rng.bytes(200_000))


def cpu_of(fn) -> tuple[float, object]:
    c0 = time.process_time()
    out = fn()
    return time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    new_check = check.check_image_bytes
    with tempfile.TemporaryDirectory(prefix="check_speed_") as d:
        root = Path(d) / "ds"
        write_set(root, args.n, np.random.default_rng(2026))
        files = sorted((root / "images" / "train").glob("*.jpg"))
        photos = [p for p in files if p.name.startswith("p")]
        mb = sum(p.stat().st_size for p in photos) / len(photos) / 1e6
        datas = [(p, p.read_bytes()) for p in photos]

        # 1. the image check alone, per photo (bytes already in memory), by JPEG kind
        kinds = {
            "baseline": [(p, b) for i, (p, b) in enumerate(datas) if i % 5 != 4],
            "progressive": [(p, b) for i, (p, b) in enumerate(datas) if i % 5 == 4],
        }
        kinds = {k: v for k, v in kinds.items() if v}
        per: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.reps):
            for kind, items in kinds.items():
                for name, fn in (("old", old_check_image_bytes), ("new", new_check)):
                    t, _ = cpu_of(lambda fn=fn, items=items: [fn(b, p) for p, b in items])
                    per.setdefault((kind, name), []).append(t / len(items))

        # 2. the whole `check_dataset` (read, decode, SHA-256, labels), old vs new decode
        whole_old, whole_new, results = [], [], {}
        for _ in range(args.reps):
            for name, fn, acc in (
                ("old", old_check_image_bytes, whole_old),
                ("new", new_check, whole_new),
            ):
                check.check_image_bytes = fn
                try:
                    t, problems = cpu_of(lambda: check.check_dataset(root))
                finally:
                    check.check_image_bytes = new_check
                acc.append(t)
                results[name] = problems
    assert results["old"] == results["new"], (results["old"], results["new"])
    unreadable = sorted(p.path.name for p in results["new"] if "unreadable" in p.message)
    assert unreadable == ["cut_in_half.jpg", "random_bytes.jpg"], results["new"]

    med = {k: statistics.median(v) for k, v in per.items()}
    wo, wn = statistics.median(whole_old), statistics.median(whole_new)
    load = os.getloadavg()[0]
    md = "\n".join(
        [
            f"{len(photos)} seeded 4000x3000 JPEGs (quality 92, 4:2:0, every fifth progressive; "
            f"{mb:.1f} MB each) plus a JPEG cut in half and a random-bytes .jpg. CPU time "
            f"(`time.process_time`, `cv2.setNumThreads(1)`), median of {args.reps} interleaved "
            f"old/new repetitions; run under `nice -n 19` with a training job on the machine "
            f"(load average {load:.1f} on {os.cpu_count()} cores).",
            "",
            "| what | old: full `IMREAD_COLOR` | new: `IMREAD_REDUCED_GRAYSCALE_8` | speed-up |",
            "| --- | --- | --- | --- |",
            *(
                f"| image check, per {kind} photo ({len(kinds[kind])}) | "
                f"{med[kind, 'old'] * 1e3:.0f} ms | {med[kind, 'new'] * 1e3:.0f} ms | "
                f"{med[kind, 'old'] / med[kind, 'new']:.1f}x |"
                for kind in kinds
            ),
            f"| whole `check_dataset`, {len(files)} files | {wo:.2f} s | {wn:.2f} s | {wo / wn:.1f}x |",
            "",
            "Both report the same problems; the cut and random files are `unreadable image` "
            "errors in both.",
        ]
    )
    print(md)
    if not args.no_write:
        write_section("check_speed", md)


if __name__ == "__main__":
    main()
