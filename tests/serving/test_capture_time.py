"""An uploaded photo is dated by its EXIF capture time when it has one (an archive photo sent
today is not "taken today"); the defects found in it are registered now."""

from __future__ import annotations

from datetime import UTC, datetime

from ..exif_blocks import DATE_TIME_ORIGINAL, OFFSET_TIME_ORIGINAL, exif_tiff, with_exif


def test_upload_dates_the_photo_by_its_exif_else_by_receipt(
    as_user, make_photo, register_db
) -> None:
    from register import get_photo

    tiff = exif_tiff(
        {DATE_TIME_ORIGINAL: b"2024:05:01 10:20:30\0", OFFSET_TIME_ORIGINAL: b"+08:00\0"}
    )
    old = with_exif(make_photo([("crack", 0.9)], seed=1), tiff)
    new = make_photo([("crack", 0.9)], seed=2)
    u = as_user("p1_inspector")
    before = datetime.now(UTC)
    ids = []
    for data in (old, new):
        r = u.post(
            "/v1/projects/P1/units/3-2-1701/photos",
            files={"file": ("wall.png", data, "image/png")},
            data={"stage": "acceptance"},
        )
        assert r.status_code == 201, r.text
        assert [d["label"] for d in r.json()["defects"]] == ["crack"]
        ids.append(r.json()["photo_id"])
    with register_db.session(readonly=True) as s:
        got = [get_photo(session=s, photo_id=i) for i in ids]
    assert [p.taken_at for p in got] == [datetime(2024, 5, 1, 2, 20, 30, tzinfo=UTC), None]
    assert all(p.created_at >= before for p in got)
    assert all(d.created_at >= before for p in got for d in p.defects)
    page = u.get("/v1/projects/P1/units/3-2-1701/report").text
    assert page.count("taken 2024-05-01 02:20") == 1  # the report shows the capture time
