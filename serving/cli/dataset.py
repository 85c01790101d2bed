"""``finishscan dataset ...``: synthesise, convert, check, describe, merge, split, preview.

Each command parses its arguments and calls one function of ``datasets.tools`` (or the
synthetic generator); ``DatasetError`` becomes a one-line message via the CLI root.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datasets.tools import check as check_mod
from datasets.tools import convert as convert_mod
from datasets.tools import merge as merge_mod
from datasets.tools import preview as preview_mod
from datasets.tools import split as split_mod
from datasets.tools import stats as stats_mod
from finishscan.errors import DatasetError

app = typer.Typer(help="dataset commands", no_args_is_help=True)

NamesOpt = Annotated[
    str | None,
    typer.Option(
        "--names",
        "--classes",
        help="class names: 'crack,stain' or a YAML (classes.yaml or data.yaml); "
        "default: the source's own names, else configs/classes.yaml",
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", help="input format: " + "|".join(convert_mod.INPUT_FORMATS))
]
MapOpt = Annotated[
    list[str] | None, typer.Option("--map", help="rename a class: old=new (repeatable)")
]
DropOpt = Annotated[list[str] | None, typer.Option(help="drop a class's boxes (repeatable)")]
CopyOpt = Annotated[bool, typer.Option("--copy", help="copy images instead of hard-linking")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="replace a non-empty --out")]


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    v = value.lower()
    if v not in allowed:
        raise DatasetError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return v


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="new output folder (YOLO layout + COCO JSON)")],
    n: Annotated[int, typer.Option(help="number of photos")],
    seed: Annotated[int, typer.Option(help="random seed; same seed, same bytes")] = 0,
    imgsz: Annotated[int, typer.Option(help="image size in px")] = 640,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    overwrite: OverwriteOpt = False,
) -> None:
    """Synthetic labelled finishing-defect photos, YOLO layout with OUT/data.yaml."""
    from datasets.synthetic import write_dataset  # lazy: the generator is heavy

    if n < 1:
        raise DatasetError("--n must be at least 1")
    ds = write_dataset(
        out, n, seed=seed, imgsz=imgsz, workers=workers, progress=True, overwrite=overwrite
    )
    typer.echo(
        f"wrote {len(ds.images)} images, {sum(len(i.boxes) for i in ds.images)} boxes to {out}"
    )


@app.command()
def convert(
    src: Annotated[Path, typer.Argument(help="source dataset (folder or label file)")],
    from_: Annotated[str, typer.Option("--from", help="|".join(convert_mod.INPUT_FORMATS))],
    to: Annotated[str, typer.Option("--to", help="|".join(convert_mod.OUTPUT_FORMATS))],
    out: Annotated[Path, typer.Option(help="new output folder")],
    names: NamesOpt = None,
    images: Annotated[
        Path | None,
        typer.Option(help="image folder for COCO/Label Studio/CVAT (default: beside the file)"),
    ] = None,
    class_name: Annotated[
        str,
        typer.Option(
            "--class", help="masks: class of the foreground ('index' for class-index masks)"
        ),
    ] = "crack",
    min_area: Annotated[
        int, typer.Option(help="masks: drop components smaller than this (px)")
    ] = 10,
    merge_gap: Annotated[
        int, typer.Option(help="masks: merge fragments this close (px); 0 = off")
    ] = 0,
    url_prefix: Annotated[
        str, typer.Option(help="--to labelstudio: image URL prefix before the path inside --out")
    ] = "/data/local-files/?d=",
    map_: MapOpt = None,
    drop: DropOpt = None,
    copy: CopyOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Convert labels between formats (images hard-linked, or copied with --copy).

    --to labelstudio writes tasks.json (boxes as pre-annotations) and labeling_config.xml.
    """
    src_format = _choice(from_, convert_mod.INPUT_FORMATS, "--from")
    dst_format = _choice(to, convert_mod.OUTPUT_FORMATS, "--to")
    ds, path = convert_mod.convert(
        src,
        src_format,
        dst_format,
        out,
        names=convert_mod.parse_names(names),
        images=images,
        link=not copy,
        overwrite=overwrite,
        class_name=None if class_name == "index" else class_name,
        min_area=min_area,
        merge_gap=merge_gap,
        url_prefix=url_prefix,
        mapping=merge_mod.parse_mapping(map_ or []),
        drop=drop or [],
    )
    n_boxes = sum(len(im.boxes) for im in ds.images)
    typer.echo(
        f"converted {len(ds.images)} images, {n_boxes} boxes ({src_format} → {dst_format}): {path}"
    )


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="YOLO dataset folder or its data.yaml")],
    as_json: Annotated[bool, typer.Option("--json", help="print problems as a JSON list")] = False,
) -> None:
    """Validate a YOLO dataset: one line per problem naming the file; exit 1 on any error."""
    problems = check_mod.check_dataset(directory)
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if as_json:
        rows = [
            {"path": str(p.path), "line": p.line, "severity": p.severity, "message": p.message}
            for p in problems
        ]
        typer.echo(json.dumps(rows, indent=1))
    else:
        for p in problems:
            typer.echo(str(p))
        typer.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    if errors:
        raise typer.Exit(1)


def _load(src: Path, fmt: str, names: str | None, images: Path | None = None):
    ds, split_fn = convert_mod.read(
        src,
        _choice(fmt, convert_mod.INPUT_FORMATS, "--format"),
        names=convert_mod.parse_names(names),
        images=images,
    )
    return ds, split_fn


@app.command()
def stats(
    directory: Annotated[Path, typer.Argument(help="dataset folder (or label file)")],
    fmt: FormatOpt = "yolo",
    names: NamesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print as JSON")] = False,
) -> None:
    """Counts per class, box sizes (small/medium/large, median per class), images without boxes."""
    ds, _ = _load(directory, fmt, names)
    result = stats_mod.compute_stats(ds)
    typer.echo(
        json.dumps(result.as_dict(), indent=1) if as_json else stats_mod.format_stats(result)
    )


@app.command()
def merge(
    sources: Annotated[list[Path], typer.Argument(help="YOLO datasets to merge")],
    out: Annotated[Path, typer.Option(help="new output folder (YOLO)")],
    map_: MapOpt = None,
    drop: DropOpt = None,
    names: NamesOpt = None,
    copy: CopyOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Merge YOLO datasets into one with the target classes (default configs/classes.yaml),
    remapping classes by name."""
    from datasets.formats._common import default_names, split_of
    from datasets.formats.yolo import load, save

    target = default_names(convert_mod.parse_names(names))
    loaded = [load(s) for s in sources]
    merged = merge_mod.merge(
        loaded,
        target,
        mapping=merge_mod.parse_mapping(map_ or []),
        drop=drop or [],
        sources=[str(s) for s in sources],
    )
    save(merged, out, link=not copy, split_fn=lambda im: split_of(im.path), overwrite=overwrite)
    typer.echo(
        f"merged {len(sources)} datasets: {len(merged.images)} images, "
        f"{sum(len(i.boxes) for i in merged.images)} boxes into {out}"
    )


@app.command()
def split(
    directory: Annotated[Path, typer.Argument(help="YOLO dataset folder (or data.yaml)")],
    out: Annotated[Path, typer.Option(help="new output folder (YOLO)")],
    val: Annotated[float, typer.Option(help="fraction of images for validation")] = 0.1,
    test: Annotated[float, typer.Option(help="fraction of images for test")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="keep groups together: a regex on the file name (first capture group) "
            "or a manifest CSV with path and unit columns"
        ),
    ] = None,
    copy: CopyOpt = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Deterministic train/val/test split that keeps each group (unit) on one side."""
    from datasets.formats.yolo import load, save

    ds = load(directory)
    group_fn = None
    if group_by:
        gp = Path(group_by)
        if gp.suffix.lower() == ".csv":
            if not gp.is_file():
                raise DatasetError(f"manifest not found: {gp}")
            group_fn = split_mod.group_by_manifest(gp, root=Path(directory))
        else:
            group_fn = split_mod.group_by_regex(group_by)
    result = split_mod.assign_splits(ds.images, val=val, test=test, seed=seed, group_fn=group_fn)
    save(
        ds, out, link=not copy, split_fn=lambda im: result.assignment[im.path], overwrite=overwrite
    )
    counts = result.counts()
    typer.echo(
        f"train {counts['train']}, val {counts['val']}, test {counts['test']} images "
        f"({result.groups} groups) → {out}"
    )
    if result.ungrouped:
        typer.echo(
            f"warning: {result.ungrouped} image(s) matched no group; each is its own group",
            err=True,
        )
    for name, fraction in (("val", val), ("test", test)):
        if fraction > 0 and counts[name] == 0:
            typer.echo(
                f"warning: {name} is empty: the groups are too large for --{name} {fraction}",
                err=True,
            )


@app.command()
def preview(
    directory: Annotated[Path, typer.Argument(help="dataset folder (or label file)")],
    out: Annotated[Path, typer.Option(help="output PNG")],
    n: Annotated[int, typer.Option(help="number of images")] = 16,
    seed: Annotated[int, typer.Option(help="which images (seeded sample)")] = 0,
    tile: Annotated[int, typer.Option(help="tile size in px")] = 320,
    fmt: FormatOpt = "yolo",
    names: NamesOpt = None,
) -> None:
    """A PNG mosaic of images with their boxes and class names."""
    ds, _ = _load(directory, fmt, names)
    preview_mod.write_preview(ds, out, n=n, seed=seed, tile=tile)
    typer.echo(f"wrote {out}")


@app.command()
def tile(
    directory: Annotated[Path, typer.Argument(help="YOLO dataset folder (or data.yaml)")],
    out: Annotated[Path, typer.Option(help="new output folder (YOLO, PNG tiles)")],
    size: Annotated[int, typer.Option(help="tile side in px: the model's input size")] = 320,
    overlap: Annotated[float, typer.Option(help="overlap of neighbouring tiles")] = 0.2,
    min_visible: Annotated[
        float,
        typer.Option(
            help="keep a clipped box if this share of its area is in the tile (boxes without masks)"
        ),
    ] = 0.2,
    min_pixels: Annotated[
        int,
        typer.Option(
            help="keep a clipped label with a mask if this many of its defect's pixels (or "
            "half of them) are in the tile"
        ),
    ] = 24,
    polygons: Annotated[
        Path | None,
        typer.Option(
            "--masks",
            "--polygons",
            help="COCO JSON with the defects' masks (RLE or polygons) [default: "
            "DIRECTORY/annotations.coco.json if present]",
        ),
    ] = None,
    no_polygons: Annotated[
        bool,
        typer.Option("--no-masks", "--no-polygons", help="clip every box by the box rule"),
    ] = False,
    keep_empty: Annotated[
        float, typer.Option(help="share of tiles without boxes to keep (seeded)")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="random seed for --keep-empty")] = 0,
    erase: Annotated[
        bool | None,
        typer.Option(
            "--erase/--no-erase",
            help="cut a tile that shows a piece of a defect without a label (a sliver, a faint "
            "end) from the photo rendered again without that defect; synthetic folders only "
            "[default: on when DIRECTORY has synth_config.json and masks are used]",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Cut photos into model-sized tiles with clipped labels, so training sees defects at the
    scale `detect --tile` shows them to the model. A label with a mask (the synthetic
    generator's annotations.coco.json) gets the tight box of its defect's pixels in the tile."""
    from datasets.formats.yolo import load
    from datasets.tools import tile as tile_mod

    ds = load(directory)
    root = Path(directory) if Path(directory).is_dir() else Path(directory).parent
    if polygons is None and not no_polygons:
        auto = root / "annotations.coco.json"
        polygons = auto if auto.is_file() else None
    elif no_polygons:
        polygons = None
    polys = tile_mod.coco_masks(polygons, ds) if polygons is not None else None
    if erase is None:
        erase = polys is not None and (root / "synth_config.json").is_file()
    elif erase and polys is None:
        raise DatasetError("--erase needs the defects' masks (--masks), not --no-masks")
    redraw = None
    if erase:
        from datasets.synthetic.replay import Replay

        redraw = Replay(root).redraw  # a folder without synth_config.json: a clear error
    s = tile_mod.tile_dataset(
        ds,
        out,
        size=size,
        overlap=overlap,
        min_visible=min_visible,
        min_pixels=min_pixels,
        polygons=polys,
        keep_empty=keep_empty,
        seed=seed,
        overwrite=overwrite,
        redraw=redraw,
    )
    if polys is not None:
        typer.echo(
            f"{s.photos} photos → {s.tiles} tiles of {size} px, {s.boxes_out} boxes "
            f"({s.by_pixels} placed by their defect's pixels from {polygons}; "
            f"{s.dropped} box pieces dropped: {s.dropped_pixels} with < {min_pixels} defect "
            f"pixels, {s.dropped - s.dropped_pixels} as < {min_visible:.0%} visible; "
            f"{s.dropped_cue} hollow-tile pieces without their edge cue; "
            f"{s.dropped_faint} cut pieces their tile does not show"
            + (
                f"; {s.erased} pieces a tile showed unlabelled (too few pixels or not shown) "
                f"erased: {s.redrawn} tiles cut from their photo redrawn without them"
                if erase
                else ""
            )
            + f") into {out}"
        )
    else:
        typer.echo(
            f"{s.photos} photos → {s.tiles} tiles of {size} px, {s.boxes_out} boxes "
            f"({s.dropped} box pieces dropped as < {min_visible:.0%} visible) into {out}"
        )
