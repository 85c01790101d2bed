"""Active-learning selection: score tables, ranking, Label Studio tasks, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.select import (
    Weights,
    class_frequencies,
    disagreement,
    rarity,
    read_scan,
    select_records,
    to_label_studio,
    uncertainty,
)

BIN = Path(sys.executable).parent


def finishscan_select(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """``finishscan select ARGS...`` in a subprocess, as a user runs it."""
    cmd = [str(BIN / "finishscan"), "select", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def d(label="crack", conf=0.9, box=(0, 0, 10, 10)):
    return {"label": label, "confidence": conf, "box": list(box)}


@pytest.mark.parametrize(
    ("confs", "threshold", "band", "expected"),
    [
        ([], 0.25, 0.2, 0.0),
        ([0.25], 0.25, 0.2, 1.0),
        ([0.15], 0.25, 0.2, 0.5),
        ([0.9, 0.3], 0.25, 0.2, 0.75),  # the most hesitant box counts
        ([0.05], 0.25, 0.2, 0.0),
        ([0.5], 0.5, 0.1, 1.0),
    ],
)
def test_uncertainty_table(confs, threshold, band, expected):
    assert uncertainty(confs, threshold=threshold, band=band) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([d()], [d()], 0.0),
        ([d()], [], 1.0),
        ([], [], 0.0),
        ([d()], [d(label="stain")], 1.0),  # same place, different label: no match
        ([d(), d(box=(50, 50, 60, 60))], [d()], 1 - 2 * 1 / 3),  # F1 = 2/3
        ([d()], [d(box=(0, 0, 10, 30))], 1.0),  # IoU 1/3 < 0.5
    ],
)
def test_disagreement_table(a, b, expected):
    assert disagreement(a, b) == pytest.approx(expected)


def test_rarity_and_frequencies():
    records = [{"defects": [d(), d(), d(conf=0.1, label="stain")]}, {"defects": [d(label="stain")]}]
    freq = class_frequencies(records)
    assert freq == pytest.approx({"crack": 2 / 3, "stain": 1 / 3})  # the 0.1 box is below threshold
    assert rarity([d(label="stain")], freq) == pytest.approx(2 / 3)
    assert rarity([d(), d(label="stain")], freq) == pytest.approx(2 / 3)
    assert rarity([d(conf=0.1, label="stain")], freq) == 0.0


def _pool():
    return [
        {"image": "sure.jpg", "width": 100, "height": 100, "defects": [d(conf=0.95)]},
        {"image": "hesitant.jpg", "width": 100, "height": 100, "defects": [d(conf=0.26)]},
        {
            "image": "disagree.jpg",
            "width": 100,
            "height": 100,
            "defects": [d(conf=0.9)],
            "tiled_defects": [d(conf=0.9, box=(40, 40, 90, 90))],
        },
        {"image": "broken.jpg", "error": "not an image"},
        {"image": "empty.jpg", "width": 100, "height": 100, "defects": []},
    ]


def test_selection_ranks_hesitant_and_disagreeing_first():
    chosen = select_records(_pool(), 2, weights=Weights(rarity=0.0))
    assert [c.record["image"] for c in chosen] == ["disagree.jpg", "hesitant.jpg"]
    assert chosen[0].disagreement == 1.0 and chosen[1].uncertainty == pytest.approx(0.95)


def test_label_studio_tasks_carry_preannotations(tmp_path):
    chosen = select_records(_pool(), 3)
    tasks = to_label_studio(chosen, names=["crack", "stain"], url_prefix="/data/local-files/?d=")
    assert len(tasks) == 3
    t = next(t for t in tasks if t["data"]["image"].endswith("hesitant.jpg"))
    (res,) = t["predictions"][0]["result"]
    assert res["value"]["rectanglelabels"] == ["crack"]
    assert res["value"]["x"] == pytest.approx(0) and res["value"]["width"] == pytest.approx(
        10
    )  # percent of 100 px
    assert t["data"]["selection"]["uncertainty"] == pytest.approx(0.95)


def test_read_scan_jsonl_and_list(tmp_path):
    pool = _pool()
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in pool) + "\n")
    (tmp_path / "b.json").write_text(json.dumps(pool))
    assert read_scan(tmp_path / "a.jsonl") == read_scan(tmp_path / "b.json") == pool


def test_select_cli_from_scan(tmp_path):
    (tmp_path / "scan.jsonl").write_text("\n".join(json.dumps(r) for r in _pool()))
    out = tmp_path / "tasks.json"
    p = finishscan_select("--scan", str(tmp_path / "scan.jsonl"), "--n", "2", "--out", str(out))
    assert p.returncode == 0, p.stderr
    tasks = json.loads(out.read_text())
    assert len(tasks) == 2 and all("predictions" in t for t in tasks)


def test_select_cli_needs_one_source(tmp_path):
    p = finishscan_select("--out", str(tmp_path / "t.json"))
    assert p.returncode == 1 and "exactly one of" in p.stderr and "Traceback" not in p.stderr


def test_flips_score_the_tiled_run_against_its_mirror():
    tiled = [d(conf=0.9), d(conf=0.9, box=(50, 50, 60, 60))]
    pool = [
        {"image": "same.jpg", "defects": [], "tiled_defects": tiled, "flipped_defects": tiled},
        # one of two tiled boxes found again, plus a box below the threshold (not counted)
        {
            "image": "half.jpg",
            "defects": [],
            "tiled_defects": tiled,
            "flipped_defects": [d(conf=0.8), d(conf=0.1, box=(50, 50, 60, 60))],
        },
        {"image": "plain.jpg", "defects": [d(conf=0.9)]},  # no mirrored run: no flips score
    ]
    w = Weights(uncertainty=0, disagreement=0, rarity=0, flips=2.0)
    by = {s.record["image"]: s for s in select_records(pool, 3, weights=w)}
    assert by["same.jpg"].flips == 0.0 and by["half.jpg"].flips == pytest.approx(1 - 2 * 1 / 3)
    assert by["half.jpg"].score == pytest.approx(2.0 * (1 - 2 / 3))
    assert by["plain.jpg"].flips is None and "flips" not in by["plain.jpg"].why()
    assert by["half.jpg"].why()["flips"] == pytest.approx(0.3333)
    assert [s.record["image"] for s in select_records(pool, 1, weights=w)] == ["half.jpg"]


def test_flipped_run_is_the_mirror_photos_tiled_run_mapped_back(default_model, tmp_path):
    """detect_pool(flips=True) on a photo gives as "flipped_defects" what the tiled run of its
    mirror image finds, boxes mirrored back into the photo's pixels."""
    import cv2
    import numpy as np

    from training.select import detect_pool

    from ..textures import texture

    photo = texture(np.random.default_rng(11), 700, 900)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "b.png"), cv2.cvtColor(photo[:, ::-1], cv2.COLOR_RGB2BGR))
    a, b = detect_pool([tmp_path / "a.png", tmp_path / "b.png"], default_model, flips=True)
    assert a["tiled_defects"], "nothing found: the comparison would prove little"

    def rows(defects, flip=False):
        out = []
        for x in defects:
            x0, y0, x1, y1 = x["box"]
            box = [900 - x1, y0, 900 - x0, y1] if flip else [x0, y0, x1, y1]
            out.append((x["label"], x["confidence"], box))
        out.sort(key=lambda r: (r[0], r[1], round(r[2][0])))
        return [r[:2] for r in out], np.array([r[2] for r in out])

    for ours, theirs in ((a, b), (b, a)):
        (keys, boxes), (want_keys, want_boxes) = (
            rows(ours["flipped_defects"]),
            rows(theirs["tiled_defects"], flip=True),
        )
        assert keys == want_keys
        np.testing.assert_allclose(boxes, want_boxes, atol=0.02)  # records round to 0.01 px
    assert all(0 <= x["box"][0] < x["box"][2] <= 900 for x in a["flipped_defects"])


def test_select_cli_flips_need_images(tmp_path):
    (tmp_path / "scan.jsonl").write_text("\n".join(json.dumps(r) for r in _pool()))
    p = finishscan_select("--scan", str(tmp_path / "scan.jsonl"), "--flips")
    assert p.returncode == 1 and "--flips needs --images" in p.stderr
    assert "Traceback" not in p.stderr


def test_per_class_thresholds_drive_every_signal():
    t = {"crack": 0.5, "stain": 0.2}  # paint_bubble has none: 0.25
    crack, stain = d(conf=0.5), d(label="stain", conf=0.3, box=(50, 50, 60, 60))
    bubble = d(label="paint_bubble", conf=0.24, box=(70, 70, 80, 80))
    (s,) = select_records(
        [{"image": "a.jpg", "width": 100, "height": 100, "defects": [crack, stain, bubble]}],
        1,
        threshold=t,
        weights=Weights(disagreement=0, rarity=0, flips=0),
    )
    assert s.uncertainty == pytest.approx(1.0)  # the crack sits on its own threshold
    assert uncertainty([0.3], threshold=[0.2]) == pytest.approx(0.5)
    assert class_frequencies([s.record], threshold=t) == pytest.approx({"crack": 0.5, "stain": 0.5})
    (task,) = to_label_studio([s], names=["crack", "stain", "paint_bubble"], threshold=t)
    labels = sorted(r["value"]["rectanglelabels"][0] for r in task["predictions"][0]["result"])
    assert labels == ["crack", "stain"]  # the bubble is under 0.25
    # one threshold for all: the crack at 0.5 is far from 0.25, the bubble at 0.24 hesitates
    (flat,) = select_records([s.record], 1, threshold=0.25, weights=Weights(1, 0, 0, 0))
    assert flat.uncertainty == pytest.approx(1 - 0.01 / 0.2)


def test_select_images_uses_the_models_class_thresholds(default_model, tmp_path):
    import cv2
    import numpy as np

    from detector import Detector
    from training.select import detect_pool

    from ..textures import texture

    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(3):
        photo = texture(np.random.default_rng(20 + k), 400, 560)
        cv2.imwrite(str(folder / f"p{k}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    # the shipped model with thresholds set so that its boxes on these photos fall on both
    # sides of them and of 0.25 (stored thresholds change with every trained version)
    from ..detector.test_class_conf import with_thresholds

    names = Detector(default_model).names
    model = with_thresholds(
        default_model, tmp_path / "m.onnx", {n: 0.4 if n == "crack" else 0.12 for n in names}
    )
    out = tmp_path / "tasks.json"
    p = finishscan_select(
        "--images",
        str(folder),
        "--model",
        str(model),
        "--n",
        "3",
        "--out",
        str(out),
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    det = Detector(model)
    t = det.class_thresholds
    assert t["crack"] == pytest.approx(0.4) and t["stain"] == pytest.approx(0.12)
    pool = {Path(r["image"]).name: r for r in detect_pool(sorted(folder.iterdir()), model)}
    tasks = json.loads(out.read_text())
    assert len(tasks) == 3
    shown = differs = 0
    for task in tasks:
        record = pool[task["data"]["image"].split("?d=", 1)[1]]
        want = sorted(
            round(x["confidence"], 4) for x in record["defects"] if x["confidence"] >= t[x["label"]]
        )
        flat = sorted(
            round(x["confidence"], 4) for x in record["defects"] if x["confidence"] >= 0.25
        )
        got = sorted(round(r["score"], 4) for r in task["predictions"][0]["result"])
        assert got == want
        shown += len(got)
        differs += want != flat
    assert shown, "no box above the thresholds: the comparison would prove little"
    assert differs, "0.25 for all would give the same tasks: the test proves little"
