"""``POST /v1/projects`` (admin) and ``POST /v1/projects/{project}/keys`` (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from serving.deps import AdminKeyDep, ProjectDep, RegisterDep
from serving.schemas import KeyCreate, KeyCreatedPublic, ProjectCreate, ProjectPublic

router = APIRouter(prefix="/v1/projects", tags=["projects"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectPublic,
    responses={403: {"description": "not an admin key"}, 409: {"description": "code exists"}},
)
def create_project(body: ProjectCreate, _admin: AdminKeyDep, register: RegisterDep) -> Any:
    """Create a project (admin keys only); 409 if the code is taken."""
    from register import create_project as create

    with register.session() as session:
        project = create(session=session, code=body.code, name=body.name or body.code)
    return ProjectPublic(code=project.code, name=project.name)


@router.post(
    "/{project}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreatedPublic,
    responses={403: {"description": "not an admin key"}, 404: {"description": "no such project"}},
)
def create_key(
    body: KeyCreate, project: ProjectDep, _admin: AdminKeyDep, register: RegisterDep
) -> Any:
    """Create an API key for the project; the key is in this response only (stored hashed)."""
    from register import create_api_key, get_project

    with register.session() as session:
        get_project(session=session, code=project)  # 404 rather than creating a project
        key, plaintext = create_api_key(
            session=session, project=None if body.role == "admin" else project, role=body.role
        )
    return KeyCreatedPublic(key=plaintext, prefix=key.prefix, role=key.role, project=key.project)
