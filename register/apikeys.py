"""API keys: ``fsk_<prefix>_<secret>``; only the sha256 of the whole key is stored.

out, key = create_api_key(session=s, project="P1", role="inspector")   # key shown once
authenticate(session=s, key=key).role == "inspector"
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from finishscan.errors import NotFoundError, RegisterError
from register.models import ROLES, ApiKey, utcnow
from register.repository.lookup import _lock_project, _project
from register.schemas import ApiKeyOut

_KEY = re.compile(r"^fsk_([0-9a-f]{12})_([A-Za-z0-9_-]{32,})$")


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _out(k: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=k.id,
        prefix=k.prefix,
        role=k.role,  # type: ignore[arg-type]
        project=k.project.code if k.project else None,
        created_at=k.created_at,
        revoked_at=k.revoked_at,
    )


def create_api_key(*, session: Session, project: str | None, role: str) -> tuple[ApiKeyOut, str]:
    """A new key for ``project`` (created if needed) with ``role``; returns (record, plaintext).

    Only admin keys may have no project. The plaintext is not stored and cannot be shown again.
    """
    if role not in ROLES:
        raise RegisterError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if project is None and role != "admin":
        raise RegisterError(f"a {role} key needs a project")
    project_id = _lock_project(session, project, create=True).id if project is not None else None
    prefix = secrets.token_hex(6)
    key = f"fsk_{prefix}_{secrets.token_urlsafe(32)}"
    k = ApiKey(
        prefix=prefix, key_hash=_hash(key), role=role, project_id=project_id, created_at=utcnow()
    )
    session.add(k)
    session.flush()
    session.refresh(k, ["project"])
    return _out(k), key


def authenticate(*, session: Session, key: str) -> ApiKeyOut | None:
    """The key's record if ``key`` is a valid, unrevoked key; else None (constant-time compare)."""
    m = _KEY.match(key.strip()) if isinstance(key, str) else None
    if m is None:
        return None
    k = session.scalars(
        select(ApiKey).options(joinedload(ApiKey.project)).where(ApiKey.prefix == m.group(1))
    ).one_or_none()
    if k is None or k.revoked_at is not None:
        return None
    if not hmac.compare_digest(k.key_hash, _hash(key.strip())):
        return None
    return _out(k)


def list_api_keys(*, session: Session, project: str | None = None) -> list[ApiKeyOut]:
    q = select(ApiKey).options(joinedload(ApiKey.project)).order_by(ApiKey.id)
    if project is not None:
        q = q.where(ApiKey.project_id == _project(session, project).id)
    return [_out(k) for k in session.scalars(q)]


def revoke_api_key(*, session: Session, key_id: int) -> ApiKeyOut:
    """Revoke a key (idempotent: revoking twice keeps the first time)."""
    k = session.scalars(
        select(ApiKey).options(joinedload(ApiKey.project)).where(ApiKey.id == int(key_id))
    ).one_or_none()
    if k is None:
        raise NotFoundError(f"API key {key_id} does not exist")
    if k.revoked_at is None:
        k.revoked_at = utcnow()
        session.flush()
    return _out(k)


def count_api_keys(*, session: Session, active_only: bool = False) -> int:
    """How many keys were ever created (``active_only``: unrevoked ones); 0 means an empty
    register, on which the service bootstraps an admin key."""
    q = select(func.count()).select_from(ApiKey)
    if active_only:
        q = q.where(ApiKey.revoked_at.is_(None))
    return int(session.scalar(q) or 0)


__all__ = [
    "create_api_key",
    "authenticate",
    "list_api_keys",
    "revoke_api_key",
    "count_api_keys",
]
