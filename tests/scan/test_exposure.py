"""A scan reports each photo's exposure (``quality``) and lists the dark and blown-out ones."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import create_engine, text

from detector import load_image, photo_quality
from serving.scan import ScanOptions, read_jsonl, run_scan

from .conftest import PLACEHOLDER


def test_scan_lists_dark_and_overexposed_photos(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    root = tmp_path / "a"
    (root / "P/U").mkdir(parents=True)
    lit = cv2.GaussianBlur(rng.integers(60, 200, (120, 160, 3), dtype=np.uint8), (3, 3), 0)
    cv2.imwrite(str(root / "P/U/lit.png"), lit)
    cv2.imwrite(str(root / "P/U/dark.png"), lit // 6)
    blown = lit.copy()
    blown[:60] = 255  # half the photo white
    cv2.imwrite(str(root / "P/U/blown.png"), blown)
    out = tmp_path / "o.jsonl"
    options = ScanOptions(
        root=root,
        layout="{project}/{unit}/*",
        db=f"sqlite:///{tmp_path / 'r.db'}",
        model=str(PLACEHOLDER),
        json_out=out,
        progress=False,
    )
    summary = run_scan(options)
    assert summary.exposure == {"dark": ["P/U/dark.png"], "overexposed": ["P/U/blown.png"]}
    assert summary.to_dict()["exposure"] == summary.exposure
    report = summary.to_text()
    assert "dark photos: 1" in report and "overexposed photos: 1" in report
    recs = {r["image"]: r for r in read_jsonl(out)}
    assert set(recs) == {"P/U/lit.png", "P/U/dark.png", "P/U/blown.png"}
    for rel, rec in recs.items():
        assert rec["quality"] == photo_quality(load_image(root / rel)).to_dict()
    assert recs["P/U/lit.png"]["quality"]["warnings"] == []
    engine = create_engine(options.db)
    with engine.connect() as c:
        kept = dict(c.execute(text("SELECT storage_path, quality_warnings FROM photo")).all())
    engine.dispose()
    assert sorted(kept.values()) == ["", "dark", "overexposed"]  # kept in the register too
    again = run_scan(options)  # all recorded: nothing read again, nothing listed again
    assert again.skipped == 3 and again.exposure == {}
    assert len(list(read_jsonl(out))) == 3
