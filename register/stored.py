"""What one model version's scan of a photo left in the register (for scan outputs that must
cover photos an earlier run detected).

    with reg.session(readonly=True) as s:
        got = stored_scan(session=s, sha256=sha, project="P1", unit="101", model_version="1")
    if got is not None and got.complete:
        print(got.width, got.height, [d.label for d in got.defects])

A scan stores every detection as a model defect of that version, except when the register
did not apply it: a version older than one already applied records only the scan, and a
newer version's detection that matches a defect a person already handled adds nothing (see
``register.repository.photos``). ``complete`` tells the two apart: the defects found are
all the scan saw only when their number is the scan's recorded ``detections``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from register.models import Defect, Photo, Project, Scan, Unit
from register.schemas import DetectedDefect

__all__ = ["StoredScan", "stored_scan"]


@dataclass(frozen=True)
class StoredScan:
    """The photo's size and the model defects one scan left, best first."""

    width: int
    height: int
    detections: int  # what the scan counted when it was recorded
    defects: list[DetectedDefect]

    @property
    def complete(self) -> bool:
        """True when ``defects`` are every detection of the scan."""
        return len(self.defects) == self.detections


def stored_scan(
    *,
    session: Session,
    sha256: str,
    project: str,
    unit: str,
    model_version: str,
    model_name: str | None = None,
) -> StoredScan | None:
    """The scan of the photo ``sha256`` in ``project``/``unit`` by ``model_version`` (and
    ``model_name`` when given), or None when there is none (what ``is_recorded`` answers with
    False). Defects in detection order: confidence descending, then as recorded. Reads only."""
    q = (
        select(Photo.id, Photo.width, Photo.height, Scan.model_name, Scan.detections)
        .join(Scan, Scan.photo_id == Photo.id)
        .join(Unit, Photo.unit_id == Unit.id)
        .join(Project, Unit.project_id == Project.id)
        .where(
            Photo.sha256 == sha256,
            Project.code == project,
            Unit.code == unit,
            Scan.model_version == model_version,
        )
        .order_by(Scan.id)
    )
    if model_name is not None:
        q = q.where(Scan.model_name == model_name)
    row = session.execute(q.limit(1)).first()
    if row is None:
        return None
    photo_id, width, height, name, detections = row
    found = session.scalars(
        select(Defect)
        .where(
            Defect.photo_id == photo_id,
            Defect.source == "model",
            Defect.model_name == name,
            Defect.model_version == model_version,
        )
        .order_by(Defect.id)
    ).all()
    defects = [
        DetectedDefect(d.label, float(d.confidence or 0.0), (d.x0, d.y0, d.x1, d.y1))
        for d in sorted(found, key=lambda d: -(d.confidence or 0.0))  # stable: ties by id
    ]
    return StoredScan(int(width), int(height), int(detections), defects)
