"""The unit's file (HTML) and project exports (CSV / JSON).

    html = unit_report_html(session=s, store=reg.store, project="P1", unit="3-2-1701")
    csv_text = export_project(session=s, project="P1", fmt="csv")

Photos are embedded (downscaled JPEG, data URI) unless ``photo_href(photo_id)`` gives a URL;
boxes are an SVG overlay in the photo's own pixel coordinates. A missing or corrupt stored
photo is flagged in the report (``data-photo-problem``), never fatal.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from finishscan.errors import RegisterError
from register.models import Building, Defect, Inspection, Photo, Room, Unit, utcnow
from register.repository import (
    active_warnings,
    list_units,
    project_facts,
    unit_defects,
    unit_photos,
    unit_summary,
    warning_history,
)
from register.repository.lookup import _project
from register.rules import Rules, load_rules
from register.store import PhotoStore
from register.workflow import OPEN_STATUSES, is_overdue

STATUS_COLORS = {
    "open": "#e0201b",
    "rectifying": "#f08c00",
    "rectified": "#1c7ed6",
    "verified": "#2b8a3e",
    "rejected": "#868e96",
}
_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent),
    autoescape=select_autoescape(["html", "j2"]),
)


def _thumb_data_uri(data: bytes, max_side: int) -> str:
    import cv2  # only the HTML report needs OpenCV
    import numpy as np

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise RegisterError("stored photo cannot be decoded as an image")
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s < 1:
        img = cv2.resize(
            img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:  # pragma: no cover - opencv encode of a decoded image
        raise RegisterError("cannot encode the photo thumbnail")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


def unit_report_html(
    *,
    session: Session,
    store: PhotoStore,
    project: str,
    unit: str,
    photo_href: Callable[[int], str] | None = None,
    max_side: int = 1024,
    now: datetime | None = None,
) -> str:
    """The unit's file: summary, warnings (active and past), defects with history, annotated
    photos; overdue marks and the generation time as of ``now`` (default: the current time).

    The unit's warnings are its unit-rule ones (open defects, labels), which every writer
    reconciles in its own transaction; no rule that time alone changes is a unit rule (overdue
    and the rectification rate are the project's), so the page needs no refresh to agree with
    ``register.refresh.current_warnings`` at the same ``now``.
    """
    now = now or utcnow()
    summary = unit_summary(session=session, project=project, unit=unit)
    defects = unit_defects(session=session, project=project, unit=unit, now=now)
    photos = []
    for p in unit_photos(session=session, project=project, unit=unit):
        problem = store.check(p.sha256)
        src = None
        if problem is None:
            if photo_href is not None:
                src = photo_href(p.id)
            else:
                try:
                    src = _thumb_data_uri(store.read(p.sha256), max_side)
                except RegisterError as e:
                    problem = str(e)
        side = max(p.width, p.height)
        photos.append(
            {
                **p.model_dump(),
                "defects": p.defects,
                "src": src,
                "problem": problem,
                "stroke": max(2, side // 300),
                "font": max(12, side // 45),
            }
        )
    return _env.get_template("unit_report.html.j2").render(
        project=project,
        unit=summary,
        defects=defects,
        photos=photos,
        warnings=warning_history(session=session, project=project, unit=unit)[::-1],
        colors=STATUS_COLORS,
        generated_at=now.strftime("%Y-%m-%d %H:%M"),
    )


EXPORT_COLUMNS = [
    "project",
    "building",
    "unit",
    "room",
    "stage",
    "photo_id",
    "photo_sha256",
    "defect_id",
    "label",
    "confidence",
    "x0",
    "y0",
    "x1",
    "y1",
    "status",
    "tier",
    "deadline",
    "overdue",
    "assignee",
    "source",
    "model_name",
    "model_version",
    "created_at",
    "updated_at",
]


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


def _rows(session: Session, project: str) -> list[dict[str, Any]]:
    """One flat row per current defect of the project, in one query (units by code, then id)."""
    p = _project(session, project)
    now = utcnow()
    q = (
        select(Defect, Unit.code, Building.code, Room.name, Inspection.stage, Photo.sha256)
        .join(Unit, Defect.unit_id == Unit.id)
        .join(Photo, Defect.photo_id == Photo.id)
        .outerjoin(Building, Unit.building_id == Building.id)
        .outerjoin(Room, Photo.room_id == Room.id)
        .outerjoin(Inspection, Photo.inspection_id == Inspection.id)
        .where(Unit.project_id == p.id, Defect.superseded_at.is_(None))
        .order_by(Unit.code, Defect.id)
    )
    rows = []
    for d, unit, building, room, stage, sha in session.execute(q):
        rows.append(
            {
                "project": project,
                "building": building,
                "unit": unit,
                "room": room,
                "stage": stage,
                "photo_id": d.photo_id,
                "photo_sha256": sha,
                "defect_id": d.id,
                "label": d.label,
                "confidence": d.confidence,
                "x0": d.x0,
                "y0": d.y0,
                "x1": d.x1,
                "y1": d.y1,
                "status": d.status,
                "tier": d.tier,
                "deadline": _iso(d.deadline),
                "overdue": is_overdue(d.status, d.deadline, now),
                "assignee": d.assignee,
                "source": d.source,
                "model_name": d.model_name,
                "model_version": d.model_version,
                "created_at": _iso(d.created_at),
                "updated_at": _iso(d.updated_at),
            }
        )
    return rows


def export_project(
    *, session: Session, project: str, fmt: str = "csv", rules: Rules | None = None
) -> str:
    """A project's defects: ``csv`` (one row per defect, :data:`EXPORT_COLUMNS`) or ``json``
    (summary, units worst first, defects, active warnings)."""
    if fmt not in ("csv", "json"):
        raise RegisterError(f"unknown export format {fmt!r}; use csv or json")
    rows = _rows(session, project)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    now = utcnow()
    pf = project_facts(session, _project(session, project), rules or load_rules(), now)
    units = list_units(session=session, project=project)
    doc = {
        "project": project,
        "generated_at": now.isoformat(),
        "summary": {
            "units": len(units),
            "defects": len(rows),
            "open_defects": sum(r["status"] in OPEN_STATUSES for r in rows),
            "overdue": sum(bool(r["overdue"]) for r in rows),
            "by_status": dict(sorted(Counter(r["status"] for r in rows).items())),
            "by_label": dict(sorted(Counter(r["label"] for r in rows).items())),
            "rectification_rate": (pf.aged_rectified / pf.aged) if pf.aged else None,
        },
        "units": [u.model_dump() for u in units],
        "warnings": [
            w.model_dump(mode="json") for w in active_warnings(session=session, project=project)
        ],
        "defects": rows,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)
