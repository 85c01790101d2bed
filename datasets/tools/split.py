"""Deterministic train/val/test split by group (``finishscan dataset split``).

Photos of one unit must not land on both sides of a split, or validation measures
memory of the unit's walls. Each image gets a group key (``--group-by`` regex on the file
name, a manifest CSV, the image's ``group``, else its own file stem). Group keys are
sorted, shuffled with ``np.random.default_rng(seed)``, and walked in that order: a group
goes to ``test`` while that brings the test image count closer to ``round(test * N)``,
then to ``val`` likewise, else to ``train``. Same files + same seed → same split,
whatever the order the files were listed in.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.formats._common import read_text
from datasets.types import LabeledImage
from finishscan.errors import DatasetError

__all__ = ["group_by_regex", "group_by_manifest", "assign_splits", "SplitResult"]

GroupFn = Callable[[LabeledImage], str | None]


@dataclass(frozen=True)
class SplitResult:
    assignment: dict[Path, str]  # image path -> "train" | "val" | "test"
    groups: int  # number of groups
    ungrouped: int  # images for which group_fn found no group (each is its own group)

    def counts(self) -> dict[str, int]:
        values = list(self.assignment.values())
        return {s: values.count(s) for s in ("train", "val", "test")}


def group_by_regex(pattern: str) -> GroupFn:
    """Group from a regex searched in the file name: the first capture group, else the match.

    ``group_by_regex(r"^(\\d+-\\d+-\\d+)_")(im)`` gives ``"3-2-1701"`` for ``3-2-1701_bath.jpg``;
    None when the name does not match.
    """
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise DatasetError(f"--group-by {pattern!r} is not a valid regular expression: {e}") from e

    def fn(im: LabeledImage) -> str | None:
        m = rx.search(Path(im.path).name)
        if not m:
            return None
        return m.group(1) if rx.groups else m.group(0)

    return fn


def group_by_manifest(path: Path, root: Path | None = None) -> GroupFn:
    """Group from a CSV with a ``path`` column and ``unit`` (or ``group``) column.

    The key is ``project/building/unit`` from the columns present (``group`` if given).
    A row matches an image by its path relative to ``root``, else by file name.
    """
    text = read_text(Path(path), "manifest")
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or "path" not in rows[0]:
        raise DatasetError(f"manifest {path} needs a header with a 'path' column")
    if not any(k in rows[0] for k in ("group", "unit")):
        raise DatasetError(f"manifest {path} needs a 'unit' or 'group' column")
    by_rel: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for row in rows:
        if row.get("group"):
            key = row["group"]
        else:
            key = "/".join(row[k] for k in ("project", "building", "unit") if row.get(k))
        rel = Path(row["path"]).as_posix()
        by_rel[rel] = key
        by_name.setdefault(Path(rel).name, key)

    def fn(im: LabeledImage) -> str | None:
        p = Path(im.path)
        if root is not None:
            try:
                rel = p.relative_to(root).as_posix()
                if rel in by_rel:
                    return by_rel[rel]
            except ValueError:
                pass
        return by_rel.get(p.as_posix()) or by_name.get(p.name)

    return fn


def assign_splits(
    images: Sequence[LabeledImage],
    *,
    val: float,
    test: float = 0.0,
    seed: int = 0,
    group_fn: GroupFn | None = None,
) -> SplitResult:
    """The split of every image: pure and deterministic (rule in the module doc); every
    group lands in one split."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise DatasetError(f"--val {val} and --test {test} must be fractions with val + test < 1")
    groups: dict[str, list[Path]] = {}
    ungrouped = 0
    for im in images:
        key = group_fn(im) if group_fn else None
        if key is None:
            key = im.group
        if key is None:
            if group_fn is not None:
                ungrouped += 1
            key = f"\x00{Path(im.path).stem}"  # its own group; never collides with a real key
        groups.setdefault(key, []).append(Path(im.path))
    keys = sorted(groups)
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    n = sum(len(v) for v in groups.values())
    targets = {"test": round(test * n), "val": round(val * n)}
    counts = {"test": 0, "val": 0}
    out: dict[Path, str] = {}
    for key in order:
        size = len(groups[key])
        split = "train"
        for name in ("test", "val"):
            gap_now = targets[name] - counts[name]
            if gap_now > 0 and abs(gap_now - size) <= gap_now:
                split = name
                counts[name] += size
                break
        for p in groups[key]:
            out[p] = split
    return SplitResult(out, len(keys), ungrouped)
