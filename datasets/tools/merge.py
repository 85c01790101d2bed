"""Merge datasets with class remapping by name (``finishscan dataset merge``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["parse_mapping", "remap", "merge"]


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["hairline=crack", "mould=stain"]`` → ``{"hairline": "crack", "mould": "stain"}``."""
    out: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise DatasetError(f"class mapping {item!r} is not of the form old=new")
        out[old.strip()] = new.strip()
    return out


def remap(
    dataset: Dataset,
    names: Sequence[str],
    *,
    mapping: dict[str, str] | None = None,
    drop: Iterable[str] = (),
    source: str = "dataset",
) -> Dataset:
    """``dataset`` with class ids renumbered to ``names``, by class name.

    A source class ``c`` becomes ``mapping.get(c, c)``; boxes of a class in ``drop`` (by
    its old or new name) are removed; any other class not in ``names`` is an error.
    Images are shared, boxes are new.
    """
    mapping = mapping or {}
    drop = set(drop)
    index = {n: i for i, n in enumerate(names)}
    table: dict[int, int | None] = {}
    for i, old in enumerate(dataset.names):
        new = mapping.get(old, old)
        if old in drop or new in drop:
            table[i] = None
        elif new in index:
            table[i] = index[new]
        else:
            raise DatasetError(
                f"class {old!r} of {source} is not in the target classes ({', '.join(names)}); "
                f"map it with --map {old}=NAME or drop it with --drop {old}"
            )
    images = []
    for im in dataset.images:
        boxes = [
            Box(table[b.class_id], b.x0, b.y0, b.x1, b.y1)  # type: ignore[arg-type]
            for b in im.boxes
            if table.get(b.class_id) is not None
        ]
        images.append(LabeledImage(im.path, im.width, im.height, boxes, im.group))
    return Dataset(list(names), images)


def merge(
    datasets: Sequence[Dataset],
    names: Sequence[str],
    *,
    mapping: dict[str, str] | None = None,
    drop: Iterable[str] = (),
    sources: Sequence[str] | None = None,
) -> Dataset:
    """One dataset with ``names`` from several, each remapped by name (see :func:`remap`)."""
    drop = list(drop)
    sources = sources or [f"dataset {i + 1}" for i in range(len(datasets))]
    images: list[LabeledImage] = []
    for ds, src in zip(datasets, sources, strict=True):
        images += remap(ds, names, mapping=mapping, drop=drop, source=src).images
    return Dataset(list(names), images)
