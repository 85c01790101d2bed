"""Reading an uploaded photo safely: a byte limit while reading, and the format sniffed from
its first bytes (the filename and the client's content type are not trusted).

    >>> sniff_image_type(b"\\xff\\xd8\\xff\\xe0" + b"0" * 8)
    'jpeg'
    >>> sniff_image_type(b"%PDF-1.7") is None
    True
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, UploadFile, status

__all__ = ["BodySizeLimitMiddleware", "HEIF_BRANDS", "read_limited", "sniff_image_type"]

_CHUNK = 1 << 20

HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"hevm", b"mif1", b"msf1", b"avif")


def sniff_image_type(head: bytes) -> str | None:
    """The image format named by the magic bytes at the start of ``head``, else None.

    Formats the decoder reads: jpeg, png, webp, bmp, tiff. HEIC/AVIF are recognised
    only to be refused with a clear message (``"heif"``).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 14:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    return None


async def read_limited(file: UploadFile, max_bytes: int) -> bytes:
    """The whole upload, or 413 as soon as it passes ``max_bytes``; 400 when empty;
    415 when its first bytes are not a supported image."""
    parts: list[bytes] = []
    total = 0
    while chunk := await file.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"the file is larger than the limit of {max_bytes} bytes",
            )
        parts.append(chunk)
    data = b"".join(parts)
    if not data:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the uploaded file is empty")
    kind = sniff_image_type(data[:32])
    if kind is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "the file is not a supported image (JPEG, PNG, WebP, BMP or TIFF)",
        )
    if kind == "heif":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "HEIC/AVIF photos are not supported; send JPEG or PNG (most phone apps can)",
        )
    return data


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for a request body over ``max_bytes``: refused from ``Content-Length`` before
    reading, and counted while reading for chunked bodies (nothing is spooled past it)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await _send_413(send, self.max_bytes)
                    return
        seen = 0
        exceeded = False
        replaced = False

        async def counting_receive() -> dict:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: dict) -> None:
            # whatever the app answers after the body overflowed (FastAPI turns the
            # parse failure into a 400), the client gets the 413
            nonlocal replaced
            if exceeded:
                if not replaced:
                    replaced = True
                    await _send_413(send, self.max_bytes)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            if not replaced:
                replaced = True
                await _send_413(send, self.max_bytes)


async def _send_413(send: Any, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is larger than {limit} bytes"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
