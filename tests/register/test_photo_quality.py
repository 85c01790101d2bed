"""A photo's exposure warnings in the register: stored, filled in later, shown in the report,
and the 0001 -> 0002 migration keeps older photos (as "not checked")."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

import register as R
from finishscan.errors import RegisterError
from register.db import current_revision, normalize_url
from register.models import Photo, Project, Unit

from .test_register import T0, record


def warnings_of(reg, photo_id: int) -> list[str] | None:  # noqa: ANN001
    with reg.session() as s:
        return R.get_photo(session=s, photo_id=photo_id).quality_warnings


def test_warnings_are_kept_and_filled_in_once(reg, project, photo_bytes) -> None:  # noqa: ANN001
    dark = record(reg, project, "U1", photo_bytes(1), [], quality_warnings=["dark"])
    assert warnings_of(reg, dark.photo_id) == ["dark"]
    old = record(reg, project, "U1", photo_bytes(2), [])  # a caller that did not check
    assert warnings_of(reg, old.photo_id) is None
    record(reg, project, "U1", photo_bytes(2), [], version="2", quality_warnings=[])
    assert warnings_of(reg, old.photo_id) == []  # checked now: fine
    record(reg, project, "U1", photo_bytes(2), [], version="3", quality_warnings=["dark"])
    assert warnings_of(reg, old.photo_id) == []  # what was checked first stays
    both = record(
        reg, project, "U2", photo_bytes(3), [], quality_warnings=["overexposed", "dark", "dark"]
    )
    with reg.session() as s:
        assert s.get(Photo, both.photo_id).quality_warnings == "dark,overexposed"


@pytest.mark.parametrize("bad", ["dark", ["Dark"], ["too dark"], ["x" * 41]])
def test_bad_warnings_write_nothing(reg, project, photo_bytes, bad) -> None:  # noqa: ANN001
    with pytest.raises(RegisterError, match="quality warnings"):
        record(reg, project, "U1", photo_bytes(4), [], quality_warnings=bad)
    with reg.session() as s:  # the database is shared: this test's project only
        mine = select(Photo).join(Unit).join(Project).where(Project.code == project)
        assert s.scalars(mine).all() == []


def test_report_tells_which_photos_were_too_dark(reg, project, photo_bytes) -> None:  # noqa: ANN001
    a = record(reg, project, "U1", photo_bytes(5), [], quality_warnings=["dark"])
    b = record(reg, project, "U1", photo_bytes(6), [], quality_warnings=[])
    with reg.session() as s:
        html = R.unit_report_html(session=s, store=reg.store, project=project, unit="U1", now=T0)
    assert f'data-photo-quality="{a.photo_id}"' in html
    assert f'data-photo-quality="{b.photo_id}"' not in html
    assert "Too dark to judge well (dark)" in html


def test_upgrade_from_0001_keeps_photos_as_not_checked(db_url: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}" if db_url.startswith("sqlite") else db_url
    schema = "q0001"
    if url.startswith("postgresql"):
        admin = create_engine(normalize_url(url))
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            c.execute(text(f"CREATE SCHEMA {schema}"))
        eng = create_engine(normalize_url(url), connect_args={"options": f"-csearch_path={schema}"})
    else:
        eng = R.make_engine(url)
    try:
        R.migrate(eng, "0001")
        assert "quality_warnings" not in {c["name"] for c in inspect(eng).get_columns("photo")}
        with eng.begin() as c:
            c.execute(
                text("INSERT INTO project (id, code, name, created_at) VALUES (1, 'P', 'P', :t)"),
                {"t": T0},
            )
            c.execute(
                text("INSERT INTO unit (id, project_id, code, created_at) VALUES (1, 1, 'U', :t)"),
                {"t": T0},
            )
            c.execute(
                text(
                    "INSERT INTO photo (id, unit_id, sha256, storage_path, size, width, height, "
                    "created_at) VALUES (1, 1, :sha, 'ab/cd', 10, 64, 48, :t)"
                ),
                {"sha": "ab" * 32, "t": T0},
            )
        R.migrate(eng)
        assert current_revision(eng) == "0002"
        with eng.connect() as c:
            rows = c.execute(text("SELECT id, width, quality_warnings FROM photo")).all()
        assert [tuple(r) for r in rows] == [(1, 64, None)]
        R.migrate(eng, "0001", downgrade=True)  # and back: the column goes, the photo stays
        assert "quality_warnings" not in {c["name"] for c in inspect(eng).get_columns("photo")}
        with eng.connect() as c:
            assert c.execute(text("SELECT count(*) FROM photo")).scalar() == 1
    finally:
        if url.startswith("postgresql"):
            with eng.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        eng.dispose()

