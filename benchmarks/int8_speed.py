"""INT8 configurations vs FP32: bare ``session.run`` latency, per-op profile and mAP50.

    python benchmarks/int8_speed.py --model models/m.onnx --calib CALIB_DIR \
        [--data heldout/data.yaml --split all] [--configs default u8-silu-float ...] \
        [--out-dir /tmp/int8] [--runs 20] [--rounds 5] [--threads 1 2] [--section NAME] [--no-write]

Each configuration in ``CONFIGS`` is quantized (``training.export.quantize_int8``) into
``--out-dir`` unless its file is already there. Latency: all sessions of one thread count are
built first, then every round times ``--runs`` calls of each model in turn (A B C A B C ...), so
load from other processes hits every model alike; the ratio is FP32 median / INT8 median of the
same run. The per-op profile (ORT's profiler, 1 thread) of FP32 and of the default INT8 model
explains where the time goes. Results go to stdout and ``benchmarks/RESULTS.md`` (``int8_speed``).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._results import write_section  # noqa: E402
from training.export import Int8Config, describe_int8  # noqa: E402

MINMAX = Int8Config(calibration="minmax", float_stem=False)  # the first INT8 export's setting
CONFIGS: dict[str, Int8Config] = {
    "default": Int8Config(),
    "moving-average": Int8Config(calibration="moving-average"),  # the default until v0.3.0
    "percentile-99.99": Int8Config(percentile=99.99),
    "percentile-99.999": Int8Config(percentile=99.999),
    "no-float-stem": Int8Config(float_stem=False),
    "minmax": MINMAX,
    "minmax-float-stem": replace(MINMAX, float_stem=True),
    "minmax-reduce-range": replace(MINMAX, reduce_range=True),
    "minmax-s8s8": replace(MINMAX, activations="s8"),
    "minmax-qoperator": replace(MINMAX, fmt="qoperator"),
    "minmax-per-tensor": replace(MINMAX, per_channel=False),
    "minmax-attention-float": replace(MINMAX, float_attention=True),
    "minmax-silu-float": replace(MINMAX, float_silu=True),
}

# Op types of the optimised ORT graphs, grouped for the profile table.
GROUPS = {
    "convolution": {"Conv", "QLinearConv", "FusedConv", "NhwcFusedConv", "ConvInteger"},
    "SiLU": {"QuickGelu", "Sigmoid", "Mul", "QLinearSigmoid", "QLinearMul"},
    "quantize / dequantize": {"QuantizeLinear", "DequantizeLinear"},
    "layout (reorder, transpose)": {"ReorderInput", "ReorderOutput", "Transpose"},
    "concat / split": {"Concat", "QLinearConcat", "Split"},
}


def _session(model: Path, threads: int, profile: str | None = None) -> ort.InferenceSession:
    from detector import session_options

    opts = session_options(threads)
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])


def interleaved(
    models: dict[str, Path], imgsz: int, threads: int, runs: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms of ``session.run`` per model, calls alternating A B C A B C ...

    CPU time (``time.process_time``, all threads of this process) is not inflated by waiting
    for a core that another job holds; with 1 thread it is the latency on an idle core.
    """
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    sessions = {k: _session(m, threads) for k, m in models.items()}
    for s in sessions.values():
        for _ in range(3):
            s.run(None, {"images": x})
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds * runs):
        for k, s in sessions.items():
            t, c = time.perf_counter(), time.process_time()
            s.run(None, {"images": x})
            cpu[k].append((time.process_time() - c) * 1000)
            wall[k].append((time.perf_counter() - t) * 1000)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in models}


def op_profile(model: Path, imgsz: int, runs: int, tmp: Path) -> dict[str, float]:
    """ms per ``session.run`` of each op type (1 thread): each node's fastest of ``runs`` calls,
    summed per op type, so time lost to other processes holding the core drops out."""
    s = _session(model, 1, profile=str(tmp / model.stem))
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    for _ in range(runs):
        s.run(None, {"images": x})
    events = json.loads(Path(s.end_profiling()).read_text())
    fastest: dict[str, float] = {}
    kind: dict[str, str] = {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            n = e["name"]
            fastest[n] = min(fastest.get(n, float("inf")), e["dur"] / 1000)
            kind[n] = e["args"]["op_name"]
    ops: dict[str, float] = collections.defaultdict(float)
    for n, ms in fastest.items():
        ops[kind[n]] += ms
    return dict(ops)


def _top(ops: dict[str, float], n: int = 8) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:n])


def grouped(ops: dict[str, float]) -> dict[str, float]:
    out = {g: 0.0 for g in GROUPS} | {"other": 0.0}
    for op, ms in ops.items():
        g = next((g for g, members in GROUPS.items() if op in members), "other")
        out[g] += ms
    return out


def profile_md(fp32: Path, int8: Path, imgsz: int, runs: int) -> str:
    with tempfile.TemporaryDirectory(prefix="int8-prof-") as tmp:
        pf = op_profile(fp32, imgsz, runs, Path(tmp))
        pq = op_profile(int8, imgsz, runs, Path(tmp))
    tf, tq = sum(pf.values()), sum(pq.values())
    gf, gq = grouped(pf), grouped(pq)
    rows = [
        "| op group (1 thread) | FP32 ms | INT8 ms | FP32 / INT8 |",
        "| --- | --- | --- | --- |",
    ]
    for g in gf:
        ratio = f"{gf[g] / gq[g]:.2f}×" if min(gf[g], gq[g]) > 0.005 else "-"
        rows.append(f"| {g} | {gf[g]:.2f} | {gq[g]:.2f} | {ratio} |")
    rows.append(f"| **all kernels** | {tf:.2f} | {tq:.2f} | {tf / tq:.2f}× |")
    conv, silu = "convolution", "SiLU"
    others_f = tf - gf[conv]
    bound = tf / (gq[conv] + others_f)
    why = (
        f"\nConvolutions are {gf[conv] / tf:.0%} of the FP32 kernel time and run "
        f"{gf[conv] / gq[conv]:.2f}× faster in INT8; SiLU runs {gf[silu] / gq[silu]:.2f}× "
        f"(ORT fuses FP32 `x*sigmoid(x)` into one QuickGelu kernel but runs INT8 SiLU as "
        f"QLinearSigmoid + QLinearMul, two passes). With every non-convolution op at its FP32 "
        f"speed the INT8 model would be {bound:.2f}× faster; even with them free, "
        f"{tf / gq[conv]:.2f}×.\n"
    )
    return (
        "\n".join(rows)
        + "\n"
        + why
        + f"\nTop op types, ms per run: FP32: {_top(pf)}.\nINT8 (`{int8.name}`): {_top(pq)}.\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True, help="FP32 ONNX model")
    ap.add_argument("--calib", type=Path, help="calibration photos (to make missing INT8 files)")
    ap.add_argument("--out-dir", type=Path, default=Path(tempfile.gettempdir()) / "int8-speed")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--data", type=Path, help="data YAML for mAP50 (through detector.Detector)")
    ap.add_argument("--split", default="all")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--load", default="", help="what else ran on the machine (for RESULTS)")
    ap.add_argument("--notes", type=Path, help="markdown file appended to the section")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--section", default="int8_speed", help="RESULTS.md section to write")
    a = ap.parse_args()

    from detector import Detector
    from training.export import quantize_int8

    a.out_dir.mkdir(parents=True, exist_ok=True)
    models = {"fp32": a.model}
    for name in a.configs:
        path = a.out_dir / f"{a.model.stem}-{name}.onnx"
        if not path.exists():
            if a.calib is None:
                ap.error(f"{path} does not exist; give --calib DIR to make it")
            quantize_int8(a.model, path, calib=a.calib, config=CONFIGS[name])
        models[name] = path
    imgsz = int(Detector(str(a.model)).imgsz[0])

    speed = {t: interleaved(models, imgsz, t, a.runs, a.rounds) for t in a.threads}
    acc: dict[str, float] = {}
    if a.data is not None:
        from training.evaluate import evaluate_model

        cache_file = a.out_dir / "map50.json"
        cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
        for k, m in models.items():
            key = f"{m.resolve()}:{m.stat().st_size}:{m.stat().st_mtime_ns}:{a.data.resolve()}:{a.split}"
            if key not in cache:
                cache[key] = evaluate_model(m, a.data, split=a.split).to_dict()["map50"]
                cache_file.write_text(json.dumps(cache, indent=1))
            acc[k] = cache[key]

    head = "| configuration | what | MB |"
    for t in a.threads:
        head += f" {t} thr ms | {t} thr FP32/INT8 wall | CPU time |"
    head += " mAP50 | change |" if acc else ""
    rows = [head, "|" + " --- |" * (head.count("|") - 1)]
    for k, m in models.items():
        what = "float reference" if k == "fp32" else describe_int8(CONFIGS[k])
        row = f"| {k} | {what} | {m.stat().st_size / 1e6:.1f} |"
        for t in a.threads:
            (w, c), (fw, fc) = speed[t][k], speed[t]["fp32"]
            row += f" {w:.1f} | {fw / w:.2f}× | {fc / c:.2f}× |"
        if acc:
            row += f" {acc[k]:.4f} | {acc[k] - acc['fp32']:+.4f} |"
        rows.append(row)
    flags = [
        f
        for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2")
        if f" {f} " in Path("/proc/cpuinfo").read_text()
    ]
    best = "default" if "default" in models else a.configs[0]
    md = (
        f"FP32 `{a.model.name}` vs INT8 copies made by `training.export.quantize_int8` "
        f"(static, calibrated on photos of `{a.calib}` as each row says; the head's box/score "
        f"decoding is always float). Input {imgsz}×{imgsz}, batch 1, ONNX Runtime {ort.__version__} "
        f"CPUExecutionProvider, `detector.session_options` (ORT_ENABLE_ALL, no spinning). "
        f"{a.rounds * a.runs} timed `session.run` calls per model, the models alternating call by "
        f"call; ms = median wall time; ratios are FP32 / INT8 of the same run, of wall time and of "
        f"CPU time (`time.process_time`, which a process waiting for a core does not accrue). "
        f"CPU flags: {', '.join(flags) or 'no avx2/avx512/vnni'}. "
        f"Load: {a.load or 'not stated'}.\n\n"
        + "\n".join(rows)
        + "\n"
        + (
            f"\nmAP50 through `detector.Detector` on the '{a.split}' split of `{a.data}`.\n"
            if acc
            else ""
        )
        + f"\nWhere the time goes (ORT profiler, FP32 vs `{best}`, {a.runs} runs):\n\n"
        + profile_md(a.model, models[best], imgsz, a.runs)
        + ("\n" + a.notes.read_text() if a.notes else "")
    )
    print(md)
    if not a.no_write:
        write_section(a.section, md)


if __name__ == "__main__":
    main()
