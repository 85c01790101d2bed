"""Opening the register: engine (SQLite WAL or PostgreSQL via psycopg 3), migrations, sessions.

    reg = open_register("sqlite:///register.db")     # or None → FINISHSCAN_DB, else embedded SQLite
    with reg.session() as s:                         # one transaction: commit, or rollback on error
        ensure_project(session=s, code="P1")
    reg.dispose()

Every SQLite transaction starts with ``BEGIN IMMEDIATE`` (writers queue on the busy timeout
instead of failing half-way); on PostgreSQL writers lock the project row (``FOR UPDATE``).
A session that fails removes the photo files it stored (unless a row refers to them), so
the store and the database stay consistent.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from finishscan.errors import ConfigError, RegisterError
from finishscan.paths import data_dir, default_db_url
from register.repository.photos import discard_if_unreferenced, forget_new_photo_files
from register.rules import Rules, load_rules
from register.store import PhotoStore

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 60.0
_MIGRATE_LOCK_KEY = 0x66_69_6E_69  # pg advisory lock id ("fini")
_migrate_mutex = threading.Lock()
_READONLY = "finishscan_readonly"
log = logging.getLogger("finishscan.register")


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` → ``postgresql+psycopg://`` (psycopg 3); others unchanged."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def _journal_wal(cur: Any, timeout: float = SQLITE_BUSY_TIMEOUT_S) -> None:
    """Put a SQLite file in WAL mode. The switch needs the file to itself and SQLite runs no
    busy handler for it, so a second process opening a new file at the same moment got
    "database is locked" at once: the mode is read first (WAL stays with the file, so later
    opens take no lock), and a refused switch is tried again with backoff within ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode = WAL")  # ':memory:' stays 'memory'
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(2 * delay, 0.25)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, a busy timeout and BEGIN IMMEDIATE."""
    try:
        u = make_url(normalize_url(url))
    except ArgumentError as e:
        raise ConfigError(f"not a database URL: {url!r}") from e
    if u.get_backend_name() == "sqlite":
        db = u.database or ""
        if db and db != ":memory:" and not db.startswith("file:"):
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            _journal_wal(cur)
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # read-only sessions read a WAL snapshot without queueing behind writers
            readonly = conn.get_execution_options().get(_READONLY, False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    if u.get_backend_name() == "postgresql":
        return create_engine(u, pool_pre_ping=True)
    raise ConfigError(
        f"unsupported database {u.get_backend_name()!r}: use sqlite:/// or postgresql://"
    )


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Upgrade (or with ``downgrade=True`` downgrade, e.g. to ``"base"``) the schema to
    ``revision`` with Alembic, in one transaction; idempotent and safe to run concurrently
    (a PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE`` serializes migrators)."""
    from alembic import command

    cfg = _alembic_config()
    with _migrate_mutex, engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK_KEY})
        cfg.attributes["connection"] = conn
        (command.downgrade if downgrade else command.upgrade)(cfg, revision)


@functools.cache
def head_revision() -> str | None:
    """The newest schema revision this code knows (what ``migrate`` upgrades to)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: never migrated), read in a read-only transaction:
    no SQLite write lock, ``READ ONLY`` on PostgreSQL."""
    from alembic.runtime.migration import MigrationContext

    with engine.execution_options(**{_READONLY: True}).connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION READ ONLY"))
        return MigrationContext.configure(conn).get_current_revision()


def migrate_if_behind(engine: Engine) -> bool:
    """Upgrade to head only when the database is behind (True if it ran): a database already
    at head is checked read-only and never locked, so opening it does not queue behind
    writers. Concurrent openers of a new database are serialized by :func:`migrate`."""
    if current_revision(engine) == head_revision():
        return False
    migrate(engine)
    return True


class Register:
    """An open register: ``session()``, the photo ``store`` and the warning ``rules``."""

    def __init__(self, engine: Engine, store: PhotoStore, rules: Rules, url: str) -> None:
        self.engine = engine
        self.store = store
        self.rules = rules
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._ro_sessions = sessionmaker(
            engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any exception.

        ``readonly=True`` (for GET-style reads): on SQLite a plain deferred snapshot that does
        not wait for writers; on PostgreSQL ``SET TRANSACTION READ ONLY`` (writes are refused).
        Database failures surface as RegisterError (finishscan errors pass through unchanged).
        """
        s = (self._ro_sessions if readonly else self._sessions)()
        if readonly and self.engine.dialect.name == "postgresql":
            s.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield s
            s.commit()
            forget_new_photo_files(s)
        except SQLAlchemyError as e:
            s.rollback()
            self._discard_new_files(s)
            raise RegisterError(f"register database error: {_one_line(e)}") from e
        except Exception:
            s.rollback()
            self._discard_new_files(s)
            raise
        except BaseException:
            s.rollback()  # interrupted: files it stored are left to ``gc-photos``
            raise
        finally:
            s.close()

    def _discard_new_files(self, failed: Session) -> None:
        """Remove the photo files the rolled-back ``failed`` session stored, except those a
        row refers to or another writer is storing (one short transaction). When that is not
        possible (database down) the files stay, logged, for ``finishscan register gc-photos``."""
        files = forget_new_photo_files(failed)
        if not files:
            return
        try:
            with self.session() as s:
                for store, sha in files:
                    discard_if_unreferenced(session=s, store=store, sha=sha)
        except Exception as e:  # never hide the write's own error
            shas = ", ".join(sha[:12] for _, sha in files)
            log.warning("photo file(s) %s of a failed write kept: %s", shas, e)

    def ping(self) -> None:
        """RegisterError unless the database answers (for readiness checks)."""
        try:
            with self.engine.connect() as c:
                c.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as e:
            raise RegisterError(f"register database unreachable: {_one_line(e)}") from e

    def dispose(self) -> None:
        self.engine.dispose()


def _one_line(e: Exception) -> str:
    if isinstance(e, DBAPIError) and e.orig is not None:
        return str(e.orig).strip().splitlines()[0]
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def open_register(
    url: str | None = None,
    *,
    photo_root: Path | None = None,
    rules_path: Path | None = None,
    rules: Rules | None = None,
) -> Register:
    """Open (creating and migrating to head) the register at ``url``; one already at head is
    only read (:func:`migrate_if_behind`).

    ``url``: None → ``$FINISHSCAN_DB``, else ``sqlite:///<data_dir>/register.db``.
    ``photo_root``: default ``<db dir>/photos`` for SQLite files, else ``<data_dir>/photos``.
    ``rules`` (already built) wins over ``rules_path`` (default ``configs/warnings.yaml``).
    """
    url = url or default_db_url()
    rules = rules if rules is not None else load_rules(rules_path)
    engine = make_engine(url)
    try:
        migrate_if_behind(engine)
    except SQLAlchemyError as e:
        engine.dispose()
        raise RegisterError(f"cannot open the register at {_safe(url)}: {_one_line(e)}") from e
    if photo_root is None:
        u = engine.url
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
            photo_root = Path(u.database).expanduser().resolve().parent / "photos"
        else:
            photo_root = data_dir() / "photos"
    return Register(engine, PhotoStore(Path(photo_root)), rules, url)


def _safe(url: str) -> str:
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<bad url>"
