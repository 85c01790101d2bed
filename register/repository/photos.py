"""Photos: recording a scan (one photo or a batch), re-scans, reading photos back.

:func:`record_photos` stores each photo (content-addressed in the :class:`PhotoStore`), its
scan and the detected defects, creating project, unit, building, room and inspection on first
use, and re-evaluates warnings; :func:`record_photo` is a batch of one.

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

Files and rows stay consistent: a file this transaction wrote to the store is listed in
``session.info`` (:func:`new_photo_files`); when the transaction fails, ``Register.session``
removes each such file with :func:`discard_if_unreferenced` (never one a photo row refers
to, nor one another transaction is storing right now).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from finishscan.errors import NotFoundError, RegisterError
from register.models import SOURCES, Defect, Photo, Project, Scan, Unit, utcnow
from register.repository.defects import _box, _defect_out, _new_defect, _photo_defects
from register.repository.lookup import (
    _check_stage,
    _code,
    _get_or_create_unit,
    _inspection,
    _lock_photo_file,
    _lock_project,
    _project,
    _room,
    _unit,
)
from register.repository.matching import match_boxes, version_key
from register.repository.warnings import _WarningState
from register.rules import Rules
from register.schemas import DetectedDefect, PhotoInput, PhotoOut, PhotoRecorded
from register.store import PhotoStore, sha256_hex

# ---- recording -------------------------------------------------------------------------------


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
    quality_warnings: Sequence[str] | None = None,
    source: str = "model",
    now: datetime | None = None,
) -> PhotoRecorded:
    """Store a photo and its detections for a unit (project and unit are created on first use).

    The same bytes for the same unit again: ``created=False``, the same photo and defects.
    ``taken_at``: when the photo was taken (see :class:`PhotoInput`); defects, deadlines and
    history are dated ``now`` (when the register learns of them) either way.
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
        quality_warnings=quality_warnings,
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


def _quality_text(warnings: Sequence[str] | None) -> str | None:
    """The ``photo.quality_warnings`` value: sorted, comma-separated, checked."""
    if warnings is None:
        return None
    if isinstance(warnings, str):
        raise RegisterError(f"quality warnings must be a list of names, got {warnings!r}")
    names = sorted(set(warnings))
    bad = [w for w in names if not (w.isascii() and w.replace("_", "").isalpha() and w.islower())]
    text = ",".join(names)
    if bad or len(text) > 40:
        raise RegisterError(f"quality warnings must be short lowercase names, got {list(warnings)}")
    return text


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
    quality_of = [_quality_text(item.quality_warnings) for item in items]
    batch = _Batch(session, rules, now)
    out = []
    for item, dets, quality in zip(items, dets_of, quality_of, strict=True):
        proj = batch.project(item.project)  # first: SQLite's write lock is held from here
        sha = _store_photo(session, store, item.data)
        u = batch.unit(proj, item.unit, item.building)
        state = batch.warnings(proj)
        state.load_unit(u)
        photo = session.scalars(
            select(Photo).where(Photo.unit_id == u.id, Photo.sha256 == sha)
        ).one_or_none()
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
                quality_warnings=quality,
            )
            session.add(photo)
            session.flush()
        elif photo.quality_warnings is None and quality is not None:
            photo.quality_warnings = quality  # recorded before it was checked
        new = partial(
            _new_defect,
            session,
            rules,
            photo,
            u,
            source=source,
            model_name=model_name,
            model_version=model_version,
            actor=item.inspector or f"model:{model_name}",
            now=now,
        )
        if created:
            _add_scan(session, photo, model_name, model_version, len(dets), True, now)
            added = [new(d) for d in dets]
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
                    session, photo, dets, source, model_name, model_version, now, new
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


_NEW_FILES = "finishscan.new_photo_files"


def _store_photo(session: Session, store: PhotoStore, data: bytes) -> str:
    """Store ``data`` under its file lock (held until the transaction ends); a file this
    call created is remembered in ``session.info`` so a rollback can remove it."""
    sha = sha256_hex(data)
    _lock_photo_file(session, sha)
    sha, created = store.add(data, sha=sha)
    if created:
        session.info.setdefault(_NEW_FILES, []).append((store, sha))
    return sha


def new_photo_files(session: Session) -> list[tuple[PhotoStore, str]]:
    """``(store, sha256)`` of every file the session's writes created in a store so far."""
    return list(session.info.get(_NEW_FILES, ()))


def forget_new_photo_files(session: Session) -> list[tuple[PhotoStore, str]]:
    """:func:`new_photo_files`, cleared (after a commit, or to discard them)."""
    return list(session.info.pop(_NEW_FILES, ()))


def discard_if_unreferenced(*, session: Session, store: PhotoStore, sha: str) -> bool:
    """Remove the stored file of ``sha`` unless a photo row refers to it or another
    transaction is storing the same bytes right now; True if removed. Run it in its own
    write transaction, after the one that created the file has rolled back."""
    if not _lock_photo_file(session, sha, exclusive=True):
        return False  # a writer is storing these bytes: its row will (or its rollback may) decide
    if session.scalar(select(Photo.id).where(Photo.sha256 == sha).limit(1)) is not None:
        return False
    return store.discard(sha)


def _checked_detections(item: PhotoInput) -> list[DetectedDefect]:
    if not item.data:
        raise RegisterError("the photo is empty")
    if int(item.width) <= 0 or int(item.height) <= 0:
        raise RegisterError(f"photo size must be positive, got {item.width}x{item.height}")
    _check_stage(item.stage)
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


def _add_scan(
    session: Session,
    photo: Photo,
    model_name: str,
    model_version: str,
    detections: int,
    applied: bool,
    now: datetime,
) -> None:
    session.add(
        Scan(
            photo_id=photo.id,
            model_name=model_name,
            model_version=model_version,
            detections=detections,
            applied=applied,
            scanned_at=now,
        )
    )


def _rescan(
    session: Session,
    photo: Photo,
    dets: list[DetectedDefect],
    source: str,
    model_name: str,
    model_version: str,
    now: datetime,
    new: Callable[..., Defect],
) -> tuple[list[Defect], list[Defect]]:
    """Apply a scan of a known photo (``new(detection, **overrides)`` makes a defect of this
    scan); returns (defects added, defects superseded)."""
    applied = session.scalars(
        select(Scan.model_version).where(Scan.photo_id == photo.id, Scan.applied.is_(True))
    ).all()
    newer = source == "person" or all(version_key(model_version) > version_key(v) for v in applied)
    _add_scan(session, photo, model_name, model_version, len(dets), newer, now)
    if not newer:
        return [], []
    found = [(d.label, d.box) for d in dets]
    if source == "person":  # a person's marks add to what is there, never replace
        current = _photo_defects(session, photo.id)
        hit = {j for _, j in match_boxes([(d.label, _box(d)) for d in current], found)}
        return [new(d) for j, d in enumerate(dets) if j not in hit], []
    old = [d for d in _photo_defects(session, photo.id) if d.source == "model"]
    matches = dict(match_boxes([(d.label, _box(d)) for d in old], found))
    matched_new = set(matches.values())
    added: list[Defect] = []
    superseded: list[Defect] = []
    for i, od in enumerate(old):
        touched = od.status != "open" or len(od.history) > 1
        if touched:
            continue
        jm = matches.get(i)
        replacement = None
        if jm is not None:
            replacement = new(
                dets[jm],
                deadline=od.deadline,
                tier=od.tier,
                note=f"re-detected by {model_name} {model_version} (supersedes #{od.id})",
            )
            added.append(replacement)
        od.superseded_at = now
        od.superseded_by_id = replacement.id if replacement is not None else None
        od.updated_at = now
        superseded.append(od)
    added.extend(new(d) for j, d in enumerate(dets) if j not in matched_new)
    return added, superseded


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
        quality_warnings=None
        if ph.quality_warnings is None
        else [w for w in ph.quality_warnings.split(",") if w],
    )


def unit_photos(*, session: Session, project: str, unit: str) -> list[PhotoOut]:
    u = _unit(session, _project(session, project), unit)
    ids = session.scalars(select(Photo.id).where(Photo.unit_id == u.id).order_by(Photo.id)).all()
    return [get_photo(session=session, photo_id=i) for i in ids]


def unreferenced_photos(
    *, session: Session, store: PhotoStore, min_age_s: float = 3600.0, delete: bool = False
) -> list[str]:
    """Stored files no photo row references (left by a failed or rolled-back write), older
    than ``min_age_s`` so a write still in flight is never touched; ``delete=True`` removes them.
    """
    cutoff = time.time() - min_age_s
    referenced = set(session.scalars(select(Photo.sha256).distinct()))
    out = []
    for sha in store.files():
        try:
            if sha in referenced or store.path(sha).stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:  # removed meanwhile
            continue
        if delete and not discard_if_unreferenced(session=session, store=store, sha=sha):
            continue  # referenced or being stored right now
        out.append(sha)
    return out
