"""``GET /v1/model``: what the service detects with, read back against the ONNX file itself."""

from __future__ import annotations

import ast
import json
import shutil

import onnx
import pytest
from fastapi.testclient import TestClient

from detector import Detector, parse_card
from serving.app import create_app, load_detector

from .conftest import auth


def metadata(path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def describe(settings, register_db, key: str | None):
    with TestClient(
        create_app(settings, detector=load_detector(settings), register=register_db)
    ) as c:
        return c.get("/v1/model", headers=auth(key) if key else {})


def test_model_route_gives_the_shipped_models_card_and_thresholds(
    app_settings, register_db, keys, default_model
) -> None:
    settings = app_settings.model_copy(update={"model": default_model})
    r = describe(settings, register_db, keys["p2_inspector"])  # any key of any role
    assert r.status_code == 200, r.text
    body, meta = r.json(), metadata(default_model)
    assert body["name"] == meta["model_name"] and body["version"] == meta["model_version"]
    assert body["classes"] == list(ast.literal_eval(meta["names"]).values())  # ultralytics' dict
    assert body["imgsz"] == [320, 320] and body["tta"] is False
    stored = json.loads(meta["conf_thresholds"])
    assert set(stored) == set(body["classes"])
    assert body["conf_thresholds"] == pytest.approx(stored, abs=1e-6)
    assert body["card"] == json.loads(meta["finishscan_card"])
    assert "synthetic" in body["card"]["limits"].lower()  # what an app should show a user


def test_model_route_follows_the_services_conf_and_tta(
    app_settings, register_db, keys, default_model
) -> None:
    settings = app_settings.model_copy(update={"model": default_model, "conf": 0.4, "tta": True})
    r = describe(settings, register_db, keys["admin"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conf_thresholds"] == pytest.approx(dict.fromkeys(body["classes"], 0.4))
    assert body["tta"] is True
    assert body["version"] == metadata(default_model)["model_version"] + "+flip"


def test_model_route_without_a_card_and_without_a_key(app_settings, register_db, keys, tmp_path):
    from finishscan.paths import MODELS

    bare = tmp_path / "bare.onnx"
    shutil.copyfile(MODELS / "finishscan-placeholder.onnx", bare)
    settings = app_settings.model_copy(update={"model": bare})
    assert describe(settings, register_db, None).status_code == 401
    assert describe(settings, register_db, keys["revoked"]).status_code == 401
    r = describe(settings, register_db, keys["p1_inspector"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["card"] is None
    assert body["name"] == "bare"  # no model_name: the file's stem, as detections say
    assert body["conf_thresholds"] == dict.fromkeys(body["classes"], 0.25)


def test_a_card_that_is_not_a_json_object_is_no_card(tmp_path) -> None:
    from finishscan.paths import MODELS

    assert parse_card('{"name": "m", "limits": "x"}') == {"name": "m", "limits": "x"}
    for raw in (None, "", "not json", "[1, 2]", '"text"'):
        assert parse_card(raw) is None
    path = tmp_path / "odd.onnx"
    m = onnx.load(str(MODELS / "finishscan-placeholder.onnx"))
    m.metadata_props.add(key="finishscan_card", value="{broken")
    onnx.save(m, str(path))
    assert Detector(path).card is None  # it still loads and detects
