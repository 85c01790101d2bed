"""The service's periodic warning refresh: an overdue warning appears with no upload.

The clock is injected (``create_app(clock=...)``) and the interval is a few hundredths of a
second, so a test moves time by a day and only waits for the next sweep (polled briefly).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from finishscan.errors import RegisterError
from serving.app import create_app
from serving.settings import Settings

TICK_S = 0.02


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FlakyRegister:
    """The real register, except that while ``down`` every session fails like an
    unreachable database; counts the sessions opened (``sessions``)."""

    def __init__(self, reg: Any) -> None:
        self._reg = reg
        self.down = False
        self.sessions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reg, name)

    def session(self, **kw: Any) -> Any:
        self.sessions += 1
        if self.down:
            raise RegisterError("register database error: connection refused")
        return self._reg.session(**kw)


def until(cond: Callable[[], Any], what: str, timeout_s: float = 20.0) -> Any:
    """Poll ``cond`` every 20 ms until it is truthy (fails after ``timeout_s``)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if got := cond():
            return got
        time.sleep(TICK_S)
    pytest.fail(f"timed out waiting for {what}")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def every(app_settings: Settings, refresh_s: float) -> Settings:
    return app_settings.model_copy(update={"warnings_refresh_s": refresh_s})


def warnings_of(client: TestClient, key: str) -> list[dict]:
    r = client.get("/v1/projects/P1/warnings", headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()


def test_an_overdue_warning_appears_after_the_deadline_with_no_upload(
    app_settings, fake_detector, register_db, keys, make_photo
) -> None:  # noqa: ANN001
    start = datetime.now(UTC)
    clock = Clock(start)
    app = create_app(
        every(app_settings, TICK_S), detector=fake_detector, register=register_db, clock=clock
    )
    with TestClient(app) as client:
        # a tile chip is minor: due 24 h after the upload (the upload itself uses real time)
        r = client.post(
            "/v1/projects/P1/units/3-2-1701/photos",
            headers=auth(keys["p1_inspector"]),
            files={"file": ("a.png", make_photo([("tile_chip", 0.9)]), "image/png")},
        )
        assert r.status_code == 201, r.text
        assert r.json()["unit"]["warning"] == "none"
        (deadline,) = [
            datetime.fromisoformat(d["deadline"])
            for d in client.get(
                "/v1/projects/P1/units/3-2-1701/defects", headers=auth(keys["p1_inspector"])
            ).json()
        ]
        assert warnings_of(client, keys["p1_inspector"]) == []

        clock.now = deadline + timedelta(minutes=1)  # nobody writes; time passes
        (w,) = until(lambda: warnings_of(client, keys["p1_inspector"]), "the overdue warning")
        assert (w["unit"], w["level"], w["rule"], w["detail"]) == (
            None,
            "amber",
            "overdue",
            "1 overdue defects",
        )
        assert datetime.fromisoformat(w["raised_at"]) == clock.now  # dated by the injected clock

        # repaired (a write) → the writer clears it; the sweep does not raise it again
        did = client.get(
            "/v1/projects/P1/units/3-2-1701/defects", headers=auth(keys["p1_supervisor"])
        ).json()[0]["id"]
        for to in ("rectifying", "rectified"):
            r = client.patch(
                f"/v1/defects/{did}", headers=auth(keys["p1_supervisor"]), json={"status": to}
            )
            assert r.status_code == 200, r.text
        assert warnings_of(client, keys["p1_inspector"]) == []


def test_a_database_error_is_logged_and_the_refresh_goes_on(
    app_settings, fake_detector, register_db, keys, caplog, make_photo
) -> None:  # noqa: ANN001
    from register import DetectedDefect, record_photo

    past = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)  # overdue since 2020-01-07
    with register_db.session() as s:
        record_photo(
            session=s,
            store=register_db.store,
            rules=register_db.rules,
            project="P1",
            unit="1-1-101",
            data=make_photo([("tile_chip", 0.9)], seed=5),
            width=128,
            height=96,
            defects=[DetectedDefect("tile_chip", 0.9, (1, 1, 9, 9))],
            model_name="fake",
            model_version="1",
            now=past,
        )
    flaky = FlakyRegister(register_db)
    flaky.down = True
    app = create_app(
        every(app_settings, TICK_S),
        detector=fake_detector,
        register=flaky,
        clock=lambda: datetime.now(UTC),
    )
    with caplog.at_level(logging.ERROR, logger="finishscan.serving"), TestClient(app) as client:
        until(
            lambda: any("warning refresh skipped" in m for m in caplog.messages),
            "the logged database error",
        )
        assert any("connection refused" in m for m in caplog.messages)
        flaky.down = False  # the database is back: the next sweep raises the warning
        (w,) = until(lambda: warnings_of(client, keys["p1_inspector"]), "the overdue warning")
        assert (w["rule"], w["level"]) == ("overdue", "amber")
    # shut down: the refresh stopped with the app and opens no more sessions
    after = flaky.sessions
    time.sleep(10 * TICK_S)
    assert flaky.sessions == after


def test_zero_turns_the_periodic_refresh_off(app_settings, fake_detector, register_db) -> None:  # noqa: ANN001
    flaky = FlakyRegister(register_db)
    app = create_app(every(app_settings, 0), detector=fake_detector, register=flaky)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(10 * TICK_S)  # ten would-be intervals of the other tests
        assert flaky.sessions == 0


def test_the_refresh_interval_setting(monkeypatch) -> None:  # noqa: ANN001
    assert Settings().warnings_refresh_s == 900.0
    monkeypatch.setenv("FINISHSCAN_WARNINGS_REFRESH_S", "0")
    assert Settings().warnings_refresh_s == 0.0
    with pytest.raises(ValidationError, match="warnings_refresh_s"):
        Settings(warnings_refresh_s=-1)


# ---- a read of the warnings is current; every raise is counted ------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path):  # noqa: ANN001
    """``(register, keys)`` on a fresh SQLite file or a fresh PostgreSQL database, project P1."""
    import uuid

    from register import create_api_key, ensure_project, open_register

    url, name = f"sqlite:///{tmp_path / 'r.db'}", None
    if request.param == "postgres":
        import psycopg
        from sqlalchemy.engine import make_url

        base = request.getfixturevalue("pg_url")
        name = f"fs_warnread_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    reg = open_register(url, photo_root=tmp_path / "photos")
    keys = {}
    with reg.session() as s:
        ensure_project(session=s, code="P1", name="Riverside phase 1")
        _, keys["p1_inspector"] = create_api_key(session=s, project="P1", role="inspector")
    try:
        yield reg, keys
    finally:
        reg.dispose()
        if name is not None:
            with psycopg.connect(base, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def raised_metric(client: TestClient, level: str = "amber") -> float:
    """``finishscan_warnings_raised_total{level=...}`` (0 before the first one)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'finishscan_warnings_raised_total{{level="{level}"}} '):
            return float(line.split()[-1])
    return 0.0


def upload_chip(client: TestClient, key: str, photo: bytes) -> datetime:
    """Upload a photo with one tile chip (minor: due 24 h later); returns its deadline."""
    r = client.post(
        "/v1/projects/P1/units/3-2-1701/photos",
        headers=auth(key),
        files={"file": ("a.png", photo, "image/png")},
    )
    assert r.status_code == 201, r.text
    (d,) = client.get("/v1/projects/P1/units/3-2-1701/defects", headers=auth(key)).json()
    return datetime.fromisoformat(d["deadline"])


def test_a_warning_that_fell_due_is_in_the_next_read_without_a_sweep(
    app_settings, fake_detector, backend, make_photo
) -> None:  # noqa: ANN001
    from register import warning_events

    reg, keys = backend
    key = keys["p1_inspector"]
    clock = Clock(datetime.now(UTC))
    # the periodic sweep is off: only the read can bring the warning
    app = create_app(every(app_settings, 0), detector=fake_detector, register=reg, clock=clock)
    with TestClient(app) as client:
        deadline = upload_chip(client, key, make_photo([("tile_chip", 0.9)]))
        assert warnings_of(client, key) == []
        assert raised_metric(client) == 0.0

        clock.now = deadline + timedelta(minutes=1)
        (w,) = warnings_of(client, key)  # at once: no sweep ran, none will
        assert (w["unit"], w["level"], w["rule"]) == (None, "amber", "overdue")
        assert datetime.fromisoformat(w["raised_at"]) == clock.now
        assert raised_metric(client) == 1.0

        # read again (and later): the same warning, not raised or counted twice
        assert warnings_of(client, key) == [w]
        clock.now += timedelta(hours=1)
        assert warnings_of(client, key) == [w]
        assert raised_metric(client) == 1.0
    with reg.session() as s:
        kinds = [kind for _, kind, _, _ in warning_events(session=s, project="P1")]
    assert kinds == ["raised"]  # recorded once, as a writer records it


def test_the_metrics_count_the_warnings_the_sweep_raises(
    app_settings, fake_detector, backend, make_photo
) -> None:  # noqa: ANN001
    reg, keys = backend
    key = keys["p1_inspector"]
    clock = Clock(datetime.now(UTC))
    app = create_app(every(app_settings, TICK_S), detector=fake_detector, register=reg, clock=clock)
    with TestClient(app) as client:
        deadline = upload_chip(client, key, make_photo([("tile_chip", 0.9)]))
        assert raised_metric(client) == 0.0
        clock.now = deadline + timedelta(minutes=1)
        # nobody reads the warnings: only the sweep can raise (and count) it
        until(lambda: raised_metric(client) == 1.0, "the sweep's raise in the metrics")
        (w,) = warnings_of(client, key)
        assert (w["rule"], w["level"]) == ("overdue", "amber")
        assert datetime.fromisoformat(w["raised_at"]) == clock.now
        assert raised_metric(client) == 1.0  # the read found it current: nothing more counted


# ---- unit reads agree with the list, at the same clock --------------------------------------

UNIT = "3-2-1701"


def unit_reads(client: TestClient, key: str) -> dict[str, Any]:
    """What the unit's pages show: the unit summary, its row of the unit list, and from its
    report the warning badge, the active warnings' rules and the defects marked overdue."""
    page = client.get(f"/v1/projects/P1/units/{UNIT}", headers=auth(key))
    listed = client.get("/v1/projects/P1/units", headers=auth(key))
    report = client.get(f"/v1/projects/P1/units/{UNIT}/report?embed=1", headers=auth(key))
    for r in (page, listed, report):
        assert r.status_code == 200, r.text
    html = report.text
    (badge,) = re.findall(r'id="warning-level">(\w+)<', html)
    table = (
        html.split('<table id="warnings">', 1)[1].split("</table>", 1)[0]
        if 'id="warnings"' in html
        else ""
    )
    active = sorted(
        re.findall(r"<td>([\w:]+)</td><td>[^<]*</td>\s*<td>[^<]*</td><td>active</td>", table)
    )
    overdue = sorted(
        int(did)
        for did, row in re.findall(r'<tr id="defect-(\d+)">(.*?)</tr>', html, flags=re.S)
        if "(overdue)" in row
    )
    return {
        "page": page.json(),
        "row": [u for u in listed.json() if u["unit"] == UNIT],
        "badge": badge,
        "active_rules": active,
        "overdue": overdue,
    }


def test_unit_pages_agree_with_the_warnings_list_after_time_passes(
    app_settings, fake_detector, backend, make_photo
) -> None:  # noqa: ANN001
    """A crack (unit rule: amber) and a tile chip (minor: due in 24 h) in one unit; a day
    later, with no sweep and no write, the overdue warning is the project's: the unit pages
    show the unit's warnings exactly as the list does and mark the chip overdue at the
    service's clock, before and after the list is read; reading them writes nothing."""
    from register import warning_events

    reg, keys = backend
    key = keys["p1_inspector"]
    clock = Clock(datetime.now(UTC))
    app = create_app(every(app_settings, 0), detector=fake_detector, register=reg, clock=clock)
    with TestClient(app) as client:
        r = client.post(
            f"/v1/projects/P1/units/{UNIT}/photos",
            headers=auth(key),
            files={
                "file": ("a.png", make_photo([("crack", 0.9), ("tile_chip", 0.8)]), "image/png")
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["unit"] == {"unit": UNIT, "open_defects": 2, "warning": "amber"}
        defects = client.get(f"/v1/projects/P1/units/{UNIT}/defects", headers=auth(key)).json()
        (chip,) = [d for d in defects if d["label"] == "tile_chip"]
        expected_page = {
            "unit": UNIT,
            "open_defects": 2,
            "defects_by_label": {"crack": 1, "tile_chip": 1},
            "warning": "amber",
        }
        before_due = unit_reads(client, key)
        assert before_due == {
            "page": expected_page,
            "row": [{"unit": UNIT, "open_defects": 2, "warning": "amber"}],
            "badge": "amber",
            "active_rules": ["label:crack"],
            "overdue": [],
        }

        clock.now = datetime.fromisoformat(chip["deadline"]) + timedelta(minutes=1)
        with reg.session() as s:
            events = len(warning_events(session=s, project="P1"))
        due = unit_reads(client, key)  # before anyone reads the list
        with reg.session() as s:
            assert len(warning_events(session=s, project="P1")) == events  # read only
        listed = warnings_of(client, key)
        assert sorted((w["rule"], w["unit"], w["level"]) for w in listed) == [
            ("label:crack", UNIT, "amber"),
            ("overdue", None, "amber"),
        ]
        mine = [w for w in listed if w["unit"] == UNIT]
        assert due["active_rules"] == sorted(w["rule"] for w in mine)
        assert due["page"]["warning"] == due["badge"] == "amber"
        assert due == {**before_due, "overdue": [chip["id"]]}  # the chip, at the service clock
        assert unit_reads(client, key) == due  # the list's refresh changed no unit page
