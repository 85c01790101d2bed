"""``finishscan train/deepen/export/evaluate/retrain/select`` (training work).

Imports ``training`` lazily inside each command: the runtime install has no torch, and
``finishscan --help`` must not pay for importing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finishscan.errors import ConfigError


def _need_training() -> None:
    try:
        import torch  # noqa: F401
        import ultralytics  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"this command needs the training extra ({e.name} is not installed): "
            'pip install -e ".[train]"'
        ) from e


def train(
    data: Annotated[Path, typer.Option(help="YOLO data YAML (train and val splits).")],
    out: Annotated[Path, typer.Option(help="Run folder: weights, results.csv, plots.")],
    model: Annotated[
        str | None,
        typer.Option(help="Architecture YAML (yolo11n.yaml, yolo26n.yaml) or local .pt weights."),
    ] = None,
    recipe: Annotated[
        str, typer.Option(help="Recipe YAML or a name in configs/train/.")
    ] = "default",
    epochs: Annotated[int | None, typer.Option(min=1)] = None,
    imgsz: Annotated[int | None, typer.Option(min=32)] = None,
    batch: Annotated[int | None, typer.Option(min=1)] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int | None, typer.Option(min=0)] = None,
    hours: Annotated[
        float | None, typer.Option(help="Train for this many hours instead of a fixed epoch count.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from RUN_DIR/weights/last.pt.")] = False,
) -> None:
    """Train a detector offline (no downloads); best weights land in OUT/weights/best.pt."""
    _need_training()
    from training.recipe import load_recipe
    from training.train import train_model

    r = load_recipe(recipe).with_overrides(
        model=model,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        seed=seed,
        workers=workers,
        time_hours=hours,
    )
    res = train_model(
        data=data, out=out, recipe=r, resume=resume, command=["finishscan", *sys.argv[1:]]
    )
    typer.echo(f"trained {res.epochs_done} epochs; best weights: {res.best}")


def deepen(
    model: Annotated[Path, typer.Argument(help="Trained ultralytics .pt weights.")],
    out: Annotated[Path, typer.Option(help="Where to write the deeper .pt.")],
    depth: Annotated[float, typer.Option(help="New depth multiple (nano models have 0.5).")] = 1.0,
) -> None:
    """Give a trained model more layers that start out changing nothing (train it next)."""
    _need_training()
    from training.grow import deepen as deepen_model

    res = deepen_model(model, out, depth=depth)
    typer.echo(
        f"depth {res.depth_before:g} -> {res.depth_after:g}: {len(res.grown_modules)} modules grew, "
        f"{res.params_before:,} -> {res.params_after:,} parameters; same detections as {model}; "
        f"wrote {res.path} (train it with --model {res.path})"
    )


def export(
    weights: Annotated[Path, typer.Argument(help="Trained .pt weights.")],
    out: Annotated[Path, typer.Option(help="Target .onnx file; the card goes beside it as .md.")],
    imgsz: Annotated[
        int | None, typer.Option(min=32, help="Input size (default: the training size).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Model name in the card (default: file stem).")
    ] = None,
    version: Annotated[str, typer.Option(help="Model version in the card.")] = "1",
    data: Annotated[
        Path | None,
        typer.Option(help="Data YAML: describe/hash its train split and evaluate on --split."),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Split of --data to measure the card's metrics on.")
    ] = "val",
    card: Annotated[
        Path | None,
        typer.Option(
            help="YAML of card text fields: architecture, training_data, generalisation, limits, command, notes."
        ),
    ] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write a static INT8 model (needs --calib).")
    ] = False,
    calib: Annotated[
        Path | None, typer.Option(help="Folder of calibration photos for --int8.")
    ] = None,
) -> None:
    """Export weights to ONNX (dynamic batch) with a model card; optionally INT8 with its accuracy change."""
    _need_training()
    from training.pipeline import export_with_card

    if int8 and calib is None:
        raise ConfigError("--int8 needs --calib DIR (photos to calibrate the quantization on)")
    from training.card import load_card_fields

    base_card = load_card_fields(card, name=name or out.stem, version=version) if card else None
    report = export_with_card(
        weights,
        out,
        imgsz=imgsz,
        name=name,
        version=version,
        data=data,
        split=split,
        int8_calib=calib if int8 else None,
        card=base_card,
    )
    typer.echo(report)


def evaluate(
    model: Annotated[Path, typer.Option(help="ONNX model to measure.")],
    data: Annotated[Path, typer.Option(help="YOLO data YAML.")],
    split: Annotated[
        str, typer.Option(help="train, val, test or all (a held-out set made for testing).")
    ] = "val",
    tile: Annotated[str, typer.Option(help="Tiled inference: on, off or auto.")] = "off",
    tta: Annotated[
        bool,
        typer.Option(
            "--tta",
            help="Also read each image mirrored and fuse the two (as `detect --tta`); "
            "--against is read without, so `--model M --tta --against M` shows what it adds.",
        ),
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics JSON here.")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option(help="Write PR curves and confusion matrix PNGs here.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1)] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            min=0,
            help="Also give 95% intervals of mAP and each class's AP50 from this many resamples "
            "of the images (e.g. 200; 0: off).",
        ),
    ] = 0,
    against: Annotated[
        Path | None,
        typer.Option(
            help="Another ONNX model to compare with on the same images: prints the differences "
            "with paired bootstrap intervals (--bootstrap resamples, 200 if not set).",
        ),
    ] = None,
) -> None:
    """mAP50, mAP50-95, precision, recall and per-class AP of an ONNX model via the project's detector."""
    if tile not in ("on", "off", "auto"):
        raise ConfigError(f"--tile must be on, off or auto, not {tile!r}")
    from training.evaluate import evaluate_model

    result = evaluate_model(
        model, data, split=split, tile=tile, threads=threads, bootstrap=bootstrap, tta=tta
    )
    comparison = None
    if against is not None:
        comparison = _compare(result, against, split, tile, threads, bootstrap or 200)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        doc = result.to_dict() | ({"against": comparison} if comparison else {})
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if plots:
        from training.plots import write_plots

        write_plots(result, plots)
    d = result.to_dict()
    ci = d.get("ci") or {}
    per_ci = ci.get("per_class_ap50", {})
    lines = [
        f"{result.images} images  mAP50 {d['map50']:.3f}{_ci(ci.get('map50'))}  "
        f"mAP50-95 {d['map50_95']:.3f}{_ci(ci.get('map50_95'))}  "
        f"P {d['precision']:.3f}  R {d['recall']:.3f}  at conf {d['conf_threshold_max_f1']:.3f}"
        " (max mean F1; each class's own max-F1 conf below)",
        *(
            f"  {name:<14} AP50 {v['ap50']:.3f}{_ci(per_ci.get(name))}  P {v['precision']:.3f}  R {v['recall']:.3f}  ({v['labels']} labels)"
            f"  own max-F1 conf {_conf(v['conf_threshold_max_f1'])}"
            if v["ap50"] is not None
            else f"  {name:<14} no labels in this split"
            for name, v in d["per_class"].items()
        ),
    ]
    typer.echo("\n".join(lines))
    if d.get("by_size"):
        from rich.console import Console

        Console(highlight=False).print(by_size_table(d["by_size"]))
    if comparison:
        typer.echo(comparison_lines(comparison))


def _compare(
    result: Any, against: Path, split: str, tile: str, threads: int | None, resamples: int
) -> dict[str, Any]:
    """``evaluate --against``: the other model on the same images and the paired differences."""
    from training.evaluate import bootstrap_ci, evaluate_model

    other = evaluate_model(against, result.data, split=split, tile=tile, threads=threads)
    if other.names != result.names:
        raise ConfigError(f"--against {against}: classes {other.names}, not {result.names}")
    a, b = result.to_dict(), other.to_dict()
    ci = bootstrap_ci(
        result.records,
        result.names,
        resamples=resamples,
        against=other.records,
        groups=result.groups,
    )
    diff = {
        name: None
        if a["per_class"][name]["ap50"] is None
        else round(a["per_class"][name]["ap50"] - b["per_class"][name]["ap50"], 4)
        for name in result.names
    }
    return {
        "model": b["model"],
        "path": str(against),
        "map50": b["map50"],
        "map50_95": b["map50_95"],
        "per_class_ap50": {name: v["ap50"] for name, v in b["per_class"].items()},
        "difference": {
            "map50": round(a["map50"] - b["map50"], 4),
            "map50_95": round(a["map50_95"] - b["map50_95"], 4),
            "per_class_ap50": diff,
        },
        "difference_ci": ci,
    }


def comparison_lines(c: dict[str, Any]) -> str:
    """The printed form of ``evaluate --against``'s comparison."""
    d, ci = c["difference"], c["difference_ci"]

    def cell(v: float | None, iv: list[float] | None) -> str:
        if v is None or iv is None:
            return "-"
        told = "" if iv[0] <= 0 <= iv[1] else "  *"
        return f"{v:+.3f} [{iv[0]:+.3f} {iv[1]:+.3f}]{told}"

    lines = [
        f"against {c['path']} (mAP50 {c['map50']:.3f}, mAP50-95 {c['map50_95']:.3f}): "
        f"this model minus that one, {round(100 * ci['level'])} % paired-bootstrap interval "
        f"over {ci['resamples']} resamples (* : the interval excludes 0)",
        f"  mAP50          {cell(d['map50'], ci['map50'])}",
        f"  mAP50-95       {cell(d['map50_95'], ci['map50_95'])}",
        *(
            f"  {name:<14} {cell(v, ci['per_class_ap50'][name])}"
            for name, v in d["per_class_ap50"].items()
        ),
    ]
    return "\n".join(lines)


def _ci(interval: list[float] | None) -> str:
    """`` [lo-hi]`` for a bootstrap interval, nothing without one."""
    return f" [{interval[0]:.3f}-{interval[1]:.3f}]" if interval else ""


def _conf(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def by_size_table(by_size: dict) -> Any:
    """A Rich table of evaluate's ``by_size`` JSON: one row per size bucket (labels, AP50,
    recall and false positives at the max-F1 confidence); "-" where a bucket has no labels."""
    from rich import box
    from rich.table import Table

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    table = Table(
        title=f"by size (model-input px, at conf {by_size['conf_threshold']:.3f})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    for name in ("size", "px", "labels", "AP50", "recall", "false pos."):
        table.add_column(name, justify="left" if name in ("size", "px") else "right")
    for name, (lo, hi) in by_size["buckets_px"].items():
        b = by_size[name]
        px = f"{lo:g}-{hi:g}" if hi is not None else f">={lo:g}"
        table.add_row(
            name, px, str(b["labels"]), num(b["map50"]), num(b["recall"]), str(b["false_positives"])
        )
    return table


def retrain(
    base: Annotated[
        Path, typer.Option(help="Current model (.onnx with its .pt beside it, or .pt).")
    ],
    new_data: Annotated[Path, typer.Option(help="Newly labelled photos (folder or export file).")],
    replay: Annotated[Path, typer.Option(help="Data YAML of the earlier training data.")],
    out: Annotated[Path, typer.Option(help="Run folder (comparison.md, new.onnx, train/).")],
    fmt: Annotated[
        str, typer.Option("--format", help="yolo, coco, voc, labelstudio, cvat or masks.")
    ] = "yolo",
    replay_fraction: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the earlier training images replayed.")
    ] = 0.3,
    margin: Annotated[
        float, typer.Option(min=0.0, help="Largest AP50 drop allowed on any class.")
    ] = 0.02,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Share of new photos held out.")
    ] = 0.2,
    seed: Annotated[int, typer.Option()] = 0,
    recipe: Annotated[str, typer.Option(help="Fine-tuning recipe.")] = "finetune",
    models_dir: Annotated[
        Path | None, typer.Option(help="Where to promote (default: the project's models/).")
    ] = None,
) -> None:
    """Fine-tune with new photos + replay; promote into models/ only if not worse (see comparison.md)."""
    _need_training()
    from finishscan.paths import MODELS
    from training.retrain import retrain as run_retrain

    res = run_retrain(
        base=base,
        new_data=new_data,
        fmt=fmt,
        replay=replay,
        out=out,
        replay_fraction=replay_fraction,
        margin=margin,
        epochs=epochs,
        holdout_fraction=holdout,
        seed=seed,
        recipe=recipe,
        models_dir=models_dir or MODELS,
    )
    typer.echo(res.table)
    typer.echo(
        f"promoted to {res.promoted_to}"
        if res.promoted
        else f"kept the current model; candidate at {res.new_model}"
    )


def select(
    model: Annotated[
        Path | None, typer.Option(help="ONNX model (default: the shipped one).")
    ] = None,
    scan: Annotated[
        Path | None, typer.Option(help="Detections JSON/JSONL of a scan or detect run.")
    ] = None,
    images: Annotated[
        Path | None, typer.Option(help="Folder of photos to run the model on (whole and tiled).")
    ] = None,
    n: Annotated[int, typer.Option(min=1, help="How many photos to pick.")] = 50,
    out: Annotated[Path, typer.Option(help="Label Studio tasks JSON to write.")] = Path(
        "tasks.json"
    ),
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Working confidence threshold for every class (default: the model's per-class "
            "thresholds, as detect reports; 0.25 for --scan without --model).",
        ),
    ] = None,
    url_prefix: Annotated[
        str, typer.Option(help="Prefix of image URLs in the tasks.")
    ] = "/data/local-files/?d=",
    flips: Annotated[
        bool,
        typer.Option(
            help="With --images: also read each photo mirrored (tiled) and count where the "
            "two readings disagree (one more tiled run per photo)."
        ),
    ] = False,
) -> None:
    """Pick the photos most worth labelling and write them as pre-annotated Label Studio tasks."""
    from finishscan.paths import default_model_path
    from training.select import (
        DEFAULT_THRESHOLD,
        Threshold,
        detect_pool,
        read_scan,
        select_records,
        to_label_studio,
    )

    if (scan is None) == (images is None):
        raise ConfigError("give exactly one of --scan FILE or --images DIR")
    if flips and scan is not None:
        raise ConfigError("--flips needs --images DIR (a scan's records have no mirrored run)")
    root = None
    if scan is not None:
        records = read_scan(scan)
        det = _detector_or_none(model)
        names = _names_of(records, det)
    else:
        from detector.run import expand_paths

        root = images
        m = model or default_model_path()
        det = _detector_or_none(m)
        assert det is not None
        names = list(det.names)
        records = detect_pool([Path(p) for p in expand_paths([str(images)])], m, flips=flips)
    working: Threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if threshold is None and det is not None:
        working = det.class_thresholds  # what detect reports
    chosen = select_records(records, n, threshold=working)
    tasks = to_label_studio(
        chosen, names=names, threshold=working, url_prefix=url_prefix, root=root
    )
    from datasets.formats.labelstudio import save_tasks

    save_tasks(tasks, out)
    typer.echo(f"wrote {len(tasks)} tasks (of {len(records)} photos) to {out}")


def _detector_or_none(model: Path | None) -> Any:
    """The ONNX detector of ``model`` (raises ``ModelError``), None without one."""
    if model is None:
        return None
    from detector import Detector

    return Detector(str(model))


def _names_of(records: list[dict], det: Any) -> list[str]:
    if det is not None:
        return list(det.names)
    from finishscan.classes import class_names

    names = class_names()
    for r in records:
        for d in (r.get("defects") or []) + (r.get("tiled_defects") or []):
            if d["label"] not in names:
                names.append(d["label"])
    return names
