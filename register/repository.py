"""Register operations: every function takes the session keyword-only and never commits.

The caller's ``Register.session()`` is the transaction: a failure anywhere rolls back
everything the call wrote. Writers first lock the project row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``), so two processes recording for
the same unit or project at once serialize, lose nothing and raise one warning, not two.

Re-scan rule (a photo already in the unit, seen by a model version not seen before):

* an *older* version than the newest applied one (natural order: ``"v10" > "v9"``) is only
  recorded as a scan; defects do not change;
* a *newer* version's detections supersede that photo's **untouched** model defects (still
  ``open`` with only the creation in their history). Matching is greedy by IoU ≥ 0.5 with
  the same label: a matched untouched defect is superseded by a new defect that keeps its
  deadline; an unmatched untouched one is superseded by nothing (the newer model does not
  see it). Defects a person already handled (any later history) and person-entered defects
  are kept; a new detection matching such a defect adds nothing. Superseded defects keep
  their rows and history but leave every count, list and warning.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from finishscan.errors import NotFoundError, RegisterError, TransitionError
from register.early_warning import Decision, Facts, ProjectFacts, UnitFacts, evaluate_warnings
from register.models import (
    SOURCES,
    STAGES,
    STATUSES,
    TIERS,
    Building,
    Defect,
    DefectHistory,
    Inspection,
    Photo,
    Project,
    Room,
    Scan,
    Unit,
    Warning,
    WarningEvent,
    utcnow,
)
from register.rules import Rules, load_rules
from register.schemas import (
    DefectOut,
    DetectedDefect,
    HistoryOut,
    PhotoInput,
    PhotoOut,
    PhotoRecorded,
    ProjectOut,
    ProjectRisk,
    UnitStatus,
    UnitSummary,
    WarningLevel,
    WarningOut,
)
from register.store import PhotoStore
from register.workflow import (
    DONE_STATUSES,
    OPEN_STATUSES,
    check_transition,
    default_deadline,
    is_overdue,
)

MATCH_IOU = 0.5
_LEVEL_RANK = {"none": 0, "amber": 1, "red": 2}
_CODE_MAX = 64


# ---- small pure helpers ----------------------------------------------------------------------


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes; 0 when disjoint."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural sort key: ``version_key("v10") > version_key("v9")``, ``"1.2.10" > "1.2.9"``."""
    parts = re.split(r"(\d+)", version)
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in parts if p)


def match_boxes(
    old: Sequence[tuple[str, Sequence[float]]],
    new: Sequence[tuple[str, Sequence[float]]],
    threshold: float = MATCH_IOU,
) -> list[tuple[int, int]]:
    """Greedy one-to-one matches ``(old_index, new_index)`` by IoU (same label, ≥ threshold)."""
    pairs = sorted(
        (
            (iou(ob, nb), i, j)
            for i, (ol, ob) in enumerate(old)
            for j, (nl, nb) in enumerate(new)
            if ol == nl
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_o: set[int] = set()
    used_n: set[int] = set()
    out = []
    for v, i, j in pairs:
        if v < threshold:
            break
        if i in used_o or j in used_n:
            continue
        used_o.add(i)
        used_n.add(j)
        out.append((i, j))
    return sorted(out)


def _code(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RegisterError(f"{what} must be a non-empty text")
    v = value.strip()
    if len(v) > _CODE_MAX or any(ord(c) < 32 for c in v):
        raise RegisterError(f"{what} {v[:80]!r} is too long or has control characters")
    return v


# ---- locking and get-or-create ---------------------------------------------------------------


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
    if stage not in STAGES:
        raise RegisterError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
    day = when.strftime("%Y-%m-%d")
    vals = {"unit_id": unit.id, "stage": stage, "inspector": inspector or "", "day": day}
    _insert_ignore(
        session, Inspection, {**vals, "started_at": when}, ["unit_id", "stage", "inspector", "day"]
    )
    return session.scalars(
        select(Inspection.id).where(*(getattr(Inspection, k) == v for k, v in vals.items()))
    ).one()


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


# ---- recording photos ------------------------------------------------------------------------


def record_photo(
    *,
    session: Session,
    store: PhotoStore,
    rules: Rules,
    project: str,
    unit: str,
    data: bytes,
    width: int,
    height: int,
    defects: Sequence[DetectedDefect],
    model_name: str,
    model_version: str,
    building: str | None = None,
    room: str | None = None,
    stage: str | None = None,
    inspector: str | None = None,
    taken_at: datetime | None = None,
    source: str = "model",
    now: datetime | None = None,
) -> PhotoRecorded:
    """Store a photo and its detections for a unit (project and unit are created on first use).

    The same bytes for the same unit again: ``created=False``, the same photo and defects.
    A newer ``model_version`` on a known photo: see the module's re-scan rule.
    Warnings of the unit and project are re-evaluated in the same transaction.
    A batch of one for :func:`record_photos`.
    """
    item = PhotoInput(
        project=project,
        unit=unit,
        data=data,
        width=width,
        height=height,
        defects=defects,
        building=building,
        room=room,
        stage=stage,
        inspector=inspector,
        taken_at=taken_at,
    )
    return record_photos(
        session=session,
        store=store,
        rules=rules,
        items=[item],
        model_name=model_name,
        model_version=model_version,
        source=source,
        now=now,
    )[0]


def record_photos(
    *,
    session: Session,
    store: PhotoStore,
    rules: Rules,
    items: Sequence[PhotoInput],
    model_name: str,
    model_version: str,
    source: str = "model",
    now: datetime | None = None,
) -> list[PhotoRecorded]:
    """Record ``items`` in order, all at the instant ``now``; one result per item.

    Equivalent to ``[record_photo(..., now=now) for each item]`` in the same session: the
    same rows, ids, defects and warning events (raised and cleared, in the same order),
    but each project is locked and each unit looked up once, and warnings are re-evaluated
    in memory from facts read once per batch (one SQL round of facts per project and unit,
    not per photo). Callers writing concurrently should sort ``items`` by project (one global
    lock order). ``record_photos(session=s, store=st, rules=r, items=[PhotoInput(...)],
    model_name="m", model_version="1")``.
    """
    now = now or utcnow()
    if source not in SOURCES:
        raise RegisterError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    model_name = _code(model_name, "model name")
    model_version = _code(model_version, "model version")
    dets_of = [_checked_detections(item) for item in items]
    batch = _Batch(session, rules, now)
    out = []
    for item, dets in zip(items, dets_of, strict=True):
        sha = store.put(item.data)
        proj = batch.project(item.project)
        u = batch.unit(proj, item.unit, item.building)
        state = batch.warnings(proj)
        state.load_unit(u)
        photo = session.scalars(
            select(Photo).where(Photo.unit_id == u.id, Photo.sha256 == sha)
        ).one_or_none()
        actor = item.inspector or f"model:{model_name}"
        added: list[Defect] = []
        superseded: list[Defect] = []
        created = changed = photo is None
        if photo is None:
            photo = Photo(
                unit_id=u.id,
                room_id=batch.room(u, item.room),
                inspection_id=batch.inspection(u, item.stage, item.inspector, item.taken_at or now),
                sha256=sha,
                storage_path=store.relpath(sha),
                size=len(item.data),
                width=int(item.width),
                height=int(item.height),
                taken_at=item.taken_at,
                created_at=now,
            )
            session.add(photo)
            session.flush()
            session.add(
                Scan(
                    photo_id=photo.id,
                    model_name=model_name,
                    model_version=model_version,
                    detections=len(dets),
                    applied=True,
                    scanned_at=now,
                )
            )
            added = [
                _new_defect(
                    session, rules, photo, u, d, source, model_name, model_version, actor, now
                )
                for d in dets
            ]
        else:
            seen = session.scalars(
                select(Scan).where(
                    Scan.photo_id == photo.id,
                    Scan.model_name == model_name,
                    Scan.model_version == model_version,
                )
            ).first()
            if seen is None:
                added, superseded = _rescan(
                    session, rules, photo, u, dets, source, model_name, model_version, actor, now
                )
            changed = seen is None
        if changed:  # a plain repeat writes nothing, so it cannot change a warning
            session.flush()
            state.apply(u, added, superseded)
            state.sync(u)
            session.flush()
        out.append(
            PhotoRecorded(
                photo_id=photo.id,
                created=created,
                # a new photo's defects are the ones just made (their history is loaded)
                defects=[
                    _defect_out(d, now)
                    for d in (added if created else _photo_defects(session, photo.id))
                ],
                unit=state.unit_status(u),
            )
        )
    return out


def _checked_detections(item: PhotoInput) -> list[DetectedDefect]:
    if not item.data:
        raise RegisterError("the photo is empty")
    if int(item.width) <= 0 or int(item.height) <= 0:
        raise RegisterError(f"photo size must be positive, got {item.width}x{item.height}")
    if item.stage is not None and item.stage not in STAGES:
        raise RegisterError(f"unknown stage {item.stage!r}; use one of {', '.join(STAGES)}")
    return [d if isinstance(d, DetectedDefect) else DetectedDefect(*d) for d in item.defects]


class _Batch:
    """Per-transaction lookups of :func:`record_photos`: locked projects, units, rooms,
    inspections and the warning state of each project, each read once."""

    def __init__(self, session: Session, rules: Rules, now: datetime) -> None:
        self.session, self.rules, self.now = session, rules, now
        self._projects: dict[str, Project] = {}
        self._units: dict[tuple[int, str, str | None], Unit] = {}
        self._rooms: dict[tuple[int, str], int | None] = {}
        self._inspections: dict[tuple[int, str | None, str | None, str], int | None] = {}
        self._warnings: dict[int, _WarningState] = {}

    def project(self, code: str) -> Project:
        if code not in self._projects:
            self._projects[code] = _lock_project(self.session, code, create=True)
        return self._projects[code]

    def unit(self, project: Project, code: str, building: str | None) -> Unit:
        key = (project.id, code, building or None)
        if key not in self._units:
            self._units[key] = _get_or_create_unit(self.session, project, code, building)
        return self._units[key]

    def room(self, unit: Unit, name: str | None) -> int | None:
        key = (unit.id, name or "")
        if key not in self._rooms:
            self._rooms[key] = _room(self.session, unit, name)
        return self._rooms[key]

    def inspection(
        self, unit: Unit, stage: str | None, inspector: str | None, when: datetime
    ) -> int | None:
        key = (unit.id, stage, inspector or "", when.strftime("%Y-%m-%d"))
        if key not in self._inspections:
            self._inspections[key] = _inspection(self.session, unit, stage, inspector, when)
        return self._inspections[key]

    def warnings(self, project: Project) -> _WarningState:
        if project.id not in self._warnings:
            self._warnings[project.id] = _WarningState(self.session, self.rules, project, self.now)
        return self._warnings[project.id]


class _WarningState:
    """The facts and active warnings of one locked project, read once and then kept current
    in memory as defects are added or superseded; :meth:`sync` reconciles exactly as
    :func:`_sync_warnings` would from SQL at that moment (same facts, same events)."""

    def __init__(self, session: Session, rules: Rules, project: Project, now: datetime) -> None:
        self.session, self.rules, self.project, self.now = session, rules, project, now
        age = rules.rectification_rate.min_age_days if rules.rectification_rate else 0.0
        self.cutoff = now - timedelta(days=age)
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


def _new_defect(
    session: Session,
    rules: Rules,
    photo: Photo,
    unit: Unit,
    d: DetectedDefect,
    source: str,
    model_name: str | None,
    model_version: str | None,
    actor: str,
    now: datetime,
    *,
    deadline: datetime | None = None,
    tier: str | None = None,
    note: str | None = None,
) -> Defect:
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


def _rescan(
    session: Session,
    rules: Rules,
    photo: Photo,
    unit: Unit,
    dets: list[DetectedDefect],
    source: str,
    model_name: str,
    model_version: str,
    actor: str,
    now: datetime,
) -> tuple[list[Defect], list[Defect]]:
    """Apply a scan of a known photo; returns (defects added, defects superseded)."""
    applied = session.scalars(
        select(Scan.model_version).where(Scan.photo_id == photo.id, Scan.applied.is_(True))
    ).all()
    newer = source == "person" or all(version_key(model_version) > version_key(v) for v in applied)
    session.add(
        Scan(
            photo_id=photo.id,
            model_name=model_name,
            model_version=model_version,
            detections=len(dets),
            applied=newer,
            scanned_at=now,
        )
    )
    if not newer:
        return [], []
    if source == "person":  # a person's marks add to what is there, never replace
        current = _photo_defects(session, photo.id)
        keep = [(d.label, _box(d)) for d in current]
        hit = {j for _, j in match_boxes(keep, [(d.label, d.box) for d in dets])}
        return [
            _new_defect(
                session, rules, photo, unit, d, source, model_name, model_version, actor, now
            )
            for j, d in enumerate(dets)
            if j not in hit
        ], []
    old = [d for d in _photo_defects(session, photo.id) if d.source == "model"]
    matches = dict(match_boxes([(d.label, _box(d)) for d in old], [(d.label, d.box) for d in dets]))
    matched_new = set(matches.values())
    by_old = {i: j for i, j in matches.items()}
    added: list[Defect] = []
    superseded: list[Defect] = []
    for i, od in enumerate(old):
        touched = od.status != "open" or len(od.history) > 1
        if touched:
            continue
        jm = by_old.get(i)
        new = None
        if jm is not None:
            new = _new_defect(
                session,
                rules,
                photo,
                unit,
                dets[jm],
                source,
                model_name,
                model_version,
                actor,
                now,
                deadline=od.deadline,
                tier=od.tier,
                note=f"re-detected by {model_name} {model_version} (supersedes #{od.id})",
            )
            added.append(new)
        od.superseded_at = now
        od.superseded_by_id = new.id if new is not None else None
        od.updated_at = now
        superseded.append(od)
    for j, d in enumerate(dets):
        if j not in matched_new:
            added.append(
                _new_defect(
                    session, rules, photo, unit, d, source, model_name, model_version, actor, now
                )
            )
    return added, superseded


def _box(d: Defect) -> tuple[float, float, float, float]:
    return (d.x0, d.y0, d.x1, d.y1)


def is_recorded(
    *, session: Session, sha256: str, project: str, unit: str, model_version: str
) -> bool:
    """True if this photo is in this unit and was already scanned by ``model_version``."""
    q = (
        select(Scan.id)
        .join(Photo, Scan.photo_id == Photo.id)
        .join(Unit, Photo.unit_id == Unit.id)
        .join(Project, Unit.project_id == Project.id)
        .where(
            Photo.sha256 == sha256,
            Project.code == project,
            Unit.code == unit,
            Scan.model_version == model_version,
        )
        .limit(1)
    )
    return session.scalars(q).first() is not None


# ---- reading ---------------------------------------------------------------------------------


def _defect_query() -> Select[Defect]:
    return (
        select(Defect)
        .options(selectinload(Defect.history), joinedload(Defect.unit).joinedload(Unit.project))
        .execution_options(populate_existing=True)
    )


def _photo_defects(session: Session, photo_id: int) -> list[Defect]:
    return list(
        session.scalars(
            _defect_query()
            .where(Defect.photo_id == photo_id, Defect.superseded_at.is_(None))
            .order_by(Defect.id)
        )
    )


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


def _open_counts(session: Session, unit_ids: Iterable[int]) -> dict[int, dict[str, int]]:
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


def _unit_levels(session: Session, project_id: int) -> dict[int | None, WarningLevel]:
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


def _unit_status(session: Session, u: Unit) -> UnitStatus:
    counts = _open_counts(session, [u.id])[u.id]
    level = _unit_levels(session, u.project_id).get(u.id, "none")
    return UnitStatus(unit=u.code, open_defects=sum(counts.values()), warning=level)


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


def unit_defects(
    *, session: Session, project: str, unit: str, include_superseded: bool = False
) -> list[DefectOut]:
    """The unit's defects (oldest first) with status, photo and history."""
    u = _unit(session, _project(session, project), unit)
    q = _defect_query().where(Defect.unit_id == u.id).order_by(Defect.id)
    if not include_superseded:
        q = q.where(Defect.superseded_at.is_(None))
    now = utcnow()
    return [_defect_out(d, now) for d in session.scalars(q)]


def _defect(session: Session, defect_id: int) -> Defect:
    d = session.scalars(_defect_query().where(Defect.id == int(defect_id))).one_or_none()
    if d is None:
        raise NotFoundError(f"defect {defect_id} does not exist")
    return d


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


def get_photo(*, session: Session, photo_id: int) -> PhotoOut:
    ph = session.scalars(
        select(Photo)
        .options(
            joinedload(Photo.unit).joinedload(Unit.project),
            joinedload(Photo.room),
            joinedload(Photo.inspection),
        )
        .where(Photo.id == int(photo_id))
    ).one_or_none()
    if ph is None:
        raise NotFoundError(f"photo {photo_id} does not exist")
    now = utcnow()
    return PhotoOut(
        id=ph.id,
        sha256=ph.sha256,
        project=ph.unit.project.code,
        unit=ph.unit.code,
        room=ph.room.name if ph.room else None,
        stage=ph.inspection.stage if ph.inspection else None,
        width=ph.width,
        height=ph.height,
        size=ph.size,
        taken_at=ph.taken_at,
        created_at=ph.created_at,
        defects=[_defect_out(d, now) for d in _photo_defects(session, ph.id)],
    )


def unit_photos(*, session: Session, project: str, unit: str) -> list[PhotoOut]:
    u = _unit(session, _project(session, project), unit)
    ids = session.scalars(select(Photo.id).where(Photo.unit_id == u.id).order_by(Photo.id)).all()
    return [get_photo(session=session, photo_id=i) for i in ids]


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
    if tier is not None and tier not in TIERS:
        raise TransitionError(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}")
    if tier == "complex" and deadline is None:
        raise TransitionError("a complex defect needs a committed date (deadline)")
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
        "person",
        None,
        None,
        actor,
        now,
        tier=tier,
        deadline=deadline,
        note=note or f"marked by {actor}",
    )
    new.confidence = None
    session.flush()
    _sync_warnings(session, rules, proj, [u], now)
    session.flush()
    return _defect_out(_defect(session, new.id), now)


def unreferenced_photos(
    *, session: Session, store: PhotoStore, min_age_s: float = 3600.0, delete: bool = False
) -> list[str]:
    """Stored files no photo row references (left by a failed or rolled-back write), older
    than ``min_age_s`` so a write still in flight is never touched; ``delete=True`` removes them.
    """
    import time

    cutoff = time.time() - min_age_s
    referenced = set(session.scalars(select(Photo.sha256).distinct()))
    out = []
    for sha in store.files():
        p = store.path(sha)
        if sha in referenced or p.stat().st_mtime > cutoff:
            continue
        out.append(sha)
        if delete:
            p.unlink(missing_ok=True)
    return out


# ---- workflow --------------------------------------------------------------------------------


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
    if tier is not None and tier not in TIERS:
        raise TransitionError(f"unknown tier {tier!r}; use one of {', '.join(TIERS)}")
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
    if new_tier == "complex" and new_deadline is None:
        raise TransitionError(f"defect {d.id}: a complex defect needs a committed date (deadline)")
    if tier == "complex" and deadline is None and d.tier != "complex":
        raise TransitionError(f"defect {d.id}: a complex defect needs a committed date (deadline)")
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


# ---- warnings --------------------------------------------------------------------------------


def project_facts(session: Session, project: Project, rules: Rules, now: datetime) -> ProjectFacts:
    """The project's aged / aged-and-rectified / overdue defect counts at ``now`` (one query)."""
    age = rules.rectification_rate.min_age_days if rules.rectification_rate else 0.0
    cutoff = now - timedelta(days=age)
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


def _sync_warnings(
    session: Session, rules: Rules, project: Project, units: Sequence[Unit] | None, now: datetime
) -> tuple[int, int]:
    """Raise/clear the warnings of ``units`` (None: every unit) and the project; returns
    (raised, cleared). Idempotent: unchanged conditions write nothing."""
    if units is None:
        units = list(session.scalars(select(Unit).where(Unit.project_id == project.id)))
    counts = _open_counts(session, [u.id for u in units])
    facts = Facts(
        units=[UnitFacts(u.code, counts[u.id]) for u in units],
        project=project_facts(session, project, rules, now),
    )
    subjects = [f"unit:{u.code}" for u in units] + ["project"]
    active = {(w.subject, w.rule): w for w in _active_rows(session, project, subjects)}
    raised, cleared = _reconcile(session, project, units, facts, rules, active, now)
    return len(raised), len(cleared)


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


def refresh_warnings(
    *, session: Session, rules: Rules, project: str, now: datetime | None = None
) -> tuple[int, int]:
    """Re-evaluate every warning of a project (overdue ones appear as time passes).

    Returns (raised, cleared); a second call at the same moment returns (0, 0).
    """
    now = now or utcnow()
    p = _project(session, project, lock=True)
    return _sync_warnings(session, rules, p, None, now)


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
