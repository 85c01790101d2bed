"""The register side of a scan: the skip check before detection and batched, atomic writes.

Only the process that owns a :class:`RegisterSink` writes to the register; workers detect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from finishscan.errors import ImageError, NotFoundError
from serving.scan.items import ScanItem


@dataclass(frozen=True)
class Finished:
    """A photo the detector has seen: its bytes, content hash and the worker's outcome."""

    item: ScanItem
    sha256: str
    data: bytes
    outcome: dict[str, Any]
    record: bool = True  # False: already in the register, detected again for the JSON only


class RegisterSink:
    """Wraps an open register for one model version.

    ``sink.is_recorded(sha, "P1", "101")`` before detecting; ``sink.record(batch)`` writes a
    batch of photos with their defects in ONE transaction (all or nothing).
    """

    def __init__(self, url: str | None, *, model_name: str, model_version: str) -> None:
        self._register_mod = _register_api()
        self.register = self._register_mod.open_register(url)
        self.model_name = model_name
        self.model_version = model_version

    def is_recorded(self, sha256: str, project: str, unit: str) -> bool:
        with self.register.session() as s:
            return bool(
                self._register_mod.is_recorded(
                    session=s,
                    sha256=sha256,
                    project=project,
                    unit=unit,
                    model_version=self.model_version,
                )
            )

    def stored_outcome(self, sha256: str, project: str, unit: str) -> dict[str, Any] | None:
        """``{"width", "height", "defects"}`` as this model version's scan of the photo left
        them in the register (what a worker returned), or None when the register does not hold
        all of its detections (see ``register.stored``) or the photo is not recorded."""
        from register.stored import stored_scan

        with self.register.session(readonly=True) as s:
            got = stored_scan(
                session=s,
                sha256=sha256,
                project=project,
                unit=unit,
                model_version=self.model_version,
                model_name=self.model_name,
            )
        if got is None or not got.complete:
            return None
        return {
            "width": got.width,
            "height": got.height,
            "defects": [
                {"label": d.label, "confidence": d.confidence, "box": list(d.box)}
                for d in got.defects
            ],
        }

    def record(self, batch: Sequence[Finished]) -> list[Any]:
        """Record every photo of ``batch`` in one transaction; returns the PhotoRecorded list."""
        reg = self._register_mod
        # Lock projects in one global order (sorted by code): two scans writing batches that
        # span the same projects then never wait on each other in a cycle (no deadlock).
        order = sorted(range(len(batch)), key=lambda i: batch[i].item.project)
        items = [_photo_input(reg, batch[i]) for i in order]
        with self.register.session() as s:
            recorded = reg.record_photos(
                session=s,
                store=self.register.store,
                rules=self.register.rules,
                items=items,
                model_name=self.model_name,
                model_version=self.model_version,
            )
        out: list[Any] = [None] * len(batch)
        for i, r in zip(order, recorded, strict=True):
            out[i] = r
        return out

    def active_warnings(self, projects: Sequence[str]) -> set[tuple[str, str, str, str]]:
        """(project, unit, level, rule) of every active warning in ``projects``."""
        found: set[tuple[str, str, str, str]] = set()
        for project in projects:
            try:
                with self.register.session() as s:
                    ws = self._register_mod.active_warnings(session=s, project=project)
            except NotFoundError:
                continue
            for w in ws:
                found.add((project, *_warning_fields(w)))
        return found

    def close(self) -> None:
        self.register.dispose()


def _photo_input(reg: SimpleNamespace, f: Finished) -> Any:
    item, outcome = f.item, f.outcome
    defects = [
        reg.DetectedDefect(label=d["label"], confidence=float(d["confidence"]), box=tuple(d["box"]))
        for d in outcome["defects"]
    ]
    return reg.PhotoInput(
        project=item.project,
        unit=item.unit,
        data=f.data,
        width=int(outcome["width"]),
        height=int(outcome["height"]),
        defects=defects,
        building=item.building,
        room=item.room,
        stage=item.stage,
        # the manifest's capture time, else the photo's EXIF one (None: dated by receipt)
        taken_at=parse_taken_at(item.taken_at) or exif_taken_at(f.data),
        quality_warnings=outcome["quality"]["warnings"] if "quality" in outcome else None,
    )


def _warning_fields(w: Any) -> tuple[str, str, str]:
    return (str(w.unit or "(project)"), str(w.level), str(w.rule))


def _register_api() -> SimpleNamespace:
    """The register functions the scan uses (imported lazily: workers never need them)."""
    from register import (
        DetectedDefect,
        PhotoInput,
        active_warnings,
        is_recorded,
        open_register,
        record_photos,
    )

    return SimpleNamespace(
        open_register=open_register,
        record_photos=record_photos,
        PhotoInput=PhotoInput,
        is_recorded=is_recorded,
        active_warnings=active_warnings,
        DetectedDefect=DetectedDefect,
    )


def exif_taken_at(data: bytes) -> dt.datetime | None:
    """The photo's EXIF capture time, ``detector.read_header(data).taken_at``; None also for
    bytes the header reader refuses (such a photo is never decoded, so never recorded)."""
    from detector import read_header  # here: workers and the sink need no detector at import

    try:
        return read_header(data).taken_at
    except ImageError:
        return None


def parse_taken_at(value: str | None) -> dt.datetime | None:
    """An ISO 8601 manifest value as an aware datetime (UTC when no offset is given).

    >>> parse_taken_at("2024-05-01")
    datetime.datetime(2024, 5, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if not value:
        return None
    t = dt.datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
