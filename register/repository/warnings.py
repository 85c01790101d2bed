"""Early warnings in the database: gather facts with SQL, reconcile, read warnings back.

The decision is the pure :func:`register.early_warning.evaluate_warnings`; this module reads
its :class:`Facts` (open defects per unit and label, the project's aged / rectified / overdue
counts), then :func:`_reconcile` makes the stored warnings match: clear what no longer holds,
raise what is missing, each recorded as a :class:`WarningEvent`. Writers call
:func:`_sync_warnings` (facts from SQL) or keep a :class:`_WarningState` (facts read once,
then kept in memory) in the same transaction. ``refresh_project_warnings(session=s, rules=r,
project="P1")`` re-evaluates a whole project (overdue warnings appear as time passes, with no
write to the register); :func:`warnings_stale` tells, reading only, whether that would change
anything. ``register.refresh.refresh_all_warnings`` runs it over projects, one transaction each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, joinedload

from register.early_warning import Decision, Facts, ProjectFacts, UnitFacts, evaluate_warnings
from register.models import Defect, Project, Unit, Warning, WarningEvent, utcnow
from register.repository.lookup import _project, _unit
from register.rules import Rules
from register.schemas import UnitStatus, WarningLevel, WarningOut, WarningRefresh
from register.workflow import DONE_STATUSES, OPEN_STATUSES

_LEVEL_RANK = {"none": 0, "amber": 1, "red": 2}


# ---- facts -----------------------------------------------------------------------------------


def _aged_cutoff(rules: Rules, now: datetime) -> datetime:
    """Defects created at or before this count as aged for the rectification rate."""
    age = rules.rectification_rate.min_age_days if rules.rectification_rate else 0.0
    return now - timedelta(days=age)


def project_facts(session: Session, project: Project, rules: Rules, now: datetime) -> ProjectFacts:
    """The project's aged / aged-and-rectified / overdue defect counts at ``now`` (one query)."""
    cutoff = _aged_cutoff(rules, now)
    aged = (Defect.status != "rejected") & (Defect.created_at <= cutoff)
    overdue = (
        Defect.status.in_(OPEN_STATUSES) & Defect.deadline.is_not(None) & (Defect.deadline < now)
    )

    def n(cond: Any) -> Any:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    row = session.execute(
        select(n(aged), n(aged & Defect.status.in_(DONE_STATUSES)), n(overdue))
        .select_from(Defect)
        .join(Unit, Defect.unit_id == Unit.id)
        .where(Unit.project_id == project.id, Defect.superseded_at.is_(None))
    ).one()
    return ProjectFacts(aged=int(row[0]), aged_rectified=int(row[1]), overdue=int(row[2]))


def _open_counts(session: Session, unit_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{unit_id: {label: open defects}}`` (open or rectifying, not superseded)."""
    ids = list(unit_ids)
    out: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(Defect.unit_id, Defect.label, func.count())
        .where(
            Defect.unit_id.in_(ids),
            Defect.status.in_(OPEN_STATUSES),
            Defect.superseded_at.is_(None),
        )
        .group_by(Defect.unit_id, Defect.label)
    )
    for uid, label, n in rows:
        out[uid][label] = int(n)
    return out


def _active_rows(session: Session, project: Project, subjects: Sequence[str]) -> list[Warning]:
    """The active warnings of these subjects, oldest (lowest id) first."""
    return list(
        session.scalars(
            select(Warning)
            .where(
                Warning.project_id == project.id,
                Warning.cleared_at.is_(None),
                Warning.subject.in_(subjects),
            )
            .order_by(Warning.id)
        )
    )


# ---- reconciling -----------------------------------------------------------------------------


def _reconcile(
    session: Session,
    project: Project,
    units: Sequence[Unit],
    facts: Facts,
    rules: Rules,
    active: dict[tuple[str, str], Warning],
    now: datetime,
) -> tuple[list[Warning], list[Warning]]:
    """Make the ``active`` warnings (of the subjects of ``facts``) what ``facts`` call for:
    clear (in id order) what no longer holds or changed level, then raise what is missing
    (in :func:`evaluate_warnings` order). Returns (raised, cleared) warnings."""
    desired: dict[tuple[str, str], Decision] = {
        (d.subject, d.rule): d for d in evaluate_warnings(facts, rules)
    }
    raised: list[Warning] = []
    cleared: list[Warning] = []
    for key, w in sorted(active.items(), key=lambda kv: kv[1].id):
        want = desired.get(key)
        if want is None or want.level != w.level:
            w.cleared_at = now
            why = "condition no longer holds" if want is None else f"level now {want.level}"
            session.add(WarningEvent(warning_id=w.id, kind="cleared", at=now, detail=why))
            cleared.append(w)
    session.flush()
    by_code = {u.code: u for u in units}
    for key, want in desired.items():
        have = active.get(key)
        if have is not None and have.level == want.level:
            if have.detail != want.detail:  # same warning, fresher numbers: no event
                have.detail = want.detail
            continue
        nw = Warning(
            project_id=project.id,
            unit_id=by_code[want.unit].id if want.unit is not None else None,
            scope=want.scope,
            subject=want.subject,
            rule=want.rule,
            level=want.level,
            detail=want.detail,
            raised_at=now,
        )
        session.add(nw)
        session.flush()
        session.add(WarningEvent(warning_id=nw.id, kind="raised", at=now, detail=want.detail))
        raised.append(nw)
    return raised, cleared


def _facts_and_active(
    session: Session, rules: Rules, project: Project, units: Sequence[Unit], now: datetime
) -> tuple[Facts, dict[tuple[str, str], Warning]]:
    """The SQL facts of ``units`` and the project at ``now``, and their active warnings."""
    counts = _open_counts(session, [u.id for u in units])
    facts = Facts(
        units=[UnitFacts(u.code, counts[u.id]) for u in units],
        project=project_facts(session, project, rules, now),
    )
    subjects = [f"unit:{u.code}" for u in units] + ["project"]
    active = {(w.subject, w.rule): w for w in _active_rows(session, project, subjects)}
    return facts, active


def _sync_rows(
    session: Session, rules: Rules, project: Project, units: Sequence[Unit] | None, now: datetime
) -> tuple[list[Warning], list[Warning]]:
    """Raise/clear the warnings of ``units`` (None: every unit) and the project; returns the
    (raised, cleared) rows. Idempotent: unchanged conditions write nothing."""
    if units is None:
        units = list(session.scalars(select(Unit).where(Unit.project_id == project.id)))
    facts, active = _facts_and_active(session, rules, project, units, now)
    return _reconcile(session, project, units, facts, rules, active, now)


def _sync_warnings(
    session: Session, rules: Rules, project: Project, units: Sequence[Unit] | None, now: datetime
) -> tuple[int, int]:
    """:func:`_sync_rows`, counted: (raised, cleared)."""
    raised, cleared = _sync_rows(session, rules, project, units, now)
    return len(raised), len(cleared)


class _WarningState:
    """The facts and active warnings of one locked project, read once and then kept current
    in memory as defects are added or superseded; :meth:`sync` reconciles exactly as
    :func:`_sync_warnings` would from SQL at that moment (same facts, same events)."""

    def __init__(self, session: Session, rules: Rules, project: Project, now: datetime) -> None:
        self.session, self.rules, self.project, self.now = session, rules, project, now
        self.cutoff = _aged_cutoff(rules, now)
        pf = project_facts(session, project, rules, now)
        self.aged, self.aged_rectified, self.overdue = pf.aged, pf.aged_rectified, pf.overdue
        self.counts: dict[int, dict[str, int]] = {}
        self.active: dict[tuple[str, str], Warning] = {
            (w.subject, w.rule): w for w in _active_rows(session, project, ["project"])
        }

    def load_unit(self, unit: Unit) -> None:
        if unit.id in self.counts:
            return
        self.counts[unit.id] = _open_counts(self.session, [unit.id])[unit.id]
        for w in _active_rows(self.session, self.project, [f"unit:{unit.code}"]):
            self.active[(w.subject, w.rule)] = w

    def apply(self, unit: Unit, added: Sequence[Defect], superseded: Sequence[Defect]) -> None:
        """Count ``added`` defects in and ``superseded`` ones out (what the SQL facts see)."""
        for sign, defects in ((1, added), (-1, superseded)):
            for d in defects:
                if d.status in OPEN_STATUSES:
                    c = self.counts[unit.id]
                    c[d.label] = c.get(d.label, 0) + sign
                    if d.deadline is not None and d.deadline < self.now:
                        self.overdue += sign
                if d.status != "rejected" and d.created_at <= self.cutoff:
                    self.aged += sign
                    if d.status in DONE_STATUSES:
                        self.aged_rectified += sign

    def sync(self, unit: Unit) -> tuple[int, int]:
        facts = Facts(
            units=[UnitFacts(unit.code, {k: n for k, n in self.counts[unit.id].items() if n})],
            project=ProjectFacts(self.aged, self.aged_rectified, self.overdue),
        )
        subjects = {f"unit:{unit.code}", "project"}
        active = {k: w for k, w in self.active.items() if k[0] in subjects}
        raised, cleared = _reconcile(
            self.session, self.project, [unit], facts, self.rules, active, self.now
        )
        for w in cleared:
            del self.active[(w.subject, w.rule)]
        for w in raised:
            self.active[(w.subject, w.rule)] = w
        return len(raised), len(cleared)

    def unit_status(self, unit: Unit) -> UnitStatus:
        level: WarningLevel = "none"
        for (subject, _), w in self.active.items():
            mine = subject == f"unit:{unit.code}" and w.scope == "unit"
            if mine and _LEVEL_RANK[w.level] > _LEVEL_RANK[level]:
                level = cast(WarningLevel, w.level)
        return UnitStatus(
            unit=unit.code, open_defects=sum(self.counts[unit.id].values()), warning=level
        )


def refresh_project_warnings(
    *, session: Session, rules: Rules, project: str, now: datetime | None = None
) -> WarningRefresh:
    """Re-evaluate every warning of a project at ``now`` (default: the current time), so the
    time-driven ones (overdue rectification, aged defects) appear and clear without a write.

    Locks the project; returns the warnings raised and cleared (both recorded as events).
    A second call at the same moment changes nothing.
    """
    now = now or utcnow()
    p = _project(session, project, lock=True)
    raised, cleared = _sync_rows(session, rules, p, None, now)
    session.flush()
    return WarningRefresh(
        project=p.code,
        raised=[_warning_out(w) for w in raised],
        cleared=[_warning_out(w) for w in cleared],
    )


def refresh_warnings(
    *, session: Session, rules: Rules, project: str, now: datetime | None = None
) -> tuple[int, int]:
    """:func:`refresh_project_warnings`, counted: (raised, cleared).

    ``refresh_warnings(session=s, rules=r, project="P1")`` → ``(1, 0)``; again → ``(0, 0)``.
    """
    r = refresh_project_warnings(session=session, rules=rules, project=project, now=now)
    return len(r.raised), len(r.cleared)


def warnings_stale(
    *, session: Session, rules: Rules, project: str, now: datetime | None = None
) -> bool:
    """True if :func:`refresh_project_warnings` at ``now`` would change anything (raise,
    clear, or refresh a detail). Reads only, locks nothing: a cheap check before taking the
    project's write lock; a writer may change the answer right after, which the locked
    refresh then sees."""
    now = now or utcnow()
    p = _project(session, project)
    units = list(session.scalars(select(Unit).where(Unit.project_id == p.id)))
    facts, active = _facts_and_active(session, rules, p, units, now)
    desired = {(d.subject, d.rule): d for d in evaluate_warnings(facts, rules)}
    if desired.keys() != active.keys():
        return True
    return any(
        w.level != desired[k].level or w.detail != desired[k].detail for k, w in active.items()
    )


# ---- reading ---------------------------------------------------------------------------------


def _warning_out(w: Warning) -> WarningOut:
    return WarningOut(
        id=w.id,
        unit=w.unit.code if w.unit else None,
        scope=w.scope,  # type: ignore[arg-type]
        level=w.level,  # type: ignore[arg-type]
        rule=w.rule,
        detail=w.detail,
        raised_at=w.raised_at,
        cleared_at=w.cleared_at,
    )


def active_warnings(*, session: Session, project: str) -> list[WarningOut]:
    """Active warnings, red first, then oldest first."""
    p = _project(session, project)
    ws = session.scalars(
        select(Warning)
        .options(joinedload(Warning.unit))
        .where(Warning.project_id == p.id, Warning.cleared_at.is_(None))
        .order_by(Warning.raised_at, Warning.id)
    ).all()
    out = [_warning_out(w) for w in ws]
    out.sort(key=lambda w: -_LEVEL_RANK[w.level])
    return out


def warning_history(*, session: Session, project: str, unit: str | None = None) -> list[WarningOut]:
    """Every warning (active and cleared) of a project or one of its units, oldest first."""
    p = _project(session, project)
    q = select(Warning).options(joinedload(Warning.unit)).where(Warning.project_id == p.id)
    if unit is not None:
        q = q.where(Warning.unit_id == _unit(session, p, unit).id)
    return [_warning_out(w) for w in session.scalars(q.order_by(Warning.id))]


def warning_events(*, session: Session, project: str) -> list[tuple[int, str, datetime, str]]:
    """``(warning_id, kind, at, detail)`` for every raise/clear of the project, in order."""
    p = _project(session, project)
    rows = session.execute(
        select(WarningEvent.warning_id, WarningEvent.kind, WarningEvent.at, WarningEvent.detail)
        .join(Warning, WarningEvent.warning_id == Warning.id)
        .where(Warning.project_id == p.id)
        .order_by(WarningEvent.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]
