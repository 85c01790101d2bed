"""The register against a real database (SQLite and PostgreSQL via the ``db_url`` fixture)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

import register as R
from finishscan.errors import NotFoundError, RegisterError, TransitionError
from register import open_register, parse_rules
from register.db import current_revision
from register.models import Defect, DefectHistory, Photo, Scan, Unit, Warning, WarningEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = parse_rules(
    {
        "unit": {"open_defects": {"amber": 3, "red": 5}, "labels": {"crack": "amber"}},
        "project": {
            "rectification_rate": {"target": 0.8, "min_defects": 4, "min_age_days": 7},
            "overdue": {"amber": 1, "red": 3},
        },
        "deadlines": {"minor_hours": 24, "general_days": 10},
        "default_tier": {"tile_chip": "minor", "crack": "general", "stain": "general"},
    }
)


def record(reg, project, unit, data, dets, version="1", now=T0, rules=RULES, **kw):  # noqa: ANN001, ANN201
    with reg.session() as s:
        return R.record_photo(
            session=s,
            store=reg.store,
            rules=rules,
            project=project,
            unit=unit,
            data=data,
            width=64,
            height=48,
            defects=dets,
            model_name="fs",
            model_version=version,
            now=now,
            **kw,
        )


def status(reg, defect_id, new, actor="li", now=T0, **kw):  # noqa: ANN001, ANN201
    with reg.session() as s:
        return R.change_status(
            session=s, rules=RULES, defect_id=defect_id, status=new, actor=actor, now=now, **kw
        )


# ---- migrations -------------------------------------------------------------------------------


def test_migrations_from_empty_create_every_table(reg: R.Register) -> None:
    names = set(inspect(reg.engine).get_table_names())
    assert {
        "project",
        "building",
        "unit",
        "room",
        "inspection",
        "photo",
        "scan",
        "defect",
        "defect_history",
        "warning",
        "warning_event",
        "api_key",
        "alembic_version",
    } <= names
    assert current_revision(reg.engine) == "0002"


def test_reopening_is_idempotent(db_url: str, tmp_path: Path) -> None:
    for _ in range(2):
        r = open_register(db_url, photo_root=tmp_path)
        assert current_revision(r.engine) == "0002"
        r.dispose()


def test_downgrade_to_empty_and_up_again(tmp_path: Path, db_url: str) -> None:
    # on a private database so other tests' rows are not dropped
    # (PostgreSQL: in its own schema below)
    url = f"sqlite:///{tmp_path / 'x.db'}" if db_url.startswith("sqlite") else db_url
    from sqlalchemy import create_engine

    if url.startswith("postgresql"):
        from register.db import normalize_url

        eng0 = create_engine(normalize_url(url))
        with eng0.begin() as c:
            c.execute(text("CREATE SCHEMA IF NOT EXISTS updown"))
        eng0.dispose()
        eng = create_engine(normalize_url(url), connect_args={"options": "-csearch_path=updown"})
    else:
        eng = R.make_engine(url)
    try:
        R.migrate(eng)
        assert "defect" in inspect(eng).get_table_names()
        R.migrate(eng, "base", downgrade=True)
        assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
        R.migrate(eng)
        assert current_revision(eng) == "0002"
    finally:
        if url.startswith("postgresql"):
            with eng.begin() as c:
                c.execute(text("DROP SCHEMA updown CASCADE"))
        eng.dispose()


def test_plain_postgresql_url_maps_to_psycopg3() -> None:
    assert R.normalize_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert R.normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert R.normalize_url("sqlite:///x.db") == "sqlite:///x.db"


# ---- recording and dedup ----------------------------------------------------------------------


def test_record_then_same_bytes_again_is_deduplicated(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    data = photo_bytes(1)
    a = record(
        reg,
        project,
        "3-2-1701",
        data,
        [det("crack", 1, 2, 30, 10), det("stain", 40, 10, 60, 40)],
        room="kitchen",
        stage="acceptance",
        inspector="li",
        building="3",
    )
    assert a.created and len(a.defects) == 2 and a.unit.open_defects == 2
    assert a.defects[0].deadline == T0 + timedelta(days=10) and a.defects[0].status == "open"
    b = record(
        reg, project, "3-2-1701", data, [det("crack", 1, 2, 30, 10), det("tile_chip", 0, 0, 5, 5)]
    )
    assert not b.created and b.photo_id == a.photo_id
    assert [d.id for d in b.defects] == [d.id for d in a.defects]
    with reg.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Photo).where(Photo.sha256 == reg.store.put(data))
            )
            == 1
        )
        assert len(R.unit_defects(session=s, project=project, unit="3-2-1701")) == 2
        ph = R.get_photo(session=s, photo_id=a.photo_id)
        assert (ph.room, ph.stage, ph.width, ph.height, ph.size) == (
            "kitchen",
            "acceptance",
            64,
            48,
            len(data),
        )
        assert s.scalars(select(Unit).where(Unit.code == "3-2-1701")).first().building.code == "3"
    # the same bytes in another unit are that unit's own photo
    c = record(reg, project, "3-2-1702", data, [det("crack", 1, 2, 30, 10)])
    assert c.created and c.photo_id != a.photo_id
    assert reg.store.read(reg.store.put(data)) == data


def test_is_recorded_by_model_version(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    data = photo_bytes(2)
    sha = reg.store.put(data)
    with reg.session() as s:
        assert not R.is_recorded(
            session=s, sha256=sha, project=project, unit="u", model_version="1"
        )
    record(reg, project, "u", data, [])
    with reg.session() as s:
        assert R.is_recorded(session=s, sha256=sha, project=project, unit="u", model_version="1")
        assert not R.is_recorded(
            session=s, sha256=sha, project=project, unit="u", model_version="2"
        )
        assert not R.is_recorded(
            session=s, sha256=sha, project=project, unit="other", model_version="1"
        )


def test_rescan_by_newer_model_supersedes_untouched_without_double_counting(
    reg, project, photo_bytes, det
) -> None:  # noqa: ANN001
    data = photo_bytes(3)
    v1 = record(
        reg,
        project,
        "u1",
        data,
        [
            det("crack", 0, 0, 20, 10),  # untouched, re-detected → superseded by a v2 defect
            det("stain", 30, 30, 50, 45),  # a person starts repairing it → kept
            det("tile_chip", 50, 0, 60, 8),  # untouched, not seen by v2 → superseded by nothing
        ],
    )
    crack, stain, chip = (d.id for d in v1.defects)
    status(reg, stain, "rectifying", actor="crew")
    v2 = record(
        reg,
        project,
        "u1",
        data,
        [
            det("crack", 0, 0, 21, 10, 0.95),  # IoU 0.95 with the v1 crack
            det("stain", 31, 30, 50, 45),  # matches the handled stain: adds nothing
            det("paint_bubble", 5, 20, 15, 30),  # new
        ],
        version="2",
        now=T0 + timedelta(days=1),
    )
    assert not v2.created
    got = {(d.label, d.model_version, d.status) for d in v2.defects}
    assert got == {
        ("crack", "2", "open"),
        ("stain", "1", "rectifying"),
        ("paint_bubble", "2", "open"),
    }
    assert v2.unit.open_defects == 3
    new_crack = next(d for d in v2.defects if d.label == "crack")
    assert new_crack.deadline == T0 + timedelta(days=10)  # keeps the original deadline
    with reg.session() as s:
        old = s.get(Defect, crack)
        assert old.superseded_by_id == new_crack.id and old.superseded_at is not None
        assert (
            s.get(Defect, chip).superseded_by_id is None
            and s.get(Defect, chip).superseded_at is not None
        )
        every = R.unit_defects(session=s, project=project, unit="u1", include_superseded=True)
        assert len(every) == 5  # history kept: 3 from v1, 2 new from v2
        assert R.unit_summary(session=s, project=project, unit="u1").open_defects == 3
    with pytest.raises(TransitionError, match="superseded"):
        status(reg, crack, "rectifying")
    # an older model afterwards changes nothing, and the same version again is a no-op
    for version in ("1.5", "2"):
        again = record(reg, project, "u1", data, [det("crack", 0, 0, 5, 5)], version=version)
        assert sorted(d.id for d in again.defects) == sorted(d.id for d in v2.defects)
    with reg.session() as s:
        scans = s.execute(
            select(Scan.model_version, Scan.applied)
            .join(Photo)
            .where(Photo.id == v1.photo_id)
            .order_by(Scan.id)
        ).all()
        assert [tuple(x) for x in scans] == [("1", True), ("2", True), ("1.5", False)]


def test_project_and_unit_lookups(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    with reg.session() as s:
        R.create_project(session=s, code=project, name="Riverside Phase 2")
    with pytest.raises(RegisterError, match="already exists"), reg.session() as s:
        R.create_project(session=s, code=project, name="again")
    with reg.session() as s:
        assert R.ensure_project(session=s, code=project).name == "Riverside Phase 2"
        assert R.get_project(session=s, code=project).code == project
        with pytest.raises(NotFoundError):
            R.list_units(session=s, project=project + "x")
        with pytest.raises(NotFoundError):
            R.unit_summary(session=s, project=project, unit="nope")
        with pytest.raises(NotFoundError):
            R.get_defect(session=s, defect_id=10**9)
        with pytest.raises(NotFoundError):
            R.get_photo(session=s, photo_id=10**9)
    with pytest.raises(RegisterError), reg.session() as s:
        R.ensure_project(session=s, code="  ")
    with pytest.raises(RegisterError, match="stage"):
        record(reg, project, "u", photo_bytes(4), [], stage="handover")


# ---- warnings ---------------------------------------------------------------------------------


def _events(reg, project):  # noqa: ANN001, ANN202
    with reg.session() as s:
        ws = {w.id: w for w in R.warning_history(session=s, project=project)}
        return [
            (ws[i].unit, ws[i].rule, ws[i].level, kind)
            for i, kind, _, _ in R.warning_events(session=s, project=project)
        ]


def test_warning_lifecycle_raise_escalate_clear(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    ids = []
    for i in range(5):  # five photos with one hollow tile each: amber at 3, red at 5
        r = record(
            reg, project, "7-1-301", photo_bytes(100 + i), [det("hollow_tile", 0, 0, 10, 10)]
        )
        ids.append(r.defects[0].id)
        assert r.unit.warning == ("none" if i < 2 else "amber" if i < 4 else "red")
    with reg.session() as s:
        assert [
            (w.unit, w.rule, w.level) for w in R.active_warnings(session=s, project=project)
        ] == [("7-1-301", "open_defects", "red")]
        assert R.refresh_warnings(session=s, rules=RULES, project=project, now=T0) == (
            0,
            0,
        )  # idempotent
    status(reg, ids[0], "rejected")  # 4 open → amber again
    status(reg, ids[1], "rectifying")  # still open
    status(reg, ids[2], "rectifying")
    status(reg, ids[2], "rectified")  # 3 open → amber
    status(reg, ids[3], "rejected")  # 2 open → cleared
    with reg.session() as s:
        assert R.active_warnings(session=s, project=project) == []
        assert R.list_units(session=s, project=project)[0].warning == "none"
    assert _events(reg, project) == [
        ("7-1-301", "open_defects", "amber", "raised"),
        ("7-1-301", "open_defects", "amber", "cleared"),
        ("7-1-301", "open_defects", "red", "raised"),
        ("7-1-301", "open_defects", "red", "cleared"),
        ("7-1-301", "open_defects", "amber", "raised"),
        ("7-1-301", "open_defects", "amber", "cleared"),
    ]
    status(reg, ids[0], "open", note="not a false alarm after all")  # reinstated: 3 open → amber
    with reg.session() as s:
        assert [(w.rule, w.level) for w in R.active_warnings(session=s, project=project)] == [
            ("open_defects", "amber")
        ]


def test_label_warning_and_units_worst_first(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    record(reg, project, "a", photo_bytes(200), [det("stain", 0, 0, 5, 5)])
    c = record(reg, project, "b", photo_bytes(201), [det("crack", 0, 0, 5, 5)])
    record(
        reg,
        project,
        "c",
        photo_bytes(202),
        [det("stain", 0, 0, 5, 5), det("stain", 10, 10, 20, 20)],
    )
    with reg.session() as s:
        assert [
            (u.unit, u.open_defects, u.warning) for u in R.list_units(session=s, project=project)
        ] == [
            ("b", 1, "amber"),
            ("c", 2, "none"),
            ("a", 1, "none"),
        ]
        summary = R.unit_summary(session=s, project=project, unit="c")
        assert summary.defects_by_label == {"stain": 2} and summary.open_defects == 2
    status(reg, c.defects[0].id, "rejected")
    with reg.session() as s:
        assert R.active_warnings(session=s, project=project) == []


def test_overdue_and_rectification_rate_project_warnings(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    ids = [
        record(reg, project, f"u{i}", photo_bytes(300 + i), [det("tile_chip", 0, 0, 5, 5)])
        .defects[0]
        .id
        for i in range(4)
    ]  # minor: due 24 h after T0
    with reg.session() as s:
        assert R.refresh_warnings(
            session=s, rules=RULES, project=project, now=T0 + timedelta(hours=23)
        ) == (0, 0)
        d = R.get_defect(session=s, defect_id=ids[0])
        assert d.tier == "minor" and d.deadline == T0 + timedelta(hours=24)
    later = T0 + timedelta(days=2)
    with reg.session() as s:
        assert R.refresh_warnings(session=s, rules=RULES, project=project, now=later) == (1, 0)
        (w,) = R.active_warnings(session=s, project=project)
        assert (w.scope, w.unit, w.rule, w.level, w.detail) == (
            "project",
            None,
            "overdue",
            "red",
            "4 overdue defects",
        )
    for i in ids[:2]:
        status(reg, i, "rectifying", now=later)
        status(reg, i, "rectified", now=later)  # repaired: no longer overdue → amber (2 overdue)
    with reg.session() as s:
        assert [(w.rule, w.level) for w in R.active_warnings(session=s, project=project)] == [
            ("overdue", "amber")
        ]
    # a week later: 4 aged defects, 2 rectified = 50% < 80% → rectification_rate warning too
    week = T0 + timedelta(days=8)
    with reg.session() as s:
        R.refresh_warnings(session=s, rules=RULES, project=project, now=week)
        assert sorted((w.rule, w.level) for w in R.active_warnings(session=s, project=project)) == [
            ("overdue", "amber"),
            ("rectification_rate", "amber"),
        ]
        risk = {r.project: r for r in R.project_risk(session=s, rules=RULES, now=week)}[project]
        assert (risk.units, risk.open_defects, risk.overdue, risk.rectification_rate) == (
            4,
            2,
            2,
            0.5,
        )
        # score = 1·2 amber + 1·(2 open / 4 units) + 5·(2 overdue / 2 open) + 2·(1 − 0.5)
        assert risk.score == pytest.approx(2 + 0.5 + 5 + 1) and risk.supervision == "high"
    # the complex tier needs a committed date; with one the overdue warning can clear
    with pytest.raises(TransitionError, match="committed date"):
        status(reg, ids[2], "open", tier="complex", now=week)
    for i in ids[2:]:
        status(reg, i, "open", tier="complex", deadline=week + timedelta(days=30), now=week)
    with reg.session() as s:
        assert [w.rule for w in R.active_warnings(session=s, project=project)] == [
            "rectification_rate"
        ]


def test_one_active_warning_per_rule_is_enforced_by_the_database(
    reg, project, photo_bytes, det
) -> None:  # noqa: ANN001
    record(reg, project, "u", photo_bytes(400), [det("crack", 0, 0, 5, 5)])
    with pytest.raises(RegisterError), reg.session() as s:
        w = s.scalars(
            select(Warning).join(Unit).where(Unit.code == "u", Warning.cleared_at.is_(None))
        ).first()
        s.add(
            Warning(
                project_id=w.project_id,
                unit_id=w.unit_id,
                scope="unit",
                subject=w.subject,
                rule=w.rule,
                level="red",
            )
        )
        s.flush()


# ---- workflow ---------------------------------------------------------------------------------


def test_full_workflow_with_history(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    d = record(reg, project, "u", photo_bytes(500), [det("crack", 0, 0, 5, 5)]).defects[0]
    status(
        reg,
        d.id,
        "rectifying",
        actor="supervisor-wang",
        assignee="crew 3",
        now=T0 + timedelta(hours=1),
    )
    status(reg, d.id, "rectified", actor="crew 3", now=T0 + timedelta(hours=2))
    status(
        reg,
        d.id,
        "rectifying",
        actor="supervisor-wang",
        note="crack reappeared",
        now=T0 + timedelta(hours=3),
    )
    status(reg, d.id, "rectified", actor="crew 3", now=T0 + timedelta(hours=4))
    out = status(reg, d.id, "verified", actor="supervisor-wang", now=T0 + timedelta(hours=5))
    assert out.status == "verified" and out.assignee == "crew 3"
    assert [(h.actor, h.from_status, h.to_status) for h in out.history] == [
        ("model:fs", None, "open"),
        ("supervisor-wang", "open", "rectifying"),
        ("crew 3", "rectifying", "rectified"),
        ("supervisor-wang", "rectified", "rectifying"),
        ("crew 3", "rectifying", "rectified"),
        ("supervisor-wang", "rectified", "verified"),
    ]
    assert out.history[3].note == "crack reappeared"
    assert [h.at for h in out.history][1:] == [T0 + timedelta(hours=h) for h in range(1, 6)]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "rectified"),
        ([], "verified"),
        (["rectifying"], "verified"),
        (["rejected"], "rectifying"),
        (["rectifying", "rectified", "verified"], "open"),
        (["rectifying", "rectified"], "rejected"),
        ([], "done"),
    ],
)
def test_illegal_transitions_are_refused_and_write_nothing(
    reg, project, photo_bytes, det, path, illegal
) -> None:  # noqa: ANN001
    d = record(reg, project, "u", photo_bytes(600), [det("stain", 0, 0, 5, 5)]).defects[0]
    for st in path:
        status(reg, d.id, st)
    with pytest.raises(TransitionError):
        status(reg, d.id, illegal)
    with reg.session() as s:
        after = R.get_defect(session=s, defect_id=d.id)
    assert after.status == (path[-1] if path else "open") and len(after.history) == 1 + len(path)


def test_same_status_needs_a_change(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    d = record(reg, project, "u", photo_bytes(700), [det("stain", 0, 0, 5, 5)]).defects[0]
    with pytest.raises(TransitionError, match="already open"):
        status(reg, d.id, "open")
    out = status(reg, d.id, "open", tier="minor")
    assert out.tier == "minor" and out.deadline == T0 + timedelta(hours=24)
    assert out.history[-1].note == "tier general → minor; deadline 2026-11-03 09:00"


def test_history_is_append_only_in_the_database(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    record(reg, project, "u", photo_bytes(800), [det("stain", 0, 0, 5, 5)])
    with pytest.raises(RegisterError, match="append-only"), reg.session() as s:
        s.execute(text("UPDATE defect_history SET actor = 'someone else'"))


# ---- atomicity and the photo store ----------------------------------------------------------


def test_failure_mid_record_leaves_nothing_half_written(
    reg, project, photo_bytes, det, monkeypatch
) -> None:  # noqa: ANN001
    import register.repository.warnings as repo  # _reconcile is looked up there

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("power cut while evaluating warnings")

    monkeypatch.setattr(repo, "_reconcile", boom)
    data = photo_bytes(900)
    with pytest.raises(RuntimeError):
        record(reg, project, "u-fail", data, [det("crack", 0, 0, 5, 5), det("stain", 9, 9, 20, 20)])
    sha = reg.store.put(data)
    with reg.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo).where(Photo.sha256 == sha)) == 0
        assert s.scalar(select(func.count()).select_from(Unit).where(Unit.code == "u-fail")) == 0
        assert (
            s.scalar(
                select(func.count()).select_from(Defect).join(Unit).where(Unit.code == "u-fail")
            )
            == 0
        )
        with pytest.raises(NotFoundError):
            R.get_project(session=s, code=project)
    monkeypatch.undo()
    ok = record(reg, project, "u-fail", data, [det("crack", 0, 0, 5, 5)])
    assert ok.created and len(ok.defects) == 1


def test_store_put_is_atomic_and_reports_missing_or_corrupt(tmp_path: Path) -> None:
    store = R.PhotoStore(tmp_path)
    sha = store.put(b"jpeg bytes")
    assert store.path(sha).read_bytes() == b"jpeg bytes" and store.put(b"jpeg bytes") == sha
    assert [p.name for p in store.path(sha).parent.iterdir()] == [sha]  # no temp files left
    store.path(sha).write_bytes(b"jpeg bytez")
    with pytest.raises(RegisterError, match="corrupt"):
        store.read(sha)
    store.path(sha).unlink()
    with pytest.raises(RegisterError, match="missing"):
        store.read(sha)
    assert "missing" in store.check(sha)
    with pytest.raises(RegisterError):
        store.path("../../etc/passwd")


# ---- report and export ------------------------------------------------------------------------


def test_unit_report_html_and_damaged_photos(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    a = record(
        reg,
        project,
        "3-2-1701",
        photo_bytes(1000),
        [det("crack", 1, 2, 30, 10), det("stain", 40, 10, 60, 40)],
        room="bath<room>",
    )
    b = record(reg, project, "3-2-1701", photo_bytes(1001), [det("tile_chip", 5, 5, 9, 9)])
    c = record(reg, project, "3-2-1701", photo_bytes(1002), [])
    status(reg, a.defects[0].id, "rectifying", actor="crew")
    with reg.session() as s:
        sha_b = R.get_photo(session=s, photo_id=b.photo_id).sha256
        sha_c = R.get_photo(session=s, photo_id=c.photo_id).sha256
    reg.store.path(sha_b).write_bytes(b"garbage")  # corrupt
    reg.store.path(sha_c).unlink()  # missing
    with reg.session() as s:
        html = R.unit_report_html(session=s, store=reg.store, project=project, unit="3-2-1701")
        linked = R.unit_report_html(
            session=s,
            store=reg.store,
            project=project,
            unit="3-2-1701",
            photo_href=lambda i: f"/v1/photos/{i}",
        )
    assert html.count("<rect ") == 2  # only the intact photo is drawn
    assert html.count('src="data:image/jpeg;base64,') == 1
    assert f'data-photo-problem="{b.photo_id}"' in html and "corrupt" in html
    assert f'data-photo-problem="{c.photo_id}"' in html and "missing" in html
    assert "bath&lt;room&gt;" in html and "bath<room>" not in html  # escaped
    assert 'id="open-defects">3<' in html and "rectifying" in html and "crew" in html
    assert f'src="/v1/photos/{a.photo_id}"' in linked and "base64" not in linked
    assert '<rect x="1.0" y="2.0" width="29.0" height="8.0"' in html


def test_export_csv_and_json(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    r = record(
        reg,
        project,
        "u1",
        photo_bytes(1100),
        [det("crack", 1, 2, 30, 10, 0.9)],
        building="B7",
        stage="owner_visit",
    )
    record(
        reg,
        project,
        "u2",
        photo_bytes(1101),
        [det("stain", 1, 2, 3, 4), det("stain", 10, 10, 20, 20)],
    )
    status(reg, r.defects[0].id, "rectifying")
    with reg.session() as s:
        rows = list(
            csv.DictReader(io.StringIO(R.export_project(session=s, project=project, fmt="csv")))
        )
        doc = json.loads(R.export_project(session=s, project=project, fmt="json", rules=RULES))
        with pytest.raises(RegisterError):
            R.export_project(session=s, project=project, fmt="xlsx")
    assert len(rows) == 3
    first = rows[0]
    assert (first["unit"], first["building"], first["stage"], first["label"], first["status"]) == (
        "u1",
        "B7",
        "owner_visit",
        "crack",
        "rectifying",
    )
    assert (float(first["x0"]), float(first["y1"]), float(first["confidence"])) == (1.0, 10.0, 0.9)
    assert doc["summary"]["defects"] == 3 and doc["summary"]["by_status"] == {
        "open": 2,
        "rectifying": 1,
    }
    assert doc["summary"]["by_label"] == {"crack": 1, "stain": 2}
    assert [u["unit"] for u in doc["units"]] == ["u1", "u2"]  # u1 has the crack warning
    assert {w["rule"] for w in doc["warnings"]} == {"label:crack"}


# ---- API keys ---------------------------------------------------------------------------------


def test_api_keys(reg, project) -> None:  # noqa: ANN001
    with reg.session() as s:
        before = R.count_api_keys(session=s)
        out, key = R.create_api_key(session=s, project=project, role="inspector")
        admin, admin_key = R.create_api_key(session=s, project=None, role="admin")
        with pytest.raises(RegisterError):
            R.create_api_key(session=s, project=None, role="inspector")
        with pytest.raises(RegisterError):
            R.create_api_key(session=s, project=project, role="root")
    assert out.project == project and out.role == "inspector" and admin.project is None
    with reg.session() as s:
        assert R.count_api_keys(session=s) == before + 2
        assert R.authenticate(session=s, key=key).id == out.id
        assert R.authenticate(session=s, key=admin_key).role == "admin"
        assert R.authenticate(session=s, key=key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        assert (
            R.authenticate(session=s, key="") is None
            and R.authenticate(session=s, key="Bearer x") is None
        )
        assert [k.id for k in R.list_api_keys(session=s, project=project)] == [out.id]
        stored = s.execute(text("SELECT key_hash FROM api_key")).scalars().all()
        assert key not in stored and all(len(h) == 64 for h in stored)
        R.revoke_api_key(session=s, key_id=out.id)
        assert R.authenticate(session=s, key=key) is None
        assert R.count_api_keys(session=s) == before + 2  # revoked keys still count
        assert R.count_api_keys(session=s, active_only=True) == R.count_api_keys(
            session=s
        ) - 1 - sum(k.revoked_at is not None and k.id != out.id for k in R.list_api_keys(session=s))
        with pytest.raises(NotFoundError):
            R.revoke_api_key(session=s, key_id=10**9)


def test_defect_project(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    d = record(reg, project, "u", photo_bytes(1200), [det("stain", 0, 0, 5, 5)]).defects[0]
    with reg.session() as s:
        assert R.defect_project(session=s, defect_id=d.id) == project
        assert (
            s.scalar(
                select(func.count())
                .select_from(DefectHistory)
                .where(DefectHistory.defect_id == d.id)
            )
            == 1
        )
        assert s.scalar(select(func.count()).select_from(WarningEvent)) >= 0


def test_person_marked_defect_survives_rescans(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    data = photo_bytes(1300)
    r = record(reg, project, "u", data, [det("stain", 0, 0, 5, 5)])
    with reg.session() as s:
        mine = R.add_defect(
            session=s,
            rules=RULES,
            photo_id=r.photo_id,
            label="crack",
            box=(10, 10, 40, 12),
            actor="inspector-li",
            now=T0,
        )
        assert (mine.source, mine.confidence, mine.status, mine.model_version) == (
            "person",
            None,
            "open",
            None,
        )
        assert (
            mine.history[0].actor == "inspector-li"
            and mine.history[0].note == "marked by inspector-li"
        )
        assert R.unit_summary(session=s, project=project, unit="u").warning == "amber"  # crack rule
        with pytest.raises(RegisterError, match="outside"):
            R.add_defect(
                session=s,
                rules=RULES,
                photo_id=r.photo_id,
                label="crack",
                box=(10, 10, 400, 12),
                actor="li",
            )
        with pytest.raises(TransitionError, match="committed date"):
            R.add_defect(
                session=s,
                rules=RULES,
                photo_id=r.photo_id,
                label="crack",
                box=(1, 1, 2, 2),
                actor="li",
                tier="complex",
            )
        with pytest.raises(NotFoundError):
            R.add_defect(
                session=s, rules=RULES, photo_id=10**9, label="crack", box=(1, 1, 2, 2), actor="li"
            )
    v2 = record(reg, project, "u", data, [], version="2")  # the newer model sees nothing
    assert [d.id for d in v2.defects] == [mine.id]


def test_unreferenced_photos_after_a_failed_write(
    reg, project, photo_bytes, det, monkeypatch
) -> None:  # noqa: ANN001
    import os

    import register.repository.warnings as repo  # _reconcile is looked up there

    kept = record(reg, project, "u-gc", photo_bytes(1400), [det("stain", 0, 0, 5, 5)])
    monkeypatch.setattr(repo, "_reconcile", lambda *a, **k: 1 / 0)
    lost = photo_bytes(1401)
    with pytest.raises(ZeroDivisionError):
        record(reg, project, "u-gc", lost, [det("stain", 0, 0, 5, 5)])
    monkeypatch.undo()
    sha = reg.store.put(lost)
    with reg.session() as s:
        assert R.unreferenced_photos(session=s, store=reg.store) == []  # too recent to touch
        old = reg.store.path(sha).stat().st_mtime - 7200
        os.utime(reg.store.path(sha), (old, old))
        assert R.unreferenced_photos(session=s, store=reg.store) == [sha]
        assert R.unreferenced_photos(session=s, store=reg.store, delete=True) == [sha]
        assert not reg.store.path(sha).exists()
        assert reg.store.check(R.get_photo(session=s, photo_id=kept.photo_id).sha256) is None


def test_warning_detail_follows_the_count(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    for i in range(4):
        record(reg, project, "u", photo_bytes(1500 + i), [det("hollow_tile", 0, 0, 5, 5)])
    with reg.session() as s:
        (w,) = R.active_warnings(session=s, project=project)
        assert (w.level, w.detail) == ("amber", "4 open defects")
        assert [k for _, k, _, _ in R.warning_events(session=s, project=project)] == ["raised"]


def test_default_location_is_sqlite_in_wal_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FINISHSCAN_DB", raising=False)
    monkeypatch.setenv("FINISHSCAN_HOME", str(tmp_path / "home" / "fs"))
    reg = open_register()
    try:
        assert (tmp_path / "home" / "fs" / "register.db").exists()
        assert reg.store.root == tmp_path / "home" / "fs" / "photos"
        with reg.engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
            assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        reg.ping()
    finally:
        reg.dispose()
    with pytest.raises(R.RegisterError):
        bad = open_register("postgresql://nobody@127.0.0.1:1/none")
        bad.dispose()


def test_readonly_sessions_do_not_wait_for_a_writer(reg, project, photo_bytes, det) -> None:  # noqa: ANN001
    import threading
    import time

    record(reg, project, "u", photo_bytes(1600), [det("stain", 0, 0, 5, 5)])
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with reg.session() as s:
            R.ensure_project(session=s, code=project)  # takes the write lock / project row lock
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        t0 = time.perf_counter()
        with reg.session(readonly=True) as s:
            assert R.unit_summary(session=s, project=project, unit="u").open_defects == 1
        assert time.perf_counter() - t0 < 2.0
        if reg.engine.dialect.name == "postgresql":  # enforced there; a convention on SQLite
            with pytest.raises(RegisterError, match="read-only"), reg.session(readonly=True) as s:
                R.ensure_project(session=s, code=project + "x")
    finally:
        release.set()
        t.join()
