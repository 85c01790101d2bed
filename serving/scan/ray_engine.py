"""The Ray engine: Ray Data feeds the pending photos to an actor pool, one detector per actor;
the driver writes the results to the register in batches.

Ray is imported here only (the ``[distributed]`` extra). Every node must see DIR at the same
path (a shared or mounted folder); with several machines, use a PostgreSQL register.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finishscan.errors import ConfigError, FinishscanError
from serving.scan.items import ScanItem
from serving.scan.sink import Finished
from serving.scan.work import Spec, safe_detect, threads_per_worker

if TYPE_CHECKING:
    from serving.scan.engine import Pending, Recorder


class RayDetect:
    """Class-based ``map_batches`` UDF: builds one detector per actor, then maps batches of
    ``{"idx", "path", "sha256"}`` to ``{"idx", "outcome"}`` (the worker's outcome as JSON)."""

    def __init__(self, spec: Spec, threads: int) -> None:
        self.run = spec.build(threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outcomes = []
        for path, sha in zip(batch["path"], batch["sha256"], strict=True):
            outcome = read_checked(str(path), str(sha))
            if isinstance(outcome, bytes):
                outcome = safe_detect(self.run, outcome)
            outcomes.append(json.dumps(outcome))
        return {"idx": batch["idx"], "outcome": np.array(outcomes, dtype=object)}


def read_checked(path: str, sha256: str) -> bytes | dict[str, str]:
    """The file's bytes if they still hash to ``sha256``, else ``{"error": reason}``."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return {"error": f"cannot read the file ({e.strerror or e})"}
    if hashlib.sha256(data).hexdigest() != sha256:
        return {"error": "the file changed during the scan"}
    return data


def detect_ray(
    pending: Iterator[Pending],
    recorder: Recorder,
    *,
    spec: Spec,
    workers: int,
    address: str | None,
    batch_size: int,
) -> None:
    """Detect every pending photo on Ray (``concurrency=workers`` actors) and hand the results
    to ``recorder`` as they stream back. Connects to ``address`` (e.g. ``ray://head:10001`` or
    ``auto``) or starts a local Ray, which it shuts down again at the end."""
    try:
        import ray
        import ray.data
        import ray.exceptions
    except ImportError as e:
        raise ConfigError(
            "the Ray engine needs the distributed extra: pip install 'finishscan[distributed]'"
        ) from e

    by_idx: dict[int, tuple[ScanItem, str, Path, bool]] = {}
    rows: list[dict[str, Any]] = []
    for i, p in enumerate(pending):  # the driver has hashed and filtered; actors re-read
        by_idx[i] = (p.item, p.sha256, p.path, p.record)  # bytes dropped: read again later
        rows.append({"idx": i, "path": str(p.path.resolve()), "sha256": p.sha256})
    if not rows:
        return
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        ray.init(**kwargs)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = threads_per_worker(workers, cores=cpus) if not address else 1
        ds = ray.data.from_items(rows).map_batches(
            RayDetect,
            fn_constructor_kwargs={"spec": spec, "threads": threads},
            concurrency=workers,
            batch_size=batch_size,
            num_cpus=threads,
            batch_format="numpy",
        )
        try:
            for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
                for idx, raw in zip(batch["idx"], batch["outcome"], strict=True):
                    item, sha, path, record = by_idx.pop(int(idx))
                    outcome = json.loads(raw)
                    data = read_checked(str(path), sha)
                    if not isinstance(data, bytes):
                        outcome, data = data, b""
                    recorder.done(Finished(item, sha, data, outcome, record))
        except ray.exceptions.RayError as e:
            first = next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
            raise FinishscanError(
                f"the Ray scan failed ({first[:300]}); what was recorded is kept, run it again "
                "to resume"
            ) from e
    finally:
        if started:
            ray.shutdown()
