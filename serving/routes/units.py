"""A project's units: photo upload (detect + record + warnings in one transaction), the unit
list (worst first), one unit's summary, its defects and its HTML report."""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, File, Form, Query, Response, UploadFile, status
from fastapi.responses import HTMLResponse

from serving.deps import (
    ApiKeyDep,
    ProjectDep,
    RegisterDep,
    ServicesDep,
    UnitCode,
    active_warning_levels,
    actor_of,
    sign_photo,
)
from serving.pipeline import analyse_bytes, detection_record
from serving.routes.detect import (
    ERRORS,
    TileForm,
    TileQuery,
    TtaForm,
    TtaQuery,
    pick_tile,
    pick_tta,
)
from serving.schemas import (
    DefectPublic,
    ModelPublic,
    PhotoDefectPublic,
    PhotoUploadPublic,
    UnitStatusPublic,
    UnitSummaryPublic,
)
from serving.uploads import read_limited

router = APIRouter(prefix="/v1/projects/{project}/units", tags=["units"])

Stage = Literal["construction", "acceptance", "owner_visit", "warranty"]
LEVEL_RANK = {"none": 0, "amber": 1, "red": 2}
PHOTO_LINK_TTL_S = 7 * 24 * 3600
# the report is static: no scripts, images from this service or embedded, inline styles only
REPORT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'"


def photo_url(photo_id: int, *, boxes: bool = True) -> str:
    return f"/v1/photos/{photo_id}.jpg" + ("?boxes=1" if boxes else "")


def defect_public(d: Any) -> DefectPublic:
    return DefectPublic(
        id=d.id,
        unit=d.unit,
        photo_id=d.photo_id,
        photo_url=photo_url(d.photo_id),
        label=d.label,
        confidence=d.confidence if d.confidence is not None else 1.0,
        box=list(d.box),
        status=d.status,
        tier=d.tier,
        deadline=d.deadline,
        source=d.source,
        created_at=d.created_at,
    )


@router.post(
    "/{unit}/photos",
    status_code=status.HTTP_201_CREATED,
    response_model=PhotoUploadPublic,
    responses={
        **ERRORS,
        200: {
            "description": "these bytes were already stored for this unit",
            "model": PhotoUploadPublic,
        },
        403: {"description": "another project's key"},
        404: {"description": "no such project"},
    },
)
async def upload_photo(
    project: ProjectDep,
    unit: UnitCode,
    key: ApiKeyDep,
    services: ServicesDep,
    response: Response,
    file: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP, BMP, TIFF)")],
    room: Annotated[str | None, Form(max_length=64)] = None,
    stage: Annotated[Stage | None, Form()] = None,
    tile_query: TileQuery = None,
    tile_form: TileForm = None,
    tta_query: TtaQuery = None,
    tta_form: TtaForm = None,
) -> Any:
    """Detect defects in the photo and record photo, defects and warnings in one transaction.

    201 for a new photo; 200 with the same ``photo_id`` and no new defects when the same
    bytes were already uploaded for this unit. A failed request writes nothing. The photo is
    dated by its EXIF capture time (``taken_at``), else by when it was received.
    """
    from detector import read_header
    from register import DetectedDefect, get_project, is_recorded, record_photo

    settings, register = services.settings, services.register
    tile = pick_tile(tile_query, tile_form, settings.default_tile)
    tta = pick_tta(tta_query, tta_form)
    data = await read_limited(file, settings.max_upload_bytes)
    sha = hashlib.sha256(data).hexdigest()
    model = {"name": services.model_name, "version": services.model_version}
    if tta is not None:  # this request's view: its version may carry "+flip"
        model["version"] = str(services.runner.view(tta).info.version)

    def known() -> bool:
        with register.session() as session:
            # 404 for an unknown project before any work (admins create projects)
            get_project(session=session, code=project)
            return is_recorded(
                session=session,
                sha256=sha,
                project=project,
                unit=unit,
                model_version=model["version"],
            )

    seen = await anyio.to_thread.run_sync(known)
    # size, orientation and EXIF capture time, no pixels (ImageError as decoding would raise)
    header = await anyio.to_thread.run_sync(read_header, data)
    if seen:
        # the same bytes were already analysed by this model for this unit: no inference,
        # the register hands back the stored photo and its defects
        # as decoded (orientation applied, in every format), like the first upload's reply
        width, height = header.size
        defects: list[Any] = []
        quality = None
    else:
        analysed = await analyse_bytes(data, tile, services, tta)
        record = detection_record(analysed, services, file.filename or "upload")
        model = record["model"]
        quality = record.get("quality")
        width, height = analysed.width, analysed.height
        defects = [
            DetectedDefect(d["label"], d["confidence"], tuple(d["box"])) for d in record["defects"]
        ]
    actor = actor_of(key)

    def write() -> tuple[Any, dict, dict]:
        with register.session() as session:
            before = active_warning_levels(session, project)
            recorded = record_photo(
                session=session,
                store=register.store,
                rules=register.rules,
                project=project,
                unit=unit,
                data=data,
                width=width,
                height=height,
                defects=defects,
                model_name=model["name"],
                model_version=model["version"],
                room=room,
                stage=stage,
                inspector=actor,
                taken_at=header.taken_at,
                quality_warnings=None if quality is None else quality["warnings"],
            )
            after = active_warning_levels(session, project)
        return recorded, before, after

    recorded, before, after = await anyio.to_thread.run_sync(write)
    metrics = services.metrics
    metrics.photos.labels("created" if recorded.created else "known").inc()
    metrics.count_warning_changes(before, after)
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return PhotoUploadPublic(
        photo_id=recorded.photo_id,
        created=recorded.created,
        width=width,
        height=height,
        defects=[
            PhotoDefectPublic(
                id=d.id,
                label=d.label,
                confidence=d.confidence if d.confidence is not None else 1.0,
                box=list(d.box),
                status=d.status,
            )
            for d in recorded.defects
        ],
        unit=UnitStatusPublic(
            unit=recorded.unit.unit,
            open_defects=recorded.unit.open_defects,
            warning=recorded.unit.warning,
        ),
        model=ModelPublic(**model),
        quality=quality,
    )


@router.get("", response_model=list[UnitStatusPublic])
def list_units(project: ProjectDep, register: RegisterDep) -> Any:
    """The project's units, worst first (red, amber, none; then most open defects)."""
    from register import list_units as units_of

    with register.session() as session:
        items = units_of(session=session, project=project)
    rows = [
        UnitStatusPublic(unit=u.unit, open_defects=u.open_defects, warning=u.warning) for u in items
    ]
    rows.sort(key=lambda u: (-LEVEL_RANK[u.warning], -u.open_defects, u.unit))
    return rows


@router.get(
    "/{unit}", response_model=UnitSummaryPublic, responses={404: {"description": "no such unit"}}
)
def get_unit(project: ProjectDep, unit: UnitCode, register: RegisterDep) -> Any:
    """``{"unit", "open_defects", "defects_by_label", "warning"}`` (open defects per label)."""
    from register import unit_summary

    with register.session() as session:
        s = unit_summary(session=session, project=project, unit=unit)
    return UnitSummaryPublic(
        unit=s.unit,
        open_defects=s.open_defects,
        defects_by_label=dict(s.defects_by_label),
        warning=s.warning,
    )


@router.get(
    "/{unit}/defects",
    response_model=list[DefectPublic],
    responses={404: {"description": "no such unit"}},
)
def list_defects(project: ProjectDep, unit: UnitCode, register: RegisterDep) -> Any:
    """The unit's defects with status, tier, deadline and a link to the annotated photo."""
    from register import unit_defects

    with register.session() as session:
        items = unit_defects(session=session, project=project, unit=unit)
    return [defect_public(d) for d in items]


@router.get(
    "/{unit}/report",
    response_class=HTMLResponse,
    responses={404: {"description": "no such unit"}},
)
def unit_report(
    project: ProjectDep,
    unit: UnitCode,
    services: ServicesDep,
    embed: Annotated[
        bool, Query(description="embed downscaled photos in the page (one self-contained file)")
    ] = False,
) -> HTMLResponse:
    """The unit's file as one HTML page: defect list and photos with their defects outlined.

    Photos are linked to ``/v1/photos/{id}.jpg`` through links signed for a week (the page
    opens in a browser without a key), or embedded with ``?embed=1``.
    """
    from register import unit_report_html

    expires = int(time.time()) + PHOTO_LINK_TTL_S
    secret = services.url_secret

    def href(photo_id: int) -> str:
        # the page outlines the defects itself (SVG), so the linked photo is the plain one
        sig = sign_photo(secret, int(photo_id), expires)
        return f"{photo_url(int(photo_id), boxes=False)}?max_side=1600&exp={expires}&sig={sig}"

    register = services.register
    with register.session() as session:
        html = unit_report_html(
            session=session,
            store=register.store,
            project=project,
            unit=unit,
            photo_href=None if embed else href,
            now=services.clock(),  # overdue marks at the clock the warnings list uses
        )
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})
