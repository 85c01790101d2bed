"""Shared by the tests of this folder: a tiny trained model (trained once) and a fake detector."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """``(data_yaml, best_pt)`` of a 1-epoch model on the hand-made tiny set."""
    pytest.importorskip("ultralytics")
    sys.path.insert(0, str(HERE))
    from tinydata import write_tiny_dataset

    from training.recipe import load_recipe
    from training.train import train_model

    root = tmp_path_factory.mktemp("tiny")
    data = write_tiny_dataset(root / "data", n_train=8, n_val=4, size=64)
    res = train_model(data=data, out=root / "run", recipe=load_recipe("tiny"))
    return data, res.best


class QueuedDetector:
    """Stands in for ``detector.Detector``: a 320-px crack/stain model whose ``detect`` returns
    the queued detections in turn."""

    queue: list = []

    def __init__(self, model, **kwargs):
        self.names, self.imgsz = ["crack", "stain"], (320, 320)

    def detect(self, rgb, *, tile="auto"):
        return self.queue.pop(0)


@pytest.fixture
def fake_detector(monkeypatch):
    """``detector.Detector`` replaced by :class:`QueuedDetector` (fill its ``queue``)."""
    monkeypatch.setattr(QueuedDetector, "queue", [])
    monkeypatch.setattr("detector.Detector", QueuedDetector)
    return QueuedDetector
