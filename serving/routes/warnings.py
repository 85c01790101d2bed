"""``GET /v1/projects/{project}/warnings``: the project's active warnings, current at the read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.deps import ProjectDep, ServicesDep
from serving.schemas import WarningPublic

router = APIRouter(prefix="/v1/projects/{project}", tags=["warnings"])


@router.get("/warnings", response_model=list[WarningPublic])
def list_warnings(project: ProjectDep, services: ServicesDep) -> Any:
    """Active (not yet cleared) warnings, red first: ``[{"unit", "level", "rule", "raised_at"}]``.

    Time-driven warnings (overdue rectification, aged defects) are brought up to the service's
    clock first, so none is missing or stale between two periodic sweeps: a read-only check
    when nothing is due, else the project's refresh (recorded, and counted in the metrics).
    """
    from register.refresh import current_warnings

    items, changed = current_warnings(services.register, project, now=services.clock())
    services.metrics.count_refresh(changed)
    return [
        WarningPublic(
            unit=w.unit, level=w.level, rule=w.rule, raised_at=w.raised_at, detail=w.detail
        )
        for w in items
    ]
