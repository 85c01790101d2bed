"""`finishscan dataset ...` end to end: CliRunner for the happy paths, a real subprocess for
user mistakes (one line on stderr, exit 1, no traceback, nothing half-written)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from datasets.formats import coco, labelstudio, yolo
from serving.cli import app

HERE = Path(__file__).parent
CLI = [sys.executable, "-c", "from serving.cli import main; main()"]
runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, ["dataset", *args], catch_exceptions=False)
    return result


def _yolo(root: Path, make_image, names, items) -> Path:
    """items: (split, file name, [(class, cx, cy, w, h)], seed)."""
    for split, name, rows, seed in items:
        make_image(root / "images" / split / name, 80, 60, seed=seed)
        lab = yolo.label_path_for(root / "images" / split / name)
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text("".join(" ".join(str(v) for v in r) + "\n" for r in rows))
    splits = sorted({split for split, *_ in items})
    yolo.write_data_yaml(root, names, {s: f"images/{s}" for s in splits})
    return root


def test_convert_yolo_to_coco_and_voc(tmp_path, make_image):
    src = _yolo(
        tmp_path / "src",
        make_image,
        ["crack", "stain"],
        [
            ("train", "a.jpg", [(0, 0.5, 0.5, 0.25, 0.5)], 1),
            ("val", "b.jpg", [(1, 0.25, 0.25, 0.5, 0.5)], 2),
        ],
    )
    r = run("convert", str(src), "--from", "yolo", "--to", "coco", "--out", str(tmp_path / "c"))
    assert r.exit_code == 0, r.output
    assert "converted 2 images, 2 boxes (yolo → coco)" in r.output
    doc = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert sorted(i["file_name"] for i in doc["images"]) == [
        "images/train/a.jpg",
        "images/val/b.jpg",
    ]
    assert (tmp_path / "c" / "images" / "train" / "a.jpg").stat().st_ino == (
        src / "images/train/a.jpg"
    ).stat().st_ino
    ann = {a["image_id"]: a for a in doc["annotations"]}
    a_id = next(i["id"] for i in doc["images"] if i["file_name"].endswith("a.jpg"))
    assert ann[a_id]["bbox"] == [30, 15, 20, 30]  # 80x60 image, cx .5 w .25 -> x 30..50
    r = run(
        "convert",
        str(tmp_path / "c"),
        "--from",
        "coco",
        "--to",
        "voc",
        "--out",
        str(tmp_path / "v"),
        "--copy",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "v" / "ImageSets" / "Main" / "val.txt").read_text() == "b\n"
    assert (tmp_path / "v" / "JPEGImages" / "a.jpg").stat().st_ino != (
        src / "images/train/a.jpg"
    ).stat().st_ino


def test_convert_names_reorders_ids_by_name(tmp_path, make_image):
    src = _yolo(
        tmp_path / "src",
        make_image,
        ["stain", "crack"],
        [("train", "a.jpg", [(0, 0.5, 0.5, 0.2, 0.2), (1, 0.3, 0.3, 0.1, 0.1)], 1)],
    )
    r = run(
        "convert",
        str(src),
        "--from",
        "yolo",
        "--to",
        "yolo",
        "--out",
        str(tmp_path / "o"),
        "--names",
        "crack,hollow_tile,stain",
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o/labels/train/a.txt").read_text().split("\n")[:2] == [
        "2 0.500000 0.500000 0.200000 0.200000",
        "0 0.300000 0.300000 0.100000 0.100000",
    ]
    r = subprocess.run(
        [
            *CLI,
            "dataset",
            "convert",
            str(src),
            "--from",
            "yolo",
            "--to",
            "coco",
            "--out",
            str(tmp_path / "o2"),
            "--names",
            "crack",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "class 'stain'" in r.stderr and "Traceback" not in r.stderr
    r = run(
        "convert",
        str(src),
        "--from",
        "yolo",
        "--to",
        "yolo",
        "--out",
        str(tmp_path / "o3"),
        "--names",
        "crack",
        "--drop",
        "stain",
    )
    assert r.exit_code == 0, r.output
    assert (
        tmp_path / "o3/labels/train/a.txt"
    ).read_text() == "0 0.300000 0.300000 0.100000 0.100000\n"


def test_convert_labelstudio_cvat_masks_to_yolo(tmp_path, make_image):
    # Label Studio export (minimal but schema-true) -> YOLO with the default taxonomy
    make_image(tmp_path / "ls" / "p.jpg", 100, 50)
    task = {
        "id": 1,
        "data": {"image": "/data/upload/1/0f1e2d3c-p.jpg"},
        "annotations": [
            {
                "id": 1,
                "was_cancelled": False,
                "result": [
                    {
                        "original_width": 100,
                        "original_height": 50,
                        "image_rotation": 0,
                        "value": {
                            "x": 10,
                            "y": 20,
                            "width": 30,
                            "height": 40,
                            "rotation": 0,
                            "rectanglelabels": ["stain"],
                        },
                        "id": "a",
                        "from_name": "label",
                        "to_name": "image",
                        "type": "rectanglelabels",
                    }
                ],
            }
        ],
    }
    (tmp_path / "ls" / "export.json").write_text(json.dumps([task]))
    r = run(
        "convert",
        str(tmp_path / "ls" / "export.json"),
        "--from",
        "labelstudio",
        "--to",
        "yolo",
        "--out",
        str(tmp_path / "y1"),
    )
    assert r.exit_code == 0, r.output
    assert (
        tmp_path / "y1/labels/train/p.txt"
    ).read_text() == "5 0.250000 0.400000 0.300000 0.400000\n"

    # CVAT export with a subset attribute -> the split survives
    make_image(tmp_path / "cv" / "images" / "q.jpg", 40, 40)
    (tmp_path / "cv" / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
        "<meta><project><labels><label><name>crack</name><type>any</type></label></labels></project></meta>"
        '<image id="0" name="q.jpg" subset="Validation" width="40" height="40">'
        '<box label="crack" source="manual" occluded="0" xtl="0" ytl="0" xbr="20" ybr="10" z_order="0"/>'
        "</image></annotations>"
    )
    r = run(
        "convert",
        str(tmp_path / "cv"),
        "--from",
        "cvat",
        "--to",
        "yolo",
        "--out",
        str(tmp_path / "y2"),
        "--names",
        "crack,stain",
    )
    assert r.exit_code == 0, r.output
    assert yaml.safe_load((tmp_path / "y2/data.yaml").read_text())["names"] == {
        0: "crack",
        1: "stain",
    }
    assert (
        tmp_path / "y2/labels/val/q.txt"
    ).read_text() == "0 0.250000 0.125000 0.500000 0.250000\n"

    # masks -> one merged crack box
    make_image(tmp_path / "mk" / "images" / "w.png", 50, 40)
    m = np.zeros((40, 50), np.uint8)
    m[10:12, 5:20] = 255
    m[10:12, 22:40] = 255  # the same crack, broken by 2 px
    (tmp_path / "mk" / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "mk" / "masks" / "w.png"), m)
    r = run(
        "convert",
        str(tmp_path / "mk"),
        "--from",
        "masks",
        "--to",
        "coco",
        "--out",
        str(tmp_path / "c3"),
        "--merge-gap",
        "3",
    )
    assert r.exit_code == 0, r.output
    (only,) = coco.load(tmp_path / "c3" / "annotations.json").images
    assert [b.xyxy for b in only.boxes] == [(5.0, 10.0, 40.0, 12.0)]


def test_merge_split_stats_preview(tmp_path, make_image):
    a = _yolo(
        tmp_path / "a",
        make_image,
        ["stain", "crack"],
        [
            ("train", f"3-2-170{u}_{k}.jpg", [(u % 2, 0.5, 0.5, 0.2, 0.2)], 10 * u + k)
            for u in range(4)
            for k in range(3)
        ],
    )
    b = _yolo(
        tmp_path / "b",
        make_image,
        ["hairline"],
        [("train", "3-2-1801_0.jpg", [(0, 0.5, 0.5, 0.1, 0.3)], 99)],
    )
    r = run("merge", str(a), str(b), "--out", str(tmp_path / "m"), "--map", "hairline=crack")
    assert r.exit_code == 0, r.output
    merged = yolo.load(tmp_path / "m")
    assert merged.names[:2] == ["crack", "hollow_tile"]  # configs/classes.yaml
    labels = {im.path.name: [b.class_id for b in im.boxes] for im in merged.images}
    assert (
        labels["3-2-1700_0.jpg"] == [5]
        and labels["3-2-1701_0.jpg"] == [0]
        and labels["3-2-1801_0.jpg"] == [0]
    )

    args = [
        "split",
        str(tmp_path / "m"),
        "--val",
        "0.25",
        "--seed",
        "3",
        "--group-by",
        r"^(\d+-\d+-\d+)_",
    ]
    assert run(*args, "--out", str(tmp_path / "s1")).exit_code == 0
    assert run(*args, "--out", str(tmp_path / "s2")).exit_code == 0
    side = {}
    for p in (tmp_path / "s1" / "images").rglob("*.jpg"):
        side.setdefault(p.name.split("_")[0], set()).add(p.parent.name)
    assert all(len(v) == 1 for v in side.values()) and {"train", "val"} == set().union(
        *side.values()
    )
    listing = lambda d: sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())  # noqa: E731
    assert listing(tmp_path / "s1") == listing(tmp_path / "s2")

    r = run(
        "split",
        str(tmp_path / "m"),
        "--val",
        "0.25",
        "--group-by",
        r"^(\d)",
        "--out",
        str(tmp_path / "s3"),
    )
    assert r.exit_code == 0 and "(1 groups)" in r.output and "warning: val is empty" in r.output

    r = run("stats", str(tmp_path / "s1"), "--json")
    assert r.exit_code == 0
    doc = json.loads(r.output)
    assert doc["images"] == 13 and doc["boxes"] == 13
    assert {c["name"]: c["boxes"] for c in doc["classes"]}["crack"] == 7

    r = run(
        "preview",
        str(tmp_path / "s1"),
        "--out",
        str(tmp_path / "p.png"),
        "--n",
        "4",
        "--tile",
        "64",
    )
    assert r.exit_code == 0
    assert cv2.imread(str(tmp_path / "p.png")).shape == (2 * 64 + 12, 2 * 64 + 12, 3)

    r = subprocess.run(
        [*CLI, "dataset", "merge", str(a), str(b), "--out", str(tmp_path / "m2")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "class 'hairline'" in r.stderr and "--map hairline=NAME" in r.stderr
    assert not (tmp_path / "m2").exists()


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (
            None,
            ["convert", "{t}/missing", "--from", "yolo", "--to", "coco", "--out", "{t}/out"],
            "dataset not found",
        ),
        (
            "bad_json",
            ["convert", "{t}/e.json", "--from", "labelstudio", "--to", "yolo", "--out", "{t}/out"],
            "is not valid JSON (line 1",
        ),
        (
            "bad_xml",
            ["convert", "{t}/a.xml", "--from", "cvat", "--to", "yolo", "--out", "{t}/out"],
            "is not valid XML",
        ),
        (
            None,
            ["convert", "{t}", "--from", "pdf", "--to", "yolo", "--out", "{t}/out"],
            "--from must be one of",
        ),
        (
            "bad_json",
            ["convert", "{t}/e.json", "--from", "coco", "--to", "yolo", "--out", "{t}/out"],
            "is not valid JSON",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, setup, args, message):
    if setup == "bad_json":
        (tmp_path / "e.json").write_text('[{"id": 1,')
    if setup == "bad_xml":
        (tmp_path / "a.xml").write_text("<annotations><image name='x'>")
    argv = [a.format(t=tmp_path) for a in args]
    r = subprocess.run([*CLI, "dataset", *argv], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: ")
    assert message in r.stderr
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_synth_writes_a_checkable_dataset(tmp_path):
    pytest.importorskip("datasets.synthetic")
    from datasets import synthetic

    if not hasattr(synthetic, "write_dataset"):
        pytest.skip("generator not available")
    r = run("synth", "--out", str(tmp_path / "syn"), "--n", "4", "--imgsz", "128", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert "wrote 4 images" in r.output
    r = run("check", str(tmp_path / "syn"))
    assert r.exit_code == 0, r.output


def test_yolo_to_labelstudio_and_back(tmp_path, make_image):
    src = _yolo(
        tmp_path / "src",
        make_image,
        ["crack", "stain"],
        [
            ("train", "a.jpg", [(0, 0.5, 0.5, 0.25, 0.5), (1, 0.2, 0.3, 0.1, 0.2)], 1),
            ("val", "b.jpg", [], 2),
        ],
    )
    r = run(
        "convert", str(src), "--from", "yolo", "--to", "labelstudio", "--out", str(tmp_path / "ls")
    )
    assert r.exit_code == 0, r.output
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert [t["data"]["image"] for t in tasks] == [
        "/data/local-files/?d=images/train/a.jpg",
        "/data/local-files/?d=images/val/b.jpg",
    ]
    assert '<Label value="stain"/>' in (tmp_path / "ls" / "labeling_config.xml").read_text()
    # a reviewer accepts the pre-annotations; Label Studio then exports them as annotations
    for t in tasks:
        t["annotations"] = [
            {"id": 1, "result": t["predictions"][0]["result"], "was_cancelled": False}
        ]
    (tmp_path / "ls" / "export.json").write_text(json.dumps(tasks))
    back = {
        im.path.name: im
        for im in labelstudio.load(tmp_path / "ls" / "export.json", names=["crack", "stain"]).images
    }
    orig = {im.path.name: im for im in yolo.load(src).images}
    for name in ("a.jpg", "b.jpg"):
        assert [b.class_id for b in back[name].boxes] == [b.class_id for b in orig[name].boxes]
        for x, y in zip(back[name].boxes, orig[name].boxes, strict=True):
            assert x.xyxy == pytest.approx(y.xyxy, abs=1e-6)
