"""The scan loop: plan → skip what is recorded → detect in workers → record in batches.

Crash safety: a photo is skipped only when the register already holds it for this model
version (checked by content hash before detection); each batch of photos is written in ONE
transaction, and its JSON Lines are appended (fsynced) just before that commit, so a run
killed at any moment and started again ends with the register (and output file) of one
uninterrupted run.

The JSON Lines output covers every photo of the scan, whichever run detected it: a skipped
photo without a line in the file gets one from what the register stored for this model
version (``register.stored``); when the register does not hold all of that scan's detections
(an older version scanned after a newer one, or detections matched to defects a person already
handled) the photo is detected again for the file alone, the register untouched. A photo
repeated in one unit under another path gets its first copy's result.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from finishscan.errors import ConfigError, FinishscanError
from serving.scan.discover import Plan, plan_from_layout, plan_from_manifest
from serving.scan.items import ScanItem
from serving.scan.jsonl import JsonlLog, read_jsonl
from serving.scan.layout import Layout
from serving.scan.manifest import read_manifest
from serving.scan.progress import ScanProgress
from serving.scan.sink import Finished, RegisterSink
from serving.scan.summary import ScanSummary
from serving.scan.work import (
    DetectorSpec,
    PhotoDetector,
    Spec,
    model_path,
    safe_detect,
    threads_per_worker,
)

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ScanOptions:
    """Everything ``finishscan scan`` takes; the CLI builds one and calls :func:`run_scan`."""

    root: Path
    manifest: Path | None = None
    layout: str | None = None
    db: str | None = None
    model: str | None = None
    workers: int = 1
    tile: str = "auto"
    conf: float | None = None  # None: the model's per-class thresholds
    tta: bool = False
    engine: str = "local"
    address: str | None = None
    json_out: Path | None = None
    batch_size: int = 8
    select: int = 0
    tasks: Path | None = None
    progress: bool = True

    def check(self) -> None:
        if (self.manifest is None) == (self.layout is None):
            raise ConfigError("give either --manifest CSV or --layout TEMPLATE (exactly one)")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be local or ray, got {self.engine!r}")
        if self.tile not in ("auto", "on", "off"):
            raise ConfigError(f"--tile must be auto, on or off, got {self.tile!r}")
        if self.conf is not None and not 0 <= self.conf <= 1:
            raise ConfigError(f"--conf must be between 0 and 1, got {self.conf}")
        if self.select < 0:
            raise ConfigError(f"--select must be 0 or more, got {self.select}")
        if self.select and self.tasks is None:
            raise ConfigError("--select N needs --tasks OUT.json to write the labelling tasks to")
        if self.tasks is not None and not self.select:
            raise ConfigError("--tasks needs --select N (how many photos to pick for labelling)")


def make_plan(options: ScanOptions) -> Plan:
    """The photos to visit, from the manifest or the layout."""
    root = Path(options.root)
    if not root.is_dir():
        raise ConfigError(f"scan folder not found: {root}")
    if options.manifest is not None:
        return plan_from_manifest(root, read_manifest(options.manifest))
    assert options.layout is not None
    return plan_from_layout(root, Layout.parse(options.layout))


def run_scan(options: ScanOptions, *, spec: Spec | None = None) -> ScanSummary:
    """Scan ``options.root`` into the register and return what happened.

    ``spec`` (default: the ONNX detector from ``options.model``) is the seam tests use to run
    the engines with a fake detector.
    """
    options.check()
    plan = make_plan(options)
    if spec is None:
        tile = cast(Literal["auto", "on", "off"], options.tile)
        spec = DetectorSpec(
            model=model_path(options.model), conf=options.conf, tile=tile, tta=options.tta
        )
    inline = None  # one local worker: the detector runs here, built once (it also names the model)
    if options.engine == "local" and options.workers == 1:
        inline = spec.build(threads_per_worker(1))
    info = getattr(inline, "info", None)
    model_name, model_version = info if info is not None else spec.info()
    summary = ScanSummary(
        planned=len(plan.items),
        unlisted=plan.unlisted,
        engine=options.engine,
        workers=options.workers,
        model={"name": model_name, "version": model_version},
    )
    sink = RegisterSink(options.db, model_name=model_name, model_version=model_version)
    jsonl = JsonlLog(options.json_out) if options.json_out else None
    projects = sorted({item.project for item in plan.items})
    start = time.perf_counter()
    try:
        before = sink.active_warnings(projects)
        with ScanProgress(len(plan.items), enabled=options.progress) as progress:
            recorder = Recorder(sink, jsonl, summary, options.batch_size, progress)
            pending = prepare(plan.items, Path(options.root), sink, recorder)
            if options.engine == "ray":
                from serving.scan.ray_engine import detect_ray

                detect_ray(
                    pending,
                    recorder,
                    spec=spec,
                    workers=options.workers,
                    address=options.address,
                    batch_size=options.batch_size,
                )
            else:
                detect_local(pending, recorder, spec=spec, workers=options.workers, built=inline)
            recorder.finish()
        after = sink.active_warnings(projects)
    finally:
        summary.seconds = time.perf_counter() - start
        if jsonl is not None:
            jsonl.close()
        sink.close()
    summary.warnings_raised = [_warning_dict(w) for w in sorted(after - before)]
    summary.warnings_cleared = [_warning_dict(w) for w in sorted(before - after)]
    if options.select:
        from serving.scan.select import write_tasks

        assert options.tasks is not None
        # the output file spans resumed runs; without one, this run's photos
        records = read_jsonl(options.json_out) if options.json_out else recorder.results
        summary.selected = write_tasks(
            records, options.tasks, n=options.select, threshold=_select_threshold(options, spec)
        )
        summary.tasks_path = str(options.tasks)
    return summary


def _select_threshold(options: ScanOptions, spec: Spec) -> float | dict[str, float]:
    """The working threshold of ``--select``: ``--conf``; without it each class's threshold
    the detector applied (so the tasks show every box the scan recorded and uncertainty is
    measured where each class is cut, as ``finishscan select`` does), 0.25 for a spec that
    cannot say."""
    if options.conf is not None:
        return options.conf
    per_class = getattr(spec, "class_thresholds", None)
    return per_class() if callable(per_class) else 0.25


def _warning_dict(w: tuple[str, str, str, str]) -> dict[str, str]:
    return dict(zip(("project", "unit", "level", "rule"), w, strict=True))


@dataclass(frozen=True)
class Pending:
    """A photo that must go through the detector."""

    item: ScanItem
    sha256: str
    data: bytes
    path: Path
    record: bool = True  # False: already recorded, detected again for the JSON output only


class Recorder:
    """Collects finished photos, writes them in batches (JSON Lines first, then one register
    transaction per batch) and keeps the summary and progress up to date."""

    def __init__(
        self,
        sink: RegisterSink,
        jsonl: JsonlLog | None,
        summary: ScanSummary,
        batch_size: int,
        progress: ScanProgress,
    ) -> None:
        self.sink, self.jsonl, self.summary = sink, jsonl, summary
        self.batch_size, self.progress = batch_size, progress
        self.batch: list[Finished] = []
        self.results: list[dict[str, Any]] = []  # this run's records (for --select)
        self.lines: list[dict[str, Any]] = []  # JSON lines of photos already recorded
        self.duplicates: list[tuple[ScanItem, str]] = []  # repeats that still need a line

    def wants_line(self, item: ScanItem) -> bool:
        """True when the JSON output is on and has no line for ``item`` yet."""
        return self.jsonl is not None and item.key not in self.jsonl

    def skipped(
        self,
        item: ScanItem | None = None,
        sha256: str | None = None,
        *,
        duplicate: bool = False,
        advance: bool = True,
    ) -> None:
        """Count a photo not detected for the register (``advance=False``: it still goes
        through the detector for the JSON output, which advances the progress)."""
        if duplicate:
            self.summary.duplicates += 1
            if item is not None and sha256 is not None and self.wants_line(item):
                self.duplicates.append((item, sha256))
        else:
            self.summary.skipped += 1
        if advance:
            self.progress.advance()

    def from_register(self, item: ScanItem, sha256: str, outcome: dict[str, Any]) -> None:
        """Queue the JSON line of a photo an earlier run recorded (its stored outcome)."""
        self.lines.append(self._record(item, sha256, outcome))
        self.summary.json_from_register += 1
        if len(self.lines) >= self.batch_size:
            self._write_lines()

    def unreadable(self, item: ScanItem, reason: str, sha256: str | None = None) -> None:
        self.summary.unreadable.append((item.rel, reason))
        self.progress.log(f"unreadable, skipped: {item.rel}: {reason}")
        if self.jsonl is not None:
            self.jsonl.write([self._record(item, sha256, {"error": reason})])
        self.progress.advance()

    def done(self, f: Finished) -> None:
        if "error" in f.outcome:
            self.unreadable(f.item, str(f.outcome["error"]), f.sha256)
            return
        if not f.record:  # recorded already: a line for the JSON output, nothing else
            self.lines.append(self._record(f.item, f.sha256, f.outcome))
            self.summary.json_redetected += 1
            self.progress.advance()
            if len(self.lines) >= self.batch_size:
                self._write_lines()
            return
        self.batch.append(f)
        self.progress.advance()
        if len(self.batch) >= self.batch_size:
            self.flush()

    def _write_lines(self) -> None:
        if self.jsonl is not None and self.lines:
            self.jsonl.write(self.lines)
        self.lines = []

    def finish(self) -> None:
        """Record the last batch, then write every line still due (repeated photos last: their
        first copy's line is in the file by then, from this run or an earlier one)."""
        self.flush()
        self._write_lines()
        if self.jsonl is None or not self.duplicates:
            return
        first: dict[tuple[str, str, str], dict[str, Any]] = {}
        for rec in read_jsonl(self.jsonl.path):  # this model's line wins over an older one's
            key = (str(rec.get("sha256")), str(rec.get("project")), str(rec.get("unit")))
            if key not in first or rec.get("model") == self.summary.model:
                first[key] = rec
        for item, sha in self.duplicates:
            base = first.get((sha, item.project, item.unit))
            if base is None:  # the first copy's line predates a change of its file
                continue
            if "error" in base:
                outcome: dict[str, Any] = {"error": base["error"]}
            else:
                outcome = {k: base[k] for k in ("width", "height", "defects")}
            self.lines.append({**self._record(item, sha, outcome), "model": base.get("model")})
        self._write_lines()

    def flush(self) -> None:
        self._write_lines()
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        records = [self._record(f.item, f.sha256, f.outcome) for f in batch]
        if self.jsonl is not None:
            self.jsonl.write(records)  # before the commit: a recorded photo always has its line
        t = time.perf_counter()
        recorded = self.sink.record(batch)
        self.summary.register_seconds += time.perf_counter() - t
        for f, rec, res in zip(batch, records, recorded, strict=True):
            self.summary.scanned += 1
            self.summary.new_photos += int(bool(getattr(res, "created", True)))
            self.summary.defects_by_label.update(d["label"] for d in f.outcome["defects"])
            for warning in f.outcome.get("quality", {}).get("warnings", ()):
                self.summary.exposure.setdefault(warning, []).append(f.item.rel)
            self.results.append(rec)

    def _record(
        self, item: ScanItem, sha256: str | None, outcome: dict[str, Any]
    ) -> dict[str, Any]:
        rec: dict[str, Any] = {"image": item.rel}
        if "error" in outcome:
            rec["error"] = outcome["error"]
        else:
            rec.update(width=outcome["width"], height=outcome["height"], defects=outcome["defects"])
            if "quality" in outcome:  # photos detected in this run (not taken from the register)
                rec["quality"] = outcome["quality"]
        rec["model"] = self.summary.model
        rec.update(project=item.project, unit=item.unit, **item.meta())
        if sha256 is not None:
            rec["sha256"] = sha256
        return rec


def prepare(
    items: list[ScanItem], root: Path, sink: RegisterSink, recorder: Recorder
) -> Iterator[Pending]:
    """Read, hash and filter: yields only photos not yet recorded for this model version.

    Missing or unreadable files go to ``recorder.unreadable``; the same bytes twice for the
    same unit in one run are counted as duplicates and detected once.
    """
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        try:
            data = item.path(root).read_bytes()
        except FileNotFoundError:
            recorder.unreadable(item, "file not found")
            continue
        except OSError as e:
            recorder.unreadable(item, f"cannot read the file ({e.strerror or e})")
            continue
        sha = hashlib.sha256(data).hexdigest()
        key = (sha, item.project, item.unit)
        if key in seen:
            recorder.skipped(item, sha, duplicate=True)
            continue
        seen.add(key)
        t = time.perf_counter()
        recorded = sink.is_recorded(sha, item.project, item.unit)
        outcome = None
        if recorded and recorder.wants_line(item):  # the JSON output needs its result
            outcome = sink.stored_outcome(sha, item.project, item.unit)
        recorder.summary.register_seconds += time.perf_counter() - t
        if recorded and outcome is None and recorder.wants_line(item):
            recorder.skipped(advance=False)  # the register lacks some detections: detect again
            yield Pending(item, sha, data, item.path(root), record=False)
            continue
        if recorded:
            if outcome is not None:
                recorder.from_register(item, sha, outcome)
            recorder.skipped()
            continue
        yield Pending(item, sha, data, item.path(root))


# ---- the local engine: worker processes, each with its own ONNX session -------------------

_WORKER: PhotoDetector | None = None  # set once per worker process by _init_worker


def _init_worker(spec: Spec, threads: int) -> None:
    global _WORKER
    _watch_parent(os.getppid())
    _WORKER = spec.build(threads)


def _watch_parent(parent: int, interval: float = 0.5) -> None:
    """Exit this worker when the scan process is gone (killed with SIGKILL, the pool's pipes
    never close, so an orphaned worker would otherwise wait forever)."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _detect_in_worker(data: bytes) -> dict[str, Any]:
    assert _WORKER is not None, "worker not initialised"
    return safe_detect(_WORKER, data)


def detect_local(
    pending: Iterator[Pending],
    recorder: Recorder,
    *,
    spec: Spec,
    workers: int,
    built: PhotoDetector | None = None,
) -> None:
    """Run the detector on every pending photo and hand each result to ``recorder`` in the
    order the photos were planned (per completion for several workers).

    One worker: a thread of this process (``built``, or built here) detects while this thread
    reads, hashes and records, so the register's work overlaps the detector's. Several:
    ``workers`` spawned processes, each with its own session (threads = cores // workers);
    scripts that call this must guard their entry point with ``if __name__ == "__main__":``.
    """
    threads = threads_per_worker(workers)
    if workers == 1:
        run = built if built is not None else spec.build(threads)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="detect") as threads_pool:
            _pump(lambda data: threads_pool.submit(safe_detect, run, data), pending, recorder, 2)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(spec, threads)
    ) as pool:
        try:
            _pump(lambda data: pool.submit(_detect_in_worker, data), pending, recorder, 2 * workers)
        except BrokenProcessPool as e:
            raise FinishscanError(
                "a detector worker process died (out of memory?); what was recorded is kept, "
                "run the same scan again to resume"
            ) from e


def _pump(
    submit: Callable[[bytes], Future[dict[str, Any]]],
    pending: Iterator[Pending],
    recorder: Recorder,
    window: int,
) -> None:
    """Keep ``window`` photos in flight; finished ones go to the recorder in submission order."""
    inflight: dict[Future[dict[str, Any]], Pending] = {}

    def fill() -> None:
        while len(inflight) < window:
            p = next(pending, None)
            if p is None:
                return
            inflight[submit(p.data)] = p

    try:
        fill()
        while inflight:
            finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in [f for f in inflight if f in finished]:
                p = inflight.pop(fut)
                recorder.done(Finished(p.item, p.sha256, p.data, fut.result(), p.record))
            fill()
    except BaseException:
        for fut in inflight:
            fut.cancel()
        raise
