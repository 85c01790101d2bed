from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets.formats import coco
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError


def test_to_coco_hand_values():
    ds = Dataset(
        ["crack", "stain"],
        [LabeledImage(Path("/r/images/a.jpg"), 100, 80, [Box(1, 10, 20, 30, 60)], group="u1")],
    )
    doc = coco.to_coco(ds, image_root=Path("/r"))
    assert doc["images"] == [
        {"id": 1, "file_name": "images/a.jpg", "width": 100, "height": 80, "group": "u1"}
    ]
    (ann,) = doc["annotations"]
    assert ann["bbox"] == [10, 20, 20, 40] and ann["area"] == 800 and ann["category_id"] == 2
    assert [c["name"] for c in doc["categories"]] == ["crack", "stain"]


def test_from_coco_renumbers_categories_and_reads_polygons():
    doc = {
        "images": [{"id": 7, "file_name": "x.jpg", "width": 50, "height": 40}],
        "categories": [{"id": 9, "name": "stain"}, {"id": 3, "name": "crack"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 9, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 7, "category_id": 3, "segmentation": [[5, 5, 15, 8, 10, 20]]},
        ],
    }
    ds = coco.from_coco(doc, Path("/imgs"))
    assert ds.names == ["crack", "stain"]
    (im,) = ds.images
    assert im.path == Path("/imgs/x.jpg")
    assert im.boxes == [Box(1, 1.0, 2.0, 4.0, 6.0), Box(0, 5.0, 5.0, 15.0, 20.0)]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"annotations": []}, "no 'images' list"),
        ({"images": [], "categories": []}, "no 'categories'"),
        ({"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}]}, r"images\[0\] needs"),
        (
            {
                "images": [{"id": 1, "file_name": "a", "width": 2, "height": 2}],
                "categories": [{"id": 1, "name": "a"}],
                "annotations": [{"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1]}],
            },
            "unknown category_id 5",
        ),
        (
            {
                "images": [{"id": 1, "file_name": "a", "width": 2, "height": 2}],
                "categories": [{"id": 1, "name": "a"}],
                "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 1]}],
            },
            "zero area",
        ),
    ],
)
def test_from_coco_errors(doc, message):
    with pytest.raises(DatasetError, match=message):
        coco.from_coco(doc, Path("."))


def test_save_load_round_trip(tmp_path):
    ds = Dataset(
        ["crack"],
        [LabeledImage(tmp_path / "images" / "a.jpg", 64, 48, [Box(0, 1.25, 2.5, 30.0, 40.0)])],
    )
    path = coco.save(ds, tmp_path / "ann.json")
    assert json.loads(path.read_text())["images"][0]["file_name"] == "images/a.jpg"
    back = coco.load(path)
    assert back.images[0].path == tmp_path / "images" / "a.jpg"
    assert back.images[0].boxes[0].xyxy == pytest.approx((1.25, 2.5, 30.0, 40.0))


def test_load_malformed_json(tmp_path):
    (tmp_path / "bad.json").write_text('{"images": [')
    with pytest.raises(DatasetError, match="not valid JSON"):
        coco.load(tmp_path / "bad.json")
    with pytest.raises(DatasetError, match="COCO file not found"):
        coco.load(tmp_path / "missing.json")
