"""Two real processes writing to one register at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

import register as R
from register.db import current_revision
from register.models import Defect, Unit

WORKER = Path(__file__).resolve().parent / "_worker.py"
RULES_YAML = "unit:\n  open_defects: {amber: 3}\n  labels: {}\nproject: {}\n"


def _spawn(spec: dict) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(p: subprocess.Popen[str]) -> dict:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1])


def _run_two(db_url: str, tmp_path: Path, project: str, jobs: list[list[list]]) -> list[int]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    go = tmp_path / "go"
    procs = [
        _spawn(
            {
                "url": db_url,
                "photo_root": str(tmp_path / "photos"),
                "rules_path": str(rules),
                "go": str(go),
                "mode": "record",
                "project": project,
                "jobs": j,
            }
        )
        for j in jobs
    ]
    for p in procs:  # both migrated and connected before the start signal
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    results = [_finish(p) for p in procs]
    return results[0]["ids"] + results[1]["ids"]


@pytest.mark.slow
def test_two_processes_same_unit_lose_nothing_and_raise_one_warning(
    reg, db_url, tmp_path, project
) -> None:  # noqa: ANN001
    n = 10
    ids = _run_two(
        db_url,
        tmp_path,
        project,
        [[["3-2-1701", k * 1000 + i] for i in range(n)] for k in range(2)],
    )
    assert len(ids) == len(set(ids)) == 2 * n * 2
    with reg.session() as s:
        unit_id = s.scalar(
            select(Unit.id).where(Unit.code == "3-2-1701", Unit.project.has(code=project))
        )
        assert (
            s.scalar(select(func.count()).select_from(Defect).where(Defect.unit_id == unit_id))
            == 4 * n
        )
        assert R.unit_summary(session=s, project=project, unit="3-2-1701").open_defects == 4 * n
        every = R.warning_history(session=s, project=project)
        assert [(w.unit, w.rule, w.level, w.cleared_at) for w in every] == [
            ("3-2-1701", "open_defects", "amber", None)
        ]
        assert [kind for _, kind, _, _ in R.warning_events(session=s, project=project)] == [
            "raised"
        ]


@pytest.mark.slow
def test_two_processes_in_lockstep_each_unit_warned_exactly_once(
    reg, db_url, tmp_path, project
) -> None:  # noqa: ANN001
    """Each process adds one photo (2 defects) to each of the same units in the same order:
    only together do they reach the amber threshold (3), so every unit must end with exactly
    one warning. Without serialization the two transactions would each see 2 defects and
    raise none (or both raise one and collide)."""
    units = [f"u{i:02d}" for i in range(15)]
    for i, u in enumerate(
        units
    ):  # the units exist beforehand (creating a unit row serializes by itself)
        with reg.session() as s:
            R.record_photo(
                session=s,
                store=reg.store,
                rules=reg.rules,
                project=project,
                unit=u,
                data=f"empty {i}".encode(),
                width=1,
                height=1,
                defects=[],
                model_name="fs",
                model_version="1",
            )
    ids = _run_two(
        db_url,
        tmp_path,
        project,
        [[[u, k * 1000 + i] for i, u in enumerate(units)] for k in range(2)],
    )
    assert len(set(ids)) == 4 * len(units)
    with reg.session() as s:
        assert [
            (u.unit, u.open_defects, u.warning) for u in R.list_units(session=s, project=project)
        ] == [(u, 4, "amber") for u in units]
        every = R.warning_history(session=s, project=project)
        assert sorted((w.unit, w.rule) for w in every) == [(u, "open_defects") for u in units]
        assert [kind for _, kind, _, _ in R.warning_events(session=s, project=project)] == [
            "raised"
        ] * len(units)


@pytest.mark.slow
def test_two_processes_migrate_an_empty_database_at_once(db_url, tmp_path) -> None:  # noqa: ANN001
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
        drop = None
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"fs_mig_{uuid.uuid4().hex[:10]}"
        admin = make_url(db_url).render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
        drop = (admin, name)
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    go = tmp_path / "go"
    try:
        procs = [
            _spawn(
                {
                    "url": url,
                    "photo_root": str(tmp_path),
                    "rules_path": str(rules),
                    "go": str(go),
                    "mode": "open",
                }
            )
            for _ in range(2)
        ]
        go.touch()
        assert all(_finish(p)["ok"] for p in procs)
        r = R.open_register(url, photo_root=tmp_path)
        assert current_revision(r.engine) == "0002"
        r.dispose()
    finally:
        if drop is not None:
            import psycopg

            with psycopg.connect(drop[0], autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')
