"""Defects: rows, reads, and the actions people take on them.

A defect is created by a scan (:mod:`register.repository.photos`) or marked by a person
(:func:`add_defect`), then moved along the workflow of :mod:`register.workflow` by
:func:`change_status`, each change appended to its history. Both actions lock the project
and re-evaluate its warnings in the same transaction. Superseded defects (replaced by a
newer scan) stay readable but can no longer change.

    d = change_status(session=s, rules=r, defect_id=7, status="rectifying", actor="alice")
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from finishscan.errors import NotFoundError, RegisterError, TransitionError
from register.models import STATUSES, TIERS, Defect, DefectHistory, Photo, Project, Unit, utcnow
from register.repository.lookup import _code, _project, _unit
from register.repository.warnings import _sync_warnings
from register.rules import Rules
from register.schemas import DefectOut, DetectedDefect, HistoryOut
from register.workflow import check_transition, default_deadline, is_overdue

_NEEDS_DEADLINE = "a complex defect needs a committed date (deadline)"


# ---- rows ------------------------------------------------------------------------------------


def _defect_query() -> Select[Defect]:
    return (
        select(Defect)
        .options(selectinload(Defect.history), joinedload(Defect.unit).joinedload(Unit.project))
        .execution_options(populate_existing=True)
    )


def _defect(session: Session, defect_id: int) -> Defect:
    d = session.scalars(_defect_query().where(Defect.id == int(defect_id))).one_or_none()
    if d is None:
        raise NotFoundError(f"defect {defect_id} does not exist")
    return d


def _photo_defects(session: Session, photo_id: int) -> list[Defect]:
    """The photo's current (not superseded) defects, oldest first, history loaded."""
    return list(
        session.scalars(
            _defect_query()
            .where(Defect.photo_id == photo_id, Defect.superseded_at.is_(None))
            .order_by(Defect.id)
        )
    )


def _box(d: Defect) -> tuple[float, float, float, float]:
    return (d.x0, d.y0, d.x1, d.y1)


def _defect_out(d: Defect, now: datetime | None = None) -> DefectOut:
    now = now or utcnow()
    return DefectOut(
        id=d.id,
        project=d.unit.project.code,
        unit=d.unit.code,
        photo_id=d.photo_id,
        label=d.label,
        confidence=d.confidence,
        box=_box(d),
        status=d.status,  # type: ignore[arg-type]
        tier=d.tier,  # type: ignore[arg-type]
        deadline=d.deadline,
        overdue=is_overdue(d.status, d.deadline, now),
        assignee=d.assignee,
        source=d.source,  # type: ignore[arg-type]
        model_name=d.model_name,
        model_version=d.model_version,
        created_at=d.created_at,
        updated_at=d.updated_at,
        superseded=d.superseded_at is not None,
        history=[HistoryOut.model_validate(h) for h in d.history],
    )


def _new_defect(
    session: Session,
    rules: Rules,
    photo: Photo,
    unit: Unit,
    d: DetectedDefect,
    *,
    source: str,
    model_name: str | None,
    model_version: str | None,
    actor: str,
    now: datetime,
    deadline: datetime | None = None,
    tier: str | None = None,
    note: str | None = None,
) -> Defect:
    """A new ``open`` defect with its creation in the history (tier and deadline from
    ``rules`` unless given); flushed, so it has an id."""
    tier = tier or rules.tier_for(d.label)
    x0, y0, x1, y1 = (float(v) for v in d.box)
    defect = Defect(
        photo_id=photo.id,
        unit_id=unit.id,
        label=d.label,
        confidence=float(d.confidence),
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
        source=source,
        model_name=model_name,
        model_version=model_version,
        tier=tier,
        deadline=deadline if deadline is not None else default_deadline(tier, now, rules),
        status="open",
        created_at=now,
        updated_at=now,
        history=[  # set here, the history is loaded: no query to hand the defect out
            DefectHistory(
                at=now,
                actor=actor,
                from_status=None,
                to_status="open",
                note=note or f"{source} {model_name} {model_version}: {d.label} {d.confidence:.2f}",
            )
        ],
    )
    session.add(defect)
    session.flush()
    return defect


# ---- reading ---------------------------------------------------------------------------------


def get_defect(*, session: Session, defect_id: int) -> DefectOut:
    return _defect_out(_defect(session, defect_id))


def defect_project(*, session: Session, defect_id: int) -> str:
    """The code of the project a defect belongs to (for permission checks)."""
    code = session.scalar(
        select(Project.code)
        .join(Unit, Unit.project_id == Project.id)
        .join(Defect, Defect.unit_id == Unit.id)
        .where(Defect.id == int(defect_id))
    )
    if code is None:
        raise NotFoundError(f"defect {defect_id} does not exist")
    return code


def unit_defects(
    *,
    session: Session,
    project: str,
    unit: str,
    include_superseded: bool = False,
    now: datetime | None = None,
) -> list[DefectOut]:
    """The unit's defects (oldest first) with status, photo and history; ``overdue`` as of
    ``now`` (default: the current time; a service passes its clock, as for the warnings)."""
    u = _unit(session, _project(session, project), unit)
    q = _defect_query().where(Defect.unit_id == u.id).order_by(Defect.id)
    if not include_superseded:
        q = q.where(Defect.superseded_at.is_(None))
    now = now or utcnow()
    return [_defect_out(d, now) for d in session.scalars(q)]


# ---- actions ---------------------------------------------------------------------------------


def _check_tier(tier: str | None) -> None:
    if tier is not None and tier not in TIERS:
        raise TransitionError(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}")


def add_defect(
    *,
    session: Session,
    rules: Rules,
    photo_id: int,
    label: str,
    box: tuple[float, float, float, float],
    actor: str,
    tier: str | None = None,
    deadline: datetime | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> DefectOut:
    """A defect a person marked on a stored photo (``source="person"``, no confidence).

    Never superseded by model re-scans. A complex tier needs a committed ``deadline``.
    """
    now = now or utcnow()
    actor = _code(actor, "actor")
    d = DetectedDefect(label, 1.0, box)
    _check_tier(tier)
    if tier == "complex" and deadline is None:
        raise TransitionError(_NEEDS_DEADLINE)
    ph = session.get(Photo, int(photo_id))
    if ph is None:
        raise NotFoundError(f"photo {photo_id} does not exist")
    u = session.get(Unit, ph.unit_id)
    assert u is not None
    proj = _project(session, session.get(Project, u.project_id).code, lock=True)  # type: ignore[union-attr]
    x0, y0, x1, y1 = d.box
    if x1 > ph.width or y1 > ph.height:
        raise RegisterError(f"box {d.box} lies outside the {ph.width}x{ph.height} photo")
    new = _new_defect(
        session,
        rules,
        ph,
        u,
        d,
        source="person",
        model_name=None,
        model_version=None,
        actor=actor,
        now=now,
        tier=tier,
        deadline=deadline,
        note=note or f"marked by {actor}",
    )
    new.confidence = None
    session.flush()
    _sync_warnings(session, rules, proj, [u], now)
    session.flush()
    return _defect_out(_defect(session, new.id), now)


def change_status(
    *,
    session: Session,
    rules: Rules,
    defect_id: int,
    status: str,
    actor: str,
    note: str | None = None,
    tier: str | None = None,
    deadline: datetime | None = None,
    assignee: str | None = None,
    now: datetime | None = None,
) -> DefectOut:
    """Move a defect along the workflow (``register.workflow``) and append a history row.

    ``status`` equal to the current one is allowed only with a tier/deadline/assignee change.
    A complex tier needs a committed ``deadline``; a minor/general tier without one gets the
    default deadline counted from the defect's creation. Warnings are re-evaluated.
    """
    now = now or utcnow()
    actor = _code(actor, "actor")
    pcode = defect_project(session=session, defect_id=defect_id)
    proj = _project(session, pcode, lock=True)
    d = _defect(session, defect_id)
    if d.superseded_at is not None:
        raise TransitionError(
            f"defect {d.id} was superseded by a newer scan"
            + (f" (now defect {d.superseded_by_id})" if d.superseded_by_id else "")
        )
    if status not in STATUSES:
        raise TransitionError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    _check_tier(tier)
    changes_other = tier is not None or deadline is not None or assignee is not None
    if status == d.status:
        if not changes_other:
            raise TransitionError(f"defect {d.id} is already {status}")
    else:
        check_transition(d.status, status)
    new_tier = tier or d.tier
    new_deadline = deadline if deadline is not None else d.deadline
    if tier is not None and tier != "complex" and deadline is None:
        new_deadline = default_deadline(tier, d.created_at, rules)
    if (new_tier == "complex" and new_deadline is None) or (
        tier == "complex" and deadline is None and d.tier != "complex"
    ):
        raise TransitionError(f"defect {d.id}: {_NEEDS_DEADLINE}")
    parts = []
    if tier is not None and tier != d.tier:
        parts.append(f"tier {d.tier} → {tier}")
    if new_deadline != d.deadline:
        parts.append(f"deadline {new_deadline:%Y-%m-%d %H:%M}" if new_deadline else "no deadline")
    if assignee is not None and assignee != d.assignee:
        parts.append(f"assigned to {assignee}" if assignee else "unassigned")
    if note:
        parts.append(note)
    session.add(
        DefectHistory(
            defect_id=d.id,
            at=now,
            actor=actor,
            from_status=d.status,
            to_status=status,
            note="; ".join(parts) or None,
        )
    )
    d.status = status
    d.tier = new_tier
    d.deadline = new_deadline
    if assignee is not None:
        d.assignee = assignee or None
    d.updated_at = now
    session.flush()
    _sync_warnings(session, rules, proj, [d.unit], now)
    session.flush()
    return _defect_out(_defect(session, d.id), now)
