"""Command-line reads of the warnings are current at the read, as GET warnings is
(``register export --format json``, ``register warnings``, ``register risk``; SQLite and PostgreSQL).

Defects are recorded in 2020 with the shipped rules (a tile chip is due 24 h later, a crack 14
days later), so at the wall-clock time the commands read they are overdue, although no sweep or
write has raised the project's ``overdue`` warning yet.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from typer.testing import CliRunner

import register as R
from register import Register, open_register
from register.models import WarningEvent
from register.refresh import current_read, current_warnings
from serving.cli import app

PAST = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)


def cli(*args: str):  # noqa: ANN201 - click's Result (stdout and stderr apart)
    return CliRunner().invoke(app, list(args))


def record(reg: Register, project: str, unit: str, data: bytes, labels: list[str]) -> None:
    with reg.session() as s:
        R.record_photo(
            session=s,
            store=reg.store,
            rules=reg.rules,
            project=project,
            unit=unit,
            data=data,
            width=64,
            height=48,
            defects=[
                R.DetectedDefect(lb, 0.8, (1 + 5 * i, 1, 4 + 5 * i, 9))
                for i, lb in enumerate(labels)
            ],
            model_name="fs",
            model_version="1",
            now=PAST,
        )


def stored(reg: Register, project: str) -> list[tuple[str | None, str, str]]:
    """The active warnings as stored (no check): (unit, rule, level)."""
    with reg.session(readonly=True) as s:
        return [(w.unit, w.rule, w.level) for w in R.active_warnings(session=s, project=project)]


def events(reg: Register) -> int:
    """Every warning raise/clear recorded in the database (all projects)."""
    with reg.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(WarningEvent)) or 0)


def stale_project(reg: Register, project: str, photo_bytes, seed: int) -> None:  # noqa: ANN001
    """A crack (unit rule: amber, raised by the writer) and a tile chip, both overdue since
    2020 (project rule ``overdue``: amber, not raised yet)."""
    record(reg, project, "3-2-1701", photo_bytes(seed), ["crack", "tile_chip"])
    assert stored(reg, project) == [("3-2-1701", "label:crack", "amber")]


def test_export_json_lists_the_warnings_the_list_read_gives(
    db_url: str, tmp_path: Path, project: str, photo_bytes
) -> None:  # noqa: ANN001
    reg = open_register(db_url, photo_root=tmp_path / "photos")
    try:
        stale_project(reg, project, photo_bytes, 800)
        before = events(reg)
        out = cli("register", "export", "-p", project, "-f", "json", "--db", db_url)
        assert out.exit_code == 0, out.output
        doc = json.loads(out.stdout)
        assert [(w["unit"], w["rule"], w["level"], w["detail"]) for w in doc["warnings"]] == [
            ("3-2-1701", "label:crack", "amber", "1 open crack"),
            (None, "overdue", "amber", "2 overdue defects"),
        ]
        assert doc["summary"]["overdue"] == 2
        assert events(reg) == before + 1  # the overdue raise, recorded once
        # what GET warnings gives now: the same list, and the read finds nothing to change
        items, changed = current_warnings(reg, project)
        assert (changed.raised, changed.cleared) == ([], [])
        assert doc["warnings"] == [w.model_dump(mode="json") for w in items]
        again = cli("register", "export", "-p", project, "-f", "json", "--db", db_url)
        assert json.loads(again.stdout)["warnings"] == doc["warnings"]
        assert events(reg) == before + 1
    finally:
        reg.dispose()


def test_warnings_command_prints_the_list_read(
    db_url: str, tmp_path: Path, project: str, photo_bytes
) -> None:  # noqa: ANN001
    reg = open_register(db_url, photo_root=tmp_path / "photos")
    try:
        stale_project(reg, project, photo_bytes, 810)
        out = cli("register", "warnings", "-p", project, "--db", db_url)
        assert out.exit_code == 0, out.output
        items, changed = current_warnings(reg, project)
        assert (changed.raised, changed.cleared) == ([], [])
        assert [(w.level, w.unit, w.rule) for w in items] == [
            ("amber", "3-2-1701", "label:crack"),
            ("amber", None, "overdue"),
        ]
        assert out.stdout.splitlines() == [
            f"{w.level}\t{w.unit or '(project)'}\t{w.rule}\t{w.detail}\t{w.raised_at:%Y-%m-%d %H:%M}"
            for w in items
        ]
        hist = cli("register", "warnings", "-p", project, "--history", "--db", db_url)
        assert [line.split("\t")[2] for line in hist.stdout.splitlines()] == [
            "label:crack",
            "overdue",
        ]
    finally:
        reg.dispose()


def test_risk_counts_every_projects_current_warnings(
    db_url: str, tmp_path: Path, project: str, photo_bytes
) -> None:  # noqa: ANN001
    """Two projects fell due; one risk read brings both up (red/amber as the list reads)."""
    reg = open_register(db_url, photo_root=tmp_path / "photos")
    other = project + "b"
    try:
        stale_project(reg, project, photo_bytes, 820)
        record(reg, other, "1-1-101", photo_bytes(821), ["tile_chip"] * 10)  # 10 overdue: red
        assert stored(reg, other) == [("1-1-101", "open_defects", "red")]
        out = cli("register", "risk", "--json", "--db", db_url)
        assert out.exit_code == 0, out.output
        rows = {x["project"]: x for x in json.loads(out.stdout)}
        want = {}
        for code in (project, other):
            items, changed = current_warnings(reg, code)
            assert (changed.raised, changed.cleared) == ([], [])
            want[code] = (
                sum(w.level == "red" for w in items),
                sum(w.level == "amber" for w in items),
            )
        assert want == {project: (0, 2), other: (2, 0)}
        assert {c: (rows[c]["red_warnings"], rows[c]["amber_warnings"]) for c in want} == want
        assert (rows[project]["overdue"], rows[other]["overdue"]) == (2, 10)
    finally:
        reg.dispose()


def test_nothing_is_written_when_nothing_fell_due(
    db_url: str, tmp_path: Path, project: str, photo_bytes
) -> None:  # noqa: ANN001
    reg = open_register(db_url, photo_root=tmp_path / "photos")
    try:
        stale_project(reg, project, photo_bytes, 830)
        R.refresh_all_warnings(reg)  # every project of this database current now
        with reg.session(readonly=True) as s:
            history = R.warning_history(session=s, project=project)
        before = events(reg)
        for args in (
            ["export", "-p", project, "-f", "json"],
            ["warnings", "-p", project],
            ["warnings", "-p", project, "--history"],
            ["risk"],
        ):
            out = cli("register", *args, "--db", db_url)
            assert out.exit_code == 0, out.output
        assert events(reg) == before
        with reg.session(readonly=True) as s:
            assert R.warning_history(session=s, project=project) == history

        # and the read takes no write lock: a writer holding the project does not block it,
        # nor the command (opening a register already at head only reads its revision)
        got: list = []
        reads = [
            lambda: got.append(_read_active(reg, project)),
            lambda: got.append(cli("register", "warnings", "-p", project, "--db", db_url)),
        ]
        for read in reads:
            with reg.session() as s:
                R.refresh_warnings(session=s, rules=reg.rules, project=project)  # locks
                t = threading.Thread(target=read)
                t.start()
                t.join(timeout=30)
                finished = not t.is_alive()
            t.join()
            assert finished, "the read of a current project waited for the writer"
        assert got[0] == [(w.unit, w.rule, w.level) for w in history if w.cleared_at is None]
        assert got[1].exit_code == 0 and len(got[1].stdout.splitlines()) == len(got[0])
    finally:
        reg.dispose()


def _read_active(reg: Register, project: str) -> list[tuple[str | None, str, str]]:
    with current_read(reg, [project]) as (s, changed):
        assert changed == []
        return [(w.unit, w.rule, w.level) for w in R.active_warnings(session=s, project=project)]


# ---- user mistakes: one line, exit 1 ----------------------------------------------------------


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from serving.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unknown_project_is_a_one_line_error(db_url: str) -> None:
    for args in (["export", "-f", "json", "-p", "NO-SUCH"], ["warnings", "-p", "NO-SUCH"]):
        out = run("register", *args, "--db", db_url)
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr == "error: project 'NO-SUCH' does not exist\n"


def test_a_bad_database_url_is_a_one_line_error() -> None:
    for args in (["export", "-f", "json", "-p", "P1"], ["warnings", "-p", "P1"], ["risk"]):
        out = run("register", *args, "--db", "mysql://x")
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("error: ") and "unsupported database" in out.stderr
        assert len(out.stderr.splitlines()) == 1
