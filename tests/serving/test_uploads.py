"""Sniffing the image type from the first bytes, not from the name or content type."""

from __future__ import annotations

import pytest

from serving.uploads import sniff_image_type


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\xff\xd8\xff\xe1\x00\x10Exif", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"BM" + b"\x00" * 20, "bmp"),
        (b"II*\x00\x08\x00\x00\x00", "tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "tiff"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "heif"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00", "heif"),
        (b"%PDF-1.7\n", None),
        (b"GIF89a\x01\x00", None),
        (b"<html><body>", None),
        (b"\xff\xd8", None),  # too short to be a JPEG
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_sniff_image_type(head: bytes, kind: str | None) -> None:
    assert sniff_image_type(head) == kind
