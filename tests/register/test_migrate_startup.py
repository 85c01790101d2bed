"""Opening the register migrates only a database that is behind; one at head is read, not locked.

The "lock" a migrator takes: SQLite's write lock (``BEGIN IMMEDIATE``), PostgreSQL's migration
advisory lock. While another connection holds it, commands on an up-to-date register still run
(and a migration would fail fast: a 1 s busy timeout / ``lock_timeout`` instead of waiting).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import register as R
import register.db as register_db
from register.db import current_revision, head_revision, migrate_if_behind
from serving.cli import app

runner = CliRunner()
READS = (
    ["migrate"],
    ["projects"],
    ["units", "-p", "{p}"],
    ["defects", "-p", "{p}", "-u", "U1"],
    ["warnings", "-p", "{p}"],
    ["risk"],
    ["export", "-p", "{p}"],
    ["export", "-p", "{p}", "-f", "json"],
)


def _fail_fast(url: str) -> str:
    """``url`` whose lock waits end after 1 s (PostgreSQL ``lock_timeout``)."""
    if not url.startswith("postgresql"):
        return url
    u = make_url(url)
    options = f"{u.query.get('options', '')} -c lock_timeout=1000".strip()
    return u.update_query_dict({"options": options}).render_as_string(hide_password=False)


@contextmanager
def _migration_lock_held(url: str) -> Iterator[None]:
    """Another connection holds what a migrator takes: SQLite's write lock, or PostgreSQL's
    migration advisory lock."""
    if url.startswith("sqlite"):
        c = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            c.rollback()
            c.close()
        return
    import psycopg

    plain = make_url(url).set(query={}).render_as_string(hide_password=False)  # same database
    with psycopg.connect(plain, autocommit=True) as c:
        c.execute("SELECT pg_advisory_lock(%s)", (register_db._MIGRATE_LOCK_KEY,))
        try:
            yield
        finally:
            c.execute("SELECT pg_advisory_unlock(%s)", (register_db._MIGRATE_LOCK_KEY,))


@pytest.fixture
def fresh_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A URL of a register nobody created or migrated yet: a new SQLite file, or on
    PostgreSQL a new schema of ``db_url``'s database (first on the ``search_path``)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    import psycopg

    schema = f"fresh_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
        try:
            options = {"options": f"-c search_path={schema}"}
            yield make_url(db_url).update_query_dict(options).render_as_string(hide_password=False)
        finally:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_only_a_database_behind_is_migrated(fresh_url: str) -> None:
    engine = R.make_engine(fresh_url)
    try:
        assert current_revision(engine) is None
        assert migrate_if_behind(engine) is True  # a new database is created and migrated
        assert current_revision(engine) == head_revision() == "0002"
        assert migrate_if_behind(engine) is False  # at head: only read
        R.migrate(engine, "base", downgrade=True)
        assert current_revision(engine) is None
        assert migrate_if_behind(engine) is True  # behind again: upgraded
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


def test_read_commands_run_while_another_connection_holds_the_migration_lock(
    reg: R.Register,
    db_url: str,
    project: str,
    photo_bytes: Callable[[int], bytes],
    det: Callable[..., R.DetectedDefect],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with reg.session() as s:
        R.record_photos(
            session=s,
            store=reg.store,
            rules=reg.rules,
            items=[
                R.PhotoInput(project, "U1", photo_bytes(4101), 64, 48, [det("crack", 1, 2, 30, 20)])
            ],
            model_name="m",
            model_version="1",
        )
    monkeypatch.setattr(register_db, "SQLITE_BUSY_TIMEOUT_S", 1.0)
    url = _fail_fast(db_url)
    with _migration_lock_held(db_url):
        outs = {
            " ".join(args): runner.invoke(
                app, ["register", *(a.format(p=project) for a in args), "--db", url]
            )
            for args in READS
        }
    failed = {k: (o.exit_code, o.output) for k, o in outs.items() if o.exit_code != 0}
    assert failed == {}
    assert "register schema is up to date" in outs["migrate"].output
    assert outs["units -p {p}"].output.split("\t")[:2] == ["U1", "1"]
    assert [json.loads(x)["label"] for x in outs["defects -p {p} -u U1"].output.splitlines()] == [
        "crack"
    ]


def _cli_procs(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run the CLI ``commands`` as processes at the same time; their results (a failure after 180 s)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from serving.cli import main; main()", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    ]
    try:
        done = []
        for p, args in zip(procs, commands, strict=True):
            out, err = p.communicate(timeout=180)
            done.append(subprocess.CompletedProcess(args, p.returncode, out, err))
        return done
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.mark.slow
def test_two_cli_processes_on_a_new_database_both_migrate_it_once(fresh_url: str) -> None:
    done = _cli_procs(*[["register", "migrate", "--db", fresh_url]] * 2)
    assert [(d.returncode, d.stdout) for d in done] == [
        (0, "register schema is up to date\n")
    ] * 2, [d.stderr[-2000:] for d in done]
    engine = R.make_engine(fresh_url)
    try:
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


@pytest.mark.slow
def test_two_cli_processes_on_an_up_to_date_database_take_no_migration_lock(
    fresh_url: str,
) -> None:
    R.open_register(fresh_url).dispose()
    project = f"P{uuid.uuid4().hex[:8]}"
    url = _fail_fast(fresh_url)
    assert runner.invoke(app, ["register", "create-project", project, "--db", url]).exit_code == 0
    with _migration_lock_held(fresh_url):
        done = _cli_procs(
            ["register", "migrate", "--db", url], ["register", "units", "-p", project, "--db", url]
        )
    assert [d.returncode for d in done] == [0, 0], [d.stderr[-2000:] for d in done]
    assert done[0].stdout == "register schema is up to date\n"
    assert done[1].stdout == ""  # the project has no units yet


def _open(url: str, ready: Any, errors: Any) -> None:
    engine = register_db.make_engine(url)
    ready.wait()
    try:
        with engine.connect():
            pass
    except Exception as e:  # noqa: BLE001 - reported to the test
        errors.put(str(e)[:200])
    finally:
        engine.dispose()


def test_processes_opening_a_new_sqlite_file_together_all_connect(tmp_path: Path) -> None:
    # The journal-mode switch to WAL needs the file to itself and SQLite runs no busy handler
    # for it: before the engine retried it, about 1 round in 10 here had a process fail with
    # "database is locked" (the two-process CLI test above failed in CI that way).
    ctx = mp.get_context("fork")
    for k in range(30):
        url = f"sqlite:///{tmp_path}/fresh{k}.db"
        ready, errors = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, ready, errors)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
        assert errors.empty(), errors.get()
        with sqlite3.connect(f"{tmp_path}/fresh{k}.db") as c:
            assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
