from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datasets.formats import yolo
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError


@pytest.mark.parametrize(
    ("boxes", "w", "h", "lines"),
    [
        ([Box(0, 10, 20, 30, 60)], 100, 100, ["0 0.200000 0.400000 0.200000 0.400000"]),
        ([Box(2, 0, 0, 640, 480)], 640, 480, ["2 0.500000 0.500000 1.000000 1.000000"]),
        # width and height are not swapped: a 200x100 image, box over the right half
        ([Box(1, 100, 0, 200, 100)], 200, 100, ["1 0.750000 0.500000 0.500000 1.000000"]),
        # clipped to the image; a box wholly outside is dropped
        (
            [Box(0, -10, -10, 10, 10), Box(0, 120, 0, 130, 5)],
            100,
            50,
            ["0 0.050000 0.100000 0.100000 0.200000"],
        ),
        ([], 10, 10, []),
    ],
)
def test_format_yolo_lines(boxes, w, h, lines):
    assert yolo.format_yolo_lines(boxes, w, h) == lines


@pytest.mark.parametrize(
    ("lines", "w", "h", "boxes"),
    [
        (["0 0.5 0.5 0.2 0.4"], 100, 100, [Box(0, 40.0, 30.0, 60.0, 70.0)]),
        (["1 0.75 0.5 0.5 1.0", "", "  "], 200, 100, [Box(1, 100.0, 0.0, 200.0, 100.0)]),
        # a segment line becomes its bounding box
        (["3 0.1 0.2 0.5 0.2 0.3 0.6"], 100, 100, [Box(3, 10.0, 20.0, 50.0, 60.0)]),
    ],
)
def test_parse_yolo_lines(lines, w, h, boxes):
    got = yolo.parse_yolo_lines(lines, w, h)
    assert [b.class_id for b in got] == [b.class_id for b in boxes]
    for g, e in zip(got, boxes, strict=True):
        assert g.xyxy == pytest.approx(e.xyxy)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "expected 'class cx cy w h'"),
        ("0 0.5 x 0.2 0.2", "not a number"),
        ("0 nan 0.5 0.2 0.2", "NaN"),
        ("-1 0.5 0.5 0.2 0.2", "non-negative integer"),
        ("7 0.5 0.5 0.2 0.2", "unknown class id 7"),
        ("0 0.5 0.5 0.0 0.2", "zero area"),
        ("0 0.5 0.5 0.1 0.1 0.2", "got 6 fields"),
        ("0 0.1 0.1 0.3 0.1 0.2 0.4", "a polygon row in a file of box rows"),
    ],
)
def test_parse_yolo_lines_errors_name_file_and_line(line, message):
    with pytest.raises(DatasetError, match=message) as e:
        yolo.parse_yolo_lines(["0 0.5 0.5 0.1 0.1", line], 100, 100, nc=6, source="a.txt")
    assert "a.txt:2:" in str(e.value)


def test_label_path_for():
    assert yolo.label_path_for(Path("d/images/train/x.jpg")) == Path("d/labels/train/x.txt")
    assert yolo.label_path_for(Path("images/a/images/x.png")) == Path("images/a/labels/x.txt")
    assert yolo.label_path_for(Path("d/x.jpg")) == Path("d/x.txt")


def test_save_load_round_trip(tmp_path, make_image):
    a = make_image(tmp_path / "src" / "train" / "a.jpg", 64, 48, seed=1)
    b = make_image(tmp_path / "src" / "val" / "b.png", 40, 30, seed=2)
    ds = Dataset(
        names=["crack", "stain"],
        images=[
            LabeledImage(a, 64, 48, [Box(0, 1.5, 2.0, 30.0, 40.0), Box(1, 10, 10, 64, 48)]),
            LabeledImage(b, 40, 30, []),
        ],
    )
    data_yaml = yolo.save(ds, tmp_path / "out")
    doc = yaml.safe_load(data_yaml.read_text())
    assert doc["names"] == {0: "crack", 1: "stain"} and doc["nc"] == 2
    assert doc["train"] == "images/train" and doc["val"] == "images/val" and "path" not in doc
    assert (tmp_path / "out/labels/val/b.txt").read_text() == ""
    back = yolo.load(tmp_path / "out")
    assert back.names == ["crack", "stain"]
    got = {p.path.name: p for p in back.images}
    assert set(got) == {"a.jpg", "b.png"}
    assert (got["a.jpg"].width, got["a.jpg"].height) == (64, 48)
    for g, e in zip(got["a.jpg"].boxes, ds.images[0].boxes, strict=True):
        assert g.class_id == e.class_id
        assert g.xyxy == pytest.approx(e.xyxy, abs=1e-3)
    assert got["b.png"].boxes == []


def test_load_missing_and_bad_yaml(tmp_path):
    with pytest.raises(DatasetError, match="dataset not found"):
        yolo.load(tmp_path / "nope")
    (tmp_path / "data.yaml").write_text("names: [a\n")
    with pytest.raises(DatasetError, match="not valid YAML"):
        yolo.load(tmp_path)


def test_save_refuses_non_empty_output_and_leaves_nothing_on_failure(tmp_path, make_image):
    a = make_image(tmp_path / "a.jpg", 8, 8)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    ds = Dataset(["crack"], [LabeledImage(a, 8, 8, [])])
    with pytest.raises(DatasetError, match="not empty"):
        yolo.save(ds, out)
    missing = Dataset(
        ["crack"], [LabeledImage(a, 8, 8, []), LabeledImage(tmp_path / "gone.jpg", 8, 8, [])]
    )
    with pytest.raises(DatasetError, match="image not found"):
        yolo.save(missing, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unique_names_by_stem_and_twice_listed():
    from datasets.formats._common import unique_names

    names = unique_names([Path("a/x.jpg"), Path("b/x.png"), Path("c/y.jpg"), Path("d/X.jpg")])
    assert names[2] == "y.jpg"
    assert len({Path(n).stem.lower() for n in names}) == 4
    assert names[0].startswith("x_") and names[1].endswith(".png") and names[3].startswith("X_")
    # different buckets (splits) may share a stem
    assert unique_names([Path("a/x.jpg"), Path("b/x.jpg")], key=lambda p: p.parent.name) == [
        "x.jpg",
        "x.jpg",
    ]
    with pytest.raises(DatasetError, match="image listed twice"):
        unique_names([Path("a/x.jpg"), Path("a/x.jpg")])


def test_save_same_stem_gets_separate_labels(tmp_path, make_image):
    a = make_image(tmp_path / "one" / "x.jpg", 20, 20, seed=1)
    b = make_image(tmp_path / "two" / "x.png", 20, 20, seed=2)
    ds = Dataset(
        ["crack"], [LabeledImage(a, 20, 20, [Box(0, 0, 0, 10, 10)]), LabeledImage(b, 20, 20, [])]
    )
    yolo.save(ds, tmp_path / "out")
    back = yolo.load(tmp_path / "out")
    assert sorted(len(im.boxes) for im in back.images) == [0, 1]
    assert len(list((tmp_path / "out" / "labels" / "train").glob("*.txt"))) == 2
