"""Crash-safe JSON Lines output: one object per photo, never duplicated across resumed runs."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Key = tuple[str, str, str]


def record_key(record: dict[str, Any]) -> Key:
    """(image, project, unit) of a scan record."""
    return (str(record.get("image")), str(record.get("project")), str(record.get("unit")))


class JsonlLog:
    """Appends records to ``path``, flushing and fsyncing every write.

    On open, a torn last line (the process was killed mid-write) is cut off and the keys of
    the complete lines are remembered: :meth:`write` skips a record whose
    (image, project, unit) is already in the file, so a resumed scan never duplicates lines.

    >>> log = JsonlLog(tmp / "out.jsonl"); log.write([{"image": "a.jpg", "project": "P", "unit": "1"}])
    1
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.keys: set[Key] = set()
        if self.path.exists():
            self._recover()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        raw = self.path.read_bytes()
        good = 0
        pos = 0
        while True:
            end = raw.find(b"\n", pos)
            if end < 0:
                break
            line = raw[pos:end].strip()
            if line:
                try:
                    self.keys.add(record_key(json.loads(line)))
                except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
                    break  # a corrupt line: keep what precedes it
            pos = good = end + 1
        if good < len(raw):
            with self.path.open("r+b") as fh:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())

    def __contains__(self, key: Key) -> bool:
        return key in self.keys

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        """Append the records not yet in the file; returns how many were written."""
        lines = []
        for record in records:
            key = record_key(record)
            if key in self.keys:
                continue
            self.keys.add(key)
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if lines:
            self._fh.write("".join(lines))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        return len(lines)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl(path: Path | str) -> list[dict[str, Any]]:
    """All complete records of a scan's JSON Lines file."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
