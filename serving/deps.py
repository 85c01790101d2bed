"""FastAPI dependencies and their ``Annotated`` aliases, all in one place.

Everything the routes use comes from ``app.state.services`` (built in the lifespan), so a
test overrides ``get_detector`` / ``get_register`` or passes fakes to ``create_app``.

Roles (a key belongs to one project, an admin key to all):

| action | inspector | supervisor | admin |
| --- | --- | --- | --- |
| detect, upload photos, read units/defects/warnings/reports/photos | yes | yes | yes |
| set a defect to ``rectifying`` / ``rectified`` | yes | yes | yes |
| set a defect to ``verified`` / ``rejected`` / back to ``open`` | no | yes | yes |
| create projects, reach every project | no | no | yes |
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from finishscan.errors import NotFoundError
from serving.inference import DetectorLike, InferenceRunner
from serving.metrics import Metrics
from serving.settings import Settings

ROLE_RANK = {"inspector": 0, "supervisor": 1, "admin": 2}
SUPERVISOR_STATUSES = frozenset({"verified", "rejected", "open"})


@dataclass
class Services:
    """What the lifespan opens once and every request shares."""

    settings: Settings
    detector: DetectorLike
    runner: InferenceRunner
    register: Any
    metrics: Metrics
    url_secret: bytes
    model_name: str = ""
    model_version: str = ""
    # "now" for time-driven warnings (the periodic refresh and reads); tests inject a fake
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def get_services(request: Request) -> Services:
    services = getattr(request.app.state, "services", None)
    if services is None:  # pragma: no cover - only before start-up finished
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_detector(services: ServicesDep) -> DetectorLike:
    return services.detector


def get_runner(services: ServicesDep) -> InferenceRunner:
    return services.runner


def get_register(services: ServicesDep) -> Any:
    return services.register


def get_metrics(services: ServicesDep) -> Metrics:
    return services.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
DetectorDep = Annotated[DetectorLike, Depends(get_detector)]
RunnerDep = Annotated[InferenceRunner, Depends(get_runner)]
RegisterDep = Annotated[Any, Depends(get_register)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <KEY>`")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_api_key(
    register: RegisterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Any:
    """The caller's API key record (``.role``, ``.project``), or 401."""
    from register import authenticate

    if credentials is None or not credentials.credentials:
        raise _unauthorized("an API key is required: send 'Authorization: Bearer <KEY>'")
    with register.session() as session:
        key = authenticate(session=session, key=credentials.credentials)
    if key is None:
        raise _unauthorized("the API key is not valid (unknown or revoked)")
    return key


ApiKeyDep = Annotated[Any, Depends(get_api_key)]


def is_admin(key: Any) -> bool:
    return key.role == "admin"


def check_project(key: Any, project: str) -> None:
    """403 unless the key belongs to ``project`` or is an admin key."""
    if not is_admin(key) and key.project != project:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this API key does not give access to project {project!r}"
        )


def require_role(key: Any, role: str) -> None:
    if ROLE_RANK.get(key.role, -1) < ROLE_RANK[role]:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this action needs a {role} key (this key is {key.role})"
        )


def get_admin_key(key: ApiKeyDep) -> Any:
    require_role(key, "admin")
    return key


AdminKeyDep = Annotated[Any, Depends(get_admin_key)]

ProjectCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
UnitCode = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


def get_project_scope(project: ProjectCode, key: ApiKeyDep) -> str:
    """The ``{project}`` path parameter, after checking the key may reach it."""
    check_project(key, project)
    return project


ProjectDep = Annotated[str, Depends(get_project_scope)]


def actor_of(key: Any) -> str:
    """Who the history records for a change made with this key."""
    return f"key:{getattr(key, 'prefix', None) or getattr(key, 'id', '?')}({key.role})"


def active_warning_levels(session: Any, project: str) -> dict[tuple[str, str], str]:
    """``{(unit or "project", rule): level}`` of the project's active warnings (for metrics)."""
    from register import active_warnings

    try:
        items = active_warnings(session=session, project=project)
    except NotFoundError:
        return {}
    return {(w.unit or "project", w.rule): w.level for w in items}


# Signed photo links: the HTML report is opened in a browser, which sends no Authorization
# header for <img>; its links carry an HMAC of the photo id and an expiry instead.


def sign_photo(secret: bytes, photo_id: int, expires: int) -> str:
    msg = f"{photo_id}:{expires}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


def check_photo_signature(secret: bytes, photo_id: int, expires: int, sig: str, now: float) -> bool:
    if expires < now:
        return False
    return hmac.compare_digest(sign_photo(secret, photo_id, expires), sig)
