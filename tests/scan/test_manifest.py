from __future__ import annotations

import pytest

from finishscan.errors import ConfigError
from serving.scan.manifest import normalize_rel, parse_manifest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("path,project,unit\na.jpg,P1,101\n", [("a.jpg", "P1", "101", {})]),
        # header case and spaces, BOM, blank lines, column order
        (
            "\ufeff Unit , PATH ,project\n\n 3-2-1701 , ./x/a.jpg , P1 \n",
            [("x/a.jpg", "P1", "3-2-1701", {})],
        ),
        (
            "path,project,unit,building,room,stage,taken_at\nb\\c.png,P,1,B3,kitchen,acceptance,2024-05-01\n",
            [
                (
                    "b/c.png",
                    "P",
                    "1",
                    {
                        "building": "B3",
                        "room": "kitchen",
                        "stage": "acceptance",
                        "taken_at": "2024-05-01",
                    },
                )
            ],
        ),
        # optional cells may be empty or missing at the end of the row
        (
            "path,project,unit,room,stage\na.jpg,P,1,,\nb.jpg,P,1\n",
            [("a.jpg", "P", "1", {}), ("b.jpg", "P", "1", {})],
        ),
        # exact duplicate rows collapse; the same photo for another unit stays
        (
            "path,project,unit\na.jpg,P,1\na.jpg,P,1\na.jpg,P,2\n",
            [("a.jpg", "P", "1", {}), ("a.jpg", "P", "2", {})],
        ),
        (
            'path,project,unit\n"dir, with comma/a.jpg",P,1\n',
            [("dir, with comma/a.jpg", "P", "1", {})],
        ),
    ],
)
def test_parse_manifest(text: str, expected: list) -> None:
    items = parse_manifest(text, name="m.csv")
    assert [(i.rel, i.project, i.unit, i.meta()) for i in items] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "m.csv is empty"),
        ("path,project\na.jpg,P\n", "m.csv line 1: missing column(s) unit"),
        ("path,project,unit,floor\n", "m.csv line 1: unknown column(s) 'floor'"),
        ("path,project,unit,unit\n", "m.csv line 1: column(s) unit appear twice"),
        ("path,project,unit\na.jpg,P,1\nb.jpg,,2\n", "m.csv line 3: empty 'project'"),
        ("path,project,unit\n\n\nb.jpg,P,\n", "m.csv line 4: empty 'unit'"),
        ("path,project,unit\na.jpg,P,1,extra\n", "m.csv line 2: 4 fields but the header has 3"),
        ("path,project,unit\n/etc/a.jpg,P,1\n", "m.csv line 2: path '/etc/a.jpg' must be relative"),
        ("path,project,unit\nC:\\a.jpg,P,1\n", "m.csv line 2: path 'C:\\\\a.jpg' must be relative"),
        ("path,project,unit\nx/../../a.jpg,P,1\n", "m.csv line 2: path 'x/../../a.jpg' leaves"),
        (
            "path,project,unit,stage\na.jpg,P,1,handover\n",
            "m.csv line 2: stage 'handover' is not one of",
        ),
        (
            "path,project,unit,taken_at\na.jpg,P,1,yesterday\n",
            "m.csv line 2: taken_at 'yesterday' is not an ISO 8601",
        ),
        (
            "path,project,unit,taken_at\na.jpg,P,1,0001-01-01T00:00:00+09:00\n",
            "m.csv line 2: taken_at '0001-01-01T00:00:00+09:00' is before year 1 or after 9999 in UTC",
        ),
    ],
)
def test_manifest_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_manifest(text, name="m.csv")
    assert str(e.value).startswith(message), str(e.value)


@pytest.mark.parametrize(
    ("raw", "rel"),
    [
        ("a.jpg", "a.jpg"),
        ("./a/./b.jpg", "a/b.jpg"),
        ("a//b.jpg", "a/b.jpg"),
        ("a\\b.jpg", "a/b.jpg"),
        ("dir/", "dir"),
    ],
)
def test_normalize_rel(raw: str, rel: str) -> None:
    assert normalize_rel(raw, "x") == rel
