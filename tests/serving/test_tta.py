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
