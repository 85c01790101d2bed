"""``finishscan train/export/evaluate/retrain/select`` (owned by the training work).

Imports ``training`` lazily inside each command: the runtime install has no torch.
"""

import typer


def train() -> None:
    """Train (not yet implemented)."""
    raise typer.Exit(3)


def export() -> None:
    """Export (not yet implemented)."""
    raise typer.Exit(3)


def evaluate() -> None:
    """Evaluate (not yet implemented)."""
    raise typer.Exit(3)


def retrain() -> None:
    """Retrain (not yet implemented)."""
    raise typer.Exit(3)


def select() -> None:
    """Active-learning selection (not yet implemented)."""
    raise typer.Exit(3)
