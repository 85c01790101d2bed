"""What the register takes in (:class:`DetectedDefect`) and hands out (pydantic ``*Out`` models)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from finishscan.errors import RegisterError

Status = Literal["open", "rectifying", "rectified", "verified", "rejected"]
WarningLevel = Literal["none", "amber", "red"]
Role = Literal["inspector", "supervisor", "admin"]


@dataclass(frozen=True)
class DetectedDefect:
    """One detection in photo pixels: ``DetectedDefect("crack", 0.87, (10, 20, 110, 40))``."""

    label: str
    confidence: float
    box: tuple[float, float, float, float]

    def __post_init__(self) -> None:
        if not self.label or not isinstance(self.label, str):
            raise RegisterError("a defect needs a non-empty label")
        if not (0.0 <= float(self.confidence) <= 1.0):
            raise RegisterError(f"confidence must be within 0..1, got {self.confidence}")
        if len(self.box) != 4 or not all(math.isfinite(float(v)) for v in self.box):
            raise RegisterError(f"box must be four finite numbers, got {self.box}")
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not (x0 < x1 and y0 < y1):
            raise RegisterError(f"box must have x0 < x1 and y0 < y1, got {self.box}")


@dataclass(frozen=True)
class PhotoInput:
    """One photo for :func:`register.record_photos`: where it goes, its bytes and detections.

    ``PhotoInput("P1", "3-2-1701", jpeg, 4000, 3000, [DetectedDefect("crack", 0.9, box)])``

    ``quality_warnings``: the photo's exposure warnings, kept with it (a known photo without
    them gets them). ``taken_at`` (capture time, aware): the caller's (a manifest's, else the photo's EXIF
    ``DateTimeOriginal``, which ``detector.read_header(data).taken_at`` reads); None → the
    photo is dated by when it was recorded (``created_at``), and so is its inspection.
    """

    project: str
    unit: str
    data: bytes
    width: int
    height: int
    defects: Sequence[DetectedDefect] = ()
    building: str | None = None
    room: str | None = None
    stage: str | None = None
    inspector: str | None = None
    taken_at: datetime | None = None
    # ``detector.photo_quality(image).warnings`` ("dark", "overexposed"); None: not checked
    quality_warnings: Sequence[str] | None = None


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ProjectOut(_Out):
    id: int
    code: str
    name: str
    created_at: datetime


class HistoryOut(_Out):
    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    note: str | None


class DefectOut(_Out):
    id: int
    project: str
    unit: str
    photo_id: int
    label: str
    confidence: float | None
    box: tuple[float, float, float, float]
    status: Status
    tier: Literal["minor", "general", "complex"]
    deadline: datetime | None
    overdue: bool
    assignee: str | None
    source: Literal["model", "person"]
    model_name: str | None
    model_version: str | None
    created_at: datetime
    updated_at: datetime
    superseded: bool = False
    history: list[HistoryOut] = []


class UnitStatus(_Out):
    unit: str
    open_defects: int
    warning: WarningLevel


class UnitSummary(_Out):
    unit: str
    open_defects: int
    defects_by_label: dict[str, int]  # open defects per label
    total_defects: int  # every current defect, whatever its status
    warning: WarningLevel


class PhotoRecorded(_Out):
    photo_id: int
    created: bool
    defects: list[DefectOut]
    unit: UnitStatus


class PhotoOut(_Out):
    id: int
    sha256: str
    project: str
    unit: str
    room: str | None
    stage: str | None
    width: int
    height: int
    size: int
    taken_at: datetime | None
    created_at: datetime
    defects: list[DefectOut]
    # exposure warnings ("dark", "overexposed"); None: not checked
    quality_warnings: list[str] | None = None


class WarningOut(_Out):
    id: int
    unit: str | None
    scope: Literal["unit", "project"]
    level: Literal["amber", "red"]
    rule: str
    detail: str
    raised_at: datetime
    cleared_at: datetime | None = None


class WarningRefresh(_Out):
    """What re-evaluating one project's warnings changed; ``error`` when it could not run."""

    project: str
    raised: list[WarningOut] = []
    cleared: list[WarningOut] = []
    error: str | None = None


class ProjectRisk(_Out):
    project: str
    units: int
    open_defects: int
    overdue: int
    rectification_rate: float | None  # None when the project has no aged defects
    red_warnings: int
    amber_warnings: int
    score: float
    supervision: Literal["high", "normal", "low"]


class ApiKeyOut(_Out):
    id: int
    prefix: str
    role: Role
    project: str | None  # None: an admin key for every project
    created_at: datetime
    revoked_at: datetime | None
