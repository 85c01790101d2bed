"""Row lookups shared by the repository modules: checked codes, locking, get-or-create.

Writers lock the project row first (:func:`_lock_project`: ``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``). Get-or-create is
``INSERT … ON CONFLICT DO NOTHING`` then a read, so two writers creating the same unit, room
or inspection at once end with one row. ``_lock_project(s, "P1", create=True).code == "P1"``.

Stored photo files are shared by content (sha256): a writer holds :func:`_lock_photo_file`
shared from storing the file until its transaction ends; removing a file takes it exclusive
(PostgreSQL advisory locks; on SQLite the write transaction already excludes every writer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from finishscan.errors import NotFoundError, RegisterError
from register.models import STAGES, Building, Inspection, Project, Room, Unit, utcnow

_CODE_MAX = 64


def _code(value: str, what: str) -> str:
    """``value`` stripped; RegisterError if empty, longer than 64 or with control characters."""
    if not isinstance(value, str) or not value.strip():
        raise RegisterError(f"{what} must be a non-empty text")
    v = value.strip()
    if len(v) > _CODE_MAX or any(ord(c) < 32 for c in v):
        raise RegisterError(f"{what} {v[:80]!r} is too long or has control characters")
    return v


def _check_stage(stage: str | None) -> None:
    if stage is not None and stage not in STAGES:
        raise RegisterError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")


def _insert_ignore(session: Session, model: type, values: dict, keys: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True if a row was inserted."""
    from sqlalchemy.dialects import postgresql, sqlite

    pg = session.get_bind().dialect.name == "postgresql"
    stmt: Any = (
        (postgresql.insert if pg else sqlite.insert)(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=keys)
    )
    return session.execute(stmt.returning(model.id)).first() is not None  # type: ignore[attr-defined]


def _project(session: Session, code: str, *, lock: bool = False) -> Project:
    q = select(Project).where(Project.code == code)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    p = session.scalars(q).one_or_none()
    if p is None:
        raise NotFoundError(f"project {code!r} does not exist")
    return p


def _lock_project(session: Session, code: str, *, create: bool, name: str | None = None) -> Project:
    code = _code(code, "project code")
    if create:
        _insert_ignore(
            session,
            Project,
            {"code": code, "name": name or code, "created_at": utcnow()},
            ["code"],
        )
    return _project(session, code, lock=True)


_PHOTO_LOCK_NS = 0x6673  # advisory lock class of stored photo files ("fs")


def _lock_photo_file(session: Session, sha: str, *, exclusive: bool = False) -> bool:
    """Lock the stored file of ``sha`` until the transaction ends: ``shared`` (writers,
    waits) or ``exclusive`` (removal; does not wait, False when a writer holds it).
    PostgreSQL only; SQLite write transactions are already exclusive (True)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    key = {"ns": _PHOTO_LOCK_NS, "k": int(sha[:8], 16) - 2**31}
    if exclusive:
        return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:ns, :k)"), key))
    session.execute(text("SELECT pg_advisory_xact_lock_shared(:ns, :k)"), key)
    return True


def _unit(session: Session, project: Project, code: str) -> Unit:
    u = session.scalars(
        select(Unit).where(Unit.project_id == project.id, Unit.code == code)
    ).one_or_none()
    if u is None:
        raise NotFoundError(f"unit {code!r} does not exist in project {project.code!r}")
    return u


def _get_or_create_unit(
    session: Session, project: Project, code: str, building: str | None
) -> Unit:
    code = _code(code, "unit code")
    b_id = None
    if building:
        bcode = _code(building, "building code")
        _insert_ignore(
            session, Building, {"project_id": project.id, "code": bcode}, ["project_id", "code"]
        )
        b_id = session.scalars(
            select(Building.id).where(Building.project_id == project.id, Building.code == bcode)
        ).one()
    _insert_ignore(
        session,
        Unit,
        {"project_id": project.id, "code": code, "building_id": b_id, "created_at": utcnow()},
        ["project_id", "code"],
    )
    u = _unit(session, project, code)
    if b_id is not None and u.building_id is None:
        u.building_id = b_id
    return u


def _room(session: Session, unit: Unit, name: str | None) -> int | None:
    if not name:
        return None
    name = _code(name, "room")
    _insert_ignore(session, Room, {"unit_id": unit.id, "name": name}, ["unit_id", "name"])
    return session.scalars(select(Room.id).where(Room.unit_id == unit.id, Room.name == name)).one()


def _inspection(
    session: Session, unit: Unit, stage: str | None, inspector: str | None, when: datetime
) -> int | None:
    """The inspection (stage, inspector, UTC day) a photo belongs to; None without a stage
    (the inspector, if known, is still the actor in the defects' history)."""
    if stage is None:
        return None
    _check_stage(stage)
    day = when.strftime("%Y-%m-%d")
    vals = {"unit_id": unit.id, "stage": stage, "inspector": inspector or "", "day": day}
    _insert_ignore(
        session, Inspection, {**vals, "started_at": when}, ["unit_id", "stage", "inspector", "day"]
    )
    return session.scalars(
        select(Inspection.id).where(*(getattr(Inspection, k) == v for k, v in vals.items()))
    ).one()
