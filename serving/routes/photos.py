"""``GET /v1/photos/{photo_id}.jpg``: a stored photo as JPEG, optionally with its defects drawn.

Reached with an API key of the photo's project, or through a signed link (``exp``, ``sig``)
such as those in the unit report.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import cv2
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from fastapi.security import HTTPAuthorizationCredentials

from serving.deps import (
    RegisterDep,
    ServicesDep,
    _bearer,
    check_photo_signature,
    check_project,
    get_api_key,
)

router = APIRouter(prefix="/v1/photos", tags=["photos"])

COLOURS = [  # RGB, one per class id, distinct on walls and tiles
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
]


def draw_boxes(image: np.ndarray, defects: list[Any], names: list[str]) -> np.ndarray:
    """A copy of the RGB ``image`` with each defect's box and ``label status`` drawn."""
    out = image.copy()
    thick = max(2, round(max(out.shape[:2]) / 600))
    scale = max(0.5, max(out.shape[:2]) / 1600)
    for d in defects:
        idx = names.index(d.label) if d.label in names else len(names)
        colour = COLOURS[idx % len(COLOURS)]
        x0, y0, x1, y1 = (round(v) for v in d.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick)
        text = f"#{d.id} {d.label} {d.status}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y0 - base if y0 - th - base >= 0 else y1 + th + base
        cv2.rectangle(out, (x0, ty - th - base), (x0 + tw, ty + base), colour, -1)
        cv2.putText(out, text, (x0, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick)
    return out


def shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    return cv2.resize(
        image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "could not encode the photo")
    return buf.tobytes()


@router.get(
    "/{photo_id}.jpg",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the photo as JPEG"},
        401: {"description": "no key and no valid signed link"},
        403: {"description": "another project's photo"},
        404: {"description": "no such photo"},
    },
)
def get_photo_jpeg(
    photo_id: Annotated[int, Path(ge=1, le=2**62)],
    services: ServicesDep,
    register: RegisterDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    boxes: Annotated[bool, Query(description="draw the photo's current defects")] = False,
    max_side: Annotated[int | None, Query(ge=64, le=20000, description="shrink to fit")] = None,
    exp: Annotated[int | None, Query(ge=0, le=2**62, description="signed link expiry")] = None,
    sig: Annotated[str | None, Query(max_length=64, description="signed link signature")] = None,
) -> Response:
    """The stored photo (EXIF orientation applied), boxes drawn with ``?boxes=1``."""
    from detector import decode_image
    from register import get_photo

    signed = (
        exp is not None
        and sig is not None
        and check_photo_signature(services.url_secret, photo_id, exp, sig, time.time())
    )
    key = None if signed else get_api_key(register, credentials)  # 401 without either
    with register.session() as session:
        photo = get_photo(session=session, photo_id=photo_id)
        if key is not None:
            check_project(key, photo.project)
        data = register.store.read(photo.sha256)
    image = decode_image(
        data, max_pixels=max(services.settings.max_pixels, photo.width * photo.height)
    )
    if boxes:
        image = draw_boxes(image, list(photo.defects), list(services.detector.names))
    body = encode_jpeg(shrink(image, max_side))
    return Response(
        body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
    )
