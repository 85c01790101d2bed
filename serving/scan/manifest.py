"""The scan manifest: a CSV mapping photos (relative to the scanned DIR) to project and unit.

Header ``path,project,unit`` plus optional ``building,room,stage,taken_at``. Parsing is pure
(:func:`parse_manifest` takes the text); :func:`read_manifest` is the file edge.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path, PurePosixPath

from finishscan.errors import ConfigError
from serving.scan.items import ScanItem

REQUIRED = ("path", "project", "unit")
OPTIONAL = ("building", "room", "stage", "taken_at")
STAGES = ("construction", "acceptance", "owner_visit", "warranty")


def parse_manifest(text: str, *, name: str = "manifest") -> list[ScanItem]:
    """Rows of a manifest as items, in file order, exact duplicate rows dropped.

    Raises :class:`ConfigError` naming the line for a missing column, an unknown column, an
    empty required field, a path that is absolute or leaves DIR, an unknown stage or a
    ``taken_at`` that is not ISO 8601.

    >>> parse_manifest("path,project,unit\\na.jpg,P1,101\\n")[0].key
    ('a.jpg', 'P1', '101')
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    items: list[ScanItem] = []
    seen: set[ScanItem] = set()
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            _check_header(header, name)
            continue
        if len(row) > len(header):
            raise ConfigError(
                f"{name} line {line}: {len(row)} fields but the header has {len(header)}"
            )
        cells = {col: (row[i].strip() if i < len(row) else "") for i, col in enumerate(header)}
        item = _item(cells, f"{name}:{line}", f"{name} line {line}")
        key = ScanItem(**{**item.__dict__, "source": ""})
        if key not in seen:
            seen.add(key)
            items.append(item)
    if header is None:
        raise ConfigError(f"{name} is empty: expected a header line 'path,project,unit'")
    return items


def read_manifest(path: Path | str) -> list[ScanItem]:
    """:func:`parse_manifest` of a file (UTF-8, optional BOM)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise ConfigError(f"manifest not found: {path}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"manifest {path} is not UTF-8 text: {e.reason}") from e
    return parse_manifest(text, name=path.name)


def _check_header(header: list[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ConfigError(
            f"{name} line 1: missing column(s) {', '.join(missing)}; "
            f"the header must name path,project,unit (optional: {','.join(OPTIONAL)})"
        )
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise ConfigError(
            f"{name} line 1: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
            f"allowed: {','.join(REQUIRED + OPTIONAL)}"
        )
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise ConfigError(f"{name} line 1: column(s) {', '.join(dupes)} appear twice")


def _item(cells: dict[str, str], source: str, where: str) -> ScanItem:
    for col in REQUIRED:
        if not cells.get(col):
            raise ConfigError(f"{where}: empty '{col}'")
    rel = normalize_rel(cells["path"], where)
    stage = cells.get("stage") or None
    if stage is not None and stage not in STAGES:
        raise ConfigError(f"{where}: stage {stage!r} is not one of {', '.join(STAGES)}")
    taken_at = cells.get("taken_at") or None
    if taken_at is not None:
        try:
            parsed = dt.datetime.fromisoformat(taken_at)
        except ValueError as e:
            raise ConfigError(
                f"{where}: taken_at {taken_at!r} is not an ISO 8601 date or date-time"
            ) from e
        try:
            if parsed.tzinfo is not None:  # (a naive time is taken as UTC)
                parsed.astimezone(dt.UTC)  # the register stores UTC
        except OverflowError as e:
            raise ConfigError(
                f"{where}: taken_at {taken_at!r} is before year 1 or after 9999 in UTC"
            ) from e
    return ScanItem(
        rel=rel,
        project=cells["project"],
        unit=cells["unit"],
        building=cells.get("building") or None,
        room=cells.get("room") or None,
        stage=stage,
        taken_at=taken_at,
        source=source,
    )


def normalize_rel(path: str, where: str) -> str:
    """A manifest path as a clean relative POSIX path; backslashes read as separators.

    >>> normalize_rel("./P1\\\\a.jpg", "x")
    'P1/a.jpg'
    """
    raw = path.replace("\\", "/")
    p = PurePosixPath(raw)
    if p.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise ConfigError(f"{where}: path {path!r} must be relative to the scanned folder")
    parts = [part for part in p.parts if part not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"{where}: path {path!r} leaves the scanned folder ('..')")
    if not parts:
        raise ConfigError(f"{where}: empty 'path'")
    return "/".join(parts)
