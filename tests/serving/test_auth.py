"""401 without or with a bad key, 403 for another project's key or a too-small role."""

from __future__ import annotations

import pytest

PNG = "png"

# (method, url, kwargs) for every /v1 route; {pid}/{did} are filled with real ids of project P1
ROUTES = [
    ("post", "/v1/detect", {"files": {"file": ("a.png", PNG, "image/png")}}),
    ("post", "/v1/projects/P1/units/U1/photos", {"files": {"file": ("a.png", PNG, "image/png")}}),
    ("get", "/v1/projects/P1/units", {}),
    ("get", "/v1/projects/P1/units/U1", {}),
    ("get", "/v1/projects/P1/units/U1/defects", {}),
    ("get", "/v1/projects/P1/units/U1/report", {}),
    ("get", "/v1/projects/P1/warnings", {}),
    ("get", "/v1/defects/{did}", {}),
    ("patch", "/v1/defects/{did}", {"json": {"status": "rectifying"}}),
    ("get", "/v1/photos/{pid}.jpg", {}),
    ("post", "/v1/projects", {"json": {"code": "P9"}}),
    ("post", "/v1/projects/P1/keys", {"json": {"role": "inspector"}}),
]
PROJECT_ROUTES = [r for r in ROUTES if r[1] not in ("/v1/detect", "/v1/projects")]


@pytest.fixture
def ids(client, keys, make_photo):
    r = client.post(
        "/v1/projects/P1/units/U1/photos",
        headers={"Authorization": f"Bearer {keys['p1_inspector']}"},
        files={"file": ("a.png", make_photo([("crack", 0.9)], seed=77), "image/png")},
    )
    assert r.status_code == 201
    return {"pid": r.json()["photo_id"], "did": r.json()["defects"][0]["id"]}


def call(client, make_photo, ids, route, headers):
    method, url, kw = route
    kw = dict(kw)
    if "files" in kw:
        kw["files"] = {"file": ("a.png", make_photo([("stain", 0.5)], seed=5), "image/png")}
    return getattr(client, method)(url.format(**ids), headers=headers, **kw)


def check_401(r) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer" and isinstance(r.json()["detail"], str)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_key_is_401(client, make_photo, ids, rows, route) -> None:
    before = rows()
    check_401(call(client, make_photo, ids, route, {}))
    assert rows() == before


@pytest.mark.parametrize("route", [ROUTES[1], ROUTES[8]], ids=["upload", "patch"])
@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer not-a-key",
        "Bearer fsk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Basic dXNlcjpwYXNz",
        "revoked",
    ],
)
def test_bad_key_is_401(client, keys, make_photo, ids, rows, route, header) -> None:
    if header == "revoked":
        header = f"Bearer {keys['revoked']}"
    before = rows()
    check_401(call(client, make_photo, ids, route, {"Authorization": header}))
    assert rows() == before


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_another_projects_key_is_403(client, keys, make_photo, ids, rows, route) -> None:
    before = rows()
    r = call(client, make_photo, ids, route, {"Authorization": f"Bearer {keys['p2_inspector']}"})
    assert r.status_code == 403, r.text
    assert rows() == before


@pytest.mark.parametrize("route", PROJECT_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_admin_reaches_every_project(client, keys, make_photo, ids, route) -> None:
    r = call(client, make_photo, ids, route, {"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code in (200, 201), r.text


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [
        ("p1_inspector", "rectifying", 200),
        ("p1_inspector", "rejected", 403),
        ("p1_supervisor", "rejected", 200),
        ("admin", "rejected", 200),
    ],
)
def test_role_table_for_status_changes(client, keys, ids, key, status, code) -> None:
    r = client.patch(
        f"/v1/defects/{ids['did']}",
        headers={"Authorization": f"Bearer {keys[key]}"},
        json={"status": status},
    )
    assert r.status_code == code, r.text


def test_keys_are_not_stored_in_plaintext(register_db, keys) -> None:
    from sqlalchemy import text

    with register_db.engine.connect() as c:
        stored = " ".join(str(v) for row in c.execute(text("SELECT * FROM api_key")) for v in row)
    for plaintext in keys.values():
        assert plaintext not in stored
