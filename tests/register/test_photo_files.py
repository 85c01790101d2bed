"""Photo files and rows stay consistent when the database write fails (SQLite and PostgreSQL).

A failed transaction removes the files it stored, never one a row refers to (the store is
content-addressed, so an earlier upload may own the same file) nor one another transaction is
storing right now.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

import register as R
from finishscan.errors import RegisterError
from register.models import Photo, Project
from register.store import sha256_hex


def record(s, reg, project, unit, data):  # noqa: ANN001, ANN201
    return R.record_photo(
        session=s,
        store=reg.store,
        rules=reg.rules,
        project=project,
        unit=unit,
        data=data,
        width=64,
        height=48,
        defects=[R.DetectedDefect("crack", 0.9, (1, 1, 9, 9))],
        model_name="fs",
        model_version="1",
    )


def photos_of(reg, sha: str) -> int:  # noqa: ANN001
    with reg.session(readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(Photo).where(Photo.sha256 == sha)))


def test_a_constraint_error_removes_the_file_the_transaction_stored(
    reg, project, photo_bytes
) -> None:  # noqa: ANN001
    data = photo_bytes(900)
    sha = sha256_hex(data)
    with reg.session() as s:  # the project exists: inserting it again breaks a constraint
        R.ensure_project(session=s, code=project)
    with pytest.raises(RegisterError, match="register database error"), reg.session() as s:
        record(s, reg, project, "u1", data)
        assert reg.store.path(sha).exists()  # stored, not yet committed
        s.add(Project(code=project, name="again"))
        s.flush()
    assert not reg.store.path(sha).exists()
    assert reg.store.files() == [] and photos_of(reg, sha) == 0
    # the same upload afterwards works and stores the file again
    with reg.session() as s:
        assert record(s, reg, project, "u1", data).created
    assert reg.store.read(sha) == data and photos_of(reg, sha) == 1


def test_an_error_after_recording_removes_the_file(reg, project, photo_bytes) -> None:  # noqa: ANN001
    """E.g. the service fails after ``record_photo`` but before the commit."""
    data = photo_bytes(901)
    with pytest.raises(ValueError, match="later step"), reg.session() as s:
        record(s, reg, project, "u1", data)
        raise ValueError("a later step failed")
    assert not reg.store.path(sha256_hex(data)).exists()


def test_a_failed_batch_removes_every_file_it_stored(reg, project, photo_bytes) -> None:  # noqa: ANN001
    items = [R.PhotoInput(project, "u1", photo_bytes(902 + i), 64, 48) for i in range(2)]
    items.append(R.PhotoInput("", "u1", photo_bytes(904), 64, 48))  # no project code
    with pytest.raises(RegisterError, match="project code"), reg.session() as s:
        R.record_photos(
            session=s,
            store=reg.store,
            rules=reg.rules,
            items=items,
            model_name="fs",
            model_version="1",
        )
    assert reg.store.files() == []


def test_a_failed_write_keeps_a_file_an_earlier_upload_stored(reg, project, photo_bytes) -> None:  # noqa: ANN001
    data, new = photo_bytes(905), photo_bytes(906)
    with reg.session() as s:
        first = record(s, reg, project, "u1", data)
    with pytest.raises(ValueError), reg.session() as s:
        record(s, reg, project, "u2", data)  # the same bytes, another unit: file already there
        record(s, reg, project, "u2", new)  # a new file, created by this transaction
        raise ValueError("fail")
    assert reg.store.read(sha256_hex(data)) == data  # the earlier upload's file is intact
    assert not reg.store.path(sha256_hex(new)).exists()
    assert reg.store.files() == [sha256_hex(data)]
    with reg.session(readonly=True) as s:
        assert R.get_photo(session=s, photo_id=first.photo_id).unit == "u1"
        assert R.unit_photos(session=s, project=project, unit="u1")[0].defects[0].label == "crack"


def test_a_file_another_writer_committed_meanwhile_is_kept(reg, project, photo_bytes) -> None:  # noqa: ANN001
    """A stores the file and fails; B (another project, same bytes, its own thread) commits.
    Whichever order their transactions take, B's photo keeps its file."""
    data = photo_bytes(907)
    b_done = threading.Event()
    errors: list[BaseException] = []

    def writer_b() -> None:
        try:
            with reg.session() as s:
                record(s, reg, project + "b", "u1", data)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        b_done.set()

    t = threading.Thread(target=writer_b)
    with pytest.raises(ValueError), reg.session() as s:
        record(s, reg, project, "u1", data)
        t.start()  # on SQLite B queues behind A's write lock; on PostgreSQL it commits now
        if reg.engine.dialect.name == "postgresql":
            assert b_done.wait(30)
        raise ValueError("A fails")
    t.join(30)
    assert not errors and b_done.is_set()
    assert reg.store.read(sha256_hex(data)) == data
    assert photos_of(reg, sha256_hex(data)) == 1


def test_a_file_another_writer_is_storing_right_now_is_kept(
    reg, project, photo_bytes, db_url
) -> None:  # noqa: ANN001
    """A stores the file, B (another project) is storing the same bytes in an open
    transaction when A fails: A must not remove the file B's row will refer to."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite writers never overlap (BEGIN IMMEDIATE)")
    data = photo_bytes(908)
    with reg.session() as b:
        with pytest.raises(ValueError), reg.session() as a:
            record(a, reg, project, "u1", data)
            record(b, reg, project + "b", "u1", data)  # B: the file is there; not committed
            raise ValueError("A fails")
        assert reg.store.path(sha256_hex(data)).exists()
    assert reg.store.read(sha256_hex(data)) == data
    assert photos_of(reg, sha256_hex(data)) == 1
    # gc-photos skips it too: it is referenced now
    with reg.session() as s:
        assert R.unreferenced_photos(session=s, store=reg.store, min_age_s=0, delete=True) == []


def test_a_lost_connection_at_commit_removes_the_file(
    reg, project, photo_bytes, db_url, pg_url
) -> None:  # noqa: ANN001
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: the server ends the connection")
    import psycopg

    data = photo_bytes(909)
    with pytest.raises(RegisterError), reg.session() as s:
        record(s, reg, project, "u1", data)
        pid = s.scalar(text("SELECT pg_backend_pid()"))
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    assert not reg.store.path(sha256_hex(data)).exists()
    assert photos_of(reg, sha256_hex(data)) == 0


def test_gc_photos_still_finds_files_a_killed_process_left(
    reg, project, photo_bytes, tmp_path: Path
) -> None:  # noqa: ANN001
    orphan = reg.store.put(photo_bytes(910))  # stored, then the process died: no row, no undo
    with reg.session() as s:
        record(s, reg, project, "u1", photo_bytes(911))
    with reg.session() as s:
        assert R.unreferenced_photos(session=s, store=reg.store, min_age_s=0, delete=True) == [
            orphan
        ]
    assert reg.store.files() == [sha256_hex(photo_bytes(911))]
