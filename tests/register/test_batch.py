"""``record_photos`` (one batch) gives exactly what ``record_photo`` one by one gives.

Both paths run the same seeded scenario (new photos, repeats, newer-model re-scans that
supersede defects, a person's re-scan, a status change between batches) at the same ``now``
per batch, into the same database under different project codes; everything is compared
with ids replaced by their rank: photos, scans, defects (with history), warnings and
warning events in order, and what the calls returned. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

import register as R
from register.models import Defect, DefectHistory, Photo, Project, Scan, Unit, Warning, WarningEvent
from register.rules import parse_rules

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# low thresholds and min_age_days 0 (new defects count as aged at once): every delta the
# in-memory warning state tracks (unit counts, aged, rectified, overdue) changes a warning here
RULES = parse_rules(
    {
        "unit": {"open_defects": {"amber": 2, "red": 4}, "labels": {"crack": "amber"}},
        "project": {
            "rectification_rate": {"target": 0.8, "min_defects": 3, "min_age_days": 0},
            "overdue": {"amber": 1, "red": 3},
        },
        "deadlines": {"minor_hours": 24, "general_days": 10},
        "default_tier": {"tile_chip": "minor", "crack": "general", "stain": "general"},
    }
)
LABELS = ["crack", "stain", "tile_chip"]


def _scenario(seed: int) -> list[dict[str, Any]]:
    """Batches of ``(project_index, PhotoInput-kwargs)`` with the batch's version/now/source."""
    rng = np.random.default_rng(seed)
    photos: list[tuple[int, str, bytes, list]] = []  # (project, unit, bytes, dets) of batch 1

    def dets(n: int) -> list[R.DetectedDefect]:
        out = []
        for _ in range(n):
            x, y = (int(v) * 10 for v in rng.integers(0, 5, 2))
            label = LABELS[int(rng.integers(0, 3))]
            out.append(
                R.DetectedDefect(label, round(float(rng.uniform(0.3, 1)), 3), (x, y, x + 9, y + 9))
            )
        return out

    batch1 = []
    for k in range(18):
        p, unit = int(rng.integers(0, 2)), f"u{int(rng.integers(0, 3))}"
        data = rng.bytes(300) + bytes([k])
        d = dets(int(rng.integers(0, 4)))
        photos.append((p, unit, data, d))
        kw = {"room": ["kitchen", None][k % 2], "stage": ["acceptance", None][k % 3 == 0]}
        kw["building"] = "B1" if k % 4 == 0 else None
        batch1.append((p, dict(unit=unit, data=data, width=64, height=48, defects=d, **kw)))
    p, unit, data, d = photos[3]
    batch1.append((p, dict(unit=unit, data=data, width=64, height=48, defects=d)))  # a repeat
    batch2 = []
    for p, unit, data, d in photos[::2]:  # newer model: some boxes move a little, some vanish
        moved = [
            R.DetectedDefect(
                x.label, x.confidence, tuple(v + int(rng.integers(0, 3)) for v in x.box)
            )
            for x in d
            if rng.random() < 0.7
        ]
        batch2.append((p, dict(unit=unit, data=data, width=64, height=48, defects=moved + dets(1))))
    for _ in range(8):
        p, unit = int(rng.integers(0, 2)), f"u{int(rng.integers(0, 4))}"
        batch2.append(
            (p, dict(unit=unit, data=rng.bytes(200), width=64, height=48, defects=dets(3)))
        )
    batch3 = [
        (p, dict(unit=unit, data=data, width=64, height=48, defects=dets(2)))
        for p, unit, data, _ in photos[1:6]
    ]
    return [
        {"items": batch1, "version": "1", "now": T0, "source": "model"},
        {"items": batch2, "version": "2", "now": T0 + timedelta(days=2), "source": "model"},
        {"items": batch3, "version": "3", "now": T0 + timedelta(days=3), "source": "person"},
    ]


def _run(reg: R.Register, codes: list[str], scenario: list[dict], batched: bool) -> list[Any]:
    returned: list[Any] = []
    for n, b in enumerate(scenario):
        items = [R.PhotoInput(project=codes[p], **kw) for p, kw in b["items"]]
        common = dict(
            store=reg.store,
            rules=RULES,
            model_name="fs",
            model_version=b["version"],
            source=b["source"],
            now=b["now"],
        )
        with reg.session() as s:
            if batched:
                out = R.record_photos(session=s, items=items, **common)
            else:
                out = [
                    R.record_photo(session=s, **vars(it), **common)  # type: ignore[arg-type]
                    for it in items
                ]
        returned.append([_recorded(r) for r in out])
        if n == 0:  # a person takes one defect in hand and rejects another: both stay put
            with reg.session() as s:
                ds = R.unit_defects(session=s, project=codes[0], unit="u0")
                ds += R.unit_defects(session=s, project=codes[1], unit="u1")
                for d, to in zip(ds[:2], ["rectifying", "rejected"], strict=False):
                    R.change_status(
                        session=s, rules=RULES, defect_id=d.id, status=to, actor="ann", now=b["now"]
                    )
    return returned


def _recorded(r: R.PhotoRecorded) -> dict[str, Any]:
    """What a call returned, without ids (the database dump compares those by rank)."""
    out = r.model_dump()
    out.pop("photo_id")
    out["defects"] = [
        {k: v for k, v in d.items() if k not in ("id", "photo_id", "project")}
        for d in out["defects"]
    ]
    for d in out["defects"]:
        for h in d["history"]:
            h["note"] = h["note"] and re.sub(r"#\d+", "#", h["note"])
    return out


def _dump(reg: R.Register, codes: list[str]) -> dict[str, Any]:
    """Everything the two projects hold, ids replaced by per-table ranks."""
    with reg.session() as s:
        pids = {
            s.scalar(select(Project.id).where(Project.code == c)): i for i, c in enumerate(codes)
        }
        units = s.scalars(select(Unit).where(Unit.project_id.in_(pids)).order_by(Unit.id)).all()
        uid = {u.id: (pids[u.project_id], u.code) for u in units}
        photos = s.scalars(select(Photo).where(Photo.unit_id.in_(uid)).order_by(Photo.id)).all()
        prank = {p.id: i for i, p in enumerate(photos)}
        defects = s.scalars(select(Defect).where(Defect.unit_id.in_(uid)).order_by(Defect.id)).all()
        drank = {d.id: i for i, d in enumerate(defects)}
        hist = s.scalars(
            select(DefectHistory)
            .where(DefectHistory.defect_id.in_(drank))
            .order_by(DefectHistory.id)
        ).all()
        scans = s.scalars(select(Scan).where(Scan.photo_id.in_(prank)).order_by(Scan.id)).all()
        warns = s.scalars(
            select(Warning).where(Warning.project_id.in_(pids)).order_by(Warning.id)
        ).all()
        wrank = {w.id: i for i, w in enumerate(warns)}
        events = s.scalars(
            select(WarningEvent).where(WarningEvent.warning_id.in_(wrank)).order_by(WarningEvent.id)
        ).all()

        def ranked(note: str | None) -> str | None:  # "supersedes #91" names a defect id
            return note and re.sub(r"#(\d+)", lambda m: f"#r{drank[int(m[1])]}", note)

        return {
            "units": [(uid[u.id], u.building_id is not None) for u in units],
            "photos": [
                (
                    uid[p.unit_id],
                    p.sha256,
                    p.room_id is not None,
                    p.inspection_id is not None,
                    p.size,
                    p.created_at,
                )
                for p in photos
            ],
            "scans": [
                (prank[c.photo_id], c.model_version, c.detections, c.applied, c.scanned_at)
                for c in scans
            ],
            "defects": [
                (
                    prank[d.photo_id],
                    uid[d.unit_id],
                    d.label,
                    d.confidence,
                    (d.x0, d.y0, d.x1, d.y1),
                    d.source,
                    d.model_version,
                    d.tier,
                    d.deadline,
                    d.status,
                    d.created_at,
                    d.updated_at,
                    d.superseded_at,
                    drank.get(d.superseded_by_id),
                )
                for d in defects
            ],
            "history": [
                (drank[h.defect_id], h.at, h.actor, h.from_status, h.to_status, ranked(h.note))
                for h in hist
            ],
            "warnings": [
                (
                    pids[w.project_id],
                    w.unit_id and uid[w.unit_id],
                    w.scope,
                    w.subject,
                    w.rule,
                    w.level,
                    w.detail,
                    w.raised_at,
                    w.cleared_at,
                )
                for w in warns
            ],
            "events": [(wrank[e.warning_id], e.kind, e.at, e.detail) for e in events],
        }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_equals_one_by_one(reg: R.Register, project: str, seed: int) -> None:
    scenario = _scenario(seed)
    seq_codes, batch_codes = [f"{project}s0", f"{project}s1"], [f"{project}b0", f"{project}b1"]
    seq_ret = _run(reg, seq_codes, scenario, batched=False)
    batch_ret = _run(reg, batch_codes, scenario, batched=True)
    seq, got = _dump(reg, seq_codes), _dump(reg, batch_codes)
    for key in seq:
        assert got[key] == seq[key], key
    assert batch_ret == seq_ret
    # the scenario exercises what it claims: re-scans supersede, warnings rise and clear,
    # levels change inside a batch, the person's re-scan adds defects
    assert any(d[12] is not None for d in got["defects"])
    kinds = [e[1] for e in got["events"]]
    assert kinds.count("raised") >= 5 and kinds.count("cleared") >= 2
    assert any(e[3].startswith("level now") for e in got["events"])
    assert any(d[5] == "person" for d in got["defects"])
    # and the warnings kept in memory were right: SQL finds nothing to change afterwards
    with reg.session() as s:
        for code in batch_codes:
            assert R.refresh_warnings(
                session=s, rules=RULES, project=code, now=scenario[-1]["now"]
            ) == (0, 0)


def test_returned_defects_and_status_match_a_fresh_read(reg: R.Register, project: str) -> None:
    scenario = _scenario(7)
    codes = [f"{project}r0", f"{project}r1"]
    for b in scenario[:2]:
        items = [R.PhotoInput(project=codes[p], **kw) for p, kw in b["items"]]
        with reg.session() as s:
            out = R.record_photos(
                session=s,
                store=reg.store,
                rules=RULES,
                items=items,
                model_name="fs",
                model_version=b["version"],
                now=b["now"],
            )
        with reg.session() as s:
            last: dict[tuple[str, str], R.PhotoRecorded] = {}
            for it, r in zip(items, out, strict=True):
                photo = R.get_photo(session=s, photo_id=r.photo_id)
                assert (photo.project, photo.unit) == (it.project, it.unit)
                assert [_no_overdue(d) for d in r.defects] == [
                    _no_overdue(d) for d in photo.defects
                ]
                last[(it.project, it.unit)] = r
            for (p, u), r in last.items():  # a unit's status after its last photo of the batch
                want = {x.unit: x for x in R.list_units(session=s, project=p)}[u]
                assert r.unit == want


def _no_overdue(d: R.DefectOut) -> dict[str, Any]:
    """A defect as handed out, but ``overdue`` (counted at the call's ``now``, not today)."""
    return d.model_dump(exclude={"overdue"})


def test_an_empty_batch_and_a_bad_item_write_nothing(reg: R.Register, project: str) -> None:
    with reg.session() as s:
        assert (
            R.record_photos(
                session=s,
                store=reg.store,
                rules=RULES,
                items=[],
                model_name="fs",
                model_version="1",
            )
            == []
        )
    good = R.PhotoInput(project=project, unit="u", data=b"x" * 10, width=4, height=4)
    bad = R.PhotoInput(project=project, unit="u", data=b"y" * 10, width=0, height=4)
    with pytest.raises(R.RegisterError, match="positive"), reg.session() as s:
        R.record_photos(
            session=s,
            store=reg.store,
            rules=RULES,
            items=[good, bad],
            model_name="fs",
            model_version="1",
        )
    with reg.session() as s, pytest.raises(R.NotFoundError):
        R.get_project(session=s, code=project)
