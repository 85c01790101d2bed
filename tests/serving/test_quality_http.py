"""The photo's exposure (``quality``) in ``/v1/detect`` and photo-upload replies."""

from __future__ import annotations

import cv2
import numpy as np

from detector import decode_image, photo_quality


def dark_png(value: int = 12) -> bytes:
    img = np.full((96, 128, 3), value, np.uint8)
    img[0, 0] = 0  # FakeDetector: no defects planned
    return cv2.imencode(".png", img)[1].tobytes()


def test_detect_reply_carries_the_photos_quality(as_user, make_photo) -> None:
    lit, dark = make_photo([("crack", 0.9)]), dark_png()
    for data, warnings in ((lit, []), (dark, ["dark"])):
        r = as_user("p1_inspector").post("/v1/detect", files={"file": ("a.png", data)})
        assert r.status_code == 200, r.text
        assert r.json()["quality"] == photo_quality(decode_image(data)).to_dict()
        assert r.json()["quality"]["warnings"] == warnings
    assert r.json()["defects"] == []


def test_upload_reply_carries_quality_once(as_user, register_db) -> None:
    from register import get_photo

    data = dark_png()
    url = "/v1/projects/P1/units/3-1-101/photos"
    first = as_user("p1_inspector").post(url, files={"file": ("d.png", data)})
    assert first.status_code == 201, first.text
    assert first.json()["quality"]["warnings"] == ["dark"]
    assert first.json()["quality"]["median_luma"] == 12.0
    with register_db.session() as s:  # kept with the photo: the unit's report says so
        assert get_photo(session=s, photo_id=first.json()["photo_id"]).quality_warnings == ["dark"]
    again = as_user("p1_inspector").post(url, files={"file": ("d.png", data)})
    assert again.status_code == 200, again.text
    assert again.json()["quality"] is None  # the register's copy: not read again
