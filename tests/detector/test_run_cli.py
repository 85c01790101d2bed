"""``detect_paths`` (with a fake detector) and the ``finishscan detect`` command (real model)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from detector import Detections, ModelInfo, draw_detections, load_image
from detector.run import detect_paths, expand_paths

from .conftest import texture, write_rgb


class FakeDetector:
    """Every blob of bright pixels (> 128 in red) is a 'crack' with confidence 0.9."""

    names = ["crack", "stain"]
    info = ModelInfo("fake", "0", names, (640, 640))

    def __init__(self) -> None:
        self.tiles: list[str] = []

    def detect(self, image: np.ndarray, *, tile: str = "auto") -> Detections:
        self.tiles.append(tile)
        mask = (image[..., 0] > 128).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, _ in stats[1:n]]
        return Detections(
            np.array(boxes, np.float32).reshape(-1, 4), np.full(n - 1, 0.9), np.zeros(n - 1)
        )


@pytest.fixture()
def photos(tmp_path: Path) -> dict[str, Path]:
    img = np.zeros((60, 80, 3), np.uint8)
    img[10:20, 30:50] = 255
    d = tmp_path / "in"
    d.mkdir()
    (d / "zero.jpg").write_bytes(b"")
    (d / "notes.jpg").write_text("not a photo")
    good = write_rgb(d / "good.png", img)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    (d / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    return {"good": good, "zero": d / "zero.jpg", "notes": d / "notes.jpg", "cut": d / "cut.jpg"}


def test_detect_paths_records_and_errors(photos: dict[str, Path], tmp_path: Path) -> None:
    seen: list[str] = []
    order = [
        photos["zero"],
        photos["good"],
        photos["notes"],
        tmp_path / "missing.jpg",
        photos["cut"],
    ]
    fake = FakeDetector()
    recs = detect_paths(
        order,
        fake,
        tile="off",
        annotate_dir=tmp_path / "ann",
        on_result=lambda r: seen.append(r["image"]),
    )
    assert [r["image"] for r in recs] == [str(p) for p in order] == seen
    assert fake.tiles == ["off"]
    good = recs[1]
    assert good["width"] == 80 and good["height"] == 60
    assert good["defects"] == [
        {"label": "crack", "confidence": 0.9, "box": [30.0, 10.0, 50.0, 20.0]}
    ]
    assert good["model"] == {"name": "fake", "version": "0"}
    for k, reason in [
        (0, "empty"),
        (2, "not a supported image"),
        (3, "not found"),
        (4, "truncated"),
    ]:
        assert reason in recs[k]["error"] and "defects" not in recs[k]
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["good.jpg"]
    annotated = load_image(tmp_path / "ann" / "good.jpg")
    assert annotated.shape == (60, 80, 3)


def test_exif_rotated_photo_boxes_in_rotated_frame(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:8, :8] = 255
    exif = pil.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    buf = io.BytesIO()
    pil.fromarray(stored).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    (tmp_path / "rot.jpg").write_bytes(buf.getvalue())
    (rec,) = detect_paths([tmp_path / "rot.jpg"], FakeDetector())
    assert (rec["width"], rec["height"]) == (20, 40)
    assert rec["defects"][0]["box"] == [12.0, 0.0, 20.0, 8.0]  # top-right of the upright photo


def test_expand_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ["b.jpg", "a.PNG", "sub/c.webp", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert expand_paths([tmp_path, "x.jpg"]) == [
        str(tmp_path / "a.PNG"), str(tmp_path / "b.jpg"), str(tmp_path / "sub" / "c.webp"), "x.jpg",
    ]  # fmt: skip


def test_draw_detections_copy_with_labels() -> None:
    img = np.full((200, 300, 3), 40, np.uint8)
    d = Detections(np.array([[50, 60, 150, 160]]), np.array([0.87]), np.array([1]))
    out = draw_detections(img, d, ["crack", "stain"])
    assert (img == 40).all(), "the input must not be modified"
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out[110, 50] != 40).any() and (
        out[110, 100] == 40
    ).all()  # box edge drawn, inside untouched
    assert (out[45:59, 52:100] != 40).any()  # the label tag above the box
    near_top = draw_detections(
        img, Detections(np.array([[0, 0, 50, 50]]), np.array([0.5]), np.array([0])), ["a"]
    )
    assert (near_top[2:20, 2:40] != 40).any()  # a box at the top edge gets its tag inside


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from serving.cli import main; main()", "detect", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def test_cli_detect_json_annotate_and_errors(tmp_path: Path, default_model: Path) -> None:
    rng = np.random.default_rng(0)
    a = write_rgb(tmp_path / "a.jpg", texture(rng, 480, 640), quality=90)
    b = write_rgb(tmp_path / "b.png", texture(rng, 300, 200))
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    out = cli(
        str(a),
        str(bad),
        str(b),
        "--conf",
        "0.001",
        "--annotate",
        str(tmp_path / "ann"),
        cwd=tmp_path,
    )
    assert out.returncode == 2, out.stderr
    recs = json.loads(out.stdout)
    assert [r["image"] for r in recs] == [str(a), str(bad), str(b)]
    assert (recs[0]["width"], recs[0]["height"]) == (640, 480) and recs[0]["defects"]
    assert "error" in recs[1] and "Traceback" not in out.stderr
    assert recs[0]["model"]["name"] == default_model.stem
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["a.jpg", "b.jpg"]
    # --json FILE, only readable photos: exit 0, nothing on stdout
    ok = cli(str(a), "--json", str(tmp_path / "out.json"), "--tile", "off", cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == ""
    assert json.loads((tmp_path / "out.json").read_text())[0]["image"] == str(a)


def test_cli_missing_model_is_one_line(tmp_path: Path) -> None:
    out = cli("x.jpg", "--model", str(tmp_path / "nope.onnx"), cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: model file not found: {tmp_path / 'nope.onnx'}"


def test_cli_rejects_bad_tile_mode(tmp_path: Path) -> None:
    out = cli("x.jpg", "--tile", "sometimes", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--tile" in out.stderr


def test_cli_detect_runs_without_network(tmp_path: Path) -> None:
    """Nothing is downloaded at run time: the command works in a namespace with no network."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here (needs root or user namespaces)")
    img = write_rgb(tmp_path / "a.png", texture(np.random.default_rng(5), 300, 400))
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", "from serving.cli import main; main()", "detect", str(img),
         "--annotate", str(tmp_path / "ann")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["width"] == 400
    assert (tmp_path / "ann" / "a.jpg").exists()


def test_cli_detect_tta_reads_each_photo_and_its_mirror(
    tmp_path: Path, default_model: Path
) -> None:
    from detector import Detector

    rng = np.random.default_rng(1)
    a = write_rgb(tmp_path / "a.png", texture(rng, 300, 400))
    out = cli(str(a), "--tta", "--conf", "0.01", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (rec,) = json.loads(out.stdout)
    want = Detector(default_model, conf=0.01, tta=True).detect(load_image(a))
    assert rec["model"]["version"].endswith("+flip")
    assert rec["defects"], "nothing found: the comparison would prove little"
    assert [d["confidence"] for d in rec["defects"]] == sorted(
        (round(float(c), 4) for c in want.confidence), reverse=True
    )
