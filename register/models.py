"""The register's tables (SQLAlchemy 2 typed ORM).

project → building → unit → room; inspection (stage, inspector, day); photo (content-addressed,
unique per unit and sha256); scan (which model version looked at which photo); defect with an
append-only status history; warning with its raised/cleared events; API keys (hashed).
Times are stored as UTC and always come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

STAGES = ("construction", "acceptance", "owner_visit", "warranty")
STATUSES = ("open", "rectifying", "rectified", "verified", "rejected")
TIERS = ("minor", "general", "complex")
SOURCES = ("model", "person")
LEVELS = ("amber", "red")
ROLES = ("inspector", "supervisor", "admin")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC; naive values are taken as UTC; results are always aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


class Project(Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Building(Base):
    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("project_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))


class Unit(Base):
    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("project_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("building.id"))
    code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    project: Mapped[Project] = relationship()
    building: Mapped[Building | None] = relationship()


class Room(Base):
    __tablename__ = "room"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))


class Inspection(Base):
    """One visit: a stage, an inspector and a day (UTC) at a unit."""

    __tablename__ = "inspection"
    __table_args__ = (
        UniqueConstraint("unit_id", "stage", "inspector", "day"),
        CheckConstraint(_in("stage", STAGES), name="stage"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(16))
    inspector: Mapped[str] = mapped_column(String(120), default="")
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, UTC
    started_at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(Base):
    __tablename__ = "photo"
    __table_args__ = (UniqueConstraint("unit_id", "sha256"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("room.id"))
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspection.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_path: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the exposure warnings of detector.photo_quality, comma-separated ("dark", "overexposed");
    # "": checked, none; NULL: not checked (recorded before revision 0002, or by a caller
    # that did not say)
    quality_warnings: Mapped[str | None] = mapped_column(String(40))
    unit: Mapped[Unit] = relationship()
    room: Mapped[Room | None] = relationship()
    inspection: Mapped[Inspection | None] = relationship()


class Scan(Base):
    """A model version looked at a photo (the unit of resumable, re-runnable scanning)."""

    __tablename__ = "scan"
    __table_args__ = (UniqueConstraint("photo_id", "model_name", "model_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[str] = mapped_column(String(120))
    detections: Mapped[int] = mapped_column(Integer)
    applied: Mapped[bool] = mapped_column(default=True)  # False: an older model, kept as history
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)


class Defect(Base):
    __tablename__ = "defect"
    __table_args__ = (
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("tier", TIERS), name="tier"),
        CheckConstraint(_in("source", SOURCES), name="source"),
        CheckConstraint("x0 < x1 AND y0 < y1", name="box"),
        Index("ix_defect_unit_status", "unit_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photo.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column(Float)
    x0: Mapped[float] = mapped_column(Float)
    y0: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(8))
    model_name: Mapped[str | None] = mapped_column(String(120))
    model_version: Mapped[str | None] = mapped_column(String(120))
    tier: Mapped[str] = mapped_column(String(8))
    deadline: Mapped[datetime | None]
    assignee: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(12), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # set when a newer model's scan of the same photo replaced this untouched detection
    superseded_at: Mapped[datetime | None]
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("defect.id"))
    photo: Mapped[Photo] = relationship()
    unit: Mapped[Unit] = relationship()
    history: Mapped[list[DefectHistory]] = relationship(
        order_by="DefectHistory.id", back_populates="defect"
    )


class DefectHistory(Base):
    """Append-only: who changed a defect, when, from which status to which (triggers refuse edits)."""

    __tablename__ = "defect_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    defect_id: Mapped[int] = mapped_column(ForeignKey("defect.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    defect: Mapped[Defect] = relationship(back_populates="history")


class Warning(Base):
    """An early warning; at most one active (cleared_at IS NULL) per project, subject and rule."""

    __tablename__ = "warning"
    __table_args__ = (
        CheckConstraint(_in("level", LEVELS), name="level"),
        CheckConstraint(_in("scope", ("unit", "project")), name="scope"),
        Index(
            "uq_warning_active",
            "project_id",
            "subject",
            "rule",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(80))  # "unit:<code>" or "project"
    rule: Mapped[str] = mapped_column(String(80))
    level: Mapped[str] = mapped_column(String(8))
    detail: Mapped[str] = mapped_column(Text, default="")
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    cleared_at: Mapped[datetime | None]
    unit: Mapped[Unit | None] = relationship()


class WarningEvent(Base):
    __tablename__ = "warning_event"
    __table_args__ = (CheckConstraint(_in("kind", ("raised", "cleared")), name="kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    warning_id: Mapped[int] = mapped_column(
        ForeignKey("warning.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str] = mapped_column(Text, default="")


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(12))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    project: Mapped[Project | None] = relationship()
