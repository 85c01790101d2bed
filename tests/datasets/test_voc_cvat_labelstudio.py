"""VOC, CVAT and Label Studio readers on small exports written here by hand, following the
real schemas (Label Studio task export with annotations/predictions; CVAT for images 1.1)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from datasets.formats import cvat, labelstudio, voc
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

NAMES = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]


# ----------------------------------------------------------------------------- VOC
VOC_XML = """<annotation>
  <folder>JPEGImages</folder>
  <filename>wall_01.jpg</filename>
  <source><database>site survey</database></source>
  <size><width>200</width><height>100</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>crack</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>11</xmin><ymin>21</ymin><xmax>40</xmax><ymax>60</ymax></bndbox>
  </object>
  <object>
    <name>stain</name><pose>Unspecified</pose><truncated>1</truncated><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>200</xmax><ymax>100</ymax></bndbox>
  </object>
</annotation>
"""


def test_voc_parse_hand_values():
    filename, w, h, boxes = voc.parse_xml(VOC_XML, NAMES)
    assert (filename, w, h) == ("wall_01.jpg", 200, 100)
    # 1-based inclusive pixels -> edges: xmin-1, xmax
    assert boxes == [Box(0, 10.0, 20.0, 40.0, 60.0), Box(5, 0.0, 0.0, 200.0, 100.0)]


def test_voc_to_xml_inverts_parse():
    im = LabeledImage(Path("a.jpg"), 200, 100, [Box(0, 10, 20, 40, 60), Box(5, 0, 0, 200, 100)])
    _f, _w, _h, boxes = voc.parse_xml(voc.to_xml(im, NAMES), NAMES)
    assert boxes == im.boxes
    bnd = ET.fromstring(voc.to_xml(im, NAMES)).find("object/bndbox")
    assert [bnd.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["11", "21", "40", "60"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<annotation><filename>a.jpg", "not valid XML"),
        ("<root/>", "expected <annotation>"),
        (VOC_XML.replace("<name>stain</name>", "<name>mould</name>"), "unknown class 'mould'"),
        (VOC_XML.replace("<xmax>40</xmax>", "<xmax>abc</xmax>"), "not numbers"),
        (VOC_XML.replace("<xmax>40</xmax>", "<xmax>10</xmax>"), "zero area"),
    ],
)
def test_voc_errors(text, message):
    with pytest.raises(DatasetError, match=message):
        voc.parse_xml(text, NAMES, source="x.xml")


def test_voc_load_folder(tmp_path, make_image):
    make_image(tmp_path / "JPEGImages" / "wall_01.jpg", 200, 100)
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "wall_01.xml").write_text(VOC_XML)
    ds = voc.load(tmp_path)
    assert ds.names == NAMES
    assert ds.images[0].path == tmp_path / "JPEGImages" / "wall_01.jpg"
    assert len(ds.images[0].boxes) == 2


# ----------------------------------------------------------------------------- Label Studio
def _ls_export() -> list[dict]:
    """A Label Studio 1.x 'JSON' export of an image project with a RectangleLabels control."""
    return [
        {
            "id": 101,
            "data": {"image": "/data/upload/3/1a2b3c4d-unit_1701_bath.jpg"},
            "annotations": [
                {
                    "id": 7,
                    "completed_by": 1,
                    "result": [
                        {
                            "original_width": 400,
                            "original_height": 300,
                            "image_rotation": 0,
                            "value": {
                                "x": 10.0,
                                "y": 20.0,
                                "width": 25.0,
                                "height": 10.0,
                                "rotation": 0,
                                "rectanglelabels": ["crack"],
                            },
                            "id": "Dx_aB91ISN",
                            "from_name": "label",
                            "to_name": "image",
                            "type": "rectanglelabels",
                            "origin": "manual",
                        },
                        {
                            "original_width": 400,
                            "original_height": 300,
                            "image_rotation": 0,
                            "value": {
                                "x": 50.0,
                                "y": 50.0,
                                "width": 10.0,
                                "height": 20.0,
                                "rotation": 90,
                                "rectanglelabels": ["stain"],
                            },
                            "id": "k3Lm9",
                            "from_name": "label",
                            "to_name": "image",
                            "type": "rectanglelabels",
                            "origin": "manual",
                        },
                        {
                            "original_width": 400,
                            "original_height": 300,
                            "image_rotation": 0,
                            "value": {
                                "points": [[5.0, 10.0], [20.0, 12.5], [12.5, 40.0]],
                                "closed": True,
                                "polygonlabels": ["paint_peeling"],
                            },
                            "id": "pg1",
                            "from_name": "outline",
                            "to_name": "image",
                            "type": "polygonlabels",
                            "origin": "manual",
                        },
                        {
                            "value": {"choices": ["blurry"]},
                            "id": "c1",
                            "from_name": "quality",
                            "to_name": "image",
                            "type": "choices",
                        },
                    ],
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2026-11-20T09:12:01.000000Z",
                    "updated_at": "2026-11-20T09:13:44.000000Z",
                    "lead_time": 51.2,
                    "task": 101,
                }
            ],
            "predictions": [],
            "file_upload": "1a2b3c4d-unit_1701_bath.jpg",
            "meta": {},
            "created_at": "2026-11-20T09:00:00.000000Z",
            "updated_at": "2026-11-20T09:13:44.000000Z",
            "inner_id": 1,
            "total_annotations": 1,
            "cancelled_annotations": 0,
            "project": 3,
        },
        {
            "id": 102,
            "data": {"image": "/data/local-files/?d=photos/unit_1702_hall.jpg"},
            "annotations": [
                {
                    "id": 8,
                    "result": [{"value": {}, "type": "rectanglelabels"}],
                    "was_cancelled": True,
                },
                {
                    "id": 9,
                    "result": [],
                    "was_cancelled": False,
                    "updated_at": "2026-11-20T10:00:00Z",
                },
            ],
            "predictions": [],
            "project": 3,
        },
    ]


def _ls_files(tmp_path, make_image) -> Path:
    make_image(tmp_path / "unit_1701_bath.jpg", 400, 300, seed=1)
    make_image(tmp_path / "photos" / "unit_1702_hall.jpg", 64, 48, seed=2)
    (tmp_path / "export.json").write_text(json.dumps(_ls_export()))
    return tmp_path / "export.json"


def test_labelstudio_export_import(tmp_path, make_image):
    ds = labelstudio.load(_ls_files(tmp_path, make_image))
    assert ds.names == NAMES  # every label is in the default taxonomy
    a, b = ds.images
    # upload prefix "1a2b3c4d-" stripped; local-files ?d= path resolved
    assert a.path == tmp_path / "unit_1701_bath.jpg"
    assert b.path == tmp_path / "photos" / "unit_1702_hall.jpg"
    assert (a.width, a.height) == (400, 300)
    # crack: x 10% of 400 = 40, y 20% of 300 = 60, w 100, h 30
    assert a.boxes[0] == Box(0, 40.0, 60.0, 140.0, 90.0)
    # stain rotated 90 deg clockwise about its top-left corner (200, 150): w=40, h=60 ->
    # corners (200,150), (200,190), (140,190), (140,150)
    s = a.boxes[1]
    assert s.class_id == 5 and s.xyxy == pytest.approx((140.0, 150.0, 200.0, 190.0))
    # polygon (percent points) -> its bounding box: x 5..20 % of 400, y 10..40 % of 300
    assert a.boxes[2] == Box(3, 20.0, 30.0, 80.0, 120.0)
    # the cancelled annotation is ignored; the kept one is empty; size read from the file
    assert b.boxes == [] and (b.width, b.height) == (64, 48)


def test_labelstudio_rectangle_with_separate_labels(tmp_path, make_image):
    """A <Rectangle> + <Labels> config exports geometry and label as two results, one id."""
    make_image(tmp_path / "p.jpg", 100, 50)
    region = {"x": 0, "y": 0, "width": 50, "height": 50, "rotation": 0}
    results = [
        {
            "id": "r1",
            "type": "rectangle",
            "from_name": "box",
            "to_name": "image",
            "value": region,
            "original_width": 100,
            "original_height": 50,
        },
        {
            "id": "r1",
            "type": "labels",
            "from_name": "kind",
            "to_name": "image",
            "value": {**region, "labels": ["crack"]},
            "original_width": 100,
            "original_height": 50,
        },
    ]
    doc = [
        {
            "id": 1,
            "data": {"image": "/data/upload/1/p.jpg"},
            "annotations": [{"id": 1, "result": results}],
        }
    ]
    (tmp_path / "e.json").write_text(json.dumps(doc))
    assert labelstudio.load(tmp_path / "e.json").images[0].boxes == [Box(0, 0.0, 0.0, 50.0, 25.0)]


def test_labelstudio_json_min_export(tmp_path, make_image):
    make_image(tmp_path / "p.jpg", 100, 50)
    doc = [
        {
            "image": "/data/upload/1/p.jpg",
            "id": 5,
            "label": [
                {
                    "x": 50,
                    "y": 0,
                    "width": 50,
                    "height": 100,
                    "rotation": 0,
                    "rectanglelabels": ["tile_chip"],
                    "original_width": 100,
                    "original_height": 50,
                }
            ],
            "annotator": 1,
            "annotation_id": 4,
        }
    ]
    (tmp_path / "min.json").write_text(json.dumps(doc))
    ds = labelstudio.load(tmp_path / "min.json")
    assert ds.images[0].boxes == [Box(2, 50.0, 0.0, 100.0, 50.0)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "not valid JSON"),
        ('{"tasks": []}', "expected a list of tasks"),
        ('[{"id": 1, "data": {}, "annotations": []}]', "no image URL"),
        (
            '[{"id": 1, "data": {"image": "/data/upload/1/zz.jpg"}, "annotations": []}]',
            "not found under",
        ),
    ],
)
def test_labelstudio_bad_input(tmp_path, content, message):
    (tmp_path / "e.json").write_text(content)
    with pytest.raises(DatasetError, match=message):
        labelstudio.load(tmp_path / "e.json", names=NAMES)


def test_labelstudio_unknown_label_with_given_names(tmp_path, make_image):
    path = _ls_files(tmp_path, make_image)
    with pytest.raises(DatasetError, match="unknown class 'stain'"):
        labelstudio.load(path, names=["crack"])


def test_to_tasks_from_detections_round_trips_through_import(tmp_path, make_image):
    make_image(tmp_path / "a.jpg", 400, 300)
    detections = [
        {
            "image": str(tmp_path / "a.jpg"),
            "width": 400,
            "height": 300,
            "defects": [
                {"label": "crack", "confidence": 0.9, "box": [40, 60, 140, 90]},
                {"label": "stain", "confidence": 0.35, "box": [0, 0, 100, 300]},
            ],
            "model": {"name": "finishscan-default", "version": "1"},
        },
        {"image": "broken.jpg", "error": "unreadable image"},
    ]
    tasks = labelstudio.to_tasks(detections, lambda p: f"/data/local-files/?d={p.name}")
    assert len(tasks) == 1
    (task,) = tasks
    assert task["data"] == {"image": "/data/local-files/?d=a.jpg"}
    (pred,) = task["predictions"]
    assert pred["model_version"] == "finishscan-default-1"
    assert pred["score"] == 0.35  # the least certain box
    r = pred["result"][0]
    assert r["type"] == "rectanglelabels" and r["from_name"] == "label" and r["to_name"] == "image"
    assert r["value"]["x"] == pytest.approx(10.0) and r["value"]["height"] == pytest.approx(10.0)
    assert r["score"] == 0.9
    # as Label Studio would export it after a reviewer accepted the pre-annotations
    task["annotations"] = [{"id": 1, "result": pred["result"], "was_cancelled": False}]
    labelstudio.save_tasks(tasks, tmp_path / "accepted.json")
    ds = labelstudio.load(tmp_path / "accepted.json")
    assert ds.images[0].boxes[0].xyxy == pytest.approx((40, 60, 140, 90))
    assert ds.images[0].boxes[1].xyxy == pytest.approx((0, 0, 100, 300))


def test_to_tasks_from_dataset_and_without_predictions():
    ds = Dataset(["crack"], [LabeledImage(Path("x/a.jpg"), 100, 100, [Box(0, 0, 0, 50, 50)])])
    (t,) = labelstudio.to_tasks(ds, lambda p: "s3://bucket/" + p.name)
    assert t["predictions"][0]["result"][0]["value"]["width"] == 50.0
    assert "score" not in t["predictions"][0]["result"][0]
    (t2,) = labelstudio.to_tasks(ds, lambda p: "s3://bucket/" + p.name, with_predictions=False)
    assert t2 == {"data": {"image": "s3://bucket/a.jpg"}}
    assert '<Label value="crack"/>' in labelstudio.labeling_config(ds.names)


# ----------------------------------------------------------------------------- CVAT
CVAT_XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>12</id>
      <name>block 3 acceptance</name>
      <size>2</size>
      <mode>annotation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <created>2026-11-20 08:00:00.000000+00:00</created>
      <updated>2026-11-21 08:00:00.000000+00:00</updated>
      <subset>default</subset>
      <start_frame>0</start_frame>
      <stop_frame>1</stop_frame>
      <frame_filter></frame_filter>
      <segments>
        <segment><id>30</id><start>0</start><stop>1</stop><url>http://localhost:8080/api/jobs/30</url></segment>
      </segments>
      <owner><username>inspector</username><email>i@example.com</email></owner>
      <assignee></assignee>
      <labels>
        <label><name>crack</name><color>#fa3253</color><type>any</type><attributes></attributes></label>
        <label><name>hollow_tile</name><color>#33ddff</color><type>any</type><attributes></attributes></label>
        <label>
          <name>stain</name><color>#34d1b7</color><type>any</type>
          <attributes>
            <attribute><name>wet</name><mutable>False</mutable><input_type>checkbox</input_type>
              <default_value>false</default_value><values>false
true</values></attribute>
          </attributes>
        </label>
      </labels>
    </task>
    <dumped>2026-11-21 09:00:00.000000+00:00</dumped>
  </meta>
  <image id="0" name="unit_1701/bath.jpg" width="400" height="300">
    <box label="crack" source="manual" occluded="0" xtl="40.50" ytl="60.00" xbr="140.25" ybr="90.00" z_order="0">
    </box>
    <box label="hollow_tile" source="manual" occluded="0" xtl="100.00" ytl="100.00" xbr="140.00" ybr="120.00" rotation="90.0" z_order="0">
    </box>
    <polygon label="stain" source="manual" occluded="0" points="10.00,200.00;60.00,190.00;55.00,260.00;12.00,250.00" z_order="0">
      <attribute name="wet">true</attribute>
    </polygon>
    <polyline label="crack" source="manual" occluded="0" points="200.00,50.00;260.00,50.00" z_order="0">
    </polyline>
    <points label="crack" source="manual" occluded="0" points="5.00,5.00" z_order="0"></points>
    <tag label="stain" source="manual"></tag>
  </image>
  <image id="1" name="unit_1702/hall.jpg" width="64" height="48">
    <mask label="stain" source="manual" occluded="0" rle="1, 4, 2, 1, 2, 2, 6" left="4" top="6" width="6" height="3" z_order="0">
    </mask>
  </image>
</annotations>
"""


def test_cvat_import_hand_values(tmp_path, make_image):
    make_image(tmp_path / "images" / "unit_1701" / "bath.jpg", 400, 300, seed=1)
    make_image(tmp_path / "images" / "unit_1702" / "hall.jpg", 64, 48, seed=2)
    (tmp_path / "annotations.xml").write_text(CVAT_XML)
    ds = cvat.load(tmp_path)
    assert ds.names == ["crack", "hollow_tile", "stain"]
    a, b = ds.images
    assert a.path == tmp_path / "images" / "unit_1701" / "bath.jpg"
    assert a.boxes == [
        Box(0, 40.5, 60.0, 140.25, 90.0),
        # 40x20 box rotated 90 deg about its centre (120, 110) -> 20x40
        Box(
            1, pytest.approx(110.0), pytest.approx(90.0), pytest.approx(130.0), pytest.approx(130.0)
        ),
        Box(2, 10.0, 190.0, 60.0, 260.0),
        # a horizontal polyline (a straight crack) is widened to 1 px
        Box(0, 200.0, 49.5, 260.0, 50.5),
    ]
    # the mask's 6x3 box at (4, 6) holds, row by row, ".XXXX." ".X..XX" "......":
    # runs bg 1, fg 4, bg 2, fg 1, bg 2, fg 2, bg 6 -> tight box x 5..10, y 6..8
    assert b.boxes == [Box(2, 5.0, 6.0, 10.0, 8.0)]


def test_cvat_names_given_and_errors(tmp_path):
    names, images = cvat.parse_xml(CVAT_XML, names=NAMES)
    assert names == NAMES and images[0][4][2].class_id == 5
    with pytest.raises(DatasetError, match="unknown class 'stain'"):
        cvat.parse_xml(CVAT_XML, names=["crack", "hollow_tile"])
    with pytest.raises(DatasetError, match="not valid XML"):
        cvat.parse_xml("<annotations><image>")
    with pytest.raises(DatasetError, match="CVAT for video"):
        cvat.parse_xml('<annotations><track id="0" label="crack"/></annotations>')
    bad = CVAT_XML.replace('xtl="40.50"', 'xtl="left"')
    with pytest.raises(DatasetError, match="non-numeric"):
        cvat.parse_xml(bad)
    with pytest.raises(DatasetError, match="non-numeric"):
        cvat.parse_xml(CVAT_XML.replace('rle="1, 4, 2, 1, 2, 2, 6"', 'rle="1, 40"'))
    with pytest.raises(DatasetError, match="not found"):
        cvat.load(tmp_path / "nope.xml")


def test_voc_without_size_reads_the_image(tmp_path, make_image):
    make_image(tmp_path / "JPEGImages" / "wall_01.jpg", 200, 100)
    (tmp_path / "Annotations").mkdir()
    no_size = VOC_XML.replace(
        "<size><width>200</width><height>100</height><depth>3</depth></size>", ""
    )
    (tmp_path / "Annotations" / "wall_01.xml").write_text(no_size)
    (im,) = voc.load(tmp_path).images
    assert (im.width, im.height) == (200, 100) and len(im.boxes) == 2


def test_voc_names_found_when_outside_the_taxonomy(tmp_path, make_image):
    make_image(tmp_path / "JPEGImages" / "wall_01.jpg", 200, 100)
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "wall_01.xml").write_text(
        VOC_XML.replace("<name>stain</name>", "<name>mould</name>")
    )
    ds = voc.load(tmp_path)
    assert ds.names == [
        "crack",
        "mould",
    ]  # not all in configs/classes.yaml: the names found, sorted
    assert [b.class_id for b in ds.images[0].boxes] == [0, 1]
