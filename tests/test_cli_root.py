"""The command line's root: help lists every command, errors are one line."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from serving.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("detect", "serve", "scan", "dataset", "train", "deepen", "export", "evaluate", "keys"):
        assert cmd in out.stdout


def test_classes_default_taxonomy() -> None:
    from finishscan.classes import class_names

    assert class_names() == [
        "crack",
        "hollow_tile",
        "tile_chip",
        "paint_peeling",
        "paint_bubble",
        "stain",
    ]
