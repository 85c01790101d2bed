"""The HTTP service: ``create_app(settings)`` builds a FastAPI app; nothing is opened at import.

The model and the register are opened in the lifespan (when the server starts), shared by
every request, and closed at shutdown. A background task re-evaluates every project's warnings
each ``settings.warnings_refresh_s`` seconds (overdue ones appear on a quiet project). Tests
pass fakes (``detector=``, ``register=``, ``clock=``) or override the dependencies in
``serving.deps``.

    app = create_app(Settings(db="sqlite:///register.db"))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from finishscan import __version__
from finishscan.errors import (
    ConfigError,
    FinishscanError,
    ImageError,
    ModelError,
    NotFoundError,
    PermissionDenied,
    RegisterError,
    TransitionError,
)
from serving.deps import Services
from serving.inference import DetectorLike, InferenceRunner
from serving.metrics import Metrics, MetricsMiddleware
from serving.routes import defects, detect, health, model, photos, projects, units, warnings
from serving.settings import Settings
from serving.uploads import BodySizeLimitMiddleware

__all__ = ["create_app", "load_detector", "open_register_from", "refresh_warnings_periodically"]

log = logging.getLogger("finishscan.serving")

DESCRIPTION = """Detect finishing defects in inspection photos and keep the per-unit defect register.

Every `/v1` route needs `Authorization: Bearer <KEY>`; errors are JSON `{"detail": ...}`."""


def load_detector(settings: Settings) -> DetectorLike:
    """The ONNX detector named by ``settings.model`` (raises ``ModelError``)."""
    from detector import Detector

    return Detector(
        settings.model,
        threads=settings.threads,
        conf=settings.conf,
        iou=settings.iou,
        tta=settings.tta,
    )


def open_register_from(settings: Settings) -> Any:
    """The register at ``settings.db`` (raises ``RegisterError``/``ConfigError``)."""
    from register import open_register

    return open_register(settings.db, photo_root=settings.photo_root, rules_path=settings.rules)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def refresh_warnings_periodically(
    register: Any,
    interval_s: float,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
) -> None:
    """Every ``interval_s`` seconds bring each project's warnings up to ``clock()``, one
    project (one short transaction, in a worker thread) at a time so requests never wait on
    the loop; what it raises and clears is logged and counted in ``metrics``. Never raises: a
    failed project or an unreachable database is logged and tried again next time. Cancelled
    (at shutdown) between projects; a project's transaction in progress finishes first."""
    from register.refresh import project_codes, refresh_one

    while True:
        await anyio.sleep(interval_s)
        try:
            codes = await anyio.to_thread.run_sync(project_codes, register)
        except FinishscanError as e:
            log.error("warning refresh skipped: %s (next try in %gs)", e, interval_s)
            continue
        except Exception:
            log.exception("warning refresh skipped (next try in %gs)", interval_s)
            continue
        now = clock()
        for code in codes:
            try:
                r = await anyio.to_thread.run_sync(partial(refresh_one, register, code, now=now))
            except FinishscanError as e:
                log.error("warning refresh of project %s failed: %s", code, e)
                continue
            except Exception:
                log.exception("warning refresh of project %s failed", code)
                continue
            if metrics is not None:
                metrics.count_refresh(r)
            for kind, ws in (("cleared", r.cleared), ("raised", r.raised)):
                for w in ws:
                    log.info(
                        "warning %s: project %s %s %s %s (%s)",
                        kind,
                        code,
                        w.unit or "(project)",
                        w.rule,
                        w.level,
                        w.detail,
                    )


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _is_outage(e: BaseException) -> bool:
    """A register error caused by an unreachable database or an unreadable disk."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    cause = e.__cause__
    return isinstance(cause, (OperationalError, InterfaceError)) or (
        isinstance(cause, OSError) and not isinstance(cause, FileNotFoundError)
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ImageError)
    async def image_error(_: Request, e: ImageError) -> JSONResponse:
        return _error(413 if e.too_large else 422, str(e))

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, e: NotFoundError) -> JSONResponse:
        return _error(404, str(e))

    @app.exception_handler(TransitionError)
    async def transition(_: Request, e: TransitionError) -> JSONResponse:
        return _error(409, str(e))

    @app.exception_handler(PermissionDenied)
    async def denied(_: Request, e: PermissionDenied) -> JSONResponse:
        return _error(403, str(e))

    @app.exception_handler(RegisterError)
    async def register_error(_: Request, e: RegisterError) -> JSONResponse:
        if _is_outage(e):  # the database or photo store is down, not a refused change
            log.error("register unavailable: %s", e)
            return _error(503, f"the register is unavailable: {e}", {"Retry-After": "5"})
        return _error(409, str(e))

    @app.exception_handler(ModelError)
    async def model_error(_: Request, e: ModelError) -> JSONResponse:
        log.error("model error: %s", e)
        return _error(503, str(e))

    @app.exception_handler(ConfigError)
    async def config_error(_: Request, e: ConfigError) -> JSONResponse:
        log.error("configuration error: %s", e)
        return _error(500, str(e))

    @app.exception_handler(FinishscanError)
    async def other_error(_: Request, e: FinishscanError) -> JSONResponse:
        return _error(400, str(e))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        return _error(e.status_code, e.detail, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, e: RequestValidationError) -> JSONResponse:
        errors = [
            {k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in e.errors()
        ]
        return _error(422, errors)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, e: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=e)
        return _error(500, "internal error; the service logged it")


def create_app(
    settings: Settings | None = None,
    *,
    detector: DetectorLike | None = None,
    register: Any | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A new app; ``detector``/``register`` replace what ``settings`` would open and
    ``clock`` (default: the current UTC time) dates the time-driven warning refresh, periodic
    and on reading the warnings (tests)."""
    settings = settings or Settings()  # type: ignore[call-arg]  # fields come from the env
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        det = (
            detector
            if detector is not None
            else await anyio.to_thread.run_sync(load_detector, settings)
        )
        reg = register or await anyio.to_thread.run_sync(open_register_from, settings)
        info = getattr(det, "info", None)
        runner = InferenceRunner(
            det,
            metrics=metrics,
            concurrency=settings.inference_concurrency,
            batch_max=settings.batch_max,
            batch_wait_ms=settings.batch_wait_ms,
        )
        secret = settings.url_secret.encode() if settings.url_secret else secrets.token_bytes(32)
        async with runner:
            app.state.services = Services(
                settings=settings,
                detector=det,
                runner=runner,
                register=reg,
                metrics=metrics,
                url_secret=secret,
                model_name=str(getattr(info, "name", "") or ""),
                model_version=str(getattr(info, "version", "") or ""),
                clock=clock or _utc_now,
            )
            try:
                async with anyio.create_task_group() as background:
                    if settings.warnings_refresh_s > 0:
                        background.start_soon(
                            refresh_warnings_periodically,
                            reg,
                            settings.warnings_refresh_s,
                            clock or _utc_now,
                            metrics,
                            name="warning refresh",
                        )
                    try:
                        yield
                    finally:  # stop the refresh before the register closes
                        background.cancel_scope.cancel()
            finally:
                app.state.services = None
                if register is None:
                    close = getattr(reg, "close", None) or getattr(reg, "dispose", None)
                    if callable(close):
                        close()

    app = FastAPI(
        title="finishscan",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.services = None
    _install_error_handlers(app)
    for module in (health, detect, model, projects, units, defects, warnings, photos):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes + 65536)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
