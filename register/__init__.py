"""The per-unit defect register: photos, defects, rectification workflow, early warnings.

    from register import open_register, record_photo, DetectedDefect
    reg = open_register()                      # $FINISHSCAN_DB, else embedded SQLite (migrated)
    with reg.session() as s:                   # one transaction
        r = record_photo(session=s, store=reg.store, rules=reg.rules, project="P1",
                         unit="3-2-1701", data=jpeg_bytes, width=4000, height=3000,
                         defects=[DetectedDefect("crack", 0.87, (10, 20, 300, 40))],
                         model_name="finishscan", model_version="1.0")
    with reg.session() as s:                   # many photos: same result, far fewer queries
        rs = record_photos(session=s, store=reg.store, rules=reg.rules,
                           items=[PhotoInput("P1", "3-2-1701", jpeg_bytes, 4000, 3000)],
                           model_name="finishscan", model_version="1.0")
    reg.dispose()

Imports neither ``serving`` nor ``training``. Errors come from ``finishscan.errors``.
"""

from finishscan.errors import NotFoundError, PermissionDenied, RegisterError, TransitionError
from register.apikeys import (
    authenticate,
    count_api_keys,
    create_api_key,
    list_api_keys,
    revoke_api_key,
)
from register.db import Register, make_engine, migrate, normalize_url, open_register
from register.early_warning import Decision, Facts, ProjectFacts, UnitFacts, evaluate_warnings
from register.refresh import refresh_all_warnings
from register.report import export_project, unit_report_html
from register.repository import (
    active_warnings,
    add_defect,
    change_status,
    create_project,
    defect_project,
    ensure_project,
    get_defect,
    get_photo,
    get_project,
    is_recorded,
    list_projects,
    list_units,
    project_risk,
    record_photo,
    record_photos,
    refresh_project_warnings,
    refresh_warnings,
    unit_defects,
    unit_photos,
    unit_summary,
    unreferenced_photos,
    warning_events,
    warning_history,
    warnings_stale,
)
from register.rules import Rules, load_rules, parse_rules
from register.schemas import (
    ApiKeyOut,
    DefectOut,
    DetectedDefect,
    HistoryOut,
    PhotoInput,
    PhotoOut,
    PhotoRecorded,
    ProjectOut,
    ProjectRisk,
    UnitStatus,
    UnitSummary,
    WarningOut,
    WarningRefresh,
)
from register.store import PhotoStore
from register.workflow import TRANSITIONS, can_transition

__all__ = [
    "open_register",
    "Register",
    "make_engine",
    "migrate",
    "normalize_url",
    "PhotoStore",
    "Rules",
    "load_rules",
    "parse_rules",
    "DetectedDefect",
    "ProjectOut",
    "DefectOut",
    "HistoryOut",
    "PhotoOut",
    "PhotoRecorded",
    "ProjectRisk",
    "UnitStatus",
    "UnitSummary",
    "WarningOut",
    "WarningRefresh",
    "ApiKeyOut",
    "ensure_project",
    "create_project",
    "get_project",
    "list_projects",
    "record_photo",
    "record_photos",
    "PhotoInput",
    "is_recorded",
    "list_units",
    "unit_summary",
    "unit_defects",
    "unit_photos",
    "unreferenced_photos",
    "get_defect",
    "defect_project",
    "get_photo",
    "change_status",
    "add_defect",
    "active_warnings",
    "refresh_warnings",
    "refresh_project_warnings",
    "refresh_all_warnings",
    "warnings_stale",
    "warning_history",
    "warning_events",
    "project_risk",
    "create_api_key",
    "authenticate",
    "list_api_keys",
    "revoke_api_key",
    "count_api_keys",
    "unit_report_html",
    "export_project",
    "evaluate_warnings",
    "Facts",
    "UnitFacts",
    "ProjectFacts",
    "Decision",
    "TRANSITIONS",
    "can_transition",
    "RegisterError",
    "NotFoundError",
    "TransitionError",
    "PermissionDenied",
]
