"""What a scan did, as counts a user reads at the end (and a dict for scripts)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScanSummary:
    """Counters filled by the engine while it runs.

    ``scanned`` photos went through the detector and into the register in this run;
    ``skipped`` were already recorded for this model version (by content hash);
    ``duplicates`` repeated a photo already seen in this run for the same unit.
    With a JSON output, ``json_from_register`` skipped photos got their line from the
    register and ``json_redetected`` were detected again for it (the register lacked some of
    their detections).
    """

    planned: int = 0
    scanned: int = 0
    skipped: int = 0
    duplicates: int = 0
    new_photos: int = 0
    defects_by_label: Counter[str] = field(default_factory=Counter)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    warnings_raised: list[dict[str, str]] = field(default_factory=list)
    # photos of this run that detector.photo_quality warns about, by warning (dark, overexposed)
    exposure: dict[str, list[str]] = field(default_factory=dict)
    warnings_cleared: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    register_seconds: float = 0.0  # in the register: skip checks and recording
    engine: str = "local"
    workers: int = 1
    model: dict[str, str] = field(default_factory=dict)
    selected: int = 0
    tasks_path: str | None = None
    json_from_register: int = 0
    json_redetected: int = 0

    @property
    def defects(self) -> int:
        return sum(self.defects_by_label.values())

    @property
    def rate(self) -> float:
        """Photos through the detector per second of wall time."""
        return self.scanned / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "scanned": self.scanned,
            "skipped_already_recorded": self.skipped,
            "duplicates": self.duplicates,
            "new_photos": self.new_photos,
            "defects": self.defects,
            "defects_by_label": dict(sorted(self.defects_by_label.items())),
            "unreadable": [{"image": p, "error": e} for p, e in sorted(self.unreadable)],
            "exposure": {k: sorted(v) for k, v in sorted(self.exposure.items())},
            "not_in_manifest": len(self.unlisted),
            "warnings_raised": self.warnings_raised,
            "warnings_cleared": self.warnings_cleared,
            "seconds": round(self.seconds, 3),
            "register_seconds": round(self.register_seconds, 3),
            "photos_per_second": round(self.rate, 3),
            "engine": self.engine,
            "workers": self.workers,
            "model": self.model,
            "json_from_register": self.json_from_register,
            "json_redetected": self.json_redetected,
        }

    def to_text(self, *, max_listed: int = 20) -> str:
        """The end-of-scan report, e.g. ``scanned 120 photos (3 skipped ...) in 41.2 s``."""
        lines = [
            f"scanned {self.scanned} photo(s) in {self.seconds:.1f} s ({self.rate:.2f}/s, "
            f"{self.engine} engine, {self.workers} worker(s)); "
            f"skipped {self.skipped} already recorded, {self.duplicates} duplicate(s)",
        ]
        if self.defects_by_label:
            per = ", ".join(f"{k} {v}" for k, v in sorted(self.defects_by_label.items()))
            lines.append(f"defects: {self.defects} ({per})")
        else:
            lines.append("defects: 0")
        lines.append(f"unreadable: {len(self.unreadable)}")
        for path, err in sorted(self.unreadable)[:max_listed]:
            lines.append(f"  {path}: {err}")
        if len(self.unreadable) > max_listed:
            lines.append(f"  ... and {len(self.unreadable) - max_listed} more")
        for warning, paths in sorted(self.exposure.items()):
            lines.append(
                f"{warning} photos: {len(paths)} (defects in them may be missed; retake them)"
            )
            lines.extend(f"  {p}" for p in sorted(paths)[:max_listed])
            if len(paths) > max_listed:
                lines.append(f"  ... and {len(paths) - max_listed} more")
        if self.unlisted:
            lines.append(
                f"not scanned: {len(self.unlisted)} image(s) under the folder that the "
                f"manifest/layout does not cover (e.g. {self.unlisted[0]})"
            )
        lines.append(f"warnings raised: {len(self.warnings_raised)}")
        for w in self.warnings_raised[:max_listed]:
            lines.append(f"  {w['project']} {w['unit']}: {w['level']} ({w['rule']})")
        if self.warnings_cleared:
            lines.append(f"warnings cleared: {len(self.warnings_cleared)}")
        if self.json_from_register or self.json_redetected:
            lines.append(
                f"JSON output: {self.json_from_register} recorded photo(s) from the register, "
                f"{self.json_redetected} detected again (the register lacks some detections)"
            )
        if self.tasks_path:
            lines.append(f"labelling tasks: {self.selected} photo(s) -> {self.tasks_path}")
        return "\n".join(lines)
