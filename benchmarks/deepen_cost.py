"""What a deeper shipped model would cost: ``finishscan deepen`` (depth 0.5 -> 1.0) against the
model it grows from, measured in the same run.

    python benchmarks/deepen_cost.py [--model models/<DEFAULT>.pt] [--depth 1.0] [--runs 40]

1. Inference: both exported to ONNX (``training.export.export_onnx``), ``session.run`` on one
   320-px image with one thread, calls alternating (``int8_speed.interleaved``), median CPU ms;
   and the largest difference between the two files' outputs on one photo-like input (the deeper
   model starts with the same detections).
2. Training: forward + backward of a batch of 16 at 320 px, one torch thread, channels-last, in
   bfloat16 autocast where the CPU has it (what ``continue.yaml`` trains in), median CPU seconds
   of 6 (``train_precision.network_step``).
3. Parameters and ONNX size (the shipped file must stay under 15 MB).

Prints the ratios and writes the ``deepen_cost`` section of RESULTS.md. Run it on an idle
machine (CPU time is not inflated by waiting for a core, but shared caches still matter).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._results import machine, write_section  # noqa: E402
from benchmarks.int8_speed import _session, interleaved  # noqa: E402
from benchmarks.train_precision import network_step  # noqa: E402
from training.export import export_onnx  # noqa: E402
from training.grow import deepen  # noqa: E402
from training.offline import prepare_offline  # noqa: E402
from training.precision import cpu_has_bf16  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = (ROOT / "models" / "DEFAULT").read_text().strip().removesuffix(".onnx")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / f"{default}.pt")
    ap.add_argument("--depth", type=float, default=1.0)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    prepare_offline()
    import torch
    from ultralytics import YOLO

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        grown = deepen(a.model, tmp / "deep.pt", depth=a.depth)
        pts = {"as shipped": a.model, f"depth {a.depth:g}": grown.path}
        onnx = {
            k: export_onnx(p, tmp / f"{i}.onnx", imgsz=a.imgsz)
            for i, (k, p) in enumerate(pts.items())
        }
        size_mb = {k: p.stat().st_size / 1e6 for k, p in onnx.items()}
        infer = interleaved(onnx, a.imgsz, threads=1, runs=a.runs, rounds=1)

        rng = np.random.default_rng(0)  # smooth "wall" with a dark line: boxes above noise
        img = np.clip(0.6 + 0.05 * rng.standard_normal((1, 3, a.imgsz, a.imgsz)), 0, 1)
        img[..., a.imgsz // 2 : a.imgsz // 2 + 2, 40:280] = 0.2
        outs = [
            _session(p, 1).run(None, {"images": img.astype(np.float32)})[0] for p in onnx.values()
        ]
        out_diff = float(np.abs(outs[0] - outs[1]).max())

        amp = cpu_has_bf16()
        torch.set_num_threads(1)
        x = torch.rand(16, 3, a.imgsz, a.imgsz, generator=torch.Generator().manual_seed(0))
        x = x.contiguous(memory_format=torch.channels_last)
        nets = {}
        for k, p in pts.items():
            net = YOLO(str(p)).model.float().train()
            for q in net.parameters():
                q.requires_grad_(True)
            nets[k] = net.to(memory_format=torch.channels_last)
            network_step(nets[k], x, amp)
        steps: dict[str, list[float]] = {k: [] for k in pts}
        for _ in range(6):
            for k, net in nets.items():
                steps[k].append(network_step(net, x, amp))
        train = {k: statistics.median(v) for k, v in steps.items()}

    base, deep = pts
    rows = [
        f"| {k} | {n:,} | {size_mb[k]:.1f} | {infer[k][1]:.1f} | {train[k]:.2f} |"
        for k, n in zip(pts, (grown.params_before, grown.params_after), strict=True)
    ]
    md = f"""_{machine()}_

`python benchmarks/deepen_cost.py --model {a.model.relative_to(ROOT) if a.model.is_relative_to(ROOT) else a.model} --depth {a.depth:g}`: {len(grown.grown_modules)} modules grew ({", ".join(grown.grown_modules)}).

| model | parameters | ONNX MB | `session.run` CPU ms, 1 thread, {a.imgsz} px | training step CPU s (batch 16, 1 thread, {"bf16" if amp else "float32"} + channels-last) |
| --- | --- | --- | --- | --- |
{chr(10).join(rows)}

- Inference {infer[deep][1] / infer[base][1]:.2f}x the CPU time of the shipped model; a training step {train[deep] / train[base]:.2f}x.
- Largest difference between the two ONNX files' outputs on one input: {out_diff:.2g} (boxes in pixels, scores in 0-1): the deeper model starts from the same detections.
"""
    print(md)
    if not a.no_write:
        write_section("deepen_cost", md)


if __name__ == "__main__":
    main()
