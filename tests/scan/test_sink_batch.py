"""The scan's sink writes a batch with ``register.record_photos``: results come back in the
batch's order and the register equals recording the photos one by one (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import make_url

import register as R
from serving.scan.items import ScanItem
from serving.scan.sink import Finished, RegisterSink, parse_taken_at

from .conftest import snapshot


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        return
    import psycopg

    base = request.getfixturevalue("pg_url")
    names = [f"sink_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(base, autocommit=True) as con:
        for n in names:
            con.execute(f'CREATE DATABASE "{n}"')
    yield tuple(make_url(base).set(database=n).render_as_string(hide_password=False) for n in names)  # type: ignore[misc]
    with psycopg.connect(base, autocommit=True) as con:
        for n in names:
            con.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


def _batch(seed: int) -> list[Finished]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(12):
        project, unit = ["P2", "P1"][k % 2], f"{100 + k % 3}"
        item = ScanItem(
            rel=f"{project}/{unit}/{k}.jpg",
            project=project,
            unit=unit,
            room="bath" if k % 4 == 0 else None,
            stage="acceptance" if k % 3 == 0 else None,
            taken_at="2026-05-01" if k % 5 == 0 else None,
        )
        defects = []
        for _ in range(int(rng.integers(0, 7))):
            x, y = (float(v) for v in rng.integers(0, 50, 2))
            label = ["crack", "stain", "paint_peeling"][int(rng.integers(0, 3))]
            defects.append({"label": label, "confidence": 0.5, "box": [x, y, x + 9, y + 9]})
        data = rng.bytes(500)
        outcome = {"width": 64, "height": 64, "defects": defects}
        out.append(Finished(item, "", data, outcome))
    return out


def test_sink_batch_equals_one_by_one(
    two_urls: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINISHSCAN_HOME", str(tmp_path / "home"))  # PostgreSQL's photo store
    url_batch, url_seq = two_urls
    batch = _batch(3)
    sink = RegisterSink(url_batch, model_name="fs", model_version="1")
    try:
        got = sink.record(batch)
        with sink.register.session() as s:
            for f, r in zip(batch, got, strict=True):  # results in the batch's order
                photo = R.get_photo(session=s, photo_id=r.photo_id)
                assert (photo.project, photo.unit) == (f.item.project, f.item.unit)
                assert r.created and len(r.defects) == len(f.outcome["defects"])
        assert sink.record(batch[:3]) and not any(r.created for r in sink.record(batch[:3]))
        warned = sink.active_warnings(["P1", "P2"])
    finally:
        sink.close()
    reg = R.open_register(url_seq)
    try:
        with reg.session() as s:  # the sink's order: by project, stable
            for f in sorted(batch, key=lambda f: f.item.project):
                R.record_photo(
                    session=s,
                    store=reg.store,
                    rules=reg.rules,
                    project=f.item.project,
                    unit=f.item.unit,
                    data=f.data,
                    width=64,
                    height=64,
                    defects=[
                        R.DetectedDefect(d["label"], d["confidence"], tuple(d["box"]))
                        for d in f.outcome["defects"]
                    ],
                    model_name="fs",
                    model_version="1",
                    room=f.item.room,
                    stage=f.item.stage,
                    taken_at=parse_taken_at(f.item.taken_at),
                )
    finally:
        reg.dispose()
    assert warned  # the batch is big enough to raise warnings
    assert snapshot(url_batch) == snapshot(url_seq)
