"""Hard negatives drawn on crops equal their whole-canvas definitions."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.synthetic import negatives, noise
from datasets.synthetic.scene import Scene


def _scene(c: int, roi) -> Scene:
    rng = np.random.default_rng(c)
    return Scene(
        albedo=rng.random((c, c, 3), dtype=np.float32),
        height=np.zeros((c, c), np.float32),
        zone=np.zeros((c, c), np.uint8),
        materials=["paint"],
        gloss=[0.0],
        roi=roi,
    )


@pytest.mark.parametrize("horiz", [True, False])
@pytest.mark.parametrize(("p", "tilt"), [(30.3, 4.2), (61.0, -7.5), (2.0, 0.0), (150.0, 3.0)])
def test_cut_in_equals_the_soft_step_over_the_roi(horiz, p, tilt):
    c, roi, k = 96, (5, 9, 90, 80), 0.04
    sc = _scene(c, roi)
    want = sc.albedo.copy()
    x0, y0, x1, y1 = roi
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    xx = np.arange(x0, x1, dtype=np.float32)[None, :]
    side = (yy - p - tilt * xx / c) if horiz else (xx - p - tilt * yy / c)
    want[y0:y1, x0:x1] *= (1.0 + k * noise.smoothstep(-1.0, 1.0, side))[..., None]
    negatives._cut_in(sc, horiz, p, tilt, k)
    np.testing.assert_allclose(sc.albedo, want, rtol=2e-6, atol=0)


def test_stroke_stays_near_its_points_and_blends_towards_its_colour():
    c = 128
    sc = _scene(c, None)
    sc.albedo[:] = 1.0
    pts = np.array([[20.0, 30.0], [100.0, 34.0]])
    negatives._stroke(sc, pts, 2.0, (0.0, 0.0, 0.0), 1.0, blur=0.5)
    dark = sc.albedo.mean(axis=2) < 0.999
    ys, xs = np.nonzero(dark)
    assert xs.min() >= 17 and xs.max() <= 103
    assert ys.min() >= 26 and ys.max() <= 38
    assert sc.albedo[32, 60].max() < 0.2  # on the line: nearly the stroke colour
    assert np.all(sc.albedo[:20] == 1.0) and np.all(sc.albedo[45:] == 1.0)
