"""A thin line's contrast against the surface's texture (``line_contrast``) and the generator's
rule built on it: a crack lost in rough plaster gets no label even though its gray step passes
``min_step`` (the texture's own variance inside the thin mask), a clear one does."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from datasets.synthetic import defects, render_sample
from datasets.synthetic.config import SynthConfig
from datasets.synthetic.scene import Instance, Scene
from datasets.visibility import gray_step, line_contrast
from finishscan.errors import ConfigError

MAD_TO_SD = 1.4826


def _line(offset: float, texture: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A 60x80 image at 100 (+ ``texture``) with a 1-px horizontal line (row 30, x 10..69, 60
    px) raised by ``offset``; the float32 image and the line's bool mask."""
    g = np.full((60, 80), 100.0, np.float32)
    if texture is not None:
        g += texture
    m = np.zeros((60, 80), bool)
    m[30, 10:70] = True
    g[m] += offset
    return g, m


def _columns(amp: float) -> np.ndarray:
    """Columns alternating -amp / +amp (std amp; any Gaussian mean of it is 0)."""
    return np.tile(np.where(np.arange(80) % 2 == 0, -amp, amp), (60, 1)).astype(np.float32)


@pytest.mark.parametrize(
    ("offset", "texture", "want"),
    [
        (20.0, 0.0, 20.0),  # flat wall: residual 20 on the line, 0 around it: 20 / (0 + 1)
        (-20.0, 0.0, 20.0),  # a dark line the same
        (5.0, 0.0, 5.0),
        (20.0, 25.0, 20.0 / (MAD_TO_SD * 25.0 + 1.0)),  # +-25 texture: ring MAD 25 -> 0.525
        (40.0, 25.0, 40.0 / (MAD_TO_SD * 25.0 + 1.0)),  # twice the line, twice the contrast
        (20.0, 5.0, 20.0 / (MAD_TO_SD * 5.0 + 1.0)),  # a finer texture: 2.36
    ],
)
def test_line_contrast_by_hand(offset, texture, want):
    g, m = _line(offset, _columns(texture) if texture else None)
    # the Gaussian background is exact on a flat wall; on the alternating columns it is off by
    # well under 0.1 level where the line's hole cuts the Gaussian (its ends)
    assert line_contrast(g, m) == pytest.approx(want, abs=1e-3 if not texture else 5e-3)


def test_the_gray_step_passes_the_texture_the_line_contrast_does_not():
    """A +20 line on a +-25 texture: the old gray step counts the texture inside the mask
    (sqrt(25^2 + 20^2) = 32.0 levels, over min_step 16) while the line contrast is 0.53."""
    g, m = _line(20.0, _columns(25.0))
    assert gray_step(g, m) == pytest.approx(np.hypot(25.0, 20.0), abs=0.05)
    assert line_contrast(g, m) < SynthConfig().min_line_contrast
    flat, fm = _line(20.0)
    assert gray_step(flat, fm) == pytest.approx(20.0)
    assert line_contrast(flat, fm) == pytest.approx(20.0, abs=1e-3)


def test_on_gaussian_noise_of_25_a_line_scores_its_offset_over_26():
    """The residual's spread is the noise's 25 (the background mean of ~100 pixels barely lowers
    it), the line's mean residual its offset: 20 / 26 = 0.77, 40 / 26 = 1.54 (mean over seeds;
    one 60-px line's mean residual scatters by 25 / sqrt(60) = 3.2 levels)."""
    got = {20.0: [], 40.0: []}
    for seed in range(40):
        noise = np.random.default_rng([5, seed]).normal(0.0, 25.0, (60, 80)).astype(np.float32)
        for offset, out in got.items():
            g, m = _line(offset, noise)
            out.append(line_contrast(g, m))
    assert np.mean(got[20.0]) == pytest.approx(20.0 / 26.0, abs=0.05)
    assert np.mean(got[40.0]) == pytest.approx(40.0 / 26.0, abs=0.08)


def test_a_joint_in_the_ring_is_not_taken_for_texture():
    """A dark grout joint (-60) running 3 px beside the line fills an eighth of its ring: the
    ring's std makes the line look like texture (20 / (std + 1) < 1), its robust spread not."""
    g, m = _line(20.0)
    g[33, :] -= 60.0
    ring = (cv2.dilate(m.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & ~m
    assert 20.0 / (g[ring].std() + 1.0) < 1.0
    assert line_contrast(g, m) > 3.0


def test_crop_placement_and_image_border_match_the_full_image():
    rng = np.random.default_rng(9)
    g = cv2.GaussianBlur(rng.integers(0, 256, (70, 90)).astype(np.uint8), (0, 0), 1.0)
    full = np.zeros((70, 90), bool)
    full[2, 40:88] = True  # near two borders
    full[3:40, 87] = True
    ys, xs = np.nonzero(full)
    crop = full[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert line_contrast(g, crop, int(xs.min()), int(ys.min())) == pytest.approx(
        line_contrast(g, full), rel=1e-5
    )
    assert line_contrast(g, full) > 0


def test_too_few_pixels_give_zero():
    g = np.full((20, 20), 50, np.uint8)
    assert line_contrast(g, np.ones((2, 1), bool), 5, 5) == 0.0
    assert line_contrast(g, np.ones((3, 3), bool), 30, 30) == 0.0  # outside the image


def test_line_rule_config_is_validated():
    with pytest.raises(ConfigError):
        SynthConfig(min_line_contrast=-0.1)
    with pytest.raises(ConfigError):
        SynthConfig(line_classes=("scratch",))
    cfg = SynthConfig()
    assert cfg.min_line_contrast == 0.8 and cfg.line_classes == ("crack",)


# ----------------------------------------------------------------------------- the rule


def _crack_renderer(factor: float):
    """A fake crack: a 2-px straight line darkened by ``factor`` across a 120-px square of the
    wall roughened first (albedo x (1 + 0.25 n), n a unit-std noise blurred at 1 px: rough
    plaster that the camera's blur does not smooth away)."""

    def render(rng, scene: Scene, cx: float, cy: float, **_kw) -> Instance | None:
        x0, y0, x1, y1 = scene.window(cx, cy, 60, 60)
        alb = scene.albedo[y0:y1, x0:x1]
        n = np.random.default_rng(7).standard_normal(alb.shape[:2]).astype(np.float32)
        n = cv2.GaussianBlur(n, (0, 0), 1.0)
        alb *= (1.0 + 0.25 * n / n.std())[..., None]
        np.clip(alb, 0, 1, out=alb)
        line = np.zeros(alb.shape[:2], np.uint8)
        h, w = line.shape
        cv2.line(line, (10, h // 3), (w - 10, 2 * h // 3), 1, 2)
        mask = line > 0
        alb[mask] *= np.float32(factor)
        return Instance("crack", mask, x0, y0)

    return render


@pytest.mark.parametrize("seed", range(4))
def test_a_crack_lost_in_rough_plaster_gets_no_label_and_a_clear_one_does(monkeypatch, seed):
    cfg = SynthConfig(
        class_weights={"crack": 1.0},
        surface_weights={"paint": 1.0},
        empty_fraction=0.0,
        defects_per_image=(1, 1),
        negatives_per_image=(0, 0),
        erase_unlabelled=False,  # the faint crack stays in the photo: the rule alone is tested
    )
    monkeypatch.setitem(defects.RENDERERS, "crack", _crack_renderer(0.9))  # 10 % darker
    faint = render_sample(np.random.default_rng([41, seed]), 640, cfg)
    old = render_sample(  # the gray-step rule alone labels it: the texture passes 16 levels
        np.random.default_rng([41, seed]), 640, dataclasses.replace(cfg, min_line_contrast=0.0)
    )
    monkeypatch.setitem(defects.RENDERERS, "crack", _crack_renderer(0.5))
    clear = render_sample(np.random.default_rng([41, seed]), 640, cfg)
    assert faint.boxes == [] and faint.meta["invisible"] == 1
    assert len(old.boxes) == 1 and old.meta["steps"][0] >= cfg.min_step
    assert old.jpeg == faint.jpeg  # the rule only decides the label
    assert len(clear.boxes) == 1 and clear.meta["invisible"] == 0
    assert clear.meta["lines"][0] >= cfg.min_line_contrast
    gray = cv2.cvtColor(clear.image, cv2.COLOR_RGB2GRAY)
    assert line_contrast(gray, clear.masks[0]) == pytest.approx(clear.meta["lines"][0], abs=0.01)
    gray = cv2.cvtColor(faint.image, cv2.COLOR_RGB2GRAY)
    assert line_contrast(gray, old.masks[0]) < cfg.min_line_contrast


def test_only_line_classes_are_judged_by_line_contrast():
    cfg = SynthConfig(empty_fraction=0.0)
    cracks = 0
    for i in range(12):
        s = render_sample(np.random.default_rng([42, i]), 320, cfg)
        assert len(s.meta["lines"]) == len(s.boxes)
        for b, v in zip(s.boxes, s.meta["lines"], strict=True):
            if cfg.names[b.class_id] == "crack":
                cracks += 1
                assert v is not None and v >= cfg.min_line_contrast
            else:
                assert v is None
    assert cracks > 2
