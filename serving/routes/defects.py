"""``GET``/``PATCH /v1/defects/{defect_id}``: one defect with its history; status changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from serving.deps import (
    SUPERVISOR_STATUSES,
    ApiKeyDep,
    MetricsDep,
    RegisterDep,
    active_warning_levels,
    actor_of,
    check_project,
    require_role,
)
from serving.routes.units import defect_public
from serving.schemas import DefectDetailPublic, DefectUpdate, HistoryPublic

router = APIRouter(prefix="/v1/defects", tags=["defects"])

DefectId = Annotated[int, Path(ge=1, le=2**62)]


def detail_public(d: Any) -> DefectDetailPublic:
    base = defect_public(d).model_dump()
    return DefectDetailPublic(
        **base,
        project=d.project,
        history=[
            HistoryPublic(
                at=h.at,
                actor=h.actor,
                from_status=h.from_status,
                to_status=h.to_status,
                note=h.note,
            )
            for h in d.history
        ],
    )


@router.get(
    "/{defect_id}",
    response_model=DefectDetailPublic,
    responses={
        403: {"description": "another project's defect"},
        404: {"description": "no such defect"},
    },
)
def get_defect(defect_id: DefectId, key: ApiKeyDep, register: RegisterDep) -> Any:
    """The defect with its append-only status history."""
    from register import defect_project
    from register import get_defect as fetch

    with register.session() as session:
        check_project(key, defect_project(session=session, defect_id=defect_id))
        return detail_public(fetch(session=session, defect_id=defect_id))


@router.patch(
    "/{defect_id}",
    response_model=DefectDetailPublic,
    responses={
        403: {"description": "another project's defect, or the role may not set this status"},
        404: {"description": "no such defect"},
        409: {"description": "the workflow does not allow this change"},
    },
)
def change_defect(
    defect_id: DefectId,
    body: DefectUpdate,
    key: ApiKeyDep,
    register: RegisterDep,
    metrics: MetricsDep,
) -> Any:
    """Change the status (``open``, ``rectifying``, ``rectified``, ``verified``, ``rejected``).

    Inspectors may set ``rectifying`` and ``rectified``; ``verified``, ``rejected`` and
    re-opening need a supervisor or admin key. 409 for a change the workflow refuses.
    """
    from register import change_status, defect_project

    with register.session() as session:
        project = defect_project(session=session, defect_id=defect_id)
        check_project(key, project)
        if body.status in SUPERVISOR_STATUSES:
            require_role(key, "supervisor")
        before = active_warning_levels(session, project)
        d = change_status(
            session=session,
            rules=register.rules,
            defect_id=defect_id,
            status=body.status,
            actor=actor_of(key),
            note=body.note,
        )
        after = active_warning_levels(session, project)
        out = detail_public(d)
    metrics.count_warning_changes(before, after)
    return out
