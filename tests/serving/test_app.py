"""App factory and settings: nothing at import, CORS off unless origins are set, env settings."""

from __future__ import annotations

import subprocess
import sys

import pytest

from serving.app import create_app
from serving.settings import Settings


def test_importing_the_app_opens_nothing(tmp_path) -> None:
    code = (
        "import sys, serving.app, serving.routes.units, serving.deps;"
        "assert 'onnxruntime' not in sys.modules, 'model runtime imported';"
        "assert 'register.db' not in sys.modules, 'register opened'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_two_apps_have_separate_metrics(app_settings, fake_detector, register_db) -> None:
    a = create_app(app_settings, detector=fake_detector, register=register_db)
    b = create_app(app_settings, detector=fake_detector, register=register_db)
    a.state.metrics.detections.labels("crack").inc()
    assert b"crack" in a.state.metrics.render() and b"crack" not in b.state.metrics.render()


PREFLIGHT = {"Origin": "https://inspect.example", "Access-Control-Request-Method": "POST"}


def test_cors_is_off_by_default(client) -> None:
    r = client.options("/v1/detect", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"Origin": "https://inspect.example"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_allows_only_the_configured_origins(tmp_path, fake_detector, register_db) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(
        db=f"sqlite:///{tmp_path / 'x.db'}", cors_origins=["https://inspect.example"]
    )
    with TestClient(create_app(settings, detector=fake_detector, register=register_db)) as c:
        ok = c.options(
            "/v1/detect", headers={**PREFLIGHT, "Access-Control-Request-Headers": "authorization"}
        )
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://inspect.example"
        other = c.options("/v1/detect", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("FINISHSCAN_DB", "sqlite:///env.db")
    monkeypatch.setenv("FINISHSCAN_MAX_PIXELS", "1234")
    monkeypatch.setenv("FINISHSCAN_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("FINISHSCAN_BATCH_MAX", "4")
    s = Settings()
    assert (s.db, s.max_pixels, s.batch_max, s.batching) == ("sqlite:///env.db", 1234, 4, True)
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert Settings(db="sqlite:///flag.db").db == "sqlite:///flag.db"  # explicit beats env
    monkeypatch.setenv("FINISHSCAN_MAX_PIXELS", "-5")
    with pytest.raises(ValueError):
        Settings()


def test_unmatched_paths_share_one_metrics_label(client) -> None:
    for i in range(5):
        assert client.get(f"/no/such/path/{i}").status_code == 404
    text = client.get("/metrics").text
    assert (
        'finishscan_http_requests_total{method="GET",route="<unmatched>",status="404"} 5.0' in text
    )
    assert "/no/such" not in text


@pytest.mark.parametrize("secret", ["", "changeme", "short-secret"])
def test_weak_link_secrets_are_refused(secret) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        Settings(url_secret=secret)


def test_signed_links_work_across_apps_sharing_a_secret(
    app_settings, fake_detector, register_db
) -> None:
    """Several workers (one app each) must accept each other's report links."""
    from fastapi.testclient import TestClient

    from serving.deps import sign_photo

    secret = "k" * 16 + "0123456789abcdef"
    settings = app_settings.model_copy(update={"url_secret": secret})
    a = create_app(settings, detector=fake_detector, register=register_db)
    with TestClient(a) as c:
        assert c.app.state.services.url_secret == secret.encode()
        sig = sign_photo(secret.encode(), 1, 2**40)
        # no such photo, but the signature was accepted: 404, not 401
        assert c.get(f"/v1/photos/1.jpg?exp={2**40}&sig={sig}").status_code == 404
        assert c.get(f"/v1/photos/1.jpg?exp={2**40}&sig={'0' * 32}").status_code == 401
        assert (
            c.get(f"/v1/photos/1.jpg?exp=5&sig={sign_photo(secret.encode(), 1, 5)}").status_code
            == 401
        )


def test_a_database_outage_is_503_not_a_conflict(as_user, client, register_db) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    healthy = register_db._sessions
    register_db._sessions = sessionmaker(create_engine("sqlite:////nonexistent/dir/x.db"))
    try:
        r = client.get(
            "/v1/projects/P1/units",
            headers={"Authorization": "Bearer fsk_000000000000_" + "A" * 43},
        )
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "unavailable" in r.json()["detail"]
        assert client.get("/healthz").status_code == 200
    finally:
        register_db._sessions = healthy
    assert as_user("admin").get("/v1/projects/P1/units").status_code == 200


def test_settings_survive_the_trip_to_worker_processes(monkeypatch, tmp_path) -> None:
    """``serve --workers N`` passes settings to the workers as FINISHSCAN_* variables."""
    from serving.cli.serve import settings_env

    s = Settings(
        db=f"sqlite:///{tmp_path / 'w.db'}",
        port=9123,
        cors_origins=["https://a.example", "https://b.example"],
        batch_max=3,
        max_pixels=777,
        url_secret="s" * 40,
    )
    for name in list(__import__("os").environ):
        if name.startswith("FINISHSCAN_"):
            monkeypatch.delenv(name)
    for k, v in settings_env(s).items():
        monkeypatch.setenv(k, v)
    assert Settings() == s
