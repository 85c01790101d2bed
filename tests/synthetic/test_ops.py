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

    i, j = _runs(np.array(key, np.int64), np.array(on, bool))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expect


@pytest.mark.parametrize("n", [1, 2, 7, 4800])
def test_percentile_matches_numpy(n):
    from datasets.synthetic.camera import _percentile

    x = np.random.default_rng(n).integers(0, 4096, n).astype(np.uint16)
    for q in (0.0, 50.0, 99.5, 100.0):
        assert _percentile(x, q) == pytest.approx(float(np.percentile(x, q)), abs=1e-9)


def test_develop_bgr_is_the_rgb_photo_with_channels_swapped():
    from datasets.synthetic.camera import develop

    img = np.random.default_rng(0).random((48, 48, 3), dtype=np.float32)
    img *= np.array([0.2, 0.6, 1.0], np.float32)  # a bluish picture: the channel order shows
    rgb, q1 = develop(np.random.default_rng(5), img.copy())
    bgr, q2 = develop(np.random.default_rng(5), img.copy(), bgr=True)
    assert q1 == q2
    # Same picture up to which channel each (random, channel-symmetric) noise draw lands in:
    # compare the noise-free structure through the channel means of a large blur.
    a = rgb.astype(np.float32)[..., ::-1].mean(axis=(0, 1))
    b = bgr.astype(np.float32).mean(axis=(0, 1))
    np.testing.assert_allclose(a, b, atol=1.0)
    assert b[0] > b[2] + 20  # blue first


@pytest.mark.parametrize("shape", [(5, 7), (64, 33, 3)])
def test_tone_lookup_equals_np_take_clip(shape):
    from datasets.synthetic.camera import tone_lookup

    rng = np.random.default_rng(1)
    curve = np.sort(rng.random(4096, dtype=np.float32))
    idx = rng.integers(0, 65536, shape).astype(np.uint16)
    idx.flat[:3] = [0, 4095, 4096]
    got = tone_lookup(curve, idx)
    assert got.dtype == np.float32 and got.shape == shape
    assert np.array_equal(got, np.take(curve, idx, mode="clip"))


@pytest.mark.parametrize("seed", range(6))
def test_light_in_place_equals_the_copy_and_writes_the_canvas(seed):
    from datasets.synthetic.camera import light
    from datasets.synthetic.scene import Scene

    def scene() -> Scene:
        r = np.random.default_rng(100 + seed)
        return Scene(
            albedo=r.random((96, 96, 3), dtype=np.float32),
            height=r.normal(0, 2, (96, 96)).astype(np.float32),
            zone=(np.arange(96)[:, None] > 50).repeat(96, 1).astype(np.uint8),
            materials=["paint", "tiles"],
            gloss=[0.05, 0.9],  # glossy: glare is drawn in some seeds
            roi=(5, 9, 90, 80),
        )

    s1, s2 = scene(), scene()
    lit1, ill1 = light(np.random.default_rng(seed), s1)
    lit2, ill2 = light(np.random.default_rng(seed), s2, in_place=True)
    assert np.array_equal(lit1, lit2) and np.array_equal(ill1, ill2)
    assert np.array_equal(s1.albedo, scene().albedo)  # the default leaves the scene alone
    assert np.shares_memory(lit2, s2.albedo) and np.array_equal(s2.albedo[9:80, 5:90], lit1)


@pytest.mark.parametrize("seed", range(12))  # defocus (full, partial), shake and zoom all occur
def test_develop_in_place_gives_the_same_photo(seed):
    from datasets.synthetic.camera import develop

    img = np.random.default_rng(seed).random((64, 64, 3), dtype=np.float32)
    keep = img.copy()
    u8a, qa = develop(np.random.default_rng(seed), img)
    assert np.array_equal(img, keep)  # the default leaves the input alone
    u8b, qb = develop(np.random.default_rng(seed), img, in_place=True)
    assert qa == qb and np.array_equal(u8a, u8b)
