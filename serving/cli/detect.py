"""``finishscan detect`` (owned by the detector work)."""

import typer


def detect(images: list[str] = typer.Argument(..., help="photos")) -> None:
    """Detect defects in photos (not yet implemented)."""
    raise typer.Exit(3)
