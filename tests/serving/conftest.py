"""Fixtures of the service tests, and a fake detector whose answer is chosen by the test, through the photo's pixels.

``photo(defects=[("crack", 0.9)], seed=1)`` makes PNG bytes; the fake detector reads the
plan back from the first row of pixels and returns exactly those detections, so results
are deterministic and each test picks what the "model" sees.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import threading
import warnings
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from detector import Detections, ModelInfo
from finishscan.classes import class_names

with warnings.catch_warnings():
    # starlette 1.x warns at import that it prefers httpx2 over httpx; the tests use httpx
    warnings.simplefilter("ignore")
    import starlette.testclient  # noqa: F401

NAMES = class_names()


def photo(
    defects: list[tuple[str, float]] = (),  # type: ignore[assignment]
    *,
    seed: int = 0,
    size: tuple[int, int] = (96, 128),
    fmt: str = ".png",
) -> bytes:
    """Image bytes (h, w = size) that make :class:`FakeDetector` report ``defects``."""
    h, w = size
    img = np.full((h, w, 3), 200, np.uint8)
    img[0, 0] = (len(defects), seed % 256, seed // 256)
    for k, (label, conf) in enumerate(defects):
        img[0, 1 + k] = (NAMES.index(label), round(conf * 100), 0)
    ok, buf = cv2.imencode(fmt, cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def box_of(k: int) -> list[float]:
    """The box the fake gives the k-th planned defect."""
    return [float(4 + 10 * k), 8.0, float(12 + 10 * k), 30.0]


class FakeDetector:
    """Stands in for ``detector.Detector``; thread-safe; counts calls."""

    names = list(NAMES)
    imgsz = (640, 640)
    info = ModelInfo("fake", "1", list(NAMES), (640, 640))
    class_thresholds = dict.fromkeys(NAMES, 0.25)
    card = None

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []  # ("detect"|"batch", n images)
        self.tiles: list[str] = []
        self.views: list[bool] = []  # per call: whether the TTA view made it
        self.tta = False
        self._lock = threading.Lock()

    def with_tta(self, tta: bool) -> FakeDetector:
        """A view sharing this fake's call log; its version ends in "+flip" under TTA."""
        if tta == self.tta:
            return self
        other = copy.copy(self)
        other.tta = tta
        other.info = dataclasses.replace(self.info, version="1+flip" if tta else "1")
        return other

    def _plan(self, image: np.ndarray) -> Detections:
        n = int(image[0, 0, 0])
        boxes = [box_of(k) for k in range(n)]
        conf = [int(image[0, 1 + k, 1]) / 100 for k in range(n)]
        cls = [int(image[0, 1 + k, 0]) for k in range(n)]
        return Detections(np.array(boxes).reshape(-1, 4), np.array(conf), np.array(cls))

    def detect(self, image: np.ndarray, *, tile: str = "auto") -> Detections:
        with self._lock:
            self.calls.append(("detect", 1))
            self.views.append(self.tta)
            self.tiles.append(tile)
        return self._plan(image)

    def batch(self, images: list[np.ndarray]) -> list[Detections]:
        with self._lock:
            self.calls.append(("batch", len(images)))
            self.views.append(self.tta)
        return [self._plan(im) for im in images]


@pytest.fixture
def make_photo() -> Callable[..., bytes]:
    return photo


@pytest.fixture
def fake_detector() -> FakeDetector:
    return FakeDetector()


# ---- the app on a real (temporary SQLite) register ------------------------------------------

LIMITS = {"max_upload_bytes": 300_000, "max_pixels": 2_000_000}


@pytest.fixture(scope="session")
def register_template(tmp_path_factory):
    """A migrated SQLite register with projects P1 and P2, copied for each test (fast)."""
    from register import ensure_project, open_register

    path = tmp_path_factory.mktemp("template") / "register.db"
    reg = open_register(f"sqlite:///{path}", photo_root=path.parent / "photos")
    with reg.session() as s:
        ensure_project(session=s, code="P1", name="Riverside phase 1")
        ensure_project(session=s, code="P2", name="Hillview")
    reg.dispose()  # the last connection closing checkpoints the WAL into the file
    assert not path.with_name("register.db-wal").exists()
    return path


@pytest.fixture
def register_db(tmp_path, register_template):
    """A fresh register with projects P1 and P2."""
    from register import open_register

    shutil.copy(register_template, tmp_path / "register.db")
    reg = open_register(f"sqlite:///{tmp_path / 'register.db'}", photo_root=tmp_path / "photos")
    yield reg
    reg.dispose()


@pytest.fixture
def keys(register_db) -> dict[str, str]:
    """Plaintext keys: admin (all projects), P1 inspector/supervisor, P2 inspector, revoked."""
    from register import create_api_key, revoke_api_key

    out = {}
    with register_db.session() as s:
        for name, project, role in [
            ("admin", None, "admin"),
            ("p1_inspector", "P1", "inspector"),
            ("p1_supervisor", "P1", "supervisor"),
            ("p2_inspector", "P2", "inspector"),
            ("revoked", "P1", "inspector"),
        ]:
            rec, out[name] = create_api_key(session=s, project=project, role=role)
        revoke_api_key(session=s, key_id=rec.id)
    return out


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def app_settings(tmp_path):
    from serving.settings import Settings

    return Settings(db=f"sqlite:///{tmp_path / 'register.db'}", **LIMITS)


@pytest.fixture
def app(app_settings, fake_detector, register_db):
    from serving.app import create_app

    return create_app(app_settings, detector=fake_detector, register=register_db)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def as_user(client, keys):
    """``as_user("p1_inspector").get(...)``: the client with that key's header."""

    class _As:
        def __init__(self, key: str) -> None:
            self.h = auth(key)

        def __getattr__(self, method: str):
            def call(url, **kw):
                kw["headers"] = {**self.h, **kw.get("headers", {})}
                return getattr(client, method)(url, **kw)

            return call

    return lambda name: _As(keys[name])


def count_rows(reg) -> dict[str, int]:
    """Rows per register table, to show a failed request wrote nothing."""
    from sqlalchemy import func, select

    from register.models import Defect, DefectHistory, Photo, Scan, Unit, Warning

    with reg.session() as s:
        return {
            m.__tablename__: int(s.scalar(select(func.count()).select_from(m)))
            for m in (Photo, Defect, DefectHistory, Scan, Unit, Warning)
        }


@pytest.fixture
def rows(register_db):
    return lambda: count_rows(register_db)
