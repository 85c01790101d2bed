"""Defect renderers on a hand-made scene: paint blisters stay on paint and come in packed
clusters; an open (wide) crack is a long one."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.synthetic import defects
from datasets.synthetic.scene import Scene

C = 256


def _scene(split: int = C // 2) -> Scene:
    """Flat grey paint (zone 0) left of ``split``, flat tiles (zone 1) right of it."""
    zone = np.zeros((C, C), np.uint8)
    zone[:, split:] = 1
    albedo = np.full((C, C, 3), 0.8, np.float32)
    return Scene(
        albedo=albedo,
        height=np.zeros((C, C), np.float32),
        zone=zone,
        materials=["paint", "tiles"],
        gloss=[0.1, 0.5],
    )


@pytest.mark.parametrize("seed", range(25))
def test_blisters_stay_on_the_paint_zone(seed):
    sc = _scene()
    inst = defects.paint_bubble(np.random.default_rng([3, seed]), sc, C / 2 - 6, C / 2)
    assert inst is not None
    m = np.zeros((C, C), bool)
    m[inst.y0 : inst.y0 + inst.mask.shape[0], inst.x0 : inst.x0 + inst.mask.shape[1]] = inst.mask
    assert not (m & (sc.zone == 1)).any()
    tiles = sc.zone == 1
    assert (sc.albedo[tiles] == np.float32(0.8)).all() and (sc.height[tiles] == 0).all()
    assert (sc.albedo[m] != np.float32(0.8)).any()  # and it did paint something on the paint


def test_blister_clusters_are_packed():
    """Mask pixels / box area of clusters (4+ blisters): the box is mostly blisters."""
    fills = []
    for seed in range(200):
        sc = _scene(split=C)
        inst = defects.paint_bubble(np.random.default_rng([4, seed]), sc, C / 2, C / 2)
        if inst is None or inst.meta["n"] < 4:
            continue
        ys, xs = np.nonzero(inst.mask)
        fills.append(len(xs) / ((np.ptp(xs) + 1) * (np.ptp(ys) + 1)))
    assert len(fills) > 40
    assert np.median(fills) > 0.3 and np.quantile(fills, 0.1) > 0.15


def test_open_cracks_are_long():
    """A crack up to 5 px wide may be any length; a wider (open) one is at least 15x longer."""
    wide = 0
    for seed in range(300):
        sc = _scene(split=C)
        inst = defects.crack(np.random.default_rng([5, seed]), sc, C / 2, C / 2, material="paint")
        if inst is None:
            continue
        w, ln = inst.meta["width"], inst.meta["length"]
        assert w <= max(5.0, ln / 15 + 1e-9), (seed, w, ln)
        wide += w > 5.0
    assert wide > 5  # the open cracks still exist


def test_blisters_stand_out_of_a_rough_texture():
    """On a grainy albedo (sd / mean 0.13), each blister changes its pixels (RMS of the log
    ratio over its mask) by more than the texture's own contrast."""
    tex = 0.08 / 0.6
    for seed in range(20):
        sc = _scene(split=C)
        grain = np.random.default_rng([9, seed]).standard_normal((C, C, 1))
        sc.albedo[:] = np.clip(0.6 + 0.08 * grain, 0.05, 1).astype(np.float32)
        before = sc.albedo.copy()
        inst = defects.paint_bubble(np.random.default_rng([6, seed]), sc, C / 2, C / 2)
        assert inst is not None
        m = np.zeros((C, C), bool)
        m[inst.y0 : inst.y0 + inst.mask.shape[0], inst.x0 : inst.x0 + inst.mask.shape[1]] = (
            inst.mask
        )
        change = np.log(sc.albedo[m].mean(axis=1) / before[m].mean(axis=1))
        assert np.sqrt(np.mean(change**2)) > tex, seed


@pytest.mark.parametrize(("renderer", "touching"), [(defects.stain, 0), (defects.paint_peeling, 4)])
def test_stains_and_peeled_patches_are_not_cut_by_their_window(renderer, touching):
    """Drawn away from the canvas edge, a stain's or peeled patch's mask stays inside its drawing
    window, and a peeled patch's relief has no step at the window's edge. Before the blob's
    outline was tapered, 71 % of stains and 95 % of peeled patches covered more than 5 % of their
    window's border and were cut by straight edges there. A peeled patch may still touch it with
    a stray speck of its jagged outline (2 of these 80 patches, under 1 % of the border)."""
    c, inside, touched = 1024, 0, 0
    for seed in range(80):
        sc = Scene(
            albedo=np.full((c, c, 3), 0.8, np.float32),
            height=np.zeros((c, c), np.float32),
            zone=np.zeros((c, c), np.uint8),
            materials=["paint"],
            gloss=[0.1],
        )
        inst = renderer(np.random.default_rng([6, seed]), sc, c / 2, c / 2)
        if inst is None:
            continue
        h, w = inst.mask.shape
        if inst.x0 == 0 or inst.y0 == 0 or inst.x0 + w == c or inst.y0 + h == c:
            continue  # the window was clipped by the canvas
        inside += 1
        m = inst.mask
        border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]])
        touched += bool(border.any())
        assert border.mean() < 0.02, seed
        rim = sc.height[inst.y0 - 1 : inst.y0 + h + 1, inst.x0 - 1 : inst.x0 + w + 1]
        assert not (rim[0].any() or rim[-1].any() or rim[:, 0].any() or rim[:, -1].any()), seed
        edge = np.concatenate([rim[1, 1:-1], rim[-2, 1:-1], rim[1:-1, 1], rim[1:-1, -2]])
        assert (edge != 0).mean() < 0.05, seed  # the paint's relief was raised by 1 up to it
    assert inside > 60 and touched <= touching


def test_a_patch_at_the_canvas_edge_is_cut_by_it():
    """A stain centred on the canvas edge is cut by it (as a photo's frame cuts one), not squeezed
    into the half of its window on the canvas: its mask reaches the edge along a long run."""
    runs = []
    for seed in range(30):
        sc = _scene(split=C)
        inst = defects.stain(np.random.default_rng([7, seed]), sc, 0.0, C / 2)
        if inst is None:
            continue
        assert inst.x0 == 0
        runs.append(int(inst.mask[:, 0].sum()))
    assert len(runs) > 20 and np.median(runs) > 20
