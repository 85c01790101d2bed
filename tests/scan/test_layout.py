from __future__ import annotations

import pytest

from finishscan.errors import ConfigError
from serving.scan.layout import Layout


@pytest.mark.parametrize(
    ("template", "rel", "fields"),
    [
        ("{project}/{unit}/...", "P1/3-2-1701/a.jpg", {"project": "P1", "unit": "3-2-1701"}),
        (
            "{project}/{unit}/...",
            "P1/3-2-1701/kitchen/2024/a.jpg",
            {"project": "P1", "unit": "3-2-1701"},
        ),
        ("{project}/{unit}/...", "P1/a.jpg", None),  # the trailing ... needs the file itself
        (
            "{project}/{building}/{unit}/{room}/*",
            "P1/B3/1701/bath/x.png",
            {"project": "P1", "building": "B3", "unit": "1701", "room": "bath"},
        ),
        ("{project}/{building}/{unit}/{room}/*", "P1/B3/1701/x.png", None),
        ("{project}/*/{unit}/*.jpg", "P1/anything/101/a.jpg", {"project": "P1", "unit": "101"}),
        ("{project}/*/{unit}/*.jpg", "P1/anything/101/a.png", None),
        (
            "/{project}/{unit}/.../",
            "P/U/a.jpg",
            {"project": "P", "unit": "U"},
        ),  # outer slashes ignored
        (".../{project}/{unit}/*", "2023/archive/P/U/a.jpg", {"project": "P", "unit": "U"}),
        (".../{project}/{unit}/*", "P/U/a.jpg", {"project": "P", "unit": "U"}),
        ("{project}/.../{unit}/*", "P/x/y/U/a.jpg", {"project": "P", "unit": "U"}),
        ("{project}/.../{unit}/*", "P/U/a.jpg", {"project": "P", "unit": "U"}),
        (
            "site-{project}/unit_{unit}/...",
            "site-P9/unit_0101/a.jpg",
            {"project": "P9", "unit": "0101"},
        ),
        ("site-{project}/unit_{unit}/...", "P9/unit_0101/a.jpg", None),
        (
            "{project}/{building}-{unit}/...",
            "P/3-2-1701/a.jpg",
            {"project": "P", "building": "3", "unit": "2-1701"},
        ),  # the first field takes the least
        (
            "{project}/{unit}/{stage}/...",
            "P/U/acceptance/a.jpg",
            {"project": "P", "unit": "U", "stage": "acceptance"},
        ),
        (
            "{project}/{unit}/...",
            "P.x/U+1/a.jpg",
            {"project": "P.x", "unit": "U+1"},
        ),  # literal dots
    ],
)
def test_layout_match(template: str, rel: str, fields: dict | None) -> None:
    assert Layout.parse(template).match(rel) == fields


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "layout is empty"),
        ("{project}/...", "must contain {unit}"),
        ("{unit}/...", "must contain {project}"),
        ("{project}/{flat}/...", "unknown field {flat}"),
        ("{project}/{unit}/{unit}", "field {unit} appears twice"),
        ("{project}//{unit}/...", "empty segment"),
        ("{project}/{unit/...", "unbalanced brace"),
    ],
)
def test_layout_errors(template: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        Layout.parse(template)
