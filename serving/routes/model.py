"""``GET /v1/model``: the model the service detects with, its thresholds and its card."""

from __future__ import annotations

from fastapi import APIRouter

from serving.deps import ApiKeyDep, ServicesDep
from serving.schemas import ModelDescription

router = APIRouter(prefix="/v1", tags=["model"])


@router.get(
    "/model", response_model=ModelDescription, responses={401: {"description": "no or bad API key"}}
)
def describe_model(services: ServicesDep, _key: ApiKeyDep) -> ModelDescription:
    """Name, version, classes, input size, each class's confidence threshold, the service's TTA
    default and the model card (what it was trained on, its held-out metrics, its limits), so
    an inspection app can show what a result is worth."""
    det = services.detector
    return ModelDescription(
        name=det.info.name,
        version=det.info.version,
        classes=list(det.names),
        imgsz=list(det.info.imgsz),
        conf_thresholds=det.class_thresholds,
        tta=det.tta,
        card=det.card,
    )
