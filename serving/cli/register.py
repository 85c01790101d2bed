"""``finishscan register ...``: the per-unit defect register from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finishscan.errors import RegisterError

if TYPE_CHECKING:
    import register as reg_api_t

app = typer.Typer(
    help="The per-unit defect register: units, reports, exports, workflow.", no_args_is_help=True
)

Db = Annotated[
    str | None,
    typer.Option("--db", help="database URL (default: $FINISHSCAN_DB, else the embedded SQLite)"),
]
Project = Annotated[str, typer.Option("--project", "-p", help="project code")]
Rules = Annotated[
    Path | None, typer.Option("--rules", help="warning rules YAML (default configs/warnings.yaml)")
]


def _api():  # noqa: ANN202 - the register package, imported when a command runs
    import register

    return register


@contextmanager
def _opened(db: str | None, rules: Path | None = None) -> Iterator[reg_api_t.Register]:
    """The register at ``db`` (created and migrated if needed), closed when the block ends:
    the one way these commands open it."""
    r = _api().open_register(db, rules_path=rules)
    try:
        yield r
    finally:
        r.dispose()


@contextmanager
def _transaction(
    db: str | None,
    rules: Path | None = None,
    *,
    readonly: bool = False,
    current: tuple[list[str] | None, datetime] | None = None,
) -> Iterator[tuple]:
    """``(register, session)`` for one transaction; the register is closed afterwards.
    ``readonly``: a read that takes no write lock (``Register.session(readonly=True)``).

    ``current=(projects, now)``: a read in which the warnings of ``projects`` (None: every
    project) are those GET warnings would list at ``now`` (``register.refresh.current_read``:
    read-only when nothing fell due, else the projects that did are refreshed first).
    """
    with _opened(db, rules) as r:
        if current is None:
            with r.session(readonly=readonly) as s:
                yield r, s
        else:
            from register.refresh import current_read

            with current_read(r, current[0], now=current[1]) as (s, _):
                yield r, s


@app.command("projects")
def projects(db: Db = None) -> None:
    """List projects: code, name."""
    with _transaction(db, readonly=True) as (r, s):
        for p in _api().list_projects(session=s):
            typer.echo(f"{p.code}\t{p.name}")


@app.command("create-project")
def create_project(
    code: Annotated[str, typer.Argument(help="project code")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    db: Db = None,
) -> None:
    """Create a project (error if it exists)."""
    with _transaction(db) as (r, s):
        p = _api().create_project(session=s, code=code, name=name)
    typer.echo(f"project {p.code} created")


@app.command("units")
def units(
    project: Project, db: Db = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """A project's units, worst first: unit, open defects, warning."""
    with _transaction(db, readonly=True) as (r, s):
        rows = _api().list_units(session=s, project=project)
    if as_json:
        typer.echo(json.dumps([u.model_dump() for u in rows], indent=2))
        return
    for u in rows:
        typer.echo(f"{u.unit}\t{u.open_defects}\t{u.warning}")


@app.command("defects")
def defects(
    project: Project,
    unit: Annotated[str, typer.Option("--unit", "-u", help="unit code")],
    db: Db = None,
) -> None:
    """A unit's defects as JSON lines (id, label, status, tier, deadline, …)."""
    with _transaction(db, readonly=True) as (r, s):
        rows = _api().unit_defects(session=s, project=project, unit=unit)
    for d in rows:
        typer.echo(d.model_dump_json(exclude={"history"}))


@app.command("report")
def report(
    project: Project,
    unit: Annotated[str, typer.Option("--unit", "-u", help="unit code")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write")],
    db: Db = None,
) -> None:
    """Write the unit's file: HTML with annotated photos, defects with history, warnings."""
    with _transaction(db, readonly=True) as (r, s):
        html = _api().unit_report_html(session=s, store=r.store, project=project, unit=unit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command("export")
def export(
    project: Project,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or json")] = "csv",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
    db: Db = None,
    rules: Rules = None,
) -> None:
    """Export a project's defects as CSV (one row per defect) or JSON (with summary and warnings,
    those GET warnings would list now)."""
    current = ([project], datetime.now(UTC)) if fmt == "json" else None
    with _transaction(db, rules, readonly=True, current=current) as (r, s):
        text = _api().export_project(session=s, project=project, fmt=fmt, rules=r.rules)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}")


def _date(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError as e:
        raise RegisterError(
            f"not an ISO date: {value!r} (e.g. 2026-12-31 or 2026-12-31T18:00)"
        ) from e
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@app.command("status")
def status(
    defect_id: Annotated[int, typer.Argument(help="defect id")],
    new_status: Annotated[
        str, typer.Argument(help="open, rectifying, rectified, verified or rejected")
    ],
    actor: Annotated[str, typer.Option("--actor", help="who makes the change")],
    note: Annotated[str | None, typer.Option("--note")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="minor, general or complex")] = None,
    deadline: Annotated[
        str | None, typer.Option("--deadline", help="ISO date; required for complex")
    ] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    db: Db = None,
    rules: Rules = None,
) -> None:
    """Move a defect along the workflow (illegal transitions are refused)."""
    with _transaction(db, rules) as (r, s):
        d = _api().change_status(
            session=s,
            rules=r.rules,
            defect_id=defect_id,
            status=new_status,
            actor=actor,
            note=note,
            tier=tier,
            deadline=_date(deadline),
            assignee=assignee,
        )
    dl = f", deadline {d.deadline:%Y-%m-%d %H:%M}" if d.deadline else ""
    typer.echo(f"defect {d.id}: {d.status} ({d.tier}{dl})")


@app.command("warnings")
def warnings(
    project: Project,
    db: Db = None,
    rules: Rules = None,
    history: Annotated[bool, typer.Option("--history", help="also cleared warnings")] = False,
) -> None:
    """The project's active warnings as GET warnings lists them now (overdue appears as time
    passes; nothing is written unless one fell due)."""
    with _transaction(db, rules, current=([project], datetime.now(UTC))) as (r, s):
        rows = (
            _api().warning_history(session=s, project=project)
            if history
            else _api().active_warnings(session=s, project=project)
        )
    for w in rows:
        cleared = f"\tcleared {w.cleared_at:%Y-%m-%d %H:%M}" if w.cleared_at else ""
        typer.echo(
            f"{w.level}\t{w.unit or '(project)'}\t{w.rule}\t{w.detail}\t{w.raised_at:%Y-%m-%d %H:%M}{cleared}"
        )


@app.command("refresh-warnings")
def refresh_warnings(
    projects: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="project code (repeatable; default: every project)"),
    ] = None,
    db: Db = None,
    rules: Rules = None,
) -> None:
    """Re-evaluate warnings now (overdue / aged-defect ones appear without a write): for cron.

    Prints one line per warning raised or cleared (event, project, level, unit, rule,
    detail), a summary on stderr; exit 1 if a project could not be refreshed.
    """
    with _opened(db, rules) as r:
        results = _api().refresh_all_warnings(r, projects=projects or None)
    failed = 0
    for res in results:
        if res.error:
            failed += 1
            typer.echo(f"error: {res.project}: {res.error}", err=True)
        for kind, ws in (("cleared", res.cleared), ("raised", res.raised)):
            for w in ws:
                typer.echo(
                    f"{kind}\t{res.project}\t{w.level}\t{w.unit or '(project)'}\t{w.rule}\t{w.detail}"
                )
    raised = sum(len(x.raised) for x in results)
    cleared = sum(len(x.cleared) for x in results)
    typer.echo(
        f"{len(results)} project(s): {raised} warning(s) raised, {cleared} cleared", err=True
    )
    if failed:
        raise SystemExit(1)


@app.command("risk")
def risk(
    db: Db = None, rules: Rules = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Projects ranked for differentiated supervision, riskiest first (warnings counted as GET
    warnings lists them now)."""
    now = datetime.now(UTC)
    with _transaction(db, rules, current=(None, now)) as (r, s):
        rows = _api().project_risk(session=s, rules=r.rules, now=now)
    if as_json:
        typer.echo(json.dumps([x.model_dump() for x in rows], indent=2))
        return
    for x in rows:
        rate = f"{x.rectification_rate:.0%}" if x.rectification_rate is not None else "-"
        typer.echo(
            f"{x.project}\t{x.supervision}\tscore {x.score:.2f}\tunits {x.units}\topen {x.open_defects}"
            f"\toverdue {x.overdue}\trectified {rate}\twarnings {x.red_warnings} red, {x.amber_warnings} amber"
        )


@app.command("migrate")
def migrate(db: Db = None) -> None:
    """Create or upgrade the register's schema (opening it does this too)."""
    with _opened(db):
        pass
    typer.echo("register schema is up to date")


@app.command("gc-photos")
def gc_photos(
    db: Db = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="remove them (default: only list)")
    ] = False,
    min_age_hours: Annotated[float, typer.Option("--min-age-hours")] = 1.0,
) -> None:
    """List (or --delete) stored photo files no register entry refers to (failed writes)."""
    with _transaction(db) as (r, s):
        shas = _api().unreferenced_photos(
            session=s, store=r.store, min_age_s=min_age_hours * 3600, delete=delete
        )
    for sha in shas:
        typer.echo(sha)
    typer.echo(f"{len(shas)} unreferenced photo file(s){' deleted' if delete else ''}", err=True)
