"""CPU training speed: float32 and bf16 autocast, each with the usual and with channels-last
weights (what every CPU run now uses; ``precision: bf16`` adds the autocast).

    python benchmarks/train_precision.py [--data DATA_YAML] [--images 256] [--reps 2]

Two measurements, the modes interleaved (fp32, fp32+NHWC, bf16, bf16+NHWC, fp32, ...), all starting
from the shipped weights (``models/<DEFAULT>.pt``):

1. the network alone: forward + backward of a batch of 16 images at the recipe's size, one
   torch thread, CPU time (``time.process_time``), median of 6;
2. the real trainer: one epoch of ``configs/train/continue.yaml`` (its augmentation, batch and
   optimizer; no RAM cache, no validation) over ``--images`` training images of ``--data``
   (default: that many generated 320-px renders), every core; per-iteration wall and CPU time,
   medians over the iterations after the first four; and the first batch's loss of each
   (same weights, same seed, same batch: the losses differ only by bf16 rounding).

Data loading stays at ultralytics' CPU default (0, loading in the training process): one or
two loader processes measured no faster on 2 cores (RESULTS).

On a CPU without native bf16 (emulated bf16 is many times slower) only the two float32 modes
run. Prints the ratios and writes the ``train_precision`` section of RESULTS.md on a CPU with
native bf16, ``train_precision_fp32`` on one without. Run it on an idle machine: other
processes' load changes the trainer's timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_section  # noqa: E402
from training.augment import build_pipeline  # noqa: E402
from training.data import read_data_yaml, write_data_yaml  # noqa: E402
from training.offline import prepare_offline  # noqa: E402
from training.precision import bf16_training, channels_last_on_cpu, cpu_has_bf16  # noqa: E402
from training.recipe import load_recipe  # noqa: E402

# name -> (ultralytics amp, channels-last weights)
ALL_MODES = {
    "fp32": (False, False),
    "fp32 + NHWC": (False, True),
    "bf16": ("bf16", False),
    "bf16 + NHWC": ("bf16", True),
}
MODES = dict(ALL_MODES)


def network_step(model, x, amp) -> float:
    """CPU seconds of one forward + backward pass (the outputs' mean as the loss)."""
    import torch

    t = time.process_time()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(amp)):
        out = model(x)
    parts: list = []

    def walk(o) -> None:
        if isinstance(o, torch.Tensor):
            parts.append(o.float().mean())
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                walk(v)

    walk(out)
    sum(parts).backward()
    model.zero_grad()
    return time.process_time() - t


def subset(data: Path, n: int, out: Path) -> Path:
    """A data.yaml whose train split is the first ``n`` training images of ``data``."""
    spec = read_data_yaml(data)
    images = sorted(spec.images("train"))[:n]
    listing = out / "train.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    return write_data_yaml(
        out / "data.yaml",
        names=spec.names,
        splits={"train": str(listing), "val": str(listing)},
    )


def trainer_epoch(weights: Path, data: Path, amp, nhwc: bool, out: Path) -> dict[str, float]:
    """One epoch of the continue recipe; per-iteration medians (wall, CPU) and the first loss."""
    import os

    import torch
    from ultralytics import YOLO

    recipe = load_recipe("continue")
    args = recipe.ultralytics_args()
    args.pop("time", None)
    args.update(epochs=1, cache=False)
    stamps: list[tuple[float, float]] = []
    losses: list[float] = []
    model = YOLO(str(weights), task="detect")
    model.add_callback(
        "on_pretrain_routine_end", lambda _t: torch.set_num_threads(os.cpu_count() or 1)
    )

    def batch_end(trainer) -> None:
        losses.append(float(trainer.loss.detach()))
        stamps.append((time.perf_counter(), time.process_time()))

    model.add_callback("on_train_batch_end", batch_end)
    if nhwc:
        model.add_callback("on_pretrain_routine_end", channels_last_on_cpu)
    with bf16_training():
        model.train(
            data=str(data),
            project=str(out),
            name=f"amp-{amp}-{nhwc}",
            exist_ok=True,
            device="cpu",
            amp=amp,
            plots=False,
            val=False,
            verbose=False,
            augmentations=build_pipeline(recipe.albumentations),
            **args,
        )
    steady = stamps[4:]
    return {
        "wall": statistics.median(b[0] - a[0] for a, b in pairwise(steady)),
        "cpu": statistics.median(b[1] - a[1] for a, b in pairwise(steady)),
        "loss": losses[0],
        "iterations": len(stamps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="YOLO data.yaml (default: generated 320-px renders)")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--write", action=argparse.BooleanOptionalAction, default=True)
    a = ap.parse_args()
    native_bf16 = cpu_has_bf16()
    if not native_bf16:
        for name in ("bf16", "bf16 + NHWC"):
            del MODES[name]
    prepare_offline()
    import torch
    from ultralytics import YOLO

    from finishscan.paths import MODELS

    weights = MODELS / (MODELS / "DEFAULT").read_text().strip().replace(".onnx", ".pt")
    recipe = load_recipe("continue")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = a.data
        if data is None:
            from datasets.synthetic import write_dataset

            write_dataset(tmp / "synth", a.images + 8, seed=55, imgsz=recipe.imgsz, workers=2)
            data = tmp / "synth" / "data.yaml"
        data = subset(data, a.images, tmp)

        # 1. the network alone, one thread
        torch.set_num_threads(1)
        x = torch.rand(
            16, 3, recipe.imgsz, recipe.imgsz, generator=torch.Generator().manual_seed(0)
        )
        nets = {}
        for name, (_, nhwc) in MODES.items():
            net = YOLO(str(weights)).model.float().train()
            for p in net.parameters():
                p.requires_grad_(True)
            layout = torch.channels_last if nhwc else torch.contiguous_format
            nets[name] = (net.to(memory_format=layout), x.contiguous(memory_format=layout))
        for name, (amp, _) in MODES.items():
            network_step(*nets[name], amp)
        net_times: dict = {name: [] for name in MODES}
        for _ in range(6):
            for name, (amp, _) in MODES.items():
                net_times[name].append(network_step(*nets[name], amp))
        net_med = {name: statistics.median(v) for name, v in net_times.items()}

        # 2. the trainer, every core
        runs: dict = {name: [] for name in MODES}
        for _ in range(a.reps):
            for name, (amp, nhwc) in MODES.items():
                runs[name].append(trainer_epoch(weights, data, amp, nhwc, tmp / "runs"))
    wall = {name: statistics.median(r["wall"] for r in runs[name]) for name in MODES}
    cpu = {name: statistics.median(r["cpu"] for r in runs[name]) for name in MODES}
    loss = {name: runs[name][0]["loss"] for name in MODES}

    def row(label: str, values: dict, fmt: str, ratio: bool = True) -> str:
        cells = " | ".join(format(values[n], fmt) for n in MODES)
        if ratio:
            gains = " | ".join(f"{values['fp32'] / values[n]:.2f}x" for n in list(MODES)[1:])
        else:
            gains = " | ".join(f"{values[n] / values['fp32'] - 1:+.2%}" for n in list(MODES)[1:])
        return f"| {label} | {cells} | {gains} |"

    others = list(MODES)[1:]
    flags = sorted(
        {f for f in Path("/proc/cpuinfo").read_text().split() if f.startswith(("avx", "amx"))}
        if Path("/proc/cpuinfo").exists()
        else set()
    )
    lines = [
        f"Shipped weights `{weights.name}`, recipe `continue` ({recipe.imgsz} px, batch {recipe.batch}), "
        f"{a.images} training images ({'--data' if a.data else 'generated renders, seed 55'}), "
        f"{a.reps} interleaved epochs per mode, {runs['fp32'][0]['iterations']} iterations each. "
        f"CPU flags: {', '.join(flags) or 'unknown'}"
        + ("" if native_bf16 else " (no native bf16: the bf16 modes are not run)")
        + ".",
        "",
        f"| | {' | '.join(MODES)} | {' | '.join(f'fp32 / ({n})' for n in others)} |",
        "|---|" + "---|" * (len(MODES) + len(others)),
        row("network forward+backward, 16 images, 1 thread (CPU s)", net_med, ".2f"),
        row("trainer, per iteration (wall s)", wall, ".3f"),
        row("trainer, per iteration (CPU s, all threads)", cpu, ".3f"),
        row("first batch's loss (same weights, batch, seed)", loss, ".4f", ratio=False),
        "",
        "Every CPU run trains channels-last (the NHWC columns); `precision: bf16` adds the bf16 "
        "autocast where the CPU has it. The trainer gains less than the network alone: the loss "
        "(float32 on purpose: bf16 would round 320-px target boxes to 2 px), the optimizer, the "
        "EMA update and data loading run as before.",
    ]
    md = "\n".join(lines)
    print(md)
    if a.write:
        write_section("train_precision" if native_bf16 else "train_precision_fp32", md)


if __name__ == "__main__":
    main()
