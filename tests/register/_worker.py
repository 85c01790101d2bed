"""A separate process for the concurrency tests: ``python _worker.py SPEC_JSON``.

SPEC: url, photo_root, rules_path, go (a file to wait for), mode ("record" or "open"),
project, jobs ([unit, seed] pairs: one photo per seed, two defects each). Prints a JSON result line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def photo(seed: int) -> bytes:
    import cv2
    import numpy as np

    img = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def wait_for(path: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for the start signal")
        time.sleep(0.002)


def main() -> None:
    spec = json.loads(sys.argv[1])
    from register import DetectedDefect, open_register, record_photo

    go = Path(spec["go"])
    if spec["mode"] == "open":
        wait_for(go)
        reg = open_register(
            spec["url"], photo_root=Path(spec["photo_root"]), rules_path=Path(spec["rules_path"])
        )
        reg.dispose()
        print(json.dumps({"ok": True}))
        return
    reg = open_register(
        spec["url"], photo_root=Path(spec["photo_root"]), rules_path=Path(spec["rules_path"])
    )
    print("ready", flush=True)
    wait_for(go)
    ids = []
    for unit, seed in spec["jobs"]:
        with reg.session() as s:
            r = record_photo(
                session=s,
                store=reg.store,
                rules=reg.rules,
                project=spec["project"],
                unit=unit,
                data=photo(seed),
                width=32,
                height=24,
                defects=[
                    DetectedDefect("hollow_tile", 0.9, (0, 0, 10, 10)),
                    DetectedDefect("tile_chip", 0.7, (12, 12, 20, 20)),
                ],
                model_name="fs",
                model_version="1",
            )
        ids += [d.id for d in r.defects]
    reg.dispose()
    print(json.dumps({"ok": True, "ids": ids}))


if __name__ == "__main__":
    main()
