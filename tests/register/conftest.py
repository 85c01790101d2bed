"""Register fixtures: every DB test runs on SQLite and on a fresh PostgreSQL database.

``db_url`` is module-scoped: one empty database per test module (PostgreSQL: created with a
random name and dropped with FORCE afterwards). Tests keep apart by unique project codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from register import DetectedDefect, Register, open_register

HERE = Path(__file__).resolve().parent


def _pg_admin(url: str):  # noqa: ANN202 - psycopg connection
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'register.db'}"
        return
    from sqlalchemy.engine import make_url

    base = request.getfixturevalue("pg_url")
    name = f"fs_test_{uuid.uuid4().hex[:12]}"
    with _pg_admin(base) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with _pg_admin(base) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def reg(db_url: str, tmp_path: Path) -> Iterator[Register]:
    r = open_register(db_url, photo_root=tmp_path / "photos")
    try:
        yield r
    finally:
        r.dispose()


@pytest.fixture
def project() -> str:
    return f"P{uuid.uuid4().hex[:8]}"


def _photo_bytes(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@pytest.fixture
def photo_bytes():  # noqa: ANN201
    """``photo_bytes(seed)``: a distinct small PNG (64x48) per seed, decodable by the report."""
    return _photo_bytes


@pytest.fixture
def det():  # noqa: ANN201
    """``det("crack", x0, y0, x1, y1, conf=0.8)`` → DetectedDefect."""

    def make(
        label: str, x0: float, y0: float, x1: float, y1: float, conf: float = 0.8
    ) -> DetectedDefect:
        return DetectedDefect(label, conf, (x0, y0, x1, y1))

    return make
