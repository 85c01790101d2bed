"""The service on a real uvicorn server (loopback, free port), and ``finishscan serve`` itself."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from serving.app import create_app
from serving.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    def __init__(self, app) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_concurrent_uploads_on_a_real_server_with_micro_batching(
    tmp_path, fake_detector, register_db, keys, make_photo
) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'register.db'}", batch_max=8, batch_wait_ms=30)
    app = create_app(settings, detector=fake_detector, register=register_db)
    headers = {"Authorization": f"Bearer {keys['p1_inspector']}"}

    async def clients(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        f"/v1/projects/P1/units/U{i % 3}/photos",
                        files={
                            "file": (
                                "a.png",
                                make_photo([("crack", 0.9)] * (i % 2), seed=100 + i),
                                "image/png",
                            )
                        },
                    )
                    for i in range(16)
                )
            )

    with ServerThread(app) as base:
        responses = asyncio.run(clients(base))
        assert [r.status_code for r in responses] == [201] * 16
        assert [len(r.json()["defects"]) for r in responses] == [i % 2 for i in range(16)]
        units = httpx.get(f"{base}/v1/projects/P1/units", headers=headers).json()
        assert sum(u["open_defects"] for u in units) == 8
        metrics = httpx.get(f"{base}/metrics").text
    batch_sizes = [n for kind, n in fake_detector.calls if kind == "batch"]
    assert sum(batch_sizes) == 16 and max(batch_sizes) > 1  # concurrent photos shared a run
    runs = float(
        re.search(r"^finishscan_inference_batch_size_count (\S+)$", metrics, re.M).group(1)
    )
    assert runs == len(batch_sizes) < 16  # fewer model runs than photos


@pytest.fixture
def serve_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINISHSCAN_")}
    env.update(FINISHSCAN_HOME=str(tmp_path / "home"), FINISHSCAN_PORT=str(free_port()))
    return env


class Serve:
    """``finishscan serve ARGS`` in a subprocess; stdout lines collected as they arrive."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from serving.cli import main; main()", "serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            _, err = self.proc.communicate()
        self.reader.join(timeout=5)
        return err


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready")


def photo_jpeg() -> bytes:
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    img = np.full((480, 640, 3), 190, np.uint8) + rng.integers(0, 20, (480, 640, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    return buf.tobytes()


@pytest.mark.slow
def test_finishscan_serve_with_no_arguments(serve_env) -> None:
    """Embedded SQLite in the data dir, the shipped model, an admin key printed once; the
    second start on the same register prints no key."""
    base = f"http://127.0.0.1:{serve_env['FINISHSCAN_PORT']}"
    server = Serve(serve_env)
    try:
        wait_ready(base, server.proc)
        keys = [ln for ln in server.lines if ln.startswith("admin key: ")]
        assert len(keys) == 1, server.lines
        key = keys[0].removeprefix("admin key: ")
        assert re.fullmatch(r"fsk_[0-9a-f]{12}_[A-Za-z0-9_-]{32,}", key)
        h = {"Authorization": f"Bearer {key}"}
        r = httpx.post(
            f"{base}/v1/detect", headers=h, files={"file": ("w.jpg", photo_jpeg(), "image/jpeg")}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["width"], body["height"]) == (640, 480) and body["model"]["name"]
        assert httpx.post(f"{base}/v1/projects", headers=h, json={"code": "P1"}).status_code == 201
        up = httpx.post(
            f"{base}/v1/projects/P1/units/1-101/photos",
            headers=h,
            files={"file": ("w.jpg", photo_jpeg(), "image/jpeg")},
        )
        assert up.status_code == 201, up.text
        assert httpx.get(f"{base}/v1/detect").status_code == 405
    finally:
        server.stop()
    assert (Path(serve_env["FINISHSCAN_HOME"]) / "register.db").is_file()

    again = Serve(serve_env)
    try:
        wait_ready(base, again.proc)
        assert not [ln for ln in again.lines if "admin key" in ln]
        r = httpx.post(
            f"{base}/v1/projects/P1/units/1-101/photos",
            headers=h,
            files={"file": ("w.jpg", photo_jpeg(), "image/jpeg")},
        )
        assert r.status_code == 200 and r.json()["photo_id"] == up.json()["photo_id"]
    finally:
        again.stop()


def test_serve_with_a_missing_model_is_one_line(serve_env, tmp_path) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "from serving.cli import main; main()",
            "serve",
            "--model",
            str(tmp_path / "nope.onnx"),
        ],
        capture_output=True,
        text=True,
        env=serve_env,
        timeout=60,
    )
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"error: model file not found: {tmp_path / 'nope.onnx'}"
    ]
