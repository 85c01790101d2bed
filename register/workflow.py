"""The rectification workflow as pure functions: allowed transitions, deadlines, overdue.

    open ──► rectifying ──► rectified ──► verified
      │          │              │
      └──────────┴─► rejected   └─► rectifying   (re-opened: the repair failed verification)
    rejected ──► open                              (reinstated: it was not a false alarm)

``verified`` is final. ``can_transition("open", "verified") is False``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from finishscan.errors import TransitionError
from register.rules import Rules

TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"rectifying", "rejected"}),
    "rectifying": frozenset({"rectified", "rejected"}),
    "rectified": frozenset({"verified", "rectifying"}),
    "verified": frozenset(),
    "rejected": frozenset({"open"}),
}
OPEN_STATUSES = ("open", "rectifying")  # counted as open defects, can be overdue
DONE_STATUSES = ("rectified", "verified")


def can_transition(src: str, dst: str) -> bool:
    return dst in TRANSITIONS.get(src, frozenset())


def check_transition(src: str, dst: str) -> None:
    """Raise TransitionError unless ``src → dst`` is allowed."""
    if dst not in TRANSITIONS:
        raise TransitionError(f"unknown status {dst!r}; use one of {', '.join(TRANSITIONS)}")
    if not can_transition(src, dst):
        allowed = ", ".join(sorted(TRANSITIONS[src])) or "none (final)"
        raise TransitionError(
            f"a defect cannot go from {src} to {dst}; allowed from {src}: {allowed}"
        )


def default_deadline(tier: str, created_at: datetime, rules: Rules) -> datetime | None:
    """minor: ``minor_hours`` after creation; general: ``general_days``; complex: None (a
    committed date must be given)."""
    if tier == "minor":
        return created_at + timedelta(hours=rules.minor_hours)
    if tier == "general":
        return created_at + timedelta(days=rules.general_days)
    if tier == "complex":
        return None
    raise TransitionError(f"unknown tier {tier!r}; use minor, general or complex")


def is_overdue(status: str, deadline: datetime | None, now: datetime) -> bool:
    return status in OPEN_STATUSES and deadline is not None and deadline < now
