"""Projects and their units: create and read, unit status lists, risk ranking across projects.

ensure_project(session=s, code="P1")                 # created on first use
list_units(session=s, project="P1")[0].warning       # worst unit first
project_risk(session=s, rules=r)[0].supervision      # riskiest project first
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from finishscan.errors import RegisterError
from register.models import Defect, Project, Unit, Warning, utcnow
from register.repository.lookup import _code, _insert_ignore, _lock_project, _project, _unit
from register.repository.warnings import _LEVEL_RANK, _open_counts, project_facts
from register.rules import Rules, load_rules
from register.schemas import ProjectOut, ProjectRisk, UnitStatus, UnitSummary, WarningLevel
from register.workflow import OPEN_STATUSES

# ---- projects --------------------------------------------------------------------------------


def ensure_project(*, session: Session, code: str, name: str | None = None) -> ProjectOut:
    """The project ``code``, created (named ``name`` or ``code``) if it does not exist yet."""
    return ProjectOut.model_validate(_lock_project(session, code, create=True, name=name))


def create_project(*, session: Session, code: str, name: str | None = None) -> ProjectOut:
    """A new project; RegisterError if ``code`` is taken."""
    code = _code(code, "project code")
    values = {"code": code, "name": name or code, "created_at": utcnow()}
    if not _insert_ignore(session, Project, values, ["code"]):
        raise RegisterError(f"project {code!r} already exists")
    return ProjectOut.model_validate(_project(session, code, lock=True))


def get_project(*, session: Session, code: str) -> ProjectOut:
    return ProjectOut.model_validate(_project(session, code))


def list_projects(*, session: Session) -> list[ProjectOut]:
    return [
        ProjectOut.model_validate(p)
        for p in session.scalars(select(Project).order_by(Project.code))
    ]


# ---- units -----------------------------------------------------------------------------------


def _unit_levels(session: Session, project_id: int) -> dict[int | None, WarningLevel]:
    """The worst active unit-scope warning level of each unit that has one."""
    levels: dict[int | None, WarningLevel] = {}
    rows = session.execute(
        select(Warning.unit_id, Warning.level).where(
            Warning.project_id == project_id, Warning.scope == "unit", Warning.cleared_at.is_(None)
        )
    )
    for uid, level in rows:
        if _LEVEL_RANK[level] > _LEVEL_RANK.get(levels.get(uid, "none"), 0):
            levels[uid] = cast(WarningLevel, level)
    return levels


def list_units(*, session: Session, project: str) -> list[UnitStatus]:
    """The project's units, worst first (warning level, then open defects, then code)."""
    p = _project(session, project)
    units = list(session.scalars(select(Unit).where(Unit.project_id == p.id)))
    counts = _open_counts(session, [u.id for u in units])
    levels = _unit_levels(session, p.id)
    out = [
        UnitStatus(
            unit=u.code, open_defects=sum(counts[u.id].values()), warning=levels.get(u.id, "none")
        )
        for u in units
    ]
    out.sort(key=lambda s: (-_LEVEL_RANK[s.warning], -s.open_defects, s.unit))
    return out


def unit_summary(*, session: Session, project: str, unit: str) -> UnitSummary:
    p = _project(session, project)
    u = _unit(session, p, unit)
    counts = _open_counts(session, [u.id])[u.id]
    total = session.scalar(
        select(func.count())
        .select_from(Defect)
        .where(Defect.unit_id == u.id, Defect.superseded_at.is_(None))
    )
    return UnitSummary(
        unit=u.code,
        open_defects=sum(counts.values()),
        defects_by_label=dict(sorted(counts.items())),
        total_defects=int(total or 0),
        warning=_unit_levels(session, p.id).get(u.id, "none"),  # type: ignore[arg-type]
    )


# ---- risk ranking ----------------------------------------------------------------------------


def project_risk(
    *, session: Session, rules: Rules | None = None, now: datetime | None = None
) -> list[ProjectRisk]:
    """Projects ranked for differentiated supervision, riskiest first.

    score = red_warning·#red + amber_warning·#amber + open_per_unit·(open / units)
          + overdue_share·(overdue / open) + unrectified_share·(1 − rectification rate);
    supervision "high" when score ≥ high_at, "low" when < low_below, else "normal"
    (weights in the ``risk`` section of ``configs/warnings.yaml``).
    """
    now = now or utcnow()
    rules = rules if rules is not None else load_rules()
    w = rules.risk
    out = []
    for p in session.scalars(select(Project).order_by(Project.code)):
        n_units = (
            session.scalar(select(func.count()).select_from(Unit).where(Unit.project_id == p.id))
            or 0
        )
        open_n = (
            session.scalar(
                select(func.count())
                .select_from(Defect)
                .join(Unit, Defect.unit_id == Unit.id)
                .where(
                    Unit.project_id == p.id,
                    Defect.status.in_(OPEN_STATUSES),
                    Defect.superseded_at.is_(None),
                )
            )
            or 0
        )
        pf = project_facts(session, p, rules, now)
        levels: dict[str, int] = defaultdict(int)
        for lvl in session.scalars(
            select(Warning.level).where(Warning.project_id == p.id, Warning.cleared_at.is_(None))
        ):
            levels[lvl] += 1
        rate = pf.aged_rectified / pf.aged if pf.aged else None
        score = (
            w.red_warning * levels["red"]
            + w.amber_warning * levels["amber"]
            + w.open_per_unit * (open_n / n_units if n_units else 0.0)
            + w.overdue_share * (pf.overdue / open_n if open_n else 0.0)
            + w.unrectified_share * (1.0 - rate if rate is not None else 0.0)
        )
        supervision: Literal["high", "normal", "low"] = (
            "high" if score >= w.high_at else ("low" if score < w.low_below else "normal")
        )
        out.append(
            ProjectRisk(
                project=p.code,
                units=int(n_units),
                open_defects=int(open_n),
                overdue=pf.overdue,
                rectification_rate=rate,
                red_warnings=levels["red"],
                amber_warnings=levels["amber"],
                score=round(score, 4),
                supervision=supervision,
            )
        )
    out.sort(key=lambda r: (-r.score, r.project))
    return out
