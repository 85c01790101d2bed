"""``finishscan scan`` (owned by the scan work)."""

import typer


def scan() -> None:
    """Batch-scan an archive (not yet implemented)."""
    raise typer.Exit(3)
