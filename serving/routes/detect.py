"""``POST /v1/detect``: detect defects in one photo; nothing is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from serving.deps import ApiKeyDep, ServicesDep
from serving.pipeline import analyse_upload, detection_record
from serving.schemas import DetectionPublic
from serving.settings import TileMode

router = APIRouter(prefix="/v1", tags=["detect"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "empty file"},
    401: {"description": "no or bad API key"},
    413: {"description": "file or pixel count over the limit"},
    415: {"description": "not a supported image"},
    422: {"description": "unreadable image or bad parameters"},
}

TileQuery = Annotated[
    TileMode | None,
    Query(alias="tile", description="slice large photos: auto (by size), on, off"),
]
TileForm = Annotated[TileMode | None, Form(alias="tile")]
TtaQuery = Annotated[
    bool | None,
    Query(
        alias="tta",
        description="also read the photo mirrored and fuse the two views (`detect --tta`: "
        "about twice the time, model version `<version>+flip`); default: the service's setting",
    ),
]
TtaForm = Annotated[bool | None, Form(alias="tta")]


def pick_tile(query: str | None, form: str | None, default: str) -> str:
    """The tile mode: query parameter, then form field, then the service default."""
    return query or form or default


def pick_tta(query: bool | None, form: bool | None) -> bool | None:
    """Flip TTA: query parameter, then form field; ``None`` leaves the service's setting."""
    return query if query is not None else form


@router.post("/detect", response_model=DetectionPublic, responses=ERRORS)
async def detect(
    services: ServicesDep,
    _key: ApiKeyDep,
    file: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP, BMP, TIFF)")],
    tile_query: TileQuery = None,
    tile_form: TileForm = None,
    tta_query: TtaQuery = None,
    tta_form: TtaForm = None,
) -> dict:
    """Detect defects in one photo and return the detection object."""
    tile = pick_tile(tile_query, tile_form, services.settings.default_tile)
    analysed = await analyse_upload(file, tile, services, pick_tta(tta_query, tta_form))
    return detection_record(analysed, services, file.filename or "upload")
