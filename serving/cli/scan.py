"""``finishscan scan``: batch-scan an archive of photos into the register (resumable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from serving.scan import ScanOptions, run_scan

LAYOUT_HELP = (
    "take project/unit from the folders instead of a manifest, e.g. '{project}/{unit}/...' "
    "(fields {project} {unit} {building} {room} {stage}; '*' = any text within a folder name; "
    "'...' = any folders)"
)


def scan(
    directory: Annotated[
        Path, typer.Argument(help="the archive folder (manifest paths are relative to it)")
    ],
    manifest: Annotated[
        Path | None, typer.Option(help="CSV: path,project,unit[,building,room,stage,taken_at]")
    ] = None,
    layout: Annotated[str | None, typer.Option(help=LAYOUT_HELP)] = None,
    db: Annotated[str | None, typer.Option(help="register URL (default $FINISHSCAN_DB)")] = None,
    model: Annotated[str | None, typer.Option(help="ONNX model (default: the shipped one)")] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="detector processes / Ray actors")
    ] = 1,
    tile: Annotated[
        str, typer.Option(help="tiled inference for large photos: auto, on or off")
    ] = "auto",
    conf: Annotated[
        float | None,
        typer.Option(
            help="confidence threshold for every class (default: the model's per-class "
            "thresholds; 0.25 for a model without them)"
        ),
    ] = None,
    tta: Annotated[
        bool,
        typer.Option(
            "--tta",
            help="also read each photo mirrored and fuse the two (as `detect --tta`; about twice "
            "the time; recorded as model version <version>+flip)",
        ),
    ] = False,
    engine: Annotated[str, typer.Option(help="local (worker processes) or ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray)")] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="append one detection object per photo (JSON Lines)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="photos per register transaction")] = 8,
    select: Annotated[int, typer.Option(help="after the scan, pick N photos worth labelling")] = 0,
    tasks: Annotated[Path | None, typer.Option(help="Label Studio tasks file for --select")] = None,
    progress: Annotated[bool, typer.Option(help="progress bar on stderr")] = True,
    summary_json: Annotated[bool, typer.Option(help="print the summary as JSON")] = False,
) -> None:
    """Batch-scan an archive of photos into the register; run it again to resume."""
    options = ScanOptions(
        root=directory,
        manifest=manifest,
        layout=layout,
        db=db,
        model=model,
        workers=workers,
        tile=tile,
        conf=conf,
        tta=tta,
        engine=engine,
        address=address,
        json_out=json_out,
        batch_size=batch_size,
        select=select,
        tasks=tasks,
        progress=progress,
    )
    summary = run_scan(options)
    typer.echo(json.dumps(summary.to_dict(), indent=1) if summary_json else summary.to_text())
