"""Time-driven warnings: re-evaluate projects' warnings with no write to the register.

Overdue rectification and the aged-defect rectification rate become true as time passes;
writers re-evaluate only what they touch, so a quiet project needs this sweep (cron through
``finishscan register refresh-warnings``, or the service's periodic task)::

    for r in refresh_all_warnings(reg):               # every project, at the current time
        print(r.project, len(r.raised), len(r.cleared), r.error)

One transaction per project: a project whose warnings are already current is only read (no
write lock is taken), the others are locked and reconciled like any writer does. A reader
that must not show stale warnings between sweeps uses :func:`current_warnings` (the same
check, then the list, in one transaction when nothing is due); one that reads more than the
list (an export, the risk ranking) reads inside :func:`current_read`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from finishscan.errors import RegisterError
from register.db import Register
from register.early_warning import evaluate_warnings
from register.models import Project, utcnow
from register.repository.lookup import _project
from register.repository.warnings import (
    _facts_and_active,
    active_warnings,
    refresh_project_warnings,
    warnings_stale,
)
from register.rules import Rules
from register.schemas import WarningOut, WarningRefresh

__all__ = [
    "current_read",
    "current_warnings",
    "project_codes",
    "refresh_all_warnings",
    "refresh_one",
]


def project_codes(reg: Register) -> list[str]:
    """Every project code, sorted (the order projects are refreshed in)."""
    with reg.session(readonly=True) as s:
        return list(s.scalars(select(Project.code).order_by(Project.code)))


def refresh_one(reg: Register, project: str, *, now: datetime | None = None) -> WarningRefresh:
    """Bring one project's warnings up to ``now`` (its own transaction; read-only when
    nothing changes). A register error (unknown project, database down) propagates."""
    now = now or utcnow()
    with reg.session(readonly=True) as s:
        if not warnings_stale(session=s, rules=reg.rules, project=project, now=now):
            return WarningRefresh(project=project)
    with reg.session() as s:
        return refresh_project_warnings(session=s, rules=reg.rules, project=project, now=now)


def current_warnings(
    reg: Register, project: str, *, now: datetime | None = None
) -> tuple[list[WarningOut], WarningRefresh]:
    """The project's active warnings as of ``now`` (red first, then oldest), after bringing the
    time-driven ones up to ``now``; also what that refresh changed.

    Only project-scope rules depend on the time (overdue defects, the aged-defect rectification
    rate; unit rules count open defects, which every writer reconciles), so the check reads the
    project's facts alone (one aggregate query), not every unit's. When nothing is due (the
    usual case) check and list share one read-only transaction; otherwise the whole project is
    locked and reconciled (as :func:`refresh_one`), then listed (:func:`current_read`).
    NotFoundError for an unknown project; a database error propagates.
    """
    with current_read(reg, [project], now=now) as (s, changed):
        items = active_warnings(session=s, project=project)
    return items, changed[0] if changed else WarningRefresh(project=project)


@contextmanager
def current_read(
    reg: Register, projects: Sequence[str] | None = None, *, now: datetime | None = None
) -> Iterator[tuple[Session, list[WarningRefresh]]]:
    """A read-only session in which the warnings of ``projects`` (None: every project) are
    what :func:`current_warnings` would list at ``now``; also the refreshes that took (only
    projects that changed, in code order)::

        with current_read(reg, ["P1"]) as (s, changed):
            doc = export_project(session=s, project="P1", fmt="json")

    When nothing fell due (the usual case) the check and the caller's reads share one
    read-only transaction and nothing is written. Otherwise each project that fell due is
    locked and reconciled in its own transaction (as :func:`refresh_one`), and the caller reads
    in a new read-only one: writers reconcile what they touch, so what it sees is still
    current (a project created in between is read as its writer left it).
    NotFoundError for an unknown project; a database error propagates.
    """
    now = now or utcnow()
    with reg.session(readonly=True) as s:
        codes = (
            list(projects)
            if projects is not None
            else list(s.scalars(select(Project.code).order_by(Project.code)))
        )
        due = [c for c in codes if _time_driven_stale(s, reg.rules, c, now)]
        if not due:
            yield s, []
            return
    changed = []
    for code in sorted(set(due)):
        with reg.session() as s:
            changed.append(
                refresh_project_warnings(session=s, rules=reg.rules, project=code, now=now)
            )
    with reg.session(readonly=True) as s:
        yield s, changed


def _time_driven_stale(session: Session, rules: Rules, project: str, now: datetime) -> bool:
    """True if the project-scope warnings at ``now`` differ from the active ones (level,
    presence or detail): :func:`warnings_stale` restricted to the project subject."""
    facts, active = _facts_and_active(session, rules, _project(session, project), [], now)
    desired = {(d.subject, d.rule): d for d in evaluate_warnings(facts, rules)}
    if desired.keys() != active.keys():
        return True
    return any(
        w.level != desired[k].level or w.detail != desired[k].detail for k, w in active.items()
    )


def refresh_all_warnings(
    reg: Register, *, projects: Sequence[str] | None = None, now: datetime | None = None
) -> list[WarningRefresh]:
    """Refresh ``projects`` (None: every project) at one instant ``now`` (default: the
    current time), one transaction each. A project that fails (e.g. unknown code) gets
    ``error`` and the others still run; failing to list the projects raises RegisterError."""
    now = now or utcnow()
    codes = list(projects) if projects is not None else project_codes(reg)
    out = []
    for code in codes:
        try:
            out.append(refresh_one(reg, code, now=now))
        except RegisterError as e:
            out.append(WarningRefresh(project=code, error=str(e)))
    return out
