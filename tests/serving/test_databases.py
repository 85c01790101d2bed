"""The service on both register backends: SQLite and a fresh PostgreSQL database.

Includes the race a phone app makes when it retries: the same photo posted several times at
once must end as one photo (one 201, the rest 200 with the same id) and one set of defects.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import Settings


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'r.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    base = request.getfixturevalue("pg_url")
    name = f"fs_serving_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_full_flow_and_concurrent_duplicate_uploads(
    db_url, tmp_path, fake_detector, make_photo
) -> None:
    from register import create_api_key, open_register

    reg = open_register(db_url, photo_root=tmp_path / "photos")
    try:
        with reg.session() as s:
            _, key = create_api_key(session=s, project="Q1", role="supervisor")
        h = {"Authorization": f"Bearer {key}"}
        app = create_app(Settings(db=db_url), detector=fake_detector, register=reg)
        with TestClient(app) as c:
            data = make_photo([("crack", 0.9), ("tile_chip", 0.6)], seed=42)

            def post(_):
                return c.post(
                    "/v1/projects/Q1/units/9-9-0909/photos",
                    headers=h,
                    files={"file": ("a.png", data, "image/png")},
                )

            with ThreadPoolExecutor(4) as pool:
                responses = list(pool.map(post, range(4)))
            codes = sorted(r.status_code for r in responses)
            assert codes == [200, 200, 200, 201], [r.text for r in responses]
            assert len({r.json()["photo_id"] for r in responses}) == 1
            defects = c.get("/v1/projects/Q1/units/9-9-0909/defects", headers=h).json()
            assert sorted(d["label"] for d in defects) == ["crack", "tile_chip"]

            crack = next(d["id"] for d in defects if d["label"] == "crack")
            assert [w["rule"] for w in c.get("/v1/projects/Q1/warnings", headers=h).json()] == [
                "label:crack"
            ]
            assert (
                c.patch(f"/v1/defects/{crack}", headers=h, json={"status": "rejected"}).status_code
                == 200
            )
            assert c.get("/v1/projects/Q1/warnings", headers=h).json() == []
            assert c.get("/readyz").status_code == 200
    finally:
        reg.dispose()
