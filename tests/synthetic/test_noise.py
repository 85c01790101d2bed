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
