"""Finding the photos of a scan: recursive discovery, manifest and layout resolution."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from finishscan.errors import ConfigError
from serving.scan.items import ScanItem
from serving.scan.layout import Layout

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def discover_images(root: Path | str) -> list[str]:
    """Photos under ``root`` (recursive, by suffix, case-insensitive), as sorted relative
    POSIX paths; hidden files and folders (``.name``) are left out.

    ``discover_images(d) == ["P1/101/a.jpg", "P1/101/b.PNG"]`` for a folder holding those two.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"scan folder not found: {root}")
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((rel_dir / name).as_posix())
    return sorted(found)


@dataclass
class Plan:
    """The photos a scan will visit, and the paths under DIR it leaves out and why."""

    items: list[ScanItem]
    unlisted: list[str] = field(default_factory=list)  # images under DIR the manifest/layout skips


def plan_from_layout(root: Path | str, layout: Layout) -> Plan:
    """Every photo under ``root`` whose path fits ``layout``; the others are ``unlisted``."""
    items, unlisted = [], []
    for rel in discover_images(root):
        fields = layout.match(rel)
        if fields is None:
            unlisted.append(rel)
        else:
            items.append(ScanItem(rel=rel, source="layout", **fields))
    return Plan(items=items, unlisted=unlisted)


def plan_from_manifest(root: Path | str, rows: Iterable[ScanItem]) -> Plan:
    """Manifest rows resolved against ``root``: a row naming a folder stands for every photo
    beneath it; a row naming a missing file stays (the scan reports it as unreadable)."""
    root = Path(root)
    images = discover_images(root)
    items: list[ScanItem] = []
    seen: set[tuple[str, str, str]] = set()
    for row in rows:
        target = row.path(root)
        if target.is_dir():
            prefix = row.rel + "/"
            expanded = [replace(row, rel=rel) for rel in images if rel.startswith(prefix)]
        else:
            expanded = [row]
        for item in expanded:
            if item.key not in seen:
                seen.add(item.key)
                items.append(item)
    covered = {item.rel for item in items}
    return Plan(items=items, unlisted=[rel for rel in images if rel not in covered])
