"""Offline end to end, in a network namespace with no network at all (``unshare -n``):
data -> ``finishscan train`` (1 epoch) -> ``finishscan export`` -> detect via ``detector.Detector``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.train, pytest.mark.slow]

DETECT = """
import json, sys
from detector import Detector, load_image
det = Detector(sys.argv[1], conf=0.001)
d = det.detect(load_image(sys.argv[2]), tile="off")
print(json.dumps({"names": det.names, "imgsz": list(det.imgsz), "n": len(d), "name": det.info.name}))
"""


def _no_network_prefix() -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: cannot cut the network for the offline test")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(
            f"unshare -n is not permitted here (needs root/user namespaces): {probe.stderr.decode().strip()}"
        )
    return ["unshare", "-n"]


def _make_data(tmp: Path) -> Path:
    """The project's generator when it is there, else a tiny hand-made set."""
    try:
        from datasets.synthetic import write_dataset
    except ImportError:
        write_dataset = None
    if write_dataset is not None:
        write_dataset(tmp / "data", 12, seed=3, imgsz=96, val_fraction=0.34, workers=1)
        return tmp / "data" / "data.yaml"
    sys.path.insert(0, str(HERE))
    from tinydata import write_tiny_dataset

    return write_tiny_dataset(tmp / "data", n_train=8, n_val=4, size=96)


def test_train_export_detect_without_network(tmp_path):
    pytest.importorskip("ultralytics")
    prefix = _no_network_prefix()
    data = _make_data(tmp_path)
    env = {
        **os.environ,
        "YOLO_CONFIG_DIR": str(tmp_path / "ycfg"),  # empty: no fonts there to begin with
        "FINISHSCAN_HOME": str(tmp_path / "home"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
    }
    fs = str(BIN / "finishscan")
    run = tmp_path / "run"

    def go(*args: str) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
        )
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        return p

    go(
        fs,
        "train",
        "--data",
        str(data),
        "--recipe",
        "tiny",
        "--imgsz",
        "96",
        "--epochs",
        "1",
        "--out",
        str(run),
    )
    assert (run / "weights" / "best.pt").is_file()
    assert (run / "results.csv").read_text().count("\n") >= 2  # header + one epoch
    for plot in ("results.png", "labels.jpg", "train_batch0.jpg"):
        assert (run / plot).is_file(), plot
    assert (tmp_path / "ycfg").exists()
    args = (run / "args.yaml").read_text()
    assert (
        "GaussNoise" in args and "ImageCompression" in args
    )  # the recipe's albumentations reached ultralytics

    onnx_path = tmp_path / "m.onnx"
    go(
        fs,
        "export",
        str(run / "weights" / "best.pt"),
        "--out",
        str(onnx_path),
        "--name",
        "e2e",
        "--version",
        "0.0.1",
    )
    assert onnx_path.is_file() and (tmp_path / "m.md").is_file()

    img = sorted((data.parent / "images" / "val").iterdir())[0]
    out = go(str(BIN / "python"), "-c", DETECT, str(onnx_path), str(img))
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["names"][0] == "crack" and len(got["names"]) == 6
    assert got["imgsz"] == [96, 96]
    assert got["name"] == "e2e"
    assert got["n"] >= 0


def test_weights_name_that_would_download_is_refused(tmp_path):
    pytest.importorskip("ultralytics")
    sys.path.insert(0, str(HERE))
    from tinydata import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "d", n_train=2, n_val=1, size=64)
    p = subprocess.run(
        [
            str(BIN / "finishscan"),
            "train",
            "--data",
            str(data),
            "--model",
            "yolo11n.pt",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "YOLO_CONFIG_DIR": str(tmp_path / "ycfg")},
        timeout=300,
    )
    assert p.returncode == 1
    assert "never downloads" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
