"""INT8 vs FP32: bare ``session.run`` latency and mAP50 through the detector on the same split.

    python benchmarks/int8_speed.py --model models/m.onnx --int8 models/m-int8.onnx \
        --data synth-heldout/data.yaml [--calib DIR] [--runs 60] [--threads 1 2]

With ``--calib`` and no existing ``--int8`` file the INT8 model is made first. Results go to
``benchmarks/RESULTS.md`` (section ``int8_speed``) and stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402


def latency_ms(model: Path, imgsz: int, threads: int, runs: int) -> tuple[float, float]:
    """Median and 10th percentile of ``session.run`` on one (1, 3, imgsz, imgsz) input."""
    from detector import session_options

    s = ort.InferenceSession(
        str(model), session_options(threads), providers=["CPUExecutionProvider"]
    )
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    name = s.get_inputs()[0].name
    for _ in range(5):
        s.run(None, {name: x})
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {name: x})
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts), float(np.percentile(ts, 10))


def interleaved(
    fp32: Path, int8: Path, imgsz: int, threads: int, runs: int, rounds: int = 3
) -> dict[str, list[float]]:
    """Alternate the two models in rounds so CPU contention from other processes hits both alike."""
    out: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(rounds):
        for key, m in (("fp32", fp32), ("int8", int8)):
            out[key].append(latency_ms(m, imgsz, threads, runs)[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--int8", type=Path, required=True)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--split", default="val")
    ap.add_argument("--calib", type=Path)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()

    from detector import Detector

    if not a.int8.exists():
        from training.export import quantize_int8

        if a.calib is None:
            ap.error("--int8 does not exist; give --calib DIR to make it")
        quantize_int8(a.model, a.int8, calib=a.calib)
    imgsz = int(Detector(str(a.model)).imgsz[0])
    rows = [
        "| threads | FP32 ms (median of rounds) | INT8 ms | speed-up |",
        "| --- | --- | --- | --- |",
    ]
    for t in a.threads:
        r = interleaved(a.model, a.int8, imgsz, t, a.runs)
        f, q = statistics.median(r["fp32"]), statistics.median(r["int8"])
        rows.append(f"| {t} | {f:.1f} | {q:.1f} | {f / q:.2f}× |")
    acc = ""
    if a.data is not None:
        from training.evaluate import evaluate_model

        ef = evaluate_model(a.model, a.data, split=a.split).to_dict()
        eq = evaluate_model(a.int8, a.data, split=a.split).to_dict()
        acc = (
            f"\nAccuracy through `detector.Detector` on the '{a.split}' split of `{a.data}` "
            f"({ef['images']} images): mAP50 FP32 {ef['map50']:.4f}, INT8 {eq['map50']:.4f} "
            f"(change {eq['map50'] - ef['map50']:+.4f}); mAP50-95 FP32 {ef['map50_95']:.4f}, "
            f"INT8 {eq['map50_95']:.4f}.\n"
        )
    flags = ", ".join(
        f
        for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2")
        if f in Path("/proc/cpuinfo").read_text()
    )
    md = (
        f"Models: `{a.model.name}` ({a.model.stat().st_size / 1e6:.1f} MB) vs `{a.int8.name}` "
        f"({a.int8.stat().st_size / 1e6:.1f} MB), input {imgsz}×{imgsz}, batch 1, ONNX Runtime "
        f"{ort.__version__} CPUExecutionProvider; {a.runs} timed `session.run` calls per round, 3 rounds "
        f"alternating the models (the CPU is shared, so rounds are interleaved). CPU flags: {flags or 'none of avx2/avx512/vnni'}.\n\n"
        + "\n".join(rows)
        + "\n"
        + acc
    )
    print(md)
    if not a.no_write:
        write_section("int8_speed", md)


if __name__ == "__main__":
    main()
