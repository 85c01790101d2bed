"""``finishscan keys ...``: create, list and revoke API keys of the register."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)

Db = Annotated[
    str | None,
    typer.Option("--db", help="database URL (default: $FINISHSCAN_DB, else the embedded SQLite)"),
]


@app.command("create")
def create(
    role: Annotated[str, typer.Option("--role", help="inspector, supervisor or admin")],
    project: Annotated[
        str | None,
        typer.Option("--project", help="project code (created if needed); optional for admin"),
    ] = None,
    db: Db = None,
) -> None:
    """Create the project if needed and an API key; the key alone on the last line (shown once)."""
    from register import create_api_key, open_register

    reg = open_register(db)
    try:
        with reg.session() as s:
            out, key = create_api_key(session=s, project=project, role=role)
    finally:
        reg.dispose()
    typer.echo(
        f"key id {out.id} ({out.role}, project {out.project or '*'}); store it now, it is shown once:"
    )
    typer.echo(key)


@app.command("list")
def list_(
    project: Annotated[
        str | None, typer.Option("--project", help="only this project's keys")
    ] = None,
    db: Db = None,
) -> None:
    """One line per key: id, prefix, role, project, created, revoked."""
    from register import list_api_keys, open_register

    reg = open_register(db)
    try:
        with reg.session() as s:
            keys = list_api_keys(session=s, project=project)
    finally:
        reg.dispose()
    for k in keys:
        revoked = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        typer.echo(
            f"{k.id}\tfsk_{k.prefix}_…\t{k.role}\t{k.project or '*'}\t{k.created_at:%Y-%m-%d %H:%M}\t{revoked}"
        )


@app.command("revoke")
def revoke(
    key_id: Annotated[int, typer.Argument(help="key id (from keys list)")],
    db: Db = None,
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from register import open_register, revoke_api_key

    reg = open_register(db)
    try:
        with reg.session() as s:
            k = revoke_api_key(session=s, key_id=key_id)
    finally:
        reg.dispose()
    typer.echo(f"key {k.id} revoked")
