"""Every route through real HTTP (TestClient) on a real SQLite register, fake detector."""

from __future__ import annotations

import re

import cv2
import numpy as np

from detector import decode_image


def box(k: int) -> list[float]:
    return [float(4 + 10 * k), 8.0, float(12 + 10 * k), 30.0]


def upload(u, make_photo, defects=(), *, project="P1", unit="3-2-1701", seed=0, **form):
    files = {"file": ("wall.png", make_photo(list(defects), seed=seed), "image/png")}
    return u.post(f"/v1/projects/{project}/units/{unit}/photos", files=files, data=form)


def test_health_ready_metrics_docs(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model"] == {"name": "fake", "version": "1"}
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'finishscan_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in m.text
    assert client.get("/docs").status_code == 200
    assert (
        "/v1/projects/{project}/units/{unit}/photos" in client.get("/openapi.json").json()["paths"]
    )


def test_readyz_is_503_when_the_register_is_down(client, register_db) -> None:
    from sqlalchemy import create_engine

    healthy = register_db.engine
    register_db.engine = create_engine("sqlite:////nonexistent/dir/x.db")  # cannot be opened
    r = client.get("/readyz")
    assert r.status_code == 503 and "register" in r.json()["detail"]
    assert client.get("/healthz").status_code == 200
    register_db.engine.dispose()
    register_db.engine = healthy
    assert client.get("/readyz").status_code == 200


def test_detect_returns_the_detection_object(as_user, make_photo) -> None:
    data = make_photo([("crack", 0.87), ("stain", 0.4)], size=(90, 120))
    r = as_user("p1_inspector").post("/v1/detect", files={"file": ("a.png", data, "image/png")})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "image": "a.png",
        "width": 120,
        "height": 90,
        "defects": [
            {"label": "crack", "confidence": 0.87, "box": box(0)},
            {"label": "stain", "confidence": 0.4, "box": box(1)},
        ],
        "model": {"name": "fake", "version": "1"},
        # grey 200 but for the fake's marker pixel (2, 0, 0): 1 dark pixel of 10,800
        "quality": {
            "median_luma": 200.0,
            "dark_share": 0.0001,
            "clipped_share": 0.0,
            "warnings": [],
        },
    }


def test_detect_tile_mode_reaches_the_detector(as_user, make_photo, fake_detector) -> None:
    u = as_user("p1_inspector")
    files = {"file": ("a.png", make_photo(), "image/png")}
    assert u.post("/v1/detect?tile=on", files=files).status_code == 200
    assert u.post("/v1/detect", files=files, data={"tile": "off"}).status_code == 200
    assert u.post("/v1/detect", files=files).status_code == 200
    assert fake_detector.tiles == ["on", "off", "auto"]
    assert u.post("/v1/detect?tile=sideways", files=files).status_code == 422


def test_create_project(as_user) -> None:
    r = as_user("admin").post("/v1/projects", json={"code": "P3", "name": "Lakeside"})
    assert r.status_code == 201 and r.json() == {"code": "P3", "name": "Lakeside"}
    again = as_user("admin").post("/v1/projects", json={"code": "P3", "name": "Other"})
    assert again.status_code == 409 and "already exists" in again.json()["detail"]
    assert as_user("p1_supervisor").post("/v1/projects", json={"code": "P4"}).status_code == 403


def test_admin_creates_a_project_key(as_user, client) -> None:
    r = as_user("admin").post("/v1/projects/P2/keys", json={"role": "supervisor"})
    assert r.status_code == 201
    body = r.json()
    assert body["role"] == "supervisor" and body["project"] == "P2"
    h = {"Authorization": f"Bearer {body['key']}"}
    assert client.get("/v1/projects/P2/units", headers=h).status_code == 200
    assert client.get("/v1/projects/P1/units", headers=h).status_code == 403
    assert (
        as_user("p1_supervisor").post("/v1/projects/P1/keys", json={"role": "admin"}).status_code
        == 403
    )
    assert (
        as_user("admin").post("/v1/projects/NOPE/keys", json={"role": "inspector"}).status_code
        == 404
    )


def test_upload_records_defects_and_dedups(as_user, make_photo, rows, fake_detector) -> None:
    u = as_user("p1_inspector")
    r = upload(
        u,
        make_photo,
        [("tile_chip", 0.9), ("paint_bubble", 0.6)],
        room="kitchen",
        stage="acceptance",
    )
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["created"] is True
    assert [(d["label"], d["confidence"], d["box"], d["status"]) for d in first["defects"]] == [
        ("tile_chip", 0.9, box(0), "open"),
        ("paint_bubble", 0.6, box(1), "open"),
    ]
    assert first["unit"] == {"unit": "3-2-1701", "open_defects": 2, "warning": "none"}
    before = rows()
    assert before["photo"] == 1 and before["defect"] == 2
    calls = len(fake_detector.calls)

    again = upload(u, make_photo, [("tile_chip", 0.9), ("paint_bubble", 0.6)])
    assert again.status_code == 200
    assert again.json()["photo_id"] == first["photo_id"] and again.json()["created"] is False
    assert [d["id"] for d in again.json()["defects"]] == [d["id"] for d in first["defects"]]
    assert rows() == before
    assert len(fake_detector.calls) == calls  # a known photo is not inferred again

    # the same bytes in another unit are another photo
    other = upload(u, make_photo, [("tile_chip", 0.9), ("paint_bubble", 0.6)], unit="3-2-1702")
    assert other.status_code == 201 and other.json()["photo_id"] != first["photo_id"]


def test_units_list_worst_first_summary_and_defects(as_user, make_photo) -> None:
    u = as_user("p1_inspector")
    assert upload(u, make_photo, [("tile_chip", 0.9)], unit="A", seed=1).status_code == 201
    assert upload(u, make_photo, [("crack", 0.8)], unit="B", seed=2).status_code == 201
    assert upload(u, make_photo, [("tile_chip", 0.9)] * 3, unit="C", seed=3).status_code == 201
    assert upload(u, make_photo, [], unit="D", seed=4).status_code == 201

    units = u.get("/v1/projects/P1/units").json()
    assert units == [
        {"unit": "B", "open_defects": 1, "warning": "amber"},  # an open crack raises amber
        {"unit": "C", "open_defects": 3, "warning": "none"},
        {"unit": "A", "open_defects": 1, "warning": "none"},
        {"unit": "D", "open_defects": 0, "warning": "none"},
    ]
    summary = u.get("/v1/projects/P1/units/C").json()
    assert summary == {
        "unit": "C",
        "open_defects": 3,
        "defects_by_label": {"tile_chip": 3},
        "warning": "none",
    }

    defects = u.get("/v1/projects/P1/units/C/defects").json()
    assert len(defects) == 3
    d = defects[0]
    assert d["label"] == "tile_chip" and d["status"] == "open" and d["tier"] == "minor"
    assert d["photo_url"] == f"/v1/photos/{d['photo_id']}.jpg?boxes=1" and d["unit"] == "C"
    assert u.get("/v1/projects/P1/units/NOPE").status_code == 404
    assert u.get("/v1/projects/P1/units/NOPE/defects").status_code == 404


def test_status_workflow_roles_and_history(as_user, make_photo) -> None:
    insp, sup = as_user("p1_inspector"), as_user("p1_supervisor")
    defect_id = upload(insp, make_photo, [("paint_peeling", 0.7)]).json()["defects"][0]["id"]
    url = f"/v1/defects/{defect_id}"

    assert insp.patch(url, json={"status": "verified"}).status_code == 403  # role
    r = insp.patch(url, json={"status": "verified"})
    assert r.status_code == 403 and "supervisor" in r.json()["detail"]
    illegal = sup.patch(url, json={"status": "verified"})  # open -> verified skips steps
    assert (
        illegal.status_code == 409 and "cannot go from open to verified" in illegal.json()["detail"]
    )
    assert (
        insp.patch(url, json={"status": "rectifying", "note": "plasterer booked"}).status_code
        == 200
    )
    assert insp.patch(url, json={"status": "rectified"}).status_code == 200
    done = sup.patch(url, json={"status": "verified"})
    assert done.status_code == 200 and done.json()["status"] == "verified"
    hist = sup.get(url).json()["history"]
    assert [(h["from_status"], h["to_status"]) for h in hist][-3:] == [
        ("open", "rectifying"),
        ("rectifying", "rectified"),
        ("rectified", "verified"),
    ]
    assert "plasterer booked" in hist[-3]["note"]
    assert hist[-1]["actor"].endswith("(supervisor)")
    assert sup.patch(url, json={"status": "fixed"}).status_code == 422
    assert sup.patch("/v1/defects/999999", json={"status": "rejected"}).status_code == 404


def test_warning_raised_and_cleared(as_user, make_photo, client) -> None:
    insp, sup = as_user("p1_inspector"), as_user("p1_supervisor")
    r = upload(insp, make_photo, [("crack", 0.95)], unit="5-1-0302")
    assert r.json()["unit"]["warning"] == "amber"
    warnings = insp.get("/v1/projects/P1/warnings").json()
    assert [(w["unit"], w["level"], w["rule"]) for w in warnings] == [
        ("5-1-0302", "amber", "label:crack")
    ]
    assert re.match(r"\d{4}-\d\d-\d\dT", warnings[0]["raised_at"])
    assert 'finishscan_warnings_raised_total{level="amber"} 1.0' in client.get("/metrics").text

    crack = r.json()["defects"][0]["id"]
    assert (
        sup.patch(
            f"/v1/defects/{crack}", json={"status": "rejected", "note": "a joint"}
        ).status_code
        == 200
    )
    assert insp.get("/v1/projects/P1/warnings").json() == []
    assert insp.get("/v1/projects/P1/units/5-1-0302").json()["warning"] == "none"
    assert 'finishscan_warnings_cleared_total{level="amber"} 1.0' in client.get("/metrics").text

    # ten open defects in one unit: red
    r = upload(insp, make_photo, [("tile_chip", 0.5)] * 10, unit="5-1-0303", seed=9)
    assert r.json()["unit"] == {"unit": "5-1-0303", "open_defects": 10, "warning": "red"}
    levels = {w["rule"]: w["level"] for w in insp.get("/v1/projects/P1/warnings").json()}
    assert levels == {"open_defects": "red"}
    assert 'finishscan_warnings_raised_total{level="red"} 1.0' in client.get("/metrics").text

    # reinstating the crack (rejected -> open) raises its warning again
    assert sup.patch(f"/v1/defects/{crack}", json={"status": "open"}).status_code == 200
    assert 'finishscan_warnings_raised_total{level="amber"} 2.0' in client.get("/metrics").text


def test_photo_route_draws_boxes(as_user, make_photo) -> None:
    u = as_user("p1_inspector")
    pid = upload(u, make_photo, [("crack", 0.9)], seed=5).json()["photo_id"]
    plain = u.get(f"/v1/photos/{pid}.jpg")
    boxed = u.get(f"/v1/photos/{pid}.jpg?boxes=1")
    assert plain.status_code == boxed.status_code == 200
    assert plain.headers["content-type"] == "image/jpeg"
    a, b = decode_image(plain.content), decode_image(boxed.content)
    assert a.shape == b.shape == (96, 128, 3)
    # the crack's box edge (x = 4..12, y = 8..30) is drawn; far from it nothing changes
    diff = np.abs(a.astype(int) - b.astype(int)).sum(axis=2)
    assert diff[8:31, 3:6].mean() > 60 and diff[60:, 60:].max() < 40
    small = u.get(f"/v1/photos/{pid}.jpg?max_side=64")
    assert decode_image(small.content).shape == (48, 64, 3)
    assert as_user("p2_inspector").get(f"/v1/photos/{pid}.jpg").status_code == 403
    assert as_user("admin").get(f"/v1/photos/{pid}.jpg").status_code == 200
    assert u.get("/v1/photos/999999.jpg").status_code == 404


def test_report_links_open_without_a_key(as_user, make_photo, client) -> None:
    u = as_user("p1_inspector")
    upload(u, make_photo, [("stain", 0.8), ("crack", 0.6)], unit="7-0101", room="bathroom", seed=6)
    r = u.get("/v1/projects/P1/units/7-0101/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "7-0101" in r.text and "stain" in r.text and "crack" in r.text
    links = re.findall(r'src="([^"]*/v1/photos/[^"]+)"', r.text)
    assert links, r.text[:2000]
    link = links[0].replace("&amp;", "&")
    img = client.get(link)  # no Authorization header: the signature is enough
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(img.content, np.uint8), cv2.IMREAD_COLOR) is not None
    tampered = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 32, link)
    assert client.get(tampered).status_code == 401
    other_photo = re.sub(r"/photos/\d+", "/photos/1", link)
    if other_photo != link:
        assert client.get(other_photo).status_code == 401
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none'
    assert as_user("p2_inspector").get("/v1/projects/P1/units/7-0101/report").status_code == 403

    embedded = u.get("/v1/projects/P1/units/7-0101/report?embed=1")
    assert embedded.status_code == 200 and "data:image/jpeg;base64," in embedded.text
    assert "/v1/photos/" not in embedded.text


def test_metrics_count_detections_and_routes(as_user, make_photo, client) -> None:
    u = as_user("p1_inspector")
    upload(u, make_photo, [("stain", 0.8), ("stain", 0.7), ("crack", 0.6)], seed=11)
    text = client.get("/metrics").text
    assert 'finishscan_detections_total{label="stain"} 2.0' in text
    assert 'finishscan_detections_total{label="crack"} 1.0' in text
    route = 'route="/v1/projects/{project}/units/{unit}/photos"'
    assert f'finishscan_http_requests_total{{method="POST",{route},status="201"}} 1.0' in text
    assert "finishscan_inference_seconds_count" in text
    assert 'finishscan_photos_total{result="created"} 1.0' in text


def test_upload_to_an_unknown_project_is_404_and_writes_nothing(
    as_user, make_photo, rows, fake_detector
) -> None:
    before = rows()
    r = upload(as_user("admin"), make_photo, [("crack", 0.9)], project="NOPE")
    assert r.status_code == 404 and "NOPE" in r.json()["detail"]
    assert rows() == before and fake_detector.calls == []
    assert as_user("admin").get("/v1/projects/NOPE/units").status_code == 404


def test_repeat_upload_of_an_exif_rotated_photo_reports_the_same_size(as_user) -> None:
    """A phone photo stored 40x20 with EXIF orientation 6 is 20 wide, 40 high: both times."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(buf, "JPEG", exif=exif.tobytes())
    u = as_user("p1_inspector")
    sizes = []
    for _ in range(2):
        files = {"file": ("rot.jpg", buf.getvalue(), "image/jpeg")}
        r = u.post("/v1/projects/P1/units/3-2-1701/photos", files=files)
        assert r.status_code in (200, 201), r.text
        sizes.append((r.json()["created"], r.json()["width"], r.json()["height"]))
    assert sizes == [(True, 20, 40), (False, 20, 40)]
