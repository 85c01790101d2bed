"""``finishscan detect IMAGE...``: thin wrapper over :func:`detector.run.detect_paths`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from finishscan.paths import default_model_path

# what `detect` tells the user on stderr when photos carry a quality warning
EXPOSURE_ADVICE = {
    "dark": "look dark: defects in them may be missed; retake them with more light",
    "overexposed": "look blown out: defects in their bright parts may be missed; avoid flash "
    "straight at the wall and windows in frame",
}


def detect(
    images: Annotated[list[str], typer.Argument(help="Photos (or folders of photos) to scan.")],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="ONNX model; default $FINISHSCAN_MODEL, then the shipped model."
        ),
    ] = None,
    conf: Annotated[
        float | None,
        typer.Option(
            "--conf",
            min=0.0,
            max=1.0,
            help="Confidence threshold for every class (default: the model's per-class "
            "thresholds, listed in its card; 0.25 for a model without them).",
        ),
    ] = None,
    iou: Annotated[float, typer.Option("--iou", min=0.0, max=1.0, help="NMS IoU threshold.")] = 0.7,
    tile: Annotated[
        str,
        typer.Option(
            "--tile", help="auto: tile photos whose long side is > 2x the model input; on; off."
        ),
    ] = "auto",
    tta: Annotated[
        bool,
        typer.Option(
            "--tta",
            help="Also read each photo (each slice when tiled) mirrored left-right and fuse the "
            "two: about twice the time, more defects found (model version <version>+flip).",
        ),
    ] = False,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the JSON list here ('-' or omitted: stdout)."),
    ] = None,
    annotate: Annotated[
        Path | None,
        typer.Option("--annotate", help="Write annotated copies (JPEG) into this folder."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, help="ONNX Runtime threads (default: all cores)."),
    ] = None,
) -> None:
    """Detect defects in photos; prints one JSON object per photo (a list).

    Exit status: 0 when every photo was read, 2 when some could not be (they carry "error"),
    1 for a missing or unusable model.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from detector import Detector
    from detector.run import detect_paths, expand_paths

    if tile not in ("auto", "on", "off"):
        raise typer.BadParameter("must be auto, on or off", param_hint="--tile")
    detector = Detector(model or default_model_path(), threads=threads, conf=conf, iou=iou, tta=tta)
    paths = expand_paths(images)
    progress = Progress(
        TextColumn("detect"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=len(paths) < 2 or not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task("detect", total=len(paths))
        records = detect_paths(
            paths,
            detector,
            tile=tile,  # type: ignore[arg-type]
            annotate_dir=annotate,
            on_result=lambda _: progress.advance(task),
        )
    text = json.dumps(records, indent=2)
    if json_out is None or str(json_out) == "-":
        typer.echo(text)
    else:
        json_out.write_text(text + "\n")
    for warning, advice in EXPOSURE_ADVICE.items():
        n = sum(warning in r.get("quality", {}).get("warnings", ()) for r in records)
        if n:
            typer.echo(f"note: {n} of {len(records)} photos {advice} ({warning!r})", err=True)
    failed = sum("error" in r for r in records)
    if failed:
        typer.echo(f"warning: {failed} of {len(records)} photos could not be read", err=True)
        raise typer.Exit(2)
