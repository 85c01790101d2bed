"""Register operations: every function takes the session keyword-only and never commits.

The caller's ``Register.session()`` is the transaction: a failure anywhere rolls back
everything the call wrote. Writers first lock the project row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``), so two processes recording for
the same unit or project at once serialize, lose nothing and raise one warning, not two.

One module per resource (each imports only those above it):

* :mod:`~register.repository.matching`: pure IoU matching and natural version order;
* :mod:`~register.repository.lookup`: checked codes, project locking, get-or-create rows;
* :mod:`~register.repository.warnings`: warning facts from SQL, reconciling, warning reads;
* :mod:`~register.repository.defects`: defect reads, person-marked defects, status changes;
* :mod:`~register.repository.photos`: recording photos and re-scans, photo reads;
* :mod:`~register.repository.projects`: projects, unit status lists, risk ranking.

``from register.repository import record_photos`` (or ``from register import …``).
"""

from register.repository.defects import (
    add_defect,
    change_status,
    defect_project,
    get_defect,
    unit_defects,
)
from register.repository.matching import MATCH_IOU, iou, match_boxes, version_key
from register.repository.photos import (
    get_photo,
    is_recorded,
    record_photo,
    record_photos,
    unit_photos,
    unreferenced_photos,
)
from register.repository.projects import (
    create_project,
    ensure_project,
    get_project,
    list_projects,
    list_units,
    project_risk,
    unit_summary,
)
from register.repository.warnings import (
    active_warnings,
    project_facts,
    refresh_project_warnings,
    refresh_warnings,
    warning_events,
    warning_history,
    warnings_stale,
)

__all__ = [
    "MATCH_IOU",
    "iou",
    "match_boxes",
    "version_key",
    "ensure_project",
    "create_project",
    "get_project",
    "list_projects",
    "list_units",
    "unit_summary",
    "project_risk",
    "record_photo",
    "record_photos",
    "is_recorded",
    "get_photo",
    "unit_photos",
    "unreferenced_photos",
    "get_defect",
    "defect_project",
    "unit_defects",
    "add_defect",
    "change_status",
    "project_facts",
    "refresh_warnings",
    "refresh_project_warnings",
    "warnings_stale",
    "active_warnings",
    "warning_history",
    "warning_events",
]
