"""Malformed requests: a 4xx JSON ``detail``, a healthy process, nothing in the register."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from detector import decode_image

UPLOAD = "/v1/projects/P1/units/U1/photos"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (no pixel data follows)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg(h: int, w: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    assert ok
    return buf.tobytes()


def uniform_png(h: int, w: int) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((h, w, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


BAD_FILES = [
    # (case, filename, bytes, content type, expected status)
    ("empty", "a.jpg", b"", "image/jpeg", 400),
    ("text named jpg", "a.jpg", b"hello, I am not a photo\n" * 20, "image/jpeg", 415),
    ("pdf", "scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf", 415),
    ("gif", "a.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 20, "image/gif", 415),
    (
        "heic",
        "IMG_0001.HEIC",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00" + b"\x00" * 40,
        "image/heic",
        415,
    ),
    ("jpeg magic then junk", "a.jpg", b"\xff\xd8\xff\xe0" + b"\x13" * 500, "image/jpeg", 422),
    ("truncated jpeg", "a.jpg", jpeg(120, 160)[:700], "image/jpeg", 422),
    ("png header only", "a.png", png_header_only(64, 48), "image/png", 422),
    ("huge pixel header", "a.png", png_header_only(100_000, 100_000), "image/png", 413),
    ("over the pixel limit", "a.png", uniform_png(1500, 1500), "image/png", 413),
    ("over the byte limit", "a.jpg", jpeg(400, 400) + b"\x00" * 300_000, "image/jpeg", 413),
]


def photo_files(tmp_path) -> list:
    return [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]


@pytest.mark.parametrize("url", ["/v1/detect", UPLOAD])
@pytest.mark.parametrize(
    ("case", "name", "data", "ctype", "code"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_files(as_user, client, rows, tmp_path, url, case, name, data, ctype, code) -> None:
    before = rows()
    r = as_user("p1_inspector").post(url, files={"file": (name, data, ctype)})
    assert r.status_code == code, (case, r.text)
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert rows() == before and photo_files(tmp_path) == []
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200


def test_a_real_photo_with_a_wrong_name_and_type_is_accepted(as_user, make_photo) -> None:
    r = as_user("p1_inspector").post(
        UPLOAD, files={"file": ("notes.txt", make_photo([("stain", 0.5)]), "text/plain")}
    )
    assert r.status_code == 201 and r.json()["defects"][0]["label"] == "stain"


@pytest.mark.parametrize(
    ("case", "kwargs", "code"),
    [
        ("no file", {"data": {"room": "kitchen"}}, 422),
        ("json body", {"json": {"file": "aGVsbG8="}}, 422),
        (
            "raw jpeg body",
            {"content": jpeg(32, 32), "headers": {"Content-Type": "image/jpeg"}},
            422,
        ),
        ("file as a text field", {"data": {"file": "not a file"}}, 422),
        (
            "unknown stage",
            {
                "files": {"file": ("a.png", uniform_png(8, 8), "image/png")},
                "data": {"stage": "demolition"},
            },
            422,
        ),
        (
            "room too long",
            {
                "files": {"file": ("a.png", uniform_png(8, 8), "image/png")},
                "data": {"room": "k" * 65},
            },
            422,
        ),
        (
            "bad tile",
            {
                "files": {"file": ("a.png", uniform_png(8, 8), "image/png")},
                "params": {"tile": "maybe"},
            },
            422,
        ),
    ],
)
def test_bad_upload_requests(as_user, client, rows, tmp_path, case, kwargs, code) -> None:
    before = rows()
    r = as_user("p1_inspector").post(UPLOAD, **kwargs)
    assert r.status_code == code, (case, r.text)
    assert "detail" in r.json()
    assert rows() == before and photo_files(tmp_path) == []
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("unit", ["a b", "x" * 65, "..%2F..%2Fetc", "ünit"])
def test_bad_unit_codes(as_user, rows, make_photo, unit) -> None:
    before = rows()
    r = as_user("p1_inspector").post(
        f"/v1/projects/P1/units/{unit}/photos", files={"file": ("a.png", make_photo(), "image/png")}
    )
    assert r.status_code in (404, 422), r.text
    assert rows() == before


def test_chunked_body_over_the_limit_is_413(as_user, rows) -> None:
    """No Content-Length: the body is counted while it arrives and refused past the limit."""
    boundary = "b0undary"

    def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode() + b"\xff\xd8\xff\xe0"
        for _ in range(20):
            yield b"\x00" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    before = rows()
    r = as_user("p1_inspector").post(
        UPLOAD,
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    assert rows() == before


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ('{"status": "verified"', {"Content-Type": "application/json"}),  # broken JSON
        ('{"status": "fixed"}', {"Content-Type": "application/json"}),  # unknown status
        ('{"status": null}', {"Content-Type": "application/json"}),
        ('{"state": "open"}', {"Content-Type": "application/json"}),  # unknown field
        ("[]", {"Content-Type": "application/json"}),
        ("status=verified", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("", {"Content-Type": "application/json"}),
    ],
)
def test_bad_status_changes(as_user, client, rows, make_photo, body, headers) -> None:
    sup = as_user("p1_supervisor")
    did = sup.post(
        UPLOAD, files={"file": ("a.png", make_photo([("crack", 0.9)]), "image/png")}
    ).json()["defects"][0]["id"]
    before = rows()
    r = sup.patch(f"/v1/defects/{did}", content=body, headers=headers)
    assert r.status_code == 422, r.text
    assert "detail" in r.json()
    assert rows() == before
    assert sup.get(f"/v1/defects/{did}").json()["status"] == "open"


@pytest.mark.parametrize(
    "body",
    [
        '{"code": "P5"',
        '{"code": ""}',
        '{"code": "has space"}',
        '{"name": "no code"}',
        '{"code": "P5", "x": 1}',
    ],
)
def test_bad_project_bodies(as_user, body) -> None:
    r = as_user("admin").post(
        "/v1/projects", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text


def test_process_still_serves_after_bad_inputs(as_user, make_photo) -> None:
    u = as_user("p1_inspector")
    for _, name, data, ctype, _code in BAD_FILES:
        u.post(UPLOAD, files={"file": (name, data, ctype)})
    r = u.post(UPLOAD, files={"file": ("a.png", make_photo([("crack", 0.9)], seed=3), "image/png")})
    assert r.status_code == 201
    assert decode_image(u.get(f"/v1/photos/{r.json()['photo_id']}.jpg").content).shape == (
        96,
        128,
        3,
    )
