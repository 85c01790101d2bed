"""``/healthz`` (the process runs), ``/readyz`` (model loaded, register reachable), ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from serving.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """200 ``{"status": "ok"}`` while the process runs."""
    return {"status": "ok"}


def _register_reachable(register: object) -> str | None:
    try:
        ping = getattr(register, "ping", None)
        if callable(ping):
            ping()
        else:
            with register.session() as session:  # type: ignore[attr-defined]
                session.execute(text("SELECT 1"))
    except Exception as e:  # any failure means "not ready", with the reason
        return f"register unreachable: {e}"
    return None


@router.get("/readyz", responses={503: {"description": "model not loaded or register down"}})
def readyz(request: Request) -> JSONResponse:
    """200 when the model is loaded and the register answers, else 503 with the reason."""
    services = getattr(request.app.state, "services", None)
    if services is None or services.detector is None:
        return JSONResponse({"status": "unavailable", "detail": "model not loaded"}, 503)
    problem = _register_reachable(services.register)
    if problem:
        return JSONResponse({"status": "unavailable", "detail": problem}, 503)
    return JSONResponse(
        {
            "status": "ready",
            "model": {"name": services.model_name, "version": services.model_version},
        }
    )


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's metrics."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
