"""``finishscan keys`` and ``finishscan register`` end to end on an SQLite register."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import register as R
from register import DetectedDefect, open_register
from serving.cli import app

runner = CliRunner()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from serving.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'reg.db'}"
    reg = open_register(url)
    with reg.session() as s:
        for i, labels in enumerate([["crack"], ["stain", "stain"]]):
            R.record_photo(
                session=s,
                store=reg.store,
                rules=reg.rules,
                project="P1",
                unit=f"1-1-10{i}",
                data=f"photo {i}".encode(),
                width=100,
                height=80,
                defects=[
                    DetectedDefect(lb, 0.8, (10 * j, 10, 10 * j + 5, 20))
                    for j, lb in enumerate(labels)
                ],
                model_name="fs",
                model_version="1",
            )
    reg.dispose()
    return url


def test_keys_create_prints_the_key_alone_on_the_last_line(url: str) -> None:
    out = cli("keys", "create", "--project", "P2", "--role", "supervisor", "--db", url)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("fsk_") and " " not in key
    reg = open_register(url)
    with reg.session() as s:
        k = R.authenticate(session=s, key=key)
        assert (k.role, k.project) == ("supervisor", "P2")
        assert [p.code for p in R.list_projects(session=s)] == ["P1", "P2"]
    reg.dispose()
    listed = runner.invoke(app, ["keys", "list", "--db", url])
    assert listed.exit_code == 0 and f"{k.id}\tfsk_{k.prefix}_…\tsupervisor\tP2" in listed.stdout
    assert runner.invoke(app, ["keys", "revoke", str(k.id), "--db", url]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list", "--db", url]).stdout
    bad = cli("keys", "create", "--project", "P2", "--role", "root", "--db", url)
    assert (
        bad.returncode == 1
        and bad.stderr.strip()
        == "error: unknown role 'root'; use one of inspector, supervisor, admin"
    )


def test_register_commands(url: str, tmp_path: Path) -> None:
    units = runner.invoke(app, ["register", "units", "--project", "P1", "--db", url])
    assert units.exit_code == 0, units.output
    assert units.stdout.splitlines() == ["1-1-101\t2\tamber", "1-1-100\t1\tamber"]  # worst first
    assert runner.invoke(app, ["register", "projects", "--db", url]).stdout == "P1\tP1\n"
    report = tmp_path / "out" / "unit.html"
    r = runner.invoke(
        app, ["register", "report", "-p", "P1", "-u", "1-1-101", "--out", str(report), "--db", url]
    )
    assert r.exit_code == 0 and report.read_text().count('<tr id="defect-') == 2
    exp = tmp_path / "p1.csv"
    assert (
        runner.invoke(
            app,
            ["register", "export", "-p", "P1", "--format", "csv", "--out", str(exp), "--db", url],
        ).exit_code
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(exp.read_text())))
    assert [(x["unit"], x["label"]) for x in rows] == [
        ("1-1-100", "crack"),
        ("1-1-101", "stain"),
        ("1-1-101", "stain"),
    ]
    doc = json.loads(
        runner.invoke(app, ["register", "export", "-p", "P1", "-f", "json", "--db", url]).stdout
    )
    assert doc["summary"]["defects"] == 3
    crack = rows[0]["defect_id"]
    st = runner.invoke(
        app,
        [
            "register",
            "status",
            crack,
            "rejected",
            "--actor",
            "li",
            "--note",
            "grout line",
            "--db",
            url,
        ],
    )
    assert st.exit_code == 0 and st.stdout.startswith(f"defect {crack}: rejected")
    warn = runner.invoke(app, ["register", "warnings", "-p", "P1", "--db", url])
    assert [line.split("\t")[:3] for line in warn.stdout.splitlines()] == [
        ["amber", "1-1-101", "label:stain"]
    ]
    hist = runner.invoke(app, ["register", "warnings", "-p", "P1", "--history", "--db", url])
    assert "label:crack" in hist.stdout and "cleared" in hist.stdout
    risk = json.loads(runner.invoke(app, ["register", "risk", "--json", "--db", url]).stdout)
    assert [(x["project"], x["open_defects"], x["amber_warnings"]) for x in risk] == [("P1", 2, 1)]


def test_register_cli_errors_are_one_line(url: str) -> None:
    illegal = cli("register", "status", "1", "verified", "--actor", "li", "--db", url)
    assert illegal.returncode == 1
    assert (
        illegal.stderr.strip()
        == "error: a defect cannot go from open to verified; allowed from open: rectifying, rejected"
    )
    missing = cli("register", "units", "--project", "NOPE", "--db", url)
    assert (
        missing.returncode == 1 and missing.stderr.strip() == "error: project 'NOPE' does not exist"
    )
    badurl = cli("register", "projects", "--db", "mysql://x")
    assert (
        badurl.returncode == 1
        and "unsupported database" in badurl.stderr
        and "Traceback" not in badurl.stderr
    )
