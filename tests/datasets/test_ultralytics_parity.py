"""Our YOLO reader/writer agree with ultralytics' own dataset code (the trainer's view)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from datasets.formats import yolo
from datasets.types import Box, Dataset, LabeledImage

pytestmark = pytest.mark.train


def test_ultralytics_reads_our_layout_and_boxes(tmp_path, make_image, monkeypatch):
    pytest.importorskip("ultralytics")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    rng = np.random.default_rng(5)
    images = []
    for i in range(6):
        w, h = int(rng.integers(64, 200)), int(rng.integers(64, 200))
        split = "val" if i % 3 == 0 else "train"
        path = make_image(tmp_path / "src" / split / f"im{i}.jpg", w, h, seed=i)
        boxes = [
            Box(int(rng.integers(0, 6)), x0, y0, x0 + 10 + i, y0 + 5 + 2 * i)
            for x0, y0 in [(1.5, 2.25), (30.0, 40.0)]
        ]
        images.append(LabeledImage(path, w, h, boxes if i != 4 else []))
    names = ["crack", "hollow_tile", "tile_chip", "paint_peeling", "paint_bubble", "stain"]
    data_yaml = yolo.save(Dataset(names, images), tmp_path / "ds")
    # a polygon segment file, which both readers turn into bounding boxes (a file may not
    # mix polygon and box rows: ultralytics drops such an image, our reader refuses it)
    seg = tmp_path / "ds" / "labels" / "train" / "im2.txt"
    seg.write_text("3 0.1 0.2 0.5 0.2 0.3 0.6\n1 0.6 0.6 0.9 0.7 0.7 0.95 0.62 0.9\n")

    import ultralytics.data.utils as ul_data_utils
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    # check_det_dataset fetches a plotting font when none is cached: never touch the network
    monkeypatch.setattr(ul_data_utils, "check_font", lambda *a, **k: None)

    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative splits must resolve against data.yaml, not the CWD
    try:
        data = check_det_dataset(str(data_yaml))
    finally:
        os.chdir(cwd)
    assert Path(data["train"]) == tmp_path / "ds" / "images" / "train"
    assert data["names"] == dict(enumerate(names))

    ours = {im.path.name: im for im in yolo.load(tmp_path / "ds").images}
    n = 0
    for split in ("train", "val"):
        ds = YOLODataset(img_path=data[split], data=data, task="detect", augment=False, imgsz=64)
        for lab in ds.labels:
            im = ours[Path(lab["im_file"]).name]
            assert tuple(lab["shape"]) == (im.height, im.width)
            xywhn = np.array(
                [
                    [
                        (b.x0 + b.x1) / 2 / im.width,
                        (b.y0 + b.y1) / 2 / im.height,
                        (b.x1 - b.x0) / im.width,
                        (b.y1 - b.y0) / im.height,
                    ]
                    for b in im.boxes
                ]
            ).reshape(-1, 4)
            np.testing.assert_allclose(xywhn, lab["bboxes"], atol=1e-6)
            assert [b.class_id for b in im.boxes] == [int(c) for c in lab["cls"].ravel()]
            n += len(im.boxes)
    assert n == 10  # 4 images x 2 boxes + 2 polygons
