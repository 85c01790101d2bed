"""Request (Create/Update) and response (Public) bodies of the HTTP API.

Shapes follow INTERFACE.md; responses may carry more fields than it lists, never fewer.

    >>> DefectUpdate(status="verified").status
    'verified'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["open", "rectifying", "rectified", "verified", "rejected"]
WarningLevel = Literal["none", "amber", "red"]
Role = Literal["inspector", "supervisor", "admin"]

_CODE = r"^[A-Za-z0-9._-]+$"


class ModelPublic(BaseModel):
    name: str
    version: str


class ModelDescription(BaseModel):
    """``GET /v1/model``: what the service detects with."""

    name: str
    version: str = Field(description="the version detections are recorded under by default")
    classes: list[str]
    imgsz: list[int] = Field(description="the model's input [height, width]")
    conf_thresholds: dict[str, float] = Field(
        description="per class, the lowest confidence a reported defect has (the model's own "
        "operating thresholds, or the service's one --conf for all)"
    )
    tta: bool = Field(description="whether photos are also read mirrored unless a request says")
    card: dict[str, Any] | None = Field(
        description="the model card: training data, held-out metrics, limits; null if none"
    )


class BoxDefect(BaseModel):
    label: str
    confidence: float
    box: list[float] = Field(min_length=4, max_length=4, description="[x0, y0, x1, y1] pixels")


class QualityPublic(BaseModel):
    """The photo's exposure (``detector.photo_quality``): figures and warnings."""

    median_luma: float = Field(description="median luma, 0-255")
    dark_share: float = Field(description="share of pixels under luma 16")
    clipped_share: float = Field(description="share of pixels at luma 250 or more (blown out)")
    warnings: list[Literal["dark", "overexposed"]] = Field(
        description="dark / overexposed: defects in this photo may be missed; [] when it looks fine"
    )


class DetectionPublic(BaseModel):
    """The detection object (same as one element of ``finishscan detect --json``)."""

    image: str
    width: int
    height: int
    defects: list[BoxDefect]
    model: ModelPublic
    quality: QualityPublic | None = None


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64, pattern=_CODE)
    name: str | None = Field(None, max_length=200)


class ProjectPublic(BaseModel):
    code: str
    name: str


class UnitStatusPublic(BaseModel):
    unit: str
    open_defects: int
    warning: WarningLevel


class PhotoDefectPublic(BoxDefect):
    id: int
    status: Status


class PhotoUploadPublic(BaseModel):
    photo_id: int
    created: bool = Field(description="False when these bytes were already stored for this unit")
    width: int
    height: int
    defects: list[PhotoDefectPublic]
    unit: UnitStatusPublic
    model: ModelPublic
    quality: QualityPublic | None = Field(
        None, description="the photo's exposure; null when these bytes were already stored"
    )


class UnitSummaryPublic(UnitStatusPublic):
    defects_by_label: dict[str, int]


class DefectPublic(BoxDefect):
    id: int
    unit: str
    photo_id: int
    photo_url: str
    status: Status
    tier: str | None = None
    deadline: datetime | None = None
    room: str | None = None
    source: str | None = None
    created_at: datetime | None = None


class HistoryPublic(BaseModel):
    at: datetime
    actor: str
    from_status: Status | None
    to_status: Status
    note: str | None = None


class DefectDetailPublic(DefectPublic):
    project: str
    history: list[HistoryPublic] = []


class DefectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Status
    note: str | None = Field(None, max_length=2000)


class WarningPublic(BaseModel):
    unit: str | None
    level: Literal["amber", "red"]
    rule: str
    raised_at: datetime
    detail: str = ""


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


class KeyCreatedPublic(BaseModel):
    key: str = Field(description="the key itself; shown only in this response")
    prefix: str
    role: Role
    project: str | None
