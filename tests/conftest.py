"""Shared test fixtures. Paths come from this file's location, never the CWD."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

try:  # property tests: a machine busy with training must not fail them for being slow
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "finishscan", deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("finishscan")
except ImportError:
    pass


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_model() -> Path:
    from finishscan.paths import MODELS

    name = (MODELS / "DEFAULT").read_text().strip()
    return MODELS / name


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A real PostgreSQL URL (``$FINISHSCAN_TEST_PG_URL``); skipped only when none is reachable."""
    url = os.environ.get("FINISHSCAN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as e:  # pragma: no cover - depends on the machine
        if os.environ.get("CI"):
            raise  # CI starts PostgreSQL: failing to reach it there is a failure, not a skip
        pytest.skip(f"PostgreSQL not reachable at {url}: {e}")
    return url
