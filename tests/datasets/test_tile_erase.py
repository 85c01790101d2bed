"""`dataset tile` erases what a tile shows of a defect without a label (a sliver at its edge, a
faint end): such a tile is cut from the photo drawn again without that defect.

Hand-built photos with a drawing function stand in for the generator first (the loop's logic);
then real synthetic renders, where every tile must equal the photo rendered again without
exactly the defects it holds unlabelled (read back from the written labels)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from datasets.formats import coco, yolo
from datasets.formats.coco import decode_segmentation
from datasets.synthetic import write_dataset
from datasets.synthetic.config import SynthConfig
from datasets.synthetic.replay import Replay
from datasets.tools.tile import coco_masks, tile_dataset
from datasets.types import Box, Dataset, LabeledImage
from serving.cli import app

BG = 120  # the hand-built photo's wall


def _draw(defects: list[tuple[np.ndarray, int]], skip: frozenset[int] = frozenset()) -> np.ndarray:
    """A 100 x 200 BGR photo: the wall, with each (mask, gray) defect not in ``skip`` painted."""
    g = np.full((100, 200), BG, np.uint8)
    for j, (m, v) in enumerate(defects):
        if j not in skip:
            g[m] = v
    return cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)


def _mask(x0: int, x1: int, y0: int, y1: int) -> np.ndarray:
    m = np.zeros((100, 200), bool)
    m[y0:y1, x0:x1] = True
    return m


def _box(m: np.ndarray, cls: int) -> Box:
    ys, xs = np.nonzero(m)
    return Box(cls, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _hand_set(tmp: Path, defects: list[tuple[np.ndarray, int]]) -> tuple[Dataset, dict]:
    path = tmp / "images" / "train" / "wall.png"
    path.parent.mkdir(parents=True)
    cv2.imwrite(str(path), _draw(defects))
    im = LabeledImage(path, 200, 100, [_box(m, 1) for m, _ in defects])
    doc = coco.to_coco(Dataset(names=["crack", "stain"], images=[im]), image_root=tmp)
    for ann, (m, _) in zip(doc["annotations"], defects, strict=True):
        ann["segmentation"] = coco.encode_rle(m)
    (tmp / "masks.json").write_text(json.dumps(doc))
    ds = Dataset(names=["crack", "stain"], images=[im])
    return ds, coco_masks(tmp / "masks.json", ds)


def _tiles(out: Path) -> dict[str, tuple[np.ndarray, str]]:
    return {
        p.stem: (cv2.imread(str(p)), yolo.label_path_for(p).read_text())
        for p in sorted(out.rglob("*.png"))
    }


def test_a_sliver_is_erased_from_its_tile_only(tmp_path):
    # a stain mostly in the left tile with a 2 x 10 px sliver across the border (20 < 24 px)
    stain = _mask(60, 102, 40, 50)
    ds, masks = _hand_set(tmp_path, [(stain, 40)])
    calls: list[frozenset[int]] = []

    def redraw(path: Path):
        assert path == ds.images[0].path
        return lambda gone: calls.append(gone) or _draw([(stain, 40)], gone)

    kw = {"size": 100, "overlap": 0.0, "polygons": masks}
    s = tile_dataset(ds, tmp_path / "on", redraw=redraw, **kw)
    tile_dataset(ds, tmp_path / "off", **kw)
    on, off = _tiles(tmp_path / "on"), _tiles(tmp_path / "off")
    assert calls == [frozenset({0})]
    assert (s.erased, s.redrawn, s.dropped_pixels) == (1, 1, 1)
    assert on["wall_x0_y0"][0].tobytes() == off["wall_x0_y0"][0].tobytes()  # labelled: kept
    assert on["wall_x0_y0"][1] == off["wall_x0_y0"][1] != ""
    assert on["wall_x100_y0"][1] == off["wall_x100_y0"][1] == ""
    assert (off["wall_x100_y0"][0][40:50, 0:2] == 40).all()  # the sliver, unlabelled
    assert (on["wall_x100_y0"][0] == BG).all()  # the right tile as if never painted


def test_an_overlap_left_faint_is_erased_by_a_second_redrawing(tmp_path):
    # defect 0: a sliver in the right tile. Defect 1: a stain cut by the border, plainly
    # visible in both tiles in the photo; in the redrawing without 0 its right piece comes out
    # faint (as when an erased defect took part of a kept one's contrast), so it is erased next.
    sliver, stain = _mask(80, 101, 10, 12), _mask(70, 130, 60, 90)
    ds, masks = _hand_set(tmp_path, [(sliver, 40), (stain, 40)])
    drawn: list[frozenset[int]] = []

    def again(gone: frozenset[int]) -> np.ndarray:
        drawn.append(gone)
        img = _draw([(sliver, 40), (stain, 40)], gone)
        if gone == {0}:
            img[stain & (np.arange(200) >= 100)[None, :]] = BG - 5  # right piece: 5 levels
        return img

    s = tile_dataset(
        ds, tmp_path / "on", size=100, overlap=0.0, polygons=masks, redraw=lambda p: again
    )
    on = _tiles(tmp_path / "on")
    assert drawn == [frozenset({0}), frozenset({0, 1})]
    assert (s.erased, s.redrawn) == (2, 1)
    assert (on["wall_x100_y0"][0] == BG).all() and on["wall_x100_y0"][1] == ""
    left = on["wall_x0_y0"]
    assert left[0].tobytes() == _draw([(sliver, 40), (stain, 40)])[:, :100].tobytes()
    assert len(left[1].splitlines()) == 2  # both defects labelled where the photo shows them


def test_a_photo_that_cannot_be_redrawn_is_tiled_as_it_is(tmp_path):
    stain = _mask(60, 102, 40, 50)
    ds, masks = _hand_set(tmp_path, [(stain, 40)])
    kw = {"size": 100, "overlap": 0.0, "polygons": masks}
    s = tile_dataset(ds, tmp_path / "on", redraw=lambda p: None, **kw)
    tile_dataset(ds, tmp_path / "off", **kw)
    assert (s.erased, s.redrawn) == (0, 0)
    on, off = _tiles(tmp_path / "on"), _tiles(tmp_path / "off")
    assert {k: (v[0].tobytes(), v[1]) for k, v in on.items()} == {
        k: (v[0].tobytes(), v[1]) for k, v in off.items()
    }


# --- real renders ------------------------------------------------------------------------

N, SEED = 40, 5  # seed 5's first 40 photos hold unlabelled cut pieces in several tiles


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("erase") / "r640"
    write_dataset(out, N, seed=SEED, config=SynthConfig(), workers=1)
    return out


def _cli(*args: object):
    return CliRunner().invoke(app, ["dataset", "tile", *map(str, args)])


def _said(r) -> str:
    """What the command tells its user: its output, or its error's one line (the CLI root
    prints a FinishscanError's message)."""
    return r.output + str(r.exception or "")


def _expected_erased(renders: Path, out: Path) -> dict[str, frozenset[int]]:
    """Per tile: the photo's labels whose defect has pixels in the tile but no box there (cue
    rule aside), read from the written labels and the COCO masks; the tile should be the photo
    rendered again without exactly those."""
    doc = json.loads((renders / "annotations.coco.json").read_text())
    per: dict[str, list[dict]] = {}
    files = {im["id"]: Path(im["file_name"]).stem for im in doc["images"]}
    for a in doc["annotations"]:
        per.setdefault(files[a["image_id"]], []).append(a)
    want: dict[str, frozenset[int]] = {}
    for png in sorted(out.rglob("*.png")):
        stem, xs, ys = png.stem.rsplit("_", 2)
        x0, y0 = int(xs[1:]), int(ys[1:])
        rows = [r.split() for r in yolo.label_path_for(png).read_text().splitlines()]
        got = [(int(r[0]), *(float(v) * 320 for v in r[1:])) for r in rows]
        gone = set()
        for j, a in enumerate(per.get(stem, [])):
            full = decode_segmentation(a["segmentation"], 640, 640)
            m = full[y0 : y0 + 320, x0 : x0 + 320]
            n = int(m.sum())
            if n == 0:
                continue
            few = n < 24 and 2 * n < int(full.sum())
            if "cue" in a and not few:  # a hollow tile showing too little of its cue: plain tile
                cue = decode_segmentation(a["cue"], 640, 640)
                nc = int(cue[y0 : y0 + 320, x0 : x0 + 320].sum())
                if nc < 24 and 2 * nc < int(cue.sum()):
                    continue
            yy, xx = np.nonzero(m)
            cx, cy = (xx.min() + xx.max() + 1) / 2, (yy.min() + yy.max() + 1) / 2
            w, h = xx.max() + 1 - xx.min(), yy.max() + 1 - yy.min()
            cls = a["category_id"] - min(c["id"] for c in doc["categories"])
            if not any(
                g[0] == cls
                and max(abs(u - v) for u, v in zip(g[1:], (cx, cy, w, h), strict=True)) < 0.5
                for g in got
            ):
                gone.add(j)
        want[png.stem] = frozenset(gone)
    return want


def test_each_tile_is_its_photo_without_exactly_the_defects_it_leaves_unlabelled(renders, tmp_path):
    said = _cli(renders, "--out", tmp_path / "on", "--size", 320, "--overlap", 0)
    assert said.exit_code == 0, said.output
    r = _cli(renders, "--out", tmp_path / "off", "--size", 320, "--overlap", 0, "--no-erase")
    assert r.exit_code == 0, r.output
    assert "erased" not in r.output
    on, off = _tiles(tmp_path / "on"), _tiles(tmp_path / "off")
    assert on.keys() == off.keys()
    assert {k: v[1] for k, v in on.items()} == {k: v[1] for k, v in off.items()}

    want = _expected_erased(renders, tmp_path / "on")
    replay = Replay(renders)
    redrawn = 0
    for name, (img, _) in on.items():
        stem, xs, ys = name.rsplit("_", 2)
        x0, y0 = int(xs[1:]), int(ys[1:])
        if not want[name]:
            assert img.tobytes() == off[name][0].tobytes(), name
            continue
        redrawn += 1
        photo = replay.photo(next(renders.glob(f"images/*/{stem}.jpg")))
        assert photo is not None
        cut = photo.without(want[name])[y0 : y0 + 320, x0 : x0 + 320]
        assert img.tobytes() == cut.tobytes(), name
        assert img.tobytes() != off[name][0].tobytes(), name
    assert redrawn >= 3  # the set does exercise erasing
    erased = sum(len(v) for v in want.values())
    assert f"; {erased} pieces a tile showed unlabelled" in said.output
    assert f"erased: {redrawn} tiles cut from their photo redrawn" in said.output


def test_replay_gives_the_saved_photo_back(renders):
    path = sorted(renders.glob("images/*/*.jpg"))[0]
    photo = Replay(renders).photo(path)
    assert photo is not None
    saved = cv2.imread(str(path))
    assert photo.without(frozenset()).tobytes() == saved.tobytes()
    with pytest.raises(IndexError):
        photo.without(frozenset({len(photo.labelled)}))


def test_an_edited_photo_is_refused_and_nothing_is_written(renders, tmp_path):
    src = tmp_path / "r640"
    shutil.copytree(renders, src)
    on = _tiles_needing_redraw(src)
    p = next(src.glob(f"images/*/{on}.jpg"))
    img = cv2.imread(str(p))
    cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 97])  # same labels, other bytes
    r = _cli(src, "--out", tmp_path / "t", "--size", 320, "--overlap", 0)
    assert r.exit_code != 0
    assert "other bytes" in _said(r) and "--no-erase" in _said(r)
    assert not (tmp_path / "t").exists()
    r = _cli(src, "--out", tmp_path / "t", "--size", 320, "--overlap", 0, "--no-erase")
    assert r.exit_code == 0, r.output


def _tiles_needing_redraw(renders: Path) -> str:
    """A photo of ``renders`` with a tile that gets redrawn."""
    ds = yolo.load(renders)
    masks = coco_masks(renders / "annotations.coco.json", ds)
    seen: list[Path] = []

    def redraw(path: Path):
        seen.append(path)
        return None

    tile_dataset(ds, renders.parent / "probe", size=320, overlap=0.0, polygons=masks, redraw=redraw)
    assert seen
    return seen[0].stem


def test_erase_needs_a_synthetic_folder_and_masks(renders, tmp_path):
    src = tmp_path / "r640"
    shutil.copytree(renders, src)
    r = _cli(src, "--out", tmp_path / "t", "--no-masks", "--erase")
    assert r.exit_code != 0 and "--erase needs the defects' masks" in _said(r)
    (src / "synth_config.json").unlink()
    r = _cli(src, "--out", tmp_path / "t", "--erase")
    assert r.exit_code != 0 and "synth_config.json" in _said(r)
    assert not (tmp_path / "t").exists()
    r = _cli(src, "--out", tmp_path / "t", "--size", 320, "--overlap", 0)  # auto: off
    assert r.exit_code == 0 and "erased" not in r.output
