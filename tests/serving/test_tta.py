"""``serve --tta`` / ``FINISHSCAN_TTA``: the service reads every photo also mirrored, as
``detect --tta`` does, and says so in the model version it returns."""

from __future__ import annotations

import cv2
import numpy as np
from fastapi.testclient import TestClient

from detector import Detector, decode_image
from serving.app import create_app, load_detector
from serving.cli.serve import settings_env

from ..textures import texture
from .conftest import auth


def test_tta_setting_comes_from_the_environment_and_survives_the_trip(monkeypatch) -> None:
    from serving.settings import Settings

    monkeypatch.delenv("FINISHSCAN_TTA", raising=False)
    assert Settings().tta is False
    monkeypatch.setenv("FINISHSCAN_TTA", "1")
    on = Settings()
    assert on.tta is True
    assert settings_env(on)["FINISHSCAN_TTA"] == "True"  # what --workers N passes on


def test_service_with_tta_answers_as_detect_tta(app_settings, register_db, keys, default_model):
    settings = app_settings.model_copy(update={"tta": True, "model": default_model, "conf": 0.01})
    det = load_detector(settings)
    photo = texture(np.random.default_rng(2), 300, 400)
    data = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))[1].tobytes()
    with TestClient(create_app(settings, detector=det, register=register_db)) as c:
        r = c.post(
            "/v1/detect", files={"file": ("w.png", data, "image/png")}, headers=auth(keys["admin"])
        )
    assert r.status_code == 200, r.text
    body = r.json()
    want = Detector(default_model, conf=0.01, tta=True).detect(decode_image(data))
    assert body["model"]["version"].endswith("+flip")
    assert body["defects"], "nothing found: the comparison would prove little"
    assert [d["confidence"] for d in body["defects"]] == sorted(
        (round(float(c), 4) for c in want.confidence), reverse=True
    )


def test_with_tta_shares_the_session_and_equals_a_tta_detector(default_model) -> None:
    plain = Detector(default_model, conf=0.01)
    flip = plain.with_tta(True)
    assert plain.with_tta(False) is plain and flip.with_tta(True) is flip
    assert flip.session is plain.session and plain.tta is False  # the original is untouched
    own = Detector(default_model, conf=0.01, tta=True)
    assert flip.info.version == own.info.version == plain.info.version + "+flip"
    assert flip.with_tta(False).info.version == plain.info.version
    photo = texture(np.random.default_rng(5), 320, 480)
    a, b = flip.detect(photo), own.detect(photo)
    assert len(a) > 0
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    np.testing.assert_array_equal(
        plain.detect(photo).xyxy, Detector(default_model, conf=0.01).detect(photo).xyxy
    )


def _png(photo: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_tta_per_request_on_a_plain_service(app_settings, register_db, keys, default_model):
    settings = app_settings.model_copy(update={"model": default_model, "conf": 0.01})
    data = _png(texture(np.random.default_rng(2), 300, 400))
    want = Detector(default_model, conf=0.01, tta=True).detect(decode_image(data))
    plain = Detector(default_model, conf=0.01).detect(decode_image(data))
    h = auth(keys["admin"])
    with TestClient(
        create_app(settings, detector=load_detector(settings), register=register_db)
    ) as c:

        def post(**kw):
            r = c.post("/v1/detect", files={"file": ("w.png", data, "image/png")}, headers=h, **kw)
            assert r.status_code == 200, r.text
            return r.json()

        by_query, by_form = post(params={"tta": "true"}), post(data={"tta": "true"})
        off, default = post(params={"tta": "false"}), post()
        bad = c.post(
            "/v1/detect",
            files={"file": ("w.png", data, "image/png")},
            headers=h,
            params={"tta": "maybe"},
        )
    assert bad.status_code == 422
    assert by_query == by_form and by_query["model"]["version"].endswith("+flip")
    assert [d["confidence"] for d in by_query["defects"]] == sorted(
        (round(float(c), 4) for c in want.confidence), reverse=True
    )
    assert off == default and not default["model"]["version"].endswith("+flip")
    assert len(default["defects"]) == len(plain) and by_query["defects"] != default["defects"]


def test_tta_unit_upload_is_recorded_under_the_flip_version(
    app_settings, register_db, keys, default_model
):
    settings = app_settings.model_copy(update={"model": default_model, "conf": 0.01})
    data = _png(texture(np.random.default_rng(3), 300, 400))
    h = auth(keys["admin"])
    url = "/v1/projects/P1/units/3-2-1701/photos"
    with TestClient(
        create_app(settings, detector=load_detector(settings), register=register_db)
    ) as c:

        def up(**kw):
            return c.post(url, files={"file": ("w.png", data, "image/png")}, headers=h, **kw)

        first = up(data={"tta": "true"})
        again = up(params={"tta": "1"})  # same bytes, same view: the register's copy
        plain = up()  # same bytes, the plain view: read again, recorded as another scan
    assert first.status_code == 201, first.text
    assert first.json()["model"]["version"].endswith("+flip")
    assert again.status_code == 200 and again.json()["photo_id"] == first.json()["photo_id"]
    assert again.json()["model"] == first.json()["model"]
    assert plain.status_code == 200 and plain.json()["photo_id"] == first.json()["photo_id"]
    assert not plain.json()["model"]["version"].endswith("+flip")
    # the register's re-scan rule: "<version>+flip" sorts after "<version>", so the plain
    # reading comes as an older version's scan and leaves the photo's defects as they were
    assert plain.json()["defects"] == first.json()["defects"] != []
