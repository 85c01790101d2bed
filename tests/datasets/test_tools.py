from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from datasets.tools import merge, preview, split, stats
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError


# ----------------------------------------------------------------------------- stats
@pytest.mark.parametrize(
    ("area", "bucket"),
    [
        (0.5, "small"),
        (32 * 32 - 1, "small"),
        (32 * 32, "medium"),
        (96 * 96 - 1, "medium"),
        (96 * 96, "large"),
    ],
)
def test_size_bucket(area, bucket):
    assert stats.size_bucket(area) == bucket


def test_compute_stats_hand_values():
    ds = Dataset(
        ["crack", "stain", "tile_chip"],
        [
            LabeledImage(
                Path("a.jpg"),
                200,
                100,
                [Box(0, 0, 0, 10, 20), Box(0, 0, 0, 30, 40), Box(1, 0, 0, 100, 100)],
            ),
            LabeledImage(Path("b.jpg"), 100, 100, [Box(0, 0, 0, 50, 2)]),
            LabeledImage(Path("c.jpg"), 100, 100, []),
        ],
    )
    s = stats.compute_stats(ds)
    assert (s.images, s.boxes, s.images_without_boxes) == (3, 4, 1)
    # areas 200, 1200, 10000, 100 -> small, medium, large, small
    assert s.sizes == {"small": 2, "medium": 1, "large": 1}
    crack, stain, chip = s.classes
    assert (crack.boxes, crack.images, crack.small, crack.medium, crack.large) == (3, 2, 2, 1, 0)
    assert (crack.median_width, crack.median_height) == (30, 20)
    # sqrt(area / image area): 200/20000, 1200/20000, 100/10000 -> median sqrt(0.01) = 0.1
    assert crack.median_rel_size == pytest.approx(0.1)
    assert (stain.boxes, stain.large, stain.median_width) == (1, 1, 100)
    assert chip.boxes == 0 and chip.median_width is None
    text = stats.format_stats(s)
    assert "images: 3  boxes: 4  images without boxes: 1" in text and "30×20" in text


# ----------------------------------------------------------------------------- merge
def _ds(names, *class_ids, path="x.jpg"):
    return Dataset(
        list(names), [LabeledImage(Path(path), 10, 10, [Box(c, 0, 0, 5, 5) for c in class_ids])]
    )


def test_merge_remaps_by_name():
    a = _ds(["stain", "crack"], 0, 1, path="a.jpg")  # ids differ from the target order
    b = _ds(["hairline", "mould", "graffiti"], 0, 1, 2, path="b.jpg")
    out = merge.merge(
        [a, b],
        ["crack", "stain"],
        mapping=merge.parse_mapping(["hairline=crack", "mould=stain"]),
        drop=["graffiti"],
    )
    assert out.names == ["crack", "stain"]
    assert [b.class_id for b in out.images[0].boxes] == [1, 0]
    assert [b.class_id for b in out.images[1].boxes] == [0, 1]


def test_merge_unknown_name_is_an_error():
    with pytest.raises(
        DatasetError,
        match=r"class 'graffiti' of b is not in the target classes .*--map graffiti=NAME",
    ):
        merge.merge([_ds(["crack"]), _ds(["graffiti"])], ["crack"], sources=["a", "b"])
    with pytest.raises(DatasetError, match="not of the form old=new"):
        merge.parse_mapping(["crack"])


# ----------------------------------------------------------------------------- split
def _unit_images(n_units: int, per_unit: int) -> list[LabeledImage]:
    return [
        LabeledImage(Path(f"/d/images/train/3-2-{1700 + u}_{k:02d}.jpg"), 10, 10)
        for u in range(n_units)
        for k in range(per_unit)
    ]


def test_split_keeps_groups_together_and_is_deterministic():
    images = _unit_images(20, 5)
    fn = split.group_by_regex(r"^(\d+-\d+-\d+)_")
    result = split.assign_splits(images, val=0.2, test=0.1, seed=7, group_fn=fn)
    assert (result.ungrouped, result.groups) == (0, 20)
    a = result.assignment
    by_unit: dict[str, set[str]] = {}
    for p, s in a.items():
        by_unit.setdefault(p.name.split("_")[0], set()).add(s)
    assert all(len(v) == 1 for v in by_unit.values())  # no unit on two sides
    assert result.counts() == {"train": 70, "val": 20, "test": 10}
    # same seed -> same split, whatever the input order; another seed -> another split
    b = split.assign_splits(list(reversed(images)), val=0.2, test=0.1, seed=7, group_fn=fn)
    assert b.assignment == a
    c = split.assign_splits(images, val=0.2, test=0.1, seed=8, group_fn=fn)
    assert c.assignment != a


def test_split_by_manifest_and_ungrouped(tmp_path):
    images = _unit_images(4, 2) + [LabeledImage(Path("/d/images/train/stray.jpg"), 10, 10)]
    rows = ["path,project,unit"] + [
        f"photos/{im.path.name},P1,{im.path.name[:8]}" for im in images[:-1]
    ]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    fn = split.group_by_manifest(tmp_path / "m.csv")
    assert fn(images[0]) == "P1/3-2-1700"
    result = split.assign_splits(images, val=0.25, seed=0, group_fn=fn)
    assert (result.ungrouped, result.groups) == (1, 5)
    assert result.assignment[images[0].path] == result.assignment[images[1].path]
    with pytest.raises(DatasetError, match="val \\+ test < 1"):
        split.assign_splits(images, val=0.6, test=0.5)
    with pytest.raises(DatasetError, match="not a valid regular expression"):
        split.group_by_regex("(")


# ----------------------------------------------------------------------------- preview
def test_preview_draws_boxes(tmp_path):
    img = np.full((100, 200, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    ds = Dataset(
        ["crack"], [LabeledImage(tmp_path / "a.png", 200, 100, [Box(0, 100, 50, 180, 90)])]
    )
    mosaic = preview.render_mosaic(ds, n=4, tile=100)
    assert mosaic.shape == (108, 108, 3)  # one tile + 4 px gaps
    # tile origin (4, 4); image scaled 0.5 and centred vertically (offset 25):
    # box (100,50)-(180,90) -> (50,50)-(89,69) inside the tile; its right edge is red
    tile = mosaic[4:104, 4:104]
    assert tuple(int(v) for v in tile[60, 89]) == preview.PALETTE[0]
    assert tuple(int(v) for v in tile[60, 70]) == (128, 128, 128)  # inside stays untouched
    out = preview.write_preview(ds, tmp_path / "p.png", n=4, tile=100)
    assert cv2.imread(str(out)).shape == (108, 108, 3)
    with pytest.raises(DatasetError, match=".png"):
        preview.write_preview(ds, tmp_path / "p.jpg")
