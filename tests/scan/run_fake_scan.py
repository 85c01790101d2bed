"""``python run_fake_scan.py OPTIONS_JSON DELAY``: a scan with the fake detector, in its own
process (for the kill tests). Prints the summary text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_detector import FakeSpec  # noqa: E402

from serving.scan import ScanOptions, run_scan  # noqa: E402

if __name__ == "__main__":
    opts = json.loads(sys.argv[1])
    for k in ("root", "json_out"):
        if opts.get(k):
            opts[k] = Path(opts[k])
    summary = run_scan(ScanOptions(**opts), spec=FakeSpec(delay=float(sys.argv[2])))
    print(summary.to_text())
