"""Load test of ``finishscan serve`` against a minimal FastAPI server around ultralytics' predictor.

Loopback only and bounded (``--requests`` per scenario, ``--time-limit`` seconds each). Eight
concurrent clients (httpx, async) post the same set of photos; for each server we report
requests/s and latency percentiles. The reference points are

* ``ultralytics``: a minimal FastAPI app calling ``YOLO(onnx, task="detect").predict`` on the same
  ONNX file (decode outside a lock, predict under it: the predictor is not thread-safe);
* ``detector, no HTTP``: the project's own ``decode_image`` + ``Detector.detect`` in one process,
  one photo after the other (what the web layer should cost little against).

    python benchmarks/serve_load.py                 # writes the "serve_load" section of RESULTS.md
    python benchmarks/serve_load.py --requests 40 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ULTRALYTICS_APP = """
import os, threading
os.environ.setdefault("YOLO_OFFLINE", "1")
import cv2, numpy as np
from fastapi import FastAPI, File, UploadFile
from ultralytics import YOLO

model = YOLO(os.environ["BENCH_MODEL"], task="detect")
lock = threading.Lock()
app = FastAPI()

@app.get("/healthz")
def healthz():
    return {"status": "ok"}

@app.post("/detect")
def detect(file: UploadFile = File(...)):
    data = file.file.read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    with lock:
        r = model.predict(img, imgsz=int(os.environ["BENCH_IMGSZ"]), conf=0.25, iou=0.7, verbose=False)[0]
    names = r.names
    return {"width": img.shape[1], "height": img.shape[0], "defects": [
        {"label": names[int(c)], "confidence": float(p), "box": [float(v) for v in b]}
        for b, p, c in zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist(), r.boxes.cls.tolist())]}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photos(n: int, size: tuple[int, int], seed: int = 0) -> list[bytes]:
    """``n`` distinct JPEG 'wall' photos (plaster-like noise, a few dark lines), quality 90."""
    rng = np.random.default_rng(seed)
    h, w = size
    out = []
    for _ in range(n):
        base = rng.integers(150, 220, 3)
        noise = cv2.GaussianBlur(rng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 3)
        img = np.clip(base[None, None, :] + noise[..., None], 0, 255).astype(np.uint8)
        for _ in range(3):
            p = rng.integers(0, [w, h], size=(2, 2))
            cv2.line(img, tuple(map(int, p[0])), tuple(map(int, p[1])), (60, 60, 60), 2)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append(buf.tobytes())
    return out


@dataclass
class Result:
    name: str
    done: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        xs = sorted(self.latencies)
        return 1000 * xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


async def load(
    url: str,
    files: list[bytes],
    *,
    requests: int,
    concurrency: int,
    time_limit: float,
    headers: dict[str, str] | None = None,
    warmup: int = 4,
) -> tuple[int, int, float, list[float]]:
    counter = iter(range(10**9))
    latencies: list[float] = []
    failed = 0
    async with httpx.AsyncClient(headers=headers, timeout=120) as client:
        for i in range(warmup):  # the last photos of the set: measured uploads stay new
            r = await client.post(url, files={"file": ("w.jpg", files[-1 - i], "image/jpeg")})
            r.raise_for_status()
        start = time.perf_counter()

        async def worker() -> None:
            nonlocal failed
            while time.perf_counter() - start < time_limit:
                i = next(counter)
                if i >= requests:
                    return
                t = time.perf_counter()
                r = await client.post(
                    url, files={"file": ("w.jpg", files[i % len(files)], "image/jpeg")}
                )
                if r.status_code in (200, 201):
                    latencies.append(time.perf_counter() - t)
                else:
                    failed += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies), failed, elapsed, latencies


class Server:
    """A server subprocess; ``ready()`` waits for ``/healthz``; stdout lines are kept."""

    def __init__(self, cmd: list[str], env: dict[str, str], port: int) -> None:
        self.port = port
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.strip())

    def ready(self, path: str = "/healthz", timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise RuntimeError("server not ready in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def run_finishscan(
    model: Path, files: list[bytes], args: argparse.Namespace, extra: list[str], *, upload: bool
) -> Result:
    port = free_port()
    home = tempfile.mkdtemp(prefix="fs-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINISHSCAN_")}
    env.update(FINISHSCAN_HOME=home, FINISHSCAN_MAX_PIXELS=str(50_000_000))
    cmd = [
        sys.executable,
        "-c",
        "from serving.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--model",
        str(model),
        "--log-level",
        "warning",
        *extra,
    ]
    server = Server(cmd, env, port)
    try:
        server.ready("/readyz")
        key = next(
            ln.removeprefix("admin key: ") for ln in server.lines if ln.startswith("admin key: ")
        )
        headers = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{port}"
        if upload:
            httpx.post(
                f"{base}/v1/projects", headers=headers, json={"code": "BENCH"}
            ).raise_for_status()
            url = f"{base}/v1/projects/BENCH/units/U1/photos"
        else:
            url = f"{base}/v1/detect?tile=off"
        done, failed, secs, lat = asyncio.run(
            load(
                url,
                files,
                requests=args.requests,
                concurrency=args.concurrency,
                time_limit=args.time_limit,
                headers=headers,
            )
        )
    finally:
        server.stop()
    name = "finishscan serve " + ("photo upload (detect + register)" if upload else "/v1/detect")
    return Result(name + (f" {' '.join(extra)}" if extra else ""), done, failed, secs, lat)


def run_ultralytics(
    model: Path, files: list[bytes], args: argparse.Namespace, imgsz: int
) -> Result | None:
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        return None
    port = free_port()
    app_dir = Path(tempfile.mkdtemp(prefix="ul-bench-"))
    (app_dir / "ul_app.py").write_text(ULTRALYTICS_APP)
    env = {
        **os.environ,
        "BENCH_MODEL": str(model),
        "BENCH_IMGSZ": str(imgsz),
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(app_dir),
        "PYTHONPATH": str(app_dir),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "ul_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    server = Server(cmd, env, port)
    try:
        server.ready()
        done, failed, secs, lat = asyncio.run(
            load(
                f"http://127.0.0.1:{port}/detect",
                files,
                requests=args.requests,
                concurrency=args.concurrency,
                time_limit=args.time_limit,
            )
        )
    finally:
        server.stop()
    return Result("minimal FastAPI + ultralytics YOLO(onnx).predict", done, failed, secs, lat)


def run_detector(model: Path, files: list[bytes], args: argparse.Namespace) -> Result:
    from detector import Detector, decode_image

    det = Detector(model)
    for data in files[:3]:
        det.detect(decode_image(data), tile="off")
    lat = []
    start = time.perf_counter()
    for i in range(args.requests):
        if time.perf_counter() - start > args.time_limit:
            break
        t = time.perf_counter()
        det.detect(decode_image(files[i % len(files)]), tile="off")
        lat.append(time.perf_counter() - t)
    return Result(
        "detector, no HTTP (decode + detect, one process)",
        len(lat),
        0,
        time.perf_counter() - start,
        lat,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", type=Path, default=None, help="ONNX model (default: the shipped one)"
    )
    ap.add_argument("--requests", type=int, default=48, help="requests per scenario")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per scenario at most")
    ap.add_argument("--size", type=int, nargs=2, default=[960, 1280], metavar=("H", "W"))
    ap.add_argument(
        "--rounds", type=int, default=5, help="rounds (scenarios interleaved); median reported"
    )
    ap.add_argument("--only", nargs="+", default=None, help="run only these scenarios")
    ap.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = ap.parse_args()

    from detector import Detector
    from finishscan.paths import default_model_path

    model = (args.model or default_model_path()).resolve()
    imgsz = max(Detector(model).imgsz)
    files = photos(args.requests + 8, tuple(args.size), seed=1)  # the same photos for every server
    scenarios = {
        "ultralytics": lambda: run_ultralytics(model, files, args, imgsz),
        "detector": lambda: run_detector(model, files, args),
        "serve": lambda: run_finishscan(model, files, args, [], upload=False),
        "serve-batch": lambda: run_finishscan(model, files, args, ["--batch", "4"], upload=False),
        "serve-batch-nowait": lambda: run_finishscan(
            model, files, args, ["--batch", "8", "--batch-wait-ms", "0"], upload=False
        ),
        "serve-upload": lambda: run_finishscan(model, files, args, [], upload=True),
    }
    only = args.only or [k for k in scenarios if k != "serve-batch-nowait"]
    scenarios = {k: v for k, v in scenarios.items() if k in only}
    results: dict[str, list[Result]] = {k: [] for k in scenarios}
    for rnd in range(args.rounds):
        for key, fn in scenarios.items():
            r = fn()
            if r is None:
                continue
            results[key].append(r)
            print(
                f"round {rnd + 1} {r.name}: {r.rps:.2f} req/s, p50 {r.pct(50):.0f} ms, "
                f"p95 {r.pct(95):.0f} ms, failed {r.failed}",
                flush=True,
            )

    def med(key: str) -> Result | None:
        rs = sorted(results[key], key=lambda r: r.rps)
        return rs[(len(rs) - 1) // 2] if rs else None

    rows = [med(k) for k in scenarios]
    lines = [
        f"{args.concurrency} concurrent clients (httpx async) on loopback, {args.requests} requests per "
        f"scenario, {args.size[1]}x{args.size[0]} JPEG photos (not tiled), model `{model.name}` "
        f"(input {imgsz}), median of {args.rounds} interleaved rounds; the machine is shared, so "
        "absolute figures move with its load. Load generator on the same 2 cores.",
        "",
        "| server | requests/s | p50 ms | p95 ms | p99 ms | failed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if r is not None:
            lines.append(
                f"| {r.name} | {r.rps:.2f} | {r.pct(50):.0f} | {r.pct(95):.0f} | {r.pct(99):.0f} | {r.failed} |"
            )

    def ratios(num: str, den: str) -> list[float]:
        """Per-round ratios (scenarios of one round ran back to back, under similar load)."""
        return [a.rps / b.rps for a, b in zip(results[num], results[den], strict=False) if b.rps]

    def summary(num: str, den: str) -> str:
        rs = sorted(ratios(num, den))
        if not rs:
            return "n/a"
        return f"**{rs[len(rs) // 2]:.2f}x** (rounds: {', '.join(f'{r:.2f}' for r in ratios(num, den))})"

    lines.append("")
    if results["ultralytics"]:
        lines.append(
            f"- `/v1/detect` vs the ultralytics server: {summary('serve', 'ultralytics')}; "
            f"with `--batch 4`: {summary('serve-batch', 'ultralytics')}; goal >= 1.5x."
        )
    lines.append(
        f"- `/v1/detect` vs the detector without HTTP: {summary('serve', 'detector')}; "
        f"with `--batch 4`: {summary('serve-batch', 'detector')}; goal >= 0.9x."
    )
    lines.append(
        f"- photo upload (decode, detect, record photo + defects + warnings in one transaction) vs "
        f"`/v1/detect`: {summary('serve-upload', 'serve')}."
    )
    md = "\n".join(lines)
    print(md)
    if not args.no_write:
        from benchmarks._results import write_section

        write_section("serve_load", md)


if __name__ == "__main__":
    main()
