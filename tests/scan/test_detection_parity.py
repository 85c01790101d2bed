"""A scan's JSON record of a photo is what the detector itself says about that photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detector import Detector, load_image, to_record
from serving.scan import ScanOptions, read_jsonl, run_scan

from .conftest import LOW_CONF, PLACEHOLDER


@pytest.mark.parametrize(("tile", "tta"), [("off", False), ("on", False), ("on", True)])
def test_scan_records_equal_detector_records(tmp_path: Path, tile: str, tta: bool) -> None:
    rng = np.random.default_rng(7)
    root = tmp_path / "a"
    (root / "P/U").mkdir(parents=True)
    for i, (h, w) in enumerate([(120, 90), (200, 330)]):
        img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (3, 3), 0)
        cv2.imwrite(str(root / f"P/U/{i}.png"), img)
    out = tmp_path / "o.jsonl"
    run_scan(
        ScanOptions(
            root=root,
            layout="{project}/{unit}/*",
            db=f"sqlite:///{tmp_path / 'r.db'}",
            model=str(PLACEHOLDER),
            conf=LOW_CONF,
            tile=tile,
            tta=tta,
            json_out=out,
            progress=False,
        )
    )
    det = Detector(PLACEHOLDER, conf=LOW_CONF, tta=tta)
    for rec in read_jsonl(out):
        image = load_image(root / rec["image"])
        want = to_record(
            det.detect(image, tile=tile),
            det.names,
            image=rec["image"],
            width=image.shape[1],
            height=image.shape[0],
            model=det.info,
        )
        got = {k: rec[k] for k in want}
        assert got == want
        assert (rec["project"], rec["unit"]) == ("P", "U")
        assert rec["model"]["version"].endswith("+flip") is tta
