"""``finishscan serve``: the HTTP service (see ``serving.app``)."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer

from finishscan.errors import ModelError


def serve(
    host: Annotated[
        str | None, typer.Option(help="interface to listen on (default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000)")] = None,
    db: Annotated[
        str | None,
        typer.Option(help="register URL (default $FINISHSCAN_DB, else embedded SQLite)"),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="ONNX model (default $FINISHSCAN_MODEL, else the shipped model)"),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="server processes (each loads the model)")
    ] = 1,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="allow this browser origin (repeatable); CORS is off without"),
    ] = None,
    batch: Annotated[
        int | None, typer.Option(min=1, help="micro-batch up to N concurrent photos (1 = off)")
    ] = None,
    batch_wait_ms: Annotated[
        float | None, typer.Option(min=0, help="how long a micro-batch waits to fill (ms)")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="ONNX Runtime threads per process")
    ] = None,
    max_upload_mb: Annotated[
        float | None, typer.Option(min=0.001, help="largest upload accepted (MB)")
    ] = None,
    tta: Annotated[
        bool | None,
        typer.Option(
            "--tta/--no-tta",
            help="read every photo also mirrored and fuse the two (as `detect --tta`; about "
            "twice the inference time; default $FINISHSCAN_TTA, else off)",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the HTTP service: detection and the defect register for inspection apps."""
    import uvicorn

    from serving.settings import Settings

    overrides = {
        "host": host,
        "port": port,
        "db": db,
        "model": model,
        "cors_origins": cors_origin or None,
        "batch_max": batch,
        "batch_wait_ms": batch_wait_ms,
        "threads": threads,
        "max_upload_bytes": int(max_upload_mb * 1024 * 1024) if max_upload_mb else None,
        "tta": tta,
    }
    settings = Settings.model_validate({k: v for k, v in overrides.items() if v is not None})
    if not settings.model.is_file():
        raise ModelError(f"model file not found: {settings.model}")
    bootstrap_admin_key(settings)

    if workers == 1:
        from serving.app import create_app

        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level=log_level
        )
        return
    # several processes: each rebuilds the same settings from the environment
    env = settings_env(settings)
    env.setdefault(
        "FINISHSCAN_URL_SECRET", secrets.token_hex(32)
    )  # signed links work on any worker
    os.environ.update(env)
    uvicorn.run(
        "serving.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=log_level,
    )


def settings_env(settings: object) -> dict[str, str]:
    """``FINISHSCAN_*`` variables that rebuild ``settings`` in another process."""
    out: dict[str, str] = {}
    for name, value in settings.model_dump().items():  # type: ignore[attr-defined]
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(value)
        out[f"FINISHSCAN_{name.upper()}"] = str(value)
    return out


def bootstrap_admin_key(settings: object) -> str | None:
    """On a register without any API key: create an admin key and print ``admin key: <KEY>`` once."""
    if not getattr(settings, "bootstrap_admin", True):
        return None
    from register import count_api_keys, create_api_key, open_register

    reg = open_register(settings.db, photo_root=settings.photo_root, rules_path=settings.rules)  # type: ignore[attr-defined]
    try:
        with reg.session() as session:
            if count_api_keys(session=session) > 0:
                return None
            _key, plaintext = create_api_key(session=session, project=None, role="admin")
    finally:
        reg.dispose()
    sys.stdout.write(f"admin key: {plaintext}\n")
    sys.stdout.flush()
    return plaintext
