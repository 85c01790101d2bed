"""The Ray engine (local Ray started here) writes the register the local engine writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.scan import ScanOptions, read_jsonl, run_scan

from .conftest import LOW_CONF, PLACEHOLDER, add_broken, same_register, snapshot

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
def test_ray_engine_gives_the_register_of_the_local_engine(
    local_ray: None, archive: Path, tmp_path: Path
) -> None:
    broken = add_broken(archive)

    def opts(engine: str, name: str, **kw: object) -> ScanOptions:
        return ScanOptions(
            root=archive,
            layout="{project}/{unit}/...",
            db=f"sqlite:///{tmp_path / name}.db",
            conf=LOW_CONF,
            model=str(PLACEHOLDER),
            engine=engine,
            workers=2,
            batch_size=4,
            progress=False,
            json_out=tmp_path / f"{name}.jsonl",
            **kw,
        )  # type: ignore[arg-type]

    local = run_scan(opts("local", "local"))
    on_ray = run_scan(opts("ray", "ray"))
    assert on_ray.engine == "ray" and on_ray.scanned == local.scanned == 9
    assert sorted(on_ray.unreadable) == sorted(local.unreadable) and {
        p for p, _ in on_ray.unreadable
    } == set(broken)
    assert on_ray.defects_by_label == local.defects_by_label
    assert sorted(map(str, on_ray.warnings_raised)) == sorted(map(str, local.warnings_raised))
    same_register(
        snapshot(f"sqlite:///{tmp_path / 'ray.db'}"),
        snapshot(f"sqlite:///{tmp_path / 'local.db'}"),
        history=False,
    )

    def key(r: dict) -> str:
        return r["image"]

    assert sorted(read_jsonl(tmp_path / "ray.jsonl"), key=key) == sorted(
        read_jsonl(tmp_path / "local.jsonl"), key=key
    )

    again = run_scan(opts("ray", "ray"))  # resumable on Ray too: nothing left to detect
    assert (again.scanned, again.skipped) == (0, 9)
