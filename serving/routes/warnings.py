"""``GET /v1/projects/{project}/warnings``: the project's active warnings."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.deps import ProjectDep, RegisterDep
from serving.schemas import WarningPublic

router = APIRouter(prefix="/v1/projects/{project}", tags=["warnings"])


@router.get("/warnings", response_model=list[WarningPublic])
def list_warnings(project: ProjectDep, register: RegisterDep) -> Any:
    """Active (not yet cleared) warnings, red first: ``[{"unit", "level", "rule", "raised_at"}]``."""
    from register import active_warnings

    with register.session() as session:
        items = active_warnings(session=session, project=project)
    return [
        WarningPublic(
            unit=w.unit, level=w.level, rule=w.rule, raised_at=w.raised_at, detail=w.detail
        )
        for w in items
    ]
