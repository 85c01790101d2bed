"""What a scan works on: one photo with the register coordinates it belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class ScanItem:
    """One photo to scan.

    ``rel`` is the photo's path relative to the scanned DIR, in POSIX form (it is what the
    JSON output calls ``image``); ``source`` names where the item came from (``manifest.csv:7``
    or ``layout``) for error messages.

    >>> ScanItem(rel="a/b.jpg", project="P1", unit="3-2-1701").key
    ('a/b.jpg', 'P1', '3-2-1701')
    """

    rel: str
    project: str
    unit: str
    building: str | None = None
    room: str | None = None
    stage: str | None = None
    taken_at: str | None = None
    source: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the item within a scan's output (path, project, unit)."""
        return (self.rel, self.project, self.unit)

    def path(self, root: Path) -> Path:
        """The file on disk under ``root``."""
        return Path(root) / PurePosixPath(self.rel)

    def meta(self) -> dict[str, str]:
        """The optional register fields that are set."""
        fields = {
            "building": self.building,
            "room": self.room,
            "stage": self.stage,
            "taken_at": self.taken_at,
        }
        return {k: v for k, v in fields.items() if v}
