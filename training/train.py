"""Offline training over ultralytics: ``train_model(data=..., recipe=..., out=...)``.

The run folder receives ultralytics' own outputs (``weights/{best,last}.pt``, ``results.csv``
with one row per epoch, plots) plus ``recipe.yaml``, ``data.yaml`` (absolute paths) and
``command.txt`` so a run can be reproduced and resumed.
"""

from __future__ import annotations

import os
import shlex
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

from finishscan.errors import ConfigError, ModelError
from training.augment import build_pipeline
from training.data import read_data_yaml, write_data_yaml
from training.offline import prepare_offline, resolve_model_source
from training.precision import bf16_training, channels_last_on_cpu, cpu_has_bf16
from training.recipe import Recipe


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    best: Path
    last: Path
    epochs_done: int


def _epochs_done(run_dir: Path) -> int:
    csv = run_dir / "results.csv"
    if not csv.exists():
        return 0
    return max(0, len(csv.read_text().strip().splitlines()) - 1)


def train_model(
    *,
    data: str | Path,
    out: str | Path,
    recipe: Recipe,
    resume: bool = False,
    command: list[str] | None = None,
) -> TrainResult:
    """Train ``recipe.model`` on ``data`` into the run folder ``out`` (CPU, no network).

    Example: ``train_model(data="synth/data.yaml", out="runs/a", recipe=load_recipe("tiny"))``.
    ``resume=True`` continues from ``out/weights/last.pt`` with the arguments stored in it
    (``recipe.time_hours`` may be changed on resume: the total budget counted in epochs at the
    speed measured after resuming).
    """
    run_dir = Path(out).expanduser().resolve()
    last = run_dir / "weights" / "last.pt"
    prepare_offline()
    from ultralytics import YOLO

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "command.txt").write_text(shlex.join(command or sys.argv) + "\n")
    if resume:
        if not last.exists():
            raise ModelError(f"nothing to resume: {last} does not exist")
        try:
            extra = {"time": recipe.time_hours} if recipe.time_hours else {}
            resumed = YOLO(str(last))
            _use_all_cores(resumed)
            resumed.add_callback("on_pretrain_routine_end", channels_last_on_cpu)
            with bf16_training():  # the checkpoint's own `amp` setting decides
                resumed.train(resume=True, device="cpu", workers=recipe.workers, **extra)
        except AssertionError as e:  # ultralytics: "... training to N epochs is finished"
            raise ModelError(f"cannot resume {last}: {e}") from e
        return _result(run_dir)

    spec = read_data_yaml(data)
    if "train" not in spec.splits or "val" not in spec.splits:
        raise ConfigError(f"{data} needs both 'train' and 'val' splits")
    for split in ("train", "val"):
        if not spec.images(split):
            raise ConfigError(f"{data}: the {split!r} split has no images")
    data_yaml = write_data_yaml(
        run_dir / "data.yaml",
        names=spec.names,
        splits={k: v if len(v) > 1 else v[0] for k, v in spec.splits.items()},
    )
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(), sort_keys=False))
    source = resolve_model_source(recipe.model)
    model = YOLO(source, task="detect")
    _use_all_cores(model)
    model.add_callback("on_pretrain_routine_end", channels_last_on_cpu)
    with bf16_training():
        model.train(
            data=str(data_yaml),
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            device="cpu",
            amp=_amp(recipe),
            plots=True,
            val=True,
            verbose=True,
            augmentations=build_pipeline(recipe.albumentations) or None,
            **recipe.ultralytics_args(),
        )
    return _result(run_dir)


def _amp(recipe: Recipe) -> str | bool:
    """ultralytics' ``amp`` for the recipe's precision: ``"bf16"`` where the CPU has it."""
    if recipe.precision != "bf16":
        return False
    if not cpu_has_bf16():
        warnings.warn(
            f"recipe {recipe.name!r} asks for bf16 but this CPU has no native bfloat16: "
            "training in float32",
            stacklevel=3,
        )
        return False
    return "bf16"


def _use_all_cores(model) -> None:
    """Train with one torch thread per core.

    ultralytics sets ``torch.set_num_threads(cpu_count - 1)`` when it picks the CPU, which is a
    single thread on a 2-core machine: half the machine idles. The callback runs after that.
    """
    import torch

    def _threads(_trainer) -> None:
        torch.set_num_threads(os.cpu_count() or 1)

    model.add_callback("on_pretrain_routine_end", _threads)


def _result(run_dir: Path) -> TrainResult:
    weights = run_dir / "weights"
    best, last = weights / "best.pt", weights / "last.pt"
    if not best.exists() and last.exists():
        best = last
    if not best.exists():
        raise ModelError(f"training produced no weights in {weights}")
    return TrainResult(run_dir, best, last, _epochs_done(run_dir))


def average_weights(a: str | Path, b: str | Path, out: str | Path, *, weight: float = 0.5) -> Path:
    """A checkpoint whose weights are ``weight * a + (1 - weight) * b`` (a two-model soup of two
    checkpoints of the same network, e.g. the shipped model and its fine-tuned successor; batch
    norm statistics are averaged alike, integer buffers taken from ``b``). The rest of the
    checkpoint (training args, metadata) is ``b``'s. Raises ValueError for different networks.

    v0.20.0 is such an average (of v0.19.0 and session 21's run from it): on 3,600 held-out
    tiles it gained mAP50 +0.005 over v0.19.0 with no class worse beyond chance, where the run
    alone lost crack AP50 (the model card gives the figures; ``models/build-default.sh`` with
    ``SOUP=1``)."""
    import copy

    import torch

    prepare_offline()
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    ca = torch.load(str(a), map_location="cpu", weights_only=False)
    cb = torch.load(str(b), map_location="cpu", weights_only=False)
    ma, mb = (c.get("ema") or c.get("model") for c in (ca, cb))
    sa, sb = ma.state_dict(), mb.state_dict()
    if sa.keys() != sb.keys() or any(sa[k].shape != sb[k].shape for k in sa):
        raise ValueError(f"{a} and {b} are not checkpoints of the same network")
    mixed = {
        k: (weight * sa[k].float() + (1 - weight) * sb[k].float()).to(sb[k].dtype)
        if sb[k].is_floating_point()
        else sb[k]
        for k in sb
    }
    model = copy.deepcopy(mb)
    model.load_state_dict(mixed)
    ckpt = {**cb, "model": model, "ema": None}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out)
    return out


def strip_weights(src: str | Path, dst: str | Path) -> Path:
    """Copy a checkpoint without optimizer state (small, fine-tunable: ``--model dst``)."""
    import shutil

    prepare_offline()
    from ultralytics.utils.torch_utils import strip_optimizer

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    strip_optimizer(str(dst))
    return dst
