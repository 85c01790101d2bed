"""``finishscan serve`` (owned by the service work)."""

import typer


def serve() -> None:
    """Run the HTTP service (not yet implemented)."""
    raise typer.Exit(3)
