"""The command line and GET /v1/projects/{p}/warnings show the same warnings at the same moment,
whichever reads first after a defect fell due (SQLite; PostgreSQL in tests/register).

Defects are recorded in 2020 (shipped rules: a tile chip is due 24 h later, a crack 14 days),
so both the service's clock (the real one) and the command see them overdue, and neither a
sweep (off) nor a write has raised the project's ``overdue`` warning before the first read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

import register as R
from serving.app import create_app
from serving.cli import app as cli_app

PAST = datetime(2020, 1, 6, 8, 0, tzinfo=UTC)


def cli(*args: str) -> Any:
    return CliRunner().invoke(cli_app, list(args))


def record_past(reg: Any, project: str, data: bytes, labels: list[str]) -> None:
    with reg.session() as s:
        R.record_photo(
            session=s,
            store=reg.store,
            rules=reg.rules,
            project=project,
            unit="3-2-1701",
            data=data,
            width=64,
            height=48,
            defects=[
                R.DetectedDefect(lb, 0.8, (1 + 5 * i, 1, 4 + 5 * i, 9))
                for i, lb in enumerate(labels)
            ],
            model_name="fs",
            model_version="1",
            now=PAST,
        )


def listed(client: TestClient, key: str, project: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/projects/{project}/warnings", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_cli_reads_equal_the_warnings_list(
    app_settings, fake_detector, register_db, keys, make_photo
) -> None:  # noqa: ANN001
    db = app_settings.db
    record_past(register_db, "P1", make_photo([], seed=1), ["crack", "tile_chip"])
    record_past(register_db, "P2", make_photo([], seed=2), ["tile_chip"])
    app = create_app(
        app_settings.model_copy(update={"warnings_refresh_s": 0}),
        detector=fake_detector,
        register=register_db,
    )
    with TestClient(app) as client:
        # P1: the command reads first (and raises the overdue warning), then the list
        out = cli("register", "export", "-p", "P1", "-f", "json", "--db", db)
        assert out.exit_code == 0, out.output
        exported = [
            {k: w[k] for k in ("unit", "level", "rule", "raised_at", "detail")}
            for w in json.loads(out.stdout)["warnings"]
        ]
        p1 = listed(client, keys["admin"], "P1")
        assert [(w["unit"], w["rule"], w["level"]) for w in p1] == [
            ("3-2-1701", "label:crack", "amber"),
            (None, "overdue", "amber"),
        ]
        assert exported == p1

        # P2: the list reads first, then the command
        p2 = listed(client, keys["admin"], "P2")
        assert [(w["unit"], w["rule"], w["detail"]) for w in p2] == [
            (None, "overdue", "1 overdue defects")
        ]
        out = cli("register", "warnings", "-p", "P2", "--db", db)
        assert out.exit_code == 0, out.output
        assert [line.split("\t")[:4] for line in out.stdout.splitlines()] == [
            [w["level"], w["unit"] or "(project)", w["rule"], w["detail"]] for w in p2
        ]

        risk = json.loads(cli("register", "risk", "--json", "--db", db).stdout)
        counts = {x["project"]: (x["red_warnings"], x["amber_warnings"]) for x in risk}
        assert counts == {
            code: (
                sum(w["level"] == "red" for w in ws),
                sum(w["level"] == "amber" for w in ws),
            )
            for code, ws in (("P1", p1), ("P2", p2))
        }
        assert listed(client, keys["admin"], "P1") == p1  # nothing changed by the later reads
    with register_db.session(readonly=True) as s:
        kinds = [k for _, k, _, _ in R.warning_events(session=s, project="P1")]
    assert kinds == ["raised", "raised"]  # the crack at the write, the overdue once
