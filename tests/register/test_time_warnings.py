"""Time-driven warnings appear and clear with no write to the register (SQLite and PostgreSQL).

Every refresh is given its ``now``, so these tests never depend on the wall clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import register as R
from register import open_register, parse_rules

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
RULES = parse_rules(
    {
        "project": {
            "rectification_rate": {"target": 0.8, "min_defects": 4, "min_age_days": 7},
            "overdue": {"amber": 1, "red": 3},
        },
        "deadlines": {"minor_hours": 24, "general_days": 10},
        "default_tier": {"tile_chip": "minor", "stain": "general"},
    }
)


@pytest.fixture
def treg(db_url: str, tmp_path: Path):  # noqa: ANN201
    r = open_register(db_url, photo_root=tmp_path / "photos", rules=RULES)
    yield r
    r.dispose()


def record(reg, project, unit, data, label, now):  # noqa: ANN001, ANN201
    with reg.session() as s:
        return R.record_photo(
            session=s,
            store=reg.store,
            rules=reg.rules,
            project=project,
            unit=unit,
            data=data,
            width=64,
            height=48,
            defects=[R.DetectedDefect(label, 0.8, (1, 1, 9, 9))],
            model_name="fs",
            model_version="1",
            now=now,
        ).defects[0]


def repair(reg, defect_id, now):  # noqa: ANN001, ANN201
    for to in ("rectifying", "rectified"):
        with reg.session() as s:
            R.change_status(
                session=s, rules=reg.rules, defect_id=defect_id, status=to, actor="crew", now=now
            )


def active(reg, project):  # noqa: ANN001, ANN201
    with reg.session(readonly=True) as s:
        return [(w.rule, w.level, w.detail) for w in R.active_warnings(session=s, project=project)]


def stale(reg, project, now):  # noqa: ANN001, ANN201
    with reg.session(readonly=True) as s:
        return R.warnings_stale(session=s, rules=reg.rules, project=project, now=now)


def test_overdue_appears_at_the_deadline_without_a_write(treg, project, photo_bytes) -> None:  # noqa: ANN001
    ids = [record(treg, project, f"u{i}", photo_bytes(700 + i), "tile_chip", T0).id for i in (0, 1)]
    due = T0 + timedelta(hours=24)  # minor: 24 h
    assert not stale(treg, project, due)  # at the deadline itself nothing is overdue yet
    (r,) = R.refresh_all_warnings(treg, projects=[project], now=due)
    assert (r.project, r.raised, r.cleared, r.error) == (project, [], [], None)
    assert active(treg, project) == []

    late = due + timedelta(seconds=1)
    assert stale(treg, project, late)
    (r,) = R.refresh_all_warnings(treg, projects=[project], now=late)
    assert [(w.rule, w.level, w.unit, w.detail, w.raised_at) for w in r.raised] == [
        ("overdue", "amber", None, "2 overdue defects", late)
    ]
    assert r.cleared == [] and r.error is None
    assert active(treg, project) == [("overdue", "amber", "2 overdue defects")]
    # idempotent: the same moment again changes nothing and is not stale
    assert not stale(treg, project, late)
    assert R.refresh_all_warnings(treg, projects=[project], now=late)[0].raised == []
    with treg.session(readonly=True) as s:
        events = R.warning_events(session=s, project=project)
    assert [(k, at, d) for _, k, at, d in events] == [("raised", late, "2 overdue defects")]

    # one repaired (a write: the writer reconciles) → still amber, fresher detail
    repair(treg, ids[0], late + timedelta(hours=1))
    assert active(treg, project) == [("overdue", "amber", "1 overdue defects")]


def test_the_rectification_rate_raises_and_clears_as_defects_age(
    treg, project, photo_bytes
) -> None:  # noqa: ANN001
    # T0: 4 general defects (due T0+10 d), 2 repaired; T0+1 d: 6 more, all repaired on T0+2 d
    first = [record(treg, project, "a", photo_bytes(710 + i), "stain", T0).id for i in range(4)]
    for i in first[:2]:
        repair(treg, i, T0 + timedelta(days=1))
    second = [
        record(treg, project, "b", photo_bytes(720 + i), "stain", T0 + timedelta(days=1)).id
        for i in range(6)
    ]
    for i in second:
        repair(treg, i, T0 + timedelta(days=2))
    assert active(treg, project) == []

    # day 7.5: aged (≥ 7 days) = the first 4, 2 rectified: 50 % < 80 % → raised
    d7 = T0 + timedelta(days=7, hours=12)
    (r,) = R.refresh_all_warnings(treg, projects=[project], now=d7)
    assert [(w.rule, w.level, w.detail) for w in r.raised] == [
        ("rectification_rate", "amber", "50% of 4 defects rectified (target 80%)")
    ]
    # day 8.5: the second 6 aged too: 8 of 10 = 80 % → cleared, by time alone
    d8 = T0 + timedelta(days=8, hours=12)
    (r,) = R.refresh_all_warnings(treg, projects=[project], now=d8)
    assert r.raised == [] and [(w.rule, w.cleared_at) for w in r.cleared] == [
        ("rectification_rate", d8)
    ]
    # day 10.5: the 2 unrepaired defects are past their deadline → overdue raised
    d10 = T0 + timedelta(days=10, hours=12)
    (r,) = R.refresh_all_warnings(treg, projects=[project], now=d10)
    assert [(w.rule, w.level, w.detail) for w in r.raised] == [
        ("overdue", "amber", "2 overdue defects")
    ]
    with treg.session(readonly=True) as s:
        kinds = [(k, at) for _, k, at, _ in R.warning_events(session=s, project=project)]
    assert kinds == [("raised", d7), ("cleared", d8), ("raised", d10)]


def test_every_project_is_refreshed_and_a_bad_one_does_not_stop_the_rest(
    treg, project, photo_bytes
) -> None:  # noqa: ANN001
    record(treg, project, "u", photo_bytes(730), "tile_chip", T0)
    late = T0 + timedelta(days=2)
    by_project = {r.project: r for r in R.refresh_all_warnings(treg, now=late)}
    assert project in by_project
    assert [w.rule for w in by_project[project].raised] == ["overdue"]

    other = project + "x"
    record(treg, other, "u", photo_bytes(731), "tile_chip", T0)
    results = R.refresh_all_warnings(treg, projects=["NO-SUCH", other], now=late)
    assert results[0].project == "NO-SUCH" and "does not exist" in (results[0].error or "")
    assert results[1].error is None and [w.rule for w in results[1].raised] == ["overdue"]


def test_a_current_project_is_refreshed_without_waiting_for_a_writer(
    treg, project, photo_bytes
) -> None:  # noqa: ANN001
    """Nothing to change → only read: a writer holding the project (or, on SQLite, the
    database) does not block the sweep."""
    record(treg, project, "u", photo_bytes(740), "tile_chip", T0)
    out: list = []
    with treg.session() as s:
        R.refresh_warnings(session=s, rules=treg.rules, project=project, now=T0)  # locks
        t = threading.Thread(
            target=lambda: out.append(R.refresh_all_warnings(treg, projects=[project], now=T0))
        )
        t.start()
        t.join(timeout=30)
        finished = not t.is_alive()
    t.join()
    assert finished, "the refresh of a current project waited for the writer"
    assert out[0][0].raised == [] and out[0][0].error is None


# ---- the cron command -------------------------------------------------------------------------


def cli(*args: str):  # noqa: ANN201 - click's Result (stdout and stderr apart)
    from typer.testing import CliRunner

    from serving.cli import app

    return CliRunner().invoke(app, list(args))


def test_refresh_warnings_command_prints_what_it_raised(
    db_url: str, tmp_path: Path, project: str, photo_bytes
) -> None:  # noqa: ANN001
    # the shipped rules: tile_chip is minor (due in 24 h), one overdue defect → amber;
    # recorded in 2020, so it is overdue whenever the command runs
    reg = open_register(db_url, photo_root=tmp_path / "photos")
    past = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)
    record(reg, project, "3-2-1701", photo_bytes(750), "tile_chip", past)
    reg.dispose()

    out = cli("register", "refresh-warnings", "--project", project, "--db", db_url)
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == [
        f"raised\t{project}\tamber\t(project)\toverdue\t1 overdue defects"
    ]
    assert "1 project(s): 1 warning(s) raised, 0 cleared" in out.stderr

    again = cli("register", "refresh-warnings", "--project", project, "--db", db_url)
    assert again.exit_code == 0, again.output
    assert again.stdout == "" and "0 warning(s) raised, 0 cleared" in again.stderr

    missing = cli("register", "refresh-warnings", "-p", "NO-SUCH", "-p", project, "--db", db_url)
    assert missing.exit_code == 1
    assert "error: NO-SUCH: project 'NO-SUCH' does not exist" in missing.stderr
    assert "2 project(s)" in missing.stderr


def test_current_warnings_brings_the_list_up_to_now(treg, project, photo_bytes) -> None:  # noqa: ANN001
    from register.refresh import current_warnings

    record(treg, project, "u0", photo_bytes(720), "tile_chip", T0)
    due = T0 + timedelta(hours=24)
    items, changed = current_warnings(treg, project, now=due)
    assert items == [] and (changed.raised, changed.cleared) == ([], [])

    late = due + timedelta(seconds=1)
    items, changed = current_warnings(treg, project, now=late)
    assert [(w.rule, w.level, w.detail, w.raised_at) for w in items] == [
        ("overdue", "amber", "1 overdue defects", late)
    ]
    assert changed.raised == items and changed.cleared == []
    # current now: the list again, nothing changed (and no event recorded twice)
    again, changed = current_warnings(treg, project, now=late + timedelta(hours=1))
    assert again == items and (changed.raised, changed.cleared) == ([], [])
    with treg.session(readonly=True) as s:
        assert [k for _, k, _, _ in R.warning_events(session=s, project=project)] == ["raised"]
    # the same list as refresh_all_warnings followed by active_warnings would give
    assert active(treg, project) == [("overdue", "amber", "1 overdue defects")]
    with pytest.raises(R.NotFoundError):
        current_warnings(treg, "NO-SUCH", now=late)
