"""A worker process that dies (e.g. killed by the OOM killer) stops the scan with a clear error;
what was recorded stays, and the next run completes the register."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from finishscan.errors import FinishscanError
from serving.scan import ScanOptions, run_scan

from .conftest import make_archive, snapshot

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_worker_death_is_a_clear_error_and_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))  # spawned workers import the fake by this name
    fake = pytest.importorskip("fake_detector")
    root = tmp_path / "a"
    make_archive(root, 6, size=(40, 50))
    cv2.imwrite(str(root / "P2/201/zz_big.png"), np.zeros((40, 77, 3), np.uint8))  # planned last
    opts = ScanOptions(
        root=root,
        layout="{project}/{unit}/...",
        db=f"sqlite:///{tmp_path / 'r.db'}",
        workers=2,
        batch_size=1,
        progress=False,
    )
    with pytest.raises(FinishscanError, match="a detector worker process died"):
        run_scan(opts, spec=fake.FakeSpec(die_on_width=77))
    done = sum(snapshot(f"sqlite:///{tmp_path / 'r.db'}")["photos"].values())
    assert done < 7
    summary = run_scan(opts, spec=fake.FakeSpec())
    assert summary.skipped == done and summary.scanned == 7 - done
    assert sum(snapshot(f"sqlite:///{tmp_path / 'r.db'}")["photos"].values()) == 7
    assert "fake_detector" in sys.modules
