"""noise.field returns exactly the requested shape, also beyond the texture bank's size
(a 1332x1560 chalk-ring window at 1:1 texels once came back 25 px too narrow)."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.synthetic import noise


@pytest.mark.parametrize("scale", [1.0, 2.0, 4.0, 8.0, 40.0])
@pytest.mark.parametrize("stretch", [1.0, 3.0])
def test_field_has_the_requested_shape(scale, stretch):
    big = noise.BANK_SIZE + noise.PAD + 37
    for shape in [(5, 7), (64, 64), (1332, 1560), (big, 20), (20, big), (big, big)]:
        for beta in range(len(noise.BETAS)):
            f = noise.field(
                np.random.default_rng([shape[0], shape[1], beta]), shape, scale, beta, stretch
            )
            assert f.shape == shape, (shape, scale, beta, stretch)
            assert f.dtype == np.float32 and np.isfinite(f).all()


@pytest.mark.parametrize("k", range(8))
def test_oriented_crop_matches_numpy_flips_and_transpose(k):
    """The one-pass cv2 crop equals the numpy definition: flip rows (k & 1), columns (k & 2),
    then transpose (k & 4), and crop [y:y + h, x:x + w]."""
    base = np.random.default_rng(k).random((40, 40), dtype=np.float32)
    t = base
    if k & 1:
        t = t[::-1]
    if k & 2:
        t = t[:, ::-1]
    if k & 4:
        t = t.T
    for y, x, h, w in [(0, 0, 40, 40), (3, 7, 11, 19), (20, 1, 17, 5)]:
        got = noise._oriented_crop(base, k, y, x, h, w)
        assert got.flags.c_contiguous and got.shape == (h, w)
        assert np.array_equal(got, t[y : y + h, x : x + w]), (k, y, x, h, w)


@pytest.mark.parametrize("rough", [0.3, 0.6, 1.0, 1.4])
def test_blob_is_zero_on_its_window_border(rough):
    """A blob never reaches its window's border (it would be cut there by a straight edge, as 3 of
    4 blobs were before the outline's noise was tapered), and it still fills its window."""
    fills = []
    for i in range(60):
        rng = np.random.default_rng([9, i])
        h, w = (int(v) for v in rng.integers(8, 220, 2))
        for soft in (0.02, 0.2, 0.8):
            b = noise.blob(rng, h, w, rough=rough, soft=soft)
            assert b.shape == (h, w) and b.dtype == np.float32
            assert not b[0].any() and not b[-1].any(), (i, h, w, soft)
            assert not b[:, 0].any() and not b[:, -1].any(), (i, h, w, soft)
            fills.append(float((b > 0.5).mean()))
    assert 0.3 < np.median(fills) < 0.7
