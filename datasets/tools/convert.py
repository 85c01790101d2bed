"""Read any supported format, write YOLO, COCO, VOC or Label Studio tasks
(``finishscan dataset convert``).

Splits survive a conversion: YOLO/COCO keep them in image paths (``images/<split>/``),
VOC in ``ImageSets/Main/<split>.txt``, CVAT in the image ``subset`` attribute; anything
else goes to ``train``. With ``names``, the result's class ids follow that list (matched
by name; a class not in it is an error), so converted data agrees with the project
taxonomy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from datasets.formats import coco, cvat, labelstudio, masks, voc, yolo
from datasets.formats._common import (
    SPLIT_ALIASES,
    atomic_dir,
    atomic_write_text,
    place_file,
    split_of,
    unique_names,
)
from datasets.tools.merge import remap
from datasets.types import Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = ["INPUT_FORMATS", "OUTPUT_FORMATS", "read", "write", "convert", "parse_names"]

INPUT_FORMATS = ("yolo", "coco", "voc", "labelstudio", "cvat", "masks")
OUTPUT_FORMATS = ("yolo", "coco", "voc", "labelstudio")

SplitFn = Callable[[LabeledImage], str]


def parse_names(value: str | None) -> list[str] | None:
    """``--names``: ``"crack,stain"``, or a YAML file (``classes:`` like configs/classes.yaml,
    or a data.yaml with ``names``). None stays None."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise DatasetError(f"class list file not found: {path}")
        import yaml

        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise DatasetError(f"{path} is not valid YAML: {e}") from e
        if isinstance(doc, dict) and "classes" in doc:
            from finishscan.classes import class_names

            return class_names(path)
        _root, names, _splits = yolo.read_data_yaml(path)
        return names
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise DatasetError(f"--names {value!r} must be unique, comma-separated class names")
    return names


def _coco_json(src: Path) -> Path:
    if src.is_file():
        return src
    if not src.is_dir():
        raise DatasetError(f"dataset not found: {src}")
    for name in (
        "annotations.json",
        "annotations.coco.json",
        "instances.json",
        "_annotations.coco.json",
    ):
        if (src / name).is_file():
            return src / name
    found = sorted(src.glob("*.json")) + sorted(src.glob("annotations/*.json"))
    if len(found) != 1:
        raise DatasetError(
            f"{src}: expected one COCO .json file, found {len(found)}; pass the file"
        )
    return found[0]


def read(
    src: Path,
    fmt: str,
    *,
    names: list[str] | None = None,
    mapping: dict[str, str] | None = None,
    drop: Sequence[str] = (),
    images: Path | None = None,
    class_name: str | None = "crack",
    min_area: int = 10,
    merge_gap: int = 0,
) -> tuple[Dataset, SplitFn]:
    """``(dataset, split of each image)`` from ``src`` in format ``fmt``.

    ``names``: the class list of the result; formats that carry names (data.yaml, COCO,
    Label Studio, CVAT, VOC object names) are remapped to it by name, after ``mapping``
    (old=new) and ``drop``; for a YOLO folder without data.yaml it is the source's list.
    ``images``: the image folder for formats whose labels live apart (COCO, Label Studio,
    CVAT); default: the label file's folder.
    """
    src = Path(src)
    if not src.exists():
        raise DatasetError(f"dataset not found: {src}")

    def by_path(im: LabeledImage) -> str:
        return split_of(im.path)

    split_fn: SplitFn = by_path
    if fmt == "yolo":
        ds = yolo.load(src, names=names)
    elif fmt == "coco":
        path = _coco_json(src)
        ds = coco.load(path, images if images is not None else path.parent)
    elif fmt == "voc":
        ds = voc.load(src)
        lists = voc.split_lists(src)
        split_fn = lambda im: lists.get(Path(im.path).stem) or split_of(im.path)  # noqa: E731
    elif fmt == "labelstudio":
        ds = labelstudio.load(src, images)
    elif fmt == "cvat":
        ds = cvat.load(src, images)
        subsets = {k: SPLIT_ALIASES[v] for k, v in cvat.subsets(src).items() if v in SPLIT_ALIASES}
        split_fn = lambda im: subsets.get(Path(im.path).name) or split_of(im.path)  # noqa: E731
    elif fmt == "masks":
        ds = masks.load(
            src, names=names, class_name=class_name, min_area=min_area, merge_gap=merge_gap
        )
    else:
        raise DatasetError(f"unknown input format {fmt!r}; use one of {', '.join(INPUT_FORMATS)}")
    if (names is not None and ds.names != names) or mapping or drop:
        ds = remap(ds, names or ds.names, mapping=mapping, drop=drop, source=str(src))
    return ds, split_fn


def _write_coco(
    dataset: Dataset, out: Path, *, link: bool, split_fn: SplitFn, overwrite: bool
) -> Path:
    splits = {im.path: split_fn(im) for im in dataset.images}
    file_names = unique_names([im.path for im in dataset.images], key=lambda p: splits[p])
    with atomic_dir(out, overwrite=overwrite) as tmp:
        placed = []
        for im, name in zip(dataset.images, file_names, strict=True):
            dst = tmp / "images" / splits[im.path] / name
            place_file(im.path, dst, link=link)
            placed.append(
                LabeledImage(
                    Path(out) / dst.relative_to(tmp), im.width, im.height, im.boxes, im.group
                )
            )
        coco.save(Dataset(dataset.names, placed), tmp / "annotations.json", image_root=Path(out))
    return Path(out) / "annotations.json"


def _write_labelstudio(
    dataset: Dataset, out: Path, *, link: bool, split_fn: SplitFn, overwrite: bool, url_prefix: str
) -> Path:
    """Images under ``out/images/<split>/``, ``tasks.json`` with the boxes as pre-annotations
    (predictions) and ``labeling_config.xml`` for the project; image URLs are ``url_prefix``
    + the path relative to ``out``."""
    splits = {im.path: split_fn(im) for im in dataset.images}
    file_names = unique_names([im.path for im in dataset.images], key=lambda p: splits[p])
    with atomic_dir(out, overwrite=overwrite) as tmp:
        placed = []
        for im, name in zip(dataset.images, file_names, strict=True):
            rel = Path("images") / splits[im.path] / name
            place_file(im.path, tmp / rel, link=link)
            placed.append(LabeledImage(rel, im.width, im.height, im.boxes, im.group))
        tasks = labelstudio.to_tasks(
            Dataset(dataset.names, placed),
            lambda p: f"{url_prefix}{p.as_posix()}",
            model_version="imported",
        )
        labelstudio.save_tasks(tasks, tmp / "tasks.json")
        atomic_write_text(tmp / "labeling_config.xml", labelstudio.labeling_config(dataset.names))
    return Path(out) / "tasks.json"


def write(
    dataset: Dataset,
    out: Path,
    fmt: str,
    *,
    link: bool = True,
    split_fn: SplitFn | None = None,
    overwrite: bool = False,
    url_prefix: str = "/data/local-files/?d=",
) -> Path:
    """Write ``dataset`` to the new folder ``out`` in ``fmt`` (images linked or copied)."""
    split_fn = split_fn or (lambda im: split_of(im.path))
    if fmt == "yolo":
        return yolo.save(dataset, out, link=link, split_fn=split_fn, overwrite=overwrite)
    if fmt == "voc":
        return voc.save(dataset, out, link=link, split_fn=split_fn, overwrite=overwrite)
    if fmt == "coco":
        return _write_coco(dataset, out, link=link, split_fn=split_fn, overwrite=overwrite)
    if fmt == "labelstudio":
        return _write_labelstudio(
            dataset, out, link=link, split_fn=split_fn, overwrite=overwrite, url_prefix=url_prefix
        )
    raise DatasetError(f"unknown output format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS)}")


def convert(
    src: Path,
    src_format: str,
    dst_format: str,
    out: Path,
    *,
    names: list[str] | None = None,
    images: Path | None = None,
    link: bool = True,
    overwrite: bool = False,
    class_name: str | None = "crack",
    min_area: int = 10,
    merge_gap: int = 0,
    url_prefix: str = "/data/local-files/?d=",
    mapping: dict[str, str] | None = None,
    drop: Sequence[str] = (),
) -> tuple[Dataset, Path]:
    """Convert ``src`` (``src_format``) into a new ``dst_format`` folder at ``out``."""
    if dst_format not in OUTPUT_FORMATS:
        raise DatasetError(
            f"unknown output format {dst_format!r}; use one of {', '.join(OUTPUT_FORMATS)}"
        )
    if Path(out).resolve() == Path(src).resolve():
        raise DatasetError("--out must differ from the source")
    ds, split_fn = read(
        src,
        src_format,
        names=names,
        mapping=mapping,
        drop=drop,
        images=images,
        class_name=class_name,
        min_area=min_area,
        merge_gap=merge_gap,
    )
    if not ds.images:
        raise DatasetError(f"no images in {src}")
    return ds, write(
        ds,
        out,
        dst_format,
        link=link,
        split_fn=split_fn,
        overwrite=overwrite,
        url_prefix=url_prefix,
    )
