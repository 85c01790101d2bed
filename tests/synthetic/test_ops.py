"""The cv2 fast paths equal the numpy broadcasting they replace."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.synthetic._ops import colour_times, gray3, rgb_plus, rgb_times


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 33)])
def test_ops_match_numpy_broadcasting(shape):
    rng = np.random.default_rng(3)
    rgb = rng.random((*shape, 3), dtype=np.float32)
    m = rng.normal(size=shape).astype(np.float32)
    c = np.array([0.2, 0.55, 0.9], np.float32)
    assert np.array_equal(gray3(m), np.repeat(m[..., None], 3, axis=2))
    assert np.array_equal(rgb_times(rgb, m), rgb * m[..., None])
    assert np.array_equal(rgb_plus(rgb, m), rgb + m[..., None])
    np.testing.assert_allclose(colour_times(c, m), c.reshape(1, 1, 3) * m[..., None], rtol=1e-6)
    assert rgb_times(rgb, m).dtype == np.float32 and colour_times(c, m).dtype == np.float32


@pytest.mark.parametrize(
    ("key", "on", "expect"),
    [
        ([], [], []),
        ([1, 1, 2, 2], [1, 1, 1, 0], [(0, 2), (2, 3)]),
        (
            [1, 1, 2, 2, 2, 3, 3, 1, 1],
            [1, 1, 1, 0, 1, 1, 1, 1, 0],
            [(0, 2), (2, 3), (4, 5), (5, 7), (7, 8)],
        ),
        ([5, 5, 5], [0, 0, 0], []),
        ([7, 7, 7], [1, 1, 1], [(0, 3)]),
    ],
)
def test_runs_split_on_key_changes_and_gaps(key, on, expect):
    from datasets.synthetic.defects import _runs

    assert _runs(np.array(key, np.int64), np.array(on, bool)) == expect
