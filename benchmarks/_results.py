"""Write one benchmark's section of ``benchmarks/RESULTS.md`` (replacing its previous one).

Each script calls ``write_section("detect_speed", markdown)``; sections are delimited by HTML
comments so scripts never clobber each other's results.
"""

from __future__ import annotations

import datetime as dt
import platform
import re
from pathlib import Path

from filelock import FileLock

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nWritten by the scripts in `benchmarks/`; each section says how it was measured.\n"


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, markdown: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{begin}\n## {name}\n\n_{stamp}; {machine()}_\n\n{markdown.strip()}\n{end}"
    with FileLock(str(RESULTS) + ".lock"):
        text = RESULTS.read_text() if RESULTS.exists() else HEADER
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        text = (
            pattern.sub(lambda _: block, text)
            if pattern.search(text)
            else text.rstrip() + "\n\n" + block + "\n"
        )
        RESULTS.write_text(text)


def ap50_cells(metrics, nc: int) -> str:  # type: ignore[no-untyped-def]
    """Markdown cells of each class's AP50 (``-`` for a class without labels) from the
    ``ClassMetrics`` of :func:`training.evaluate.accumulate`."""
    ap50 = dict(zip(metrics.classes.tolist(), metrics.ap50.tolist(), strict=True))
    return " | ".join(f"{ap50[c]:.3f}" if c in ap50 else "-" for c in range(nc))
