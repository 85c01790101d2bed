"""``photo_quality``: luma figures computed by hand, the warnings at their thresholds, and the
``quality`` object in ``detect``'s records."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detector import photo_quality
from detector.quality import (
    CLIP_LUMA,
    DARK_LUMA,
    DARK_MEDIAN_LUMA,
    OVEREXPOSED_SHARE,
    luma,
)


def grey(value: int, h: int = 40, w: int = 50) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_luma_is_bt601_of_each_pixel() -> None:
    im = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    np.testing.assert_allclose(
        luma(im)[0], [76.245, 149.685, 29.07, 0.299 * 10 + 0.587 * 20 + 0.114 * 30], rtol=1e-5
    )


def test_figures_by_hand() -> None:
    im = grey(100, 10, 10)
    im[:3] = 5  # 30 % crushed
    im[3:5] = 255  # 20 % blown out
    q = photo_quality(im)
    assert q.median_luma == pytest.approx(100, abs=1e-3)
    assert q.dark_share == pytest.approx(0.3) and q.clipped_share == pytest.approx(0.2)
    assert q.warnings == ()
    assert q.to_dict() == {
        "median_luma": 100.0,
        "dark_share": 0.3,
        "clipped_share": 0.2,
        "warnings": [],
    }


def test_dark_below_the_median_threshold_only() -> None:
    at = round(DARK_MEDIAN_LUMA)
    assert photo_quality(grey(at)).warnings == ()
    assert photo_quality(grey(at - 1)).warnings == ("dark",)
    assert photo_quality(grey(DARK_LUMA - 1)).dark_share == 1.0


def test_overexposed_past_the_blown_out_share() -> None:
    n = 1000
    k = int(OVEREXPOSED_SHARE * n)
    im = grey(120, 1, n)
    im[0, :k] = CLIP_LUMA  # exactly the share: not yet
    assert photo_quality(im).warnings == ()
    im[0, : k + 1] = 255
    assert photo_quality(im).warnings == ("overexposed",)
    both = grey(3, 1, n)
    both[0, : n // 2 - 1] = 255  # under half blown out, the rest black: median is black
    assert photo_quality(both).warnings == ("dark", "overexposed")


def test_a_large_photo_is_measured_on_a_shrunk_copy() -> None:
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    big[:, :2000] = 10  # left half dark, right half noise around 127
    q = photo_quality(big)
    assert luma(big).shape == (768, 1024)
    assert q.dark_share == pytest.approx(0.5, abs=0.01)  # INTER_AREA keeps the halves apart


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 3), np.float32)])
def test_bad_input_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        photo_quality(bad)


def test_detect_reports_quality_and_advises_on_stderr(tmp_path) -> None:
    from serving.cli import app

    rng = np.random.default_rng(3)
    lit = rng.integers(90, 200, (200, 240, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "lit.png"), lit)
    cv2.imwrite(str(tmp_path / "dark.png"), lit // 8)
    r = CliRunner().invoke(app, ["detect", str(tmp_path), "--json", str(tmp_path / "out.json")])
    assert r.exit_code == 0, r.output + str(r.exception)
    recs = {
        rec["image"].rsplit("/", 1)[-1]: rec
        for rec in json.loads((tmp_path / "out.json").read_text())
    }
    assert recs["lit.png"]["quality"]["warnings"] == []
    assert recs["dark.png"]["quality"]["warnings"] == ["dark"]
    bgr = cv2.imread(str(tmp_path / "dark.png"))
    assert recs["dark.png"]["quality"] == photo_quality(bgr[:, :, ::-1].copy()).to_dict()
    assert "1 of 2 photos look dark" in r.stderr
    assert "blown out" not in r.stderr
