"""``finishscan evaluate --bootstrap N``: intervals of mAP and per-class AP50 over resampled images."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detector.types import Detections
from serving.cli import app
from training.evaluate import accumulate, bootstrap_ci, record

BOX = np.array([[0.0, 0.0, 10.0, 10.0]])


def _found() -> tuple:
    """An image whose one crack is found (alone: AP50 0.995, ultralytics' perfect score)."""
    return record(Detections(BOX, np.array([0.9]), np.array([0])), BOX, np.array([0]))


def _missed() -> tuple:
    """An image whose one crack gets no box (alone: AP50 0)."""
    return record(Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)), BOX, np.array([0]))


def test_identical_images_give_an_interval_of_width_zero():
    fp = Detections(np.array([[50.0, 50, 60, 60]]), np.array([0.95]), np.array([0]))
    one = record(
        Detections.concat([fp, Detections(BOX, np.array([0.5]), np.array([0]))]), BOX, np.array([0])
    )
    recs = [one] * 10
    m, _ = accumulate(recs, 2)
    ci = bootstrap_ci(recs, ["crack", "stain"], resamples=30)
    assert 0 < m.map50 < 0.995  # the false positive ranks above the hit
    assert ci["map50"] == [round(m.map50, 4)] * 2
    assert ci["map50_95"] == [round(m.map50_95, 4)] * 2
    assert ci["per_class_ap50"] == {"crack": [round(m.map50, 4)] * 2, "stain": None}


def test_one_found_and_one_missed_image_span_zero_to_perfect():
    # resamples of two images: both found (p 1/4) scores 0.995, both missed (p 1/4) 0, one of
    # each 0.5 in between; the 2.5 and 97.5 percentiles of 200 resamples are the two extremes
    ci = bootstrap_ci([_found(), _missed()], ["crack"], resamples=200, seed=3)
    assert ci["map50"] == [0.0, 0.995]
    assert ci["per_class_ap50"]["crack"] == [0.0, 0.995]
    assert ci["level"] == 0.95 and ci["resamples"] == 200
    assert bootstrap_ci([_found(), _missed()], ["crack"], resamples=200, seed=3) == ci
    # a narrow interval (the 40th to 60th percentile) holds only the mixed draws, which score
    # what the two images score together
    m, _ = accumulate([_found(), _missed()], 1)
    mixed = round(m.map50, 4)
    assert 0.4 < mixed < 0.6
    narrow = bootstrap_ci([_found(), _missed()], ["crack"], resamples=200, level=0.2)
    assert narrow["map50"] == [mixed, mixed]


def test_a_class_missing_from_some_resamples_counts_where_present():
    # the stain image is drawn in about 1 - (1/2)^2 = 3/4 of the resamples of two images
    stain = record(Detections(BOX, np.array([0.9]), np.array([1])), BOX, np.array([1]))
    ci = bootstrap_ci([_found(), stain], ["crack", "stain"], resamples=100)
    assert ci["per_class_ap50"]["stain"] == [0.995, 0.995]


def test_a_set_without_any_prediction_scores_zero():
    # evaluate of a model that finds nothing at all (and a resample of only such images)
    m, _ = accumulate([_missed(), _missed()], 1)
    assert m.map50 == 0.0 and m.map50_95 == 0.0
    assert bootstrap_ci([_missed()], ["crack"], resamples=5)["map50"] == [0.0, 0.0]


@pytest.mark.parametrize(("resamples", "level"), [(0, 0.95), (10, 1.0), (10, 0.0)])
def test_bad_arguments_are_refused(resamples, level):
    with pytest.raises(ValueError, match="bootstrap"):
        bootstrap_ci([_found()], ["crack"], resamples=resamples, level=level)


def test_evaluate_cli_prints_and_writes_the_intervals(tmp_path, fake_detector):
    for split in ("images", "labels"):
        (tmp_path / split / "val").mkdir(parents=True)
    for name in ("a", "b"):  # one crack each at [0, 0, 10, 10]: a is found, b is missed
        cv2.imwrite(
            str(tmp_path / "images" / "val" / f"{name}.png"), np.zeros((320, 320, 3), np.uint8)
        )
        (tmp_path / "labels" / "val" / f"{name}.txt").write_text(
            "0 0.015625 0.015625 0.03125 0.03125\n"
        )
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: [crack, stain]\n")
    fake_detector.queue = [
        Detections(BOX, np.array([0.9]), np.array([0])),
        Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)),
    ]
    out = tmp_path / "e.json"
    args = ["evaluate", "--model", "fake.onnx", "--data", str(tmp_path / "data.yaml")]
    r = CliRunner().invoke(app, [*args, "--json", str(out), "--bootstrap", "200"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["ci"]["map50"] == [0.0, 0.995]
    assert doc["ci"]["per_class_ap50"] == {"crack": [0.0, 0.995], "stain": None}
    assert f"mAP50 {doc['map50']:.3f} [0.000-0.995]" in r.stdout
    assert "crack          AP50" in r.stdout and "[0.000-0.995]  P" in r.stdout
    # without --bootstrap the JSON has no "ci" and the lines no interval
    fake_detector.queue = [
        Detections(BOX, np.array([0.9]), np.array([0])),
        Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int)),
    ]
    r = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert "ci" not in json.loads(out.read_text()) and "[0.000" not in r.stdout


def test_against_itself_every_difference_is_zero():
    recs = [_found(), _missed(), _found()]
    ci = bootstrap_ci(recs, ["crack", "stain"], resamples=50, against=recs)
    assert ci["map50"] == ci["map50_95"] == [0.0, 0.0]
    assert ci["per_class_ap50"] == {"crack": [0.0, 0.0], "stain": None}


def test_against_a_model_that_misses_one_of_two_images():
    # this model finds both cracks (0.995 on any draw); the other only the first image's: a draw
    # of the first image twice differs by 0, of the second twice by 0.995, of both by 0.5
    ci = bootstrap_ci([_found(), _found()], ["crack"], resamples=200, against=[_found(), _missed()])
    assert ci["map50"] == [0.0, 0.995]
    narrow = bootstrap_ci(
        [_found(), _found()], ["crack"], resamples=200, level=0.2, against=[_found(), _missed()]
    )
    assert narrow["map50"] == [0.5, 0.5]
    with pytest.raises(ValueError, match="same images"):
        bootstrap_ci([_found(), _found()], ["crack"], against=[_found()])


def test_evaluate_cli_against_another_model(tmp_path, fake_detector):
    for split in ("images", "labels"):
        (tmp_path / split / "val").mkdir(parents=True)
    for name in ("a", "b"):  # one crack each at [0, 0, 10, 10]
        cv2.imwrite(
            str(tmp_path / "images" / "val" / f"{name}.png"), np.zeros((320, 320, 3), np.uint8)
        )
        (tmp_path / "labels" / "val" / f"{name}.txt").write_text(
            "0 0.015625 0.015625 0.03125 0.03125\n"
        )
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: [crack, stain]\n")
    hit = Detections(BOX, np.array([0.9]), np.array([0]))
    miss = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))
    fake_detector.queue = [hit, hit, hit, miss]  # this model: both found; the other: the first
    out = tmp_path / "e.json"
    r = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            "new.onnx",
            "--against",
            "old.onnx",
            "--data",
            str(tmp_path / "data.yaml"),
            "--json",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    c = json.loads(out.read_text())["against"]
    assert c["path"] == "old.onnx" and c["map50"] == 0.495
    assert c["difference"]["map50"] == 0.5
    assert c["difference"]["per_class_ap50"] == {"crack": 0.5, "stain": None}
    assert c["difference_ci"]["map50"] == [0.0, 0.995] and c["difference_ci"]["resamples"] == 200
    assert "  mAP50          +0.500 [+0.000 +0.995]" in r.stdout
    assert "  stain          -" in r.stdout


def test_tiles_of_one_photo_are_drawn_together():
    # one found and one missed tile of the same photo: every draw holds both, so the interval is
    # the pair's own score; as two photos they span [0, 0.995]
    recs = [_found(), _missed()]
    m, _ = accumulate(recs, 1)
    together = bootstrap_ci(recs, ["crack"], resamples=50, groups=["wall", "wall"])
    assert together["map50"] == [round(m.map50, 4)] * 2
    assert bootstrap_ci(recs, ["crack"], resamples=200, groups=["w1", "w2"])["map50"] == [
        0.0,
        0.995,
    ]
    with pytest.raises(ValueError, match="group"):
        bootstrap_ci(recs, ["crack"], groups=["wall"])


def test_photo_groups_follow_the_tilers_names(tmp_path):
    from datasets.tools.tile import tile_source, tile_stem
    from training.evaluate import photo_groups

    a, b = tmp_path / "a", tmp_path / "b"
    images = [
        a / f"{tile_stem('s777_000001', 0, 320)}.png",
        a / f"{tile_stem('s777_000001', 320, 320)}.png",
        b / f"{tile_stem('s777_000001', 0, 0)}.png",  # same photo name, another folder
        a / "wall_x3.jpg",  # not a tile
    ]
    assert photo_groups(images) == [
        str(a / "s777_000001"),
        str(a / "s777_000001"),
        str(b / "s777_000001"),
        str(a / "wall_x3"),
    ]
    assert tile_source(tile_stem("room_2_x1", 640, 0)) == "room_2_x1"


def test_card_shows_the_intervals_beside_the_metrics():
    from training.card import ModelCard

    metrics = {
        "map50": 0.5,
        "map50_95": 0.3,
        "precision": 0.6,
        "recall": 0.4,
        "images": 4,
        "data": "tiles",
        "per_class": {
            "crack": {"ap50": 0.5, "precision": 0.6, "recall": 0.4},
            "stain": {"ap50": None, "precision": None, "recall": None},
        },
    }
    plain = ModelCard(name="m", version="1", classes=["crack", "stain"], metrics=metrics)
    assert "| map50 | 0.500 |\n" in plain.to_markdown() and "interval" not in plain.to_markdown()
    ci = {
        "level": 0.95,
        "resamples": 200,
        "map50": [0.41, 0.6],
        "map50_95": [0.2, 0.35],
        "per_class_ap50": {"crack": [0.41, 0.6], "stain": None},
    }
    md = ModelCard(
        name="m", version="1", classes=["crack", "stain"], metrics={**metrics, "ci": ci}
    ).to_markdown()
    assert "| metric | value | 95 % interval |\n| --- | --- | --- |" in md
    assert "| map50 | 0.500 | 0.410-0.600 |" in md and "| recall | 0.400 | – |" in md
    assert "| class | AP50 | AP50 interval | precision | recall |" in md
    assert "| crack | 0.500 | 0.410-0.600 | 0.600 | 0.400 |" in md
    assert "| stain | None | – | None | None |" in md
    assert "200 resamples; the tiles of one photo are drawn together" in md
