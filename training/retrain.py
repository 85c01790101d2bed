"""Retraining with newly labelled photos, promoted only when it is not worse.

Steps: load the new photos (any supported format) → split off a held-out part (seeded) →
add a replay sample of the earlier training data → fine-tune from the current model's
weights → evaluate old and new ONNX models through the detector on the *same* held-out
split (new held-out photos + the earlier data's val split) → promote if the new model is
not worse overall and no class loses more than ``margin`` AP50.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finishscan.errors import DatasetError, ModelError
from finishscan.paths import MODELS
from training.data import read_data_yaml, write_data_yaml


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)


def promotion_decision(
    old: dict[str, Any], new: dict[str, Any], *, margin: float = 0.02
) -> Decision:
    """Promote when ``new["map50"] >= old["map50"]`` and no class's AP50 drops by more than ``margin``.

    ``old``/``new`` are evaluation dicts (``EvalResult.to_dict()``); classes without labels in
    the held-out split (``ap50`` None) are not judged.

    >>> promotion_decision({"map50": .5, "per_class": {}}, {"map50": .6, "per_class": {}}).promote
    True
    """
    reasons = []
    if new["map50"] < old["map50"]:
        reasons.append(f"overall mAP50 fell from {old['map50']:.4f} to {new['map50']:.4f}")
    for name, o in (old.get("per_class") or {}).items():
        n = (new.get("per_class") or {}).get(name) or {}
        if o.get("ap50") is None or n.get("ap50") is None:
            continue
        if n["ap50"] < o["ap50"] - margin:
            reasons.append(
                f"{name} AP50 fell from {o['ap50']:.4f} to {n['ap50']:.4f} (margin {margin})"
            )
    return Decision(not reasons, reasons)


def comparison_table(
    old: dict[str, Any],
    new: dict[str, Any],
    decision: Decision,
    ci: dict[str, Any] | None = None,
) -> str:
    """A markdown table: overall metrics and per-class AP50, old vs new, with the verdict.

    ``ci`` (:func:`training.evaluate.bootstrap_ci` of new against old) adds a column with the
    paired interval of each change: one that holds 0 is a change this held-out set cannot tell
    from chance."""

    def f(v: Any) -> str:
        return "–" if v is None else f"{v:.4f}"

    def d(a: Any, b: Any) -> str:
        return "–" if a is None or b is None else f"{b - a:+.4f}"

    def iv(v: list[float] | None) -> str:
        return "–" if v is None else f"{v[0]:+.4f} to {v[1]:+.4f}"

    head = "| metric | old | new | change |"
    if ci:
        head += f" {round(100 * ci['level'])} % interval of the change |"
    rows = [head, "| --- " * head.count(" | ") + "| --- |"]
    cells: dict[str, list[float] | None] = (
        {k: ci.get(k) for k in ("map50", "map50_95")} if ci else {}
    )
    for k in ("map50", "map50_95", "precision", "recall"):
        row = f"| {k} | {f(old.get(k))} | {f(new.get(k))} | {d(old.get(k), new.get(k))} |"
        rows.append(row + (f" {iv(cells.get(k))} |" if ci else ""))
    for name, o in (old.get("per_class") or {}).items():
        n = (new.get("per_class") or {}).get(name) or {}
        row = f"| AP50 {name} ({o.get('labels', 0)} labels) | {f(o.get('ap50'))} | {f(n.get('ap50'))} | {d(o.get('ap50'), n.get('ap50'))} |"
        rows.append(row + (f" {iv(ci['per_class_ap50'].get(name))} |" if ci else ""))
    verdict = (
        "**promoted**" if decision.promote else "**not promoted**: " + "; ".join(decision.reasons)
    )
    note = (
        f" Intervals: paired bootstrap over the held-out images ({ci['resamples']} resamples)."
        if ci
        else ""
    )
    return "\n".join(rows) + f"\n\nHeld-out images: {new.get('images')}. Verdict: {verdict}{note}\n"


def holdout_split(key: str, fraction: float, seed: int) -> str:
    """``"val"`` for about ``fraction`` of keys, else ``"train"``; stable per key and seed.

    Keys are unit/group names when photos have one, so one unit's photos stay together.
    """
    h = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return "val" if int.from_bytes(h[:8], "big") / 2**64 < fraction else "train"


def replay_sample(images: list[Path], fraction: float, seed: int) -> list[Path]:
    """A seeded sample of ``round(fraction * len(images))`` earlier training images."""
    k = min(len(images), round(fraction * len(images)))
    if k <= 0:
        return []
    idx = np.random.default_rng(seed).choice(len(images), k, replace=False)
    return [images[i] for i in sorted(idx)]


def _loaders() -> dict[str, Callable[[Path], Any]]:
    from datasets.formats import coco, cvat, labelstudio, masks, voc, yolo

    return {
        "yolo": yolo.load,
        "coco": coco.load,
        "voc": voc.load,
        "labelstudio": labelstudio.load,
        "cvat": cvat.load,
        "masks": masks.load,
    }


def load_new_data(path: Path, fmt: str, names: list[str]) -> Any:
    """Newly labelled photos as a ``datasets.types.Dataset`` with class ids remapped to ``names``."""
    loaders = _loaders()
    if fmt not in loaders:
        raise DatasetError(f"unknown format {fmt!r}; use one of {', '.join(loaders)}")
    ds = loaders[fmt](Path(path))
    if ds.names != names:
        unknown = [n for n in ds.names if n not in names]
        if unknown:
            raise DatasetError(f"labels {unknown} of {path} are not classes of the model ({names})")
        remap = {i: names.index(n) for i, n in enumerate(ds.names)}
        from datasets.types import Box

        for im in ds.images:
            im.boxes = [Box(remap[b.class_id], b.x0, b.y0, b.x1, b.y1) for b in im.boxes]
        ds.names = list(names)
    if not ds.images:
        raise DatasetError(f"no labelled photos in {path}")
    return ds


def _base_weights(base: Path) -> tuple[Path, Path | None]:
    """(.pt to fine-tune from, .onnx of the same model if there is one)."""
    if base.suffix == ".pt":
        onnx = base.with_suffix(".onnx")
        return base, onnx if onnx.exists() else None
    if base.suffix == ".onnx":
        pt = base.with_suffix(".pt")
        if not pt.exists():
            raise ModelError(f"retraining needs the weights beside the ONNX model: {pt} is missing")
        return pt, base
    raise ModelError(f"--base must be a .pt or .onnx model, not {base}")


@dataclass
class RetrainResult:
    promoted: bool
    decision: Decision
    old: dict[str, Any]
    new: dict[str, Any]
    table: str
    run_dir: Path
    new_model: Path
    promoted_to: Path | None


def retrain(
    *,
    base: str | Path,
    new_data: str | Path,
    fmt: str,
    replay: str | Path,
    out: str | Path,
    replay_fraction: float = 0.3,
    margin: float = 0.02,
    epochs: int = 10,
    holdout_fraction: float = 0.2,
    seed: int = 0,
    recipe: str = "finetune",
    models_dir: Path = MODELS,
    set_default: bool = True,
) -> RetrainResult:
    """Fine-tune ``base`` on new photos + replay, compare on one held-out split, maybe promote.

    Example: ``retrain(base="models/m.onnx", new_data="ls.json", fmt="labelstudio",
    replay="synth/data.yaml", out="runs/r1")``.
    """
    from datasets.formats import yolo as yolo_fmt
    from training.card import ModelCard, read_card
    from training.evaluate import bootstrap_ci, evaluate_model
    from training.export import operating_thresholds
    from training.pipeline import export_with_card
    from training.recipe import load_recipe
    from training.train import strip_weights, train_model

    run = Path(out).expanduser().resolve()
    run.mkdir(parents=True, exist_ok=True)
    base_pt, base_onnx = _base_weights(Path(base).expanduser())
    if base_onnx is None:
        from training.export import export_onnx

        base_onnx = export_onnx(base_pt, run / "old.onnx")
    from detector import Detector

    old_det = Detector(str(base_onnx))
    names, imgsz = list(old_det.names), int(old_det.imgsz[0])
    old_card = read_card(base_onnx)

    # 1. new photos, split by unit (group) or photo, written in YOLO layout
    ds = load_new_data(Path(new_data), fmt, names)
    new_dir = run / "new"
    if new_dir.exists():
        shutil.rmtree(new_dir)
    yolo_fmt.save(
        ds,
        new_dir,
        link=False,
        split_fn=lambda im: holdout_split(im.group or im.path.name, holdout_fraction, seed),
    )
    new_spec = read_data_yaml(new_dir / "data.yaml")
    new_train = new_spec.images("train") if "train" in new_spec.splits else []
    new_val = new_spec.images("val") if (new_dir / "images" / "val").exists() else []

    # 2. replay sample + held-out = new held-out photos + the earlier data's val split
    old_spec = read_data_yaml(replay)
    replayed = replay_sample(old_spec.images("train"), replay_fraction, seed)
    holdout = new_val + old_spec.images("val")
    if not new_train:
        raise DatasetError(
            f"no new photos left for training after holding out {holdout_fraction:.0%}"
        )
    (run / "train.txt").write_text("".join(f"{p}\n" for p in [*new_train, *replayed]))
    (run / "holdout.txt").write_text("".join(f"{p}\n" for p in holdout))
    data = write_data_yaml(
        run / "retrain.yaml",
        names=names,
        splits={"train": run / "train.txt", "val": run / "holdout.txt"},
    )

    # 3. fine-tune from the current weights at the current scale
    r = load_recipe(recipe)
    r = r.model_validate(
        {**r.model_dump(), "model": str(base_pt), "epochs": epochs, "imgsz": imgsz, "seed": seed}
    )
    res = train_model(data=data, out=run / "train", recipe=r)

    # 4. export and compare on the same held-out split
    new_onnx = run / "new.onnx"
    card = ModelCard(
        name=(old_card.name if old_card else base_pt.stem),
        version=_next_version(old_card.version if old_card else "1"),
        classes=names,
        architecture=old_card.architecture if old_card else "",
        training_data=(
            f"Fine-tuned from {base_pt.name} on {len(new_train)} new photos from `{new_data}` ({fmt}) "
            f"plus a replay sample of {len(replayed)} images ({replay_fraction:.0%}) of `{replay}`; "
            + (f"base model's data: {old_card.training_data}" if old_card else "")
        ),
        generalisation=old_card.generalisation if old_card else "",
        limits=old_card.limits if old_card else "",
    )
    export_with_card(res.best, new_onnx, imgsz=imgsz, card=card)
    old_r = evaluate_model(base_onnx, data, split="val")
    new_r = evaluate_model(new_onnx, data, split="val")
    old_m, new_m = old_r.to_dict(), new_r.to_dict()
    decision = promotion_decision(old_m, new_m, margin=margin)
    ci = bootstrap_ci(new_r.records, new_r.names, against=old_r.records, groups=new_r.groups)
    table = comparison_table(old_m, new_m, decision, ci)
    (run / "comparison.md").write_text(f"# Retraining {base_pt.name}\n\n{table}")
    card.metrics = {**new_m, "data": f"the retraining held-out split ({len(holdout)} images)"}
    card.conf_thresholds = operating_thresholds(new_m)  # the detector's default per class
    card.notes = f"Comparison with the previous model on the same held-out split:\n\n{table}"
    from training.card import write_card

    write_card(new_onnx, card)

    promoted_to = None
    if decision.promote:
        stem = f"{card.name}-v{card.version}"
        promoted_to = models_dir / f"{stem}.onnx"
        models_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new_onnx, promoted_to)
        shutil.copyfile(new_onnx.with_suffix(".md"), promoted_to.with_suffix(".md"))
        strip_weights(res.best, promoted_to.with_suffix(".pt"))
        if set_default:
            (models_dir / "DEFAULT").write_text(promoted_to.name + "\n")
    return RetrainResult(
        decision.promote, decision, old_m, new_m, table, run, new_onnx, promoted_to
    )


def _next_version(v: str) -> str:
    parts = v.split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return v + ".1"
