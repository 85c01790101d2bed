"""A progress bar on stderr with count, rate and ETA (rich); silent when disabled."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Photos per second, e.g. ``6.3 photos/s``."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- photos/s" if speed is None else f"{speed:.1f} photos/s")


class ScanProgress:
    """``with ScanProgress(total, enabled=True) as p: p.advance(); p.log("...")``."""

    def __init__(self, total: int, *, enabled: bool = True, label: str = "scanning") -> None:
        self.console = Console(stderr=True)
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None
        self.total = total
        self.label = label

    def __enter__(self) -> ScanProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TextColumn("elapsed"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self.label, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def log(self, message: str) -> None:
        """A line above the bar (or plain on stderr without a bar)."""
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
