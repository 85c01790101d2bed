"""Label Studio: read JSON exports (``rectanglelabels``) and write tasks with pre-annotations.

Polygons (``polygonlabels``, ``points`` in percent) become their bounding box.

Export (``JSON`` in Label Studio's export dialog): a list of tasks
``{"id", "data": {"image": URL}, "annotations": [{"result": [...], "was_cancelled"}],
"predictions": [...]}``; a rectangle result holds ``original_width``/``original_height``
in pixels and ``value = {x, y, width, height, rotation, rectanglelabels}`` in percent of
the image, ``x, y`` being the top-left corner before rotation (rotation in degrees,
clockwise about that corner). A rotated rectangle becomes its axis-aligned envelope.
The ``JSON_MIN`` export (``[{"image": URL, "label": [{x, y, ..., rectanglelabels}]}]``)
is read too. Per task the newest non-cancelled annotation is used; tasks with none are
kept as images without boxes unless ``skip_unlabeled``.

Image URLs (``/data/upload/3/1a2b3c4d-photo.jpg``, ``/data/local-files/?d=dir/photo.jpg``,
``s3://bucket/dir/photo.jpg``, ``https://host/photo.jpg``) are resolved against
``image_root`` by the local-files path, then by file name, then by the file name
without the 8-hex upload prefix Label Studio adds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from datasets.formats._common import atomic_write_text, image_size, read_text
from datasets.types import Box, Dataset, LabeledImage
from finishscan.errors import DatasetError

__all__ = [
    "labeling_config",
    "result_to_box",
    "polygon_to_box",
    "box_to_result",
    "from_tasks",
    "load",
    "to_tasks",
    "save_tasks",
]

_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")
SHAPE_TYPES = ("rectanglelabels", "rectangle", "polygonlabels", "polygon")


def labeling_config(names: list[str], *, from_name: str = "label", to_name: str = "image") -> str:
    """The labelling interface XML for a Label Studio project with these classes."""
    labels = "\n".join(f'    <Label value="{n}"/>' for n in names)
    return (
        f'<View>\n  <Image name="{to_name}" value="$image" zoom="true"/>\n'
        f'  <RectangleLabels name="{from_name}" toName="{to_name}">\n{labels}\n'
        "  </RectangleLabels>\n</View>\n"
    )


def result_to_box(value: Mapping[str, Any], width: int, height: int, class_id: int) -> Box:
    """A rectangle ``value`` (percent, rotation about the top-left corner) → pixel Box.

    ``result_to_box({"x": 10, "y": 20, "width": 30, "height": 40}, 200, 100, 0) == Box(0, 20.0, 20.0, 80.0, 60.0)``
    """
    x = float(value["x"]) * width / 100
    y = float(value["y"]) * height / 100
    w = float(value["width"]) * width / 100
    h = float(value["height"]) * height / 100
    angle = math.radians(float(value.get("rotation") or 0.0))
    if angle:
        c, s = math.cos(angle), math.sin(angle)
        corners = [
            (x + dx * c - dy * s, y + dx * s + dy * c)
            for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))
        ]
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    else:
        x0, y0, x1, y1 = x, y, x + w, y + h
    return Box(class_id, max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height)))


def polygon_to_box(points: list, width: int, height: int, class_id: int) -> Box:
    """A ``polygonlabels`` region (``points`` as ``[x%, y%]`` pairs) → its pixel bounding box."""
    xs = [float(p[0]) * width / 100 for p in points]
    ys = [float(p[1]) * height / 100 for p in points]
    return Box(
        class_id,
        max(min(xs), 0.0),
        max(min(ys), 0.0),
        min(max(xs), float(width)),
        min(max(ys), float(height)),
    )


def box_to_result(
    box: Box,
    width: int,
    height: int,
    names: list[str],
    *,
    score: float | None = None,
    from_name: str = "label",
    to_name: str = "image",
) -> dict[str, Any]:
    """One ``rectanglelabels`` result (percent coordinates) for a pixel Box."""
    result: dict[str, Any] = {
        "from_name": from_name,
        "to_name": to_name,
        "type": "rectanglelabels",
        "original_width": int(width),
        "original_height": int(height),
        "image_rotation": 0,
        "value": {
            "x": box.x0 * 100 / width,
            "y": box.y0 * 100 / height,
            "width": (box.x1 - box.x0) * 100 / width,
            "height": (box.y1 - box.y0) * 100 / height,
            "rotation": 0,
            "rectanglelabels": [names[box.class_id]],
        },
    }
    if score is not None:
        result["score"] = float(score)
    return result


def _local_candidates(url: str) -> list[str]:
    """Relative paths worth trying for an image URL, most specific first."""
    parsed = urlparse(url)
    cands = []
    if "d" in parse_qs(parsed.query):
        cands.append(unquote(parse_qs(parsed.query)["d"][0]))
    name = Path(unquote(parsed.path)).name
    if name:
        cands.append(name)
        if _UPLOAD_PREFIX.match(name):
            cands.append(_UPLOAD_PREFIX.sub("", name))
    return cands


def resolve_image(url: str, image_root: Path) -> Path:
    """The local file for a Label Studio image URL, or DatasetError naming the URL."""
    for rel in _local_candidates(url):
        for base in (image_root, image_root / "images"):
            cand = base / rel
            if cand.is_file():
                return cand
        tail = image_root / Path(rel).name
        if tail.is_file():
            return tail
    raise DatasetError(f"image for {url!r} not found under {image_root}")


def _is_min(task: Mapping[str, Any]) -> bool:
    return not any(k in task for k in ("annotations", "completions", "predictions", "data"))


def _min_results(task: Mapping[str, Any]) -> list[dict]:
    """Rectangle results of a JSON_MIN task: list values (keyed by the control's name)
    whose items carry ``rectanglelabels``."""
    out = []
    for value in task.values():
        if isinstance(value, list):
            for v in value:
                if isinstance(v, dict) and ("rectanglelabels" in v or "polygonlabels" in v):
                    kind = "rectanglelabels" if "rectanglelabels" in v else "polygonlabels"
                    out.append({"type": kind, "value": v, **v})
    return out


def _pick_annotation(task: Mapping[str, Any]) -> list[dict] | None:
    anns = [
        a
        for a in task.get("annotations") or task.get("completions") or []
        if not a.get("was_cancelled")
    ]
    if not anns:
        return None
    anns.sort(
        key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), str(a.get("id", "")))
    )
    return list(anns[-1].get("result") or [])


def _image_url(task: Mapping[str, Any], where: str) -> str:
    data = task.get("data") if isinstance(task.get("data"), dict) else task
    if not isinstance(data, Mapping):
        raise DatasetError(f"{where}: no 'data'")
    url = data.get("image") or next((v for v in data.values() if isinstance(v, str)), None)
    if not url:
        raise DatasetError(f"{where}: no image URL in 'data'")
    return str(url)


def from_tasks(
    tasks: Any,
    image_root: Path,
    *,
    names: list[str],
    skip_unlabeled: bool = False,
    source: str = "<label studio>",
) -> Dataset:
    """A Dataset from a parsed Label Studio export (JSON or JSON_MIN list of tasks)."""
    if not isinstance(tasks, list):
        raise DatasetError(f"{source} is not a Label Studio export: expected a list of tasks")
    index = {n: i for i, n in enumerate(names)}
    images = []
    for k, task in enumerate(tasks):
        where = f"{source}: task {task.get('id', k) if isinstance(task, dict) else k}"
        if not isinstance(task, dict):
            raise DatasetError(f"{where} is not an object")
        url = _image_url(task, where)
        results = _min_results(task) if _is_min(task) else _pick_annotation(task)
        if results is None and skip_unlabeled:
            continue
        path = resolve_image(url, Path(image_root))
        results = results or []
        shapes = [r for r in results if r.get("type") in SHAPE_TYPES]
        width = next((int(r["original_width"]) for r in shapes if r.get("original_width")), 0)
        height = next((int(r["original_height"]) for r in shapes if r.get("original_height")), 0)
        if not (width and height):
            width, height = image_size(path)
        # a <Rectangle> + <Labels> config exports the label as a separate result, same id
        label_of = {
            r.get("id"): (r.get("value") or {}).get("labels")
            for r in results
            if r.get("type") == "labels"
        }
        boxes = []
        for r in shapes:
            value = r.get("value") or {}
            labels = (
                value.get("rectanglelabels")
                or value.get("polygonlabels")
                or value.get("labels")
                or label_of.get(r.get("id"))
                or []
            )
            if not labels:
                raise DatasetError(f"{where}: a {r.get('type')} region without a label")
            if labels[0] not in index:
                raise DatasetError(
                    f"{where}: unknown class {labels[0]!r} (known: {', '.join(names)})"
                )
            try:
                if "points" in value:
                    box = polygon_to_box(value["points"], width, height, index[labels[0]])
                else:
                    box = result_to_box(value, width, height, index[labels[0]])
            except (KeyError, TypeError, ValueError, IndexError) as e:
                raise DatasetError(
                    f"{where}: region needs numeric x, y, width, height or points"
                ) from e
            if box.x1 > box.x0 and box.y1 > box.y0:
                boxes.append(box)
        images.append(LabeledImage(path=path, width=width, height=height, boxes=boxes))
    return Dataset(names=list(names), images=images)


def load(
    path: Path,
    image_root: Path | None = None,
    *,
    names: list[str] | None = None,
    skip_unlabeled: bool = False,
) -> Dataset:
    """Read a Label Studio JSON export; images resolve against ``image_root`` (default: its folder).

    ``names`` default to configs/classes.yaml when every label of the export is in it,
    else to the export's labels in first-seen order; a label not in ``names`` is an error.
    """
    path = Path(path)
    try:
        tasks = json.loads(read_text(path, "Label Studio export"))
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON (line {e.lineno}: {e.msg})") from e
    if names is None:
        names = _labels_in(tasks)
    return from_tasks(
        tasks,
        image_root if image_root is not None else path.parent,
        names=names,
        skip_unlabeled=skip_unlabeled,
        source=str(path),
    )


def _labels_in(tasks: Any) -> list[str]:
    from finishscan.classes import class_names

    found: list[str] = []
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        results = _min_results(task) if _is_min(task) else _pick_annotation(task) or []
        for r in results:
            value = r.get("value") or {}
            for n in (
                value.get("rectanglelabels")
                or value.get("polygonlabels")
                or value.get("labels")
                or []
            ):
                if n not in found:
                    found.append(n)
    default = class_names()
    if all(n in default for n in found):
        return default
    return found


def _detections_to_boxes(
    obj: Mapping[str, Any], names: list[str], where: str
) -> tuple[list[Box], list[float]]:
    index = {n: i for i, n in enumerate(names)}
    boxes, scores = [], []
    for d in obj.get("defects") or []:
        if d["label"] not in index:
            raise DatasetError(f"{where}: unknown label {d['label']!r}")
        x0, y0, x1, y1 = (float(v) for v in d["box"])
        boxes.append(Box(index[d["label"]], x0, y0, x1, y1))
        scores.append(float(d.get("confidence", 1.0)))
    return boxes, scores


def to_tasks(
    dataset_or_predictions: Dataset | Iterable[Mapping[str, Any]],
    image_url_fn: Callable[[Path], str],
    *,
    with_predictions: bool = True,
    names: list[str] | None = None,
    model_version: str | None = None,
    from_name: str = "label",
    to_name: str = "image",
) -> list[dict[str, Any]]:
    """Label Studio tasks to import, with boxes as pre-annotations (``predictions``).

    Takes a Dataset (boxes, no scores) or detection objects as ``finishscan detect --json``
    writes them (``{"image", "width", "height", "defects": [{"label", "confidence",
    "box"}], "model": {...}}``; objects with an ``"error"`` are skipped). ``image_url_fn``
    maps an image path to the URL Label Studio will load (e.g.
    ``lambda p: f"/data/local-files/?d=photos/{p.name}"``). A task's prediction ``score``
    is its lowest box confidence (1.0 without boxes), so sorting by it in Label Studio
    brings the least certain photos first. With ``with_predictions=False`` tasks carry
    only the image.
    """
    tasks = []
    items: list[tuple[Path, int, int, list[Box], list[float] | None, str | None]]
    if isinstance(dataset_or_predictions, Dataset):
        names = dataset_or_predictions.names
        items = [
            (im.path, im.width, im.height, im.boxes, None, model_version)
            for im in dataset_or_predictions.images
        ]
    else:
        if names is None:
            from finishscan.classes import class_names

            names = class_names()
        items = []
        for k, obj in enumerate(dataset_or_predictions):
            if obj.get("error"):
                continue
            where = f"prediction {k} ({obj.get('image')})"
            try:
                boxes, scores = _detections_to_boxes(obj, names, where)
                w, h = int(obj["width"]), int(obj["height"])
            except (KeyError, TypeError, ValueError) as e:
                raise DatasetError(
                    f"{where}: expected 'image', 'width', 'height' and defects with 'label', 'box'"
                ) from e
            model = obj.get("model") or {}
            version = (
                model_version
                or "-".join(str(model[k]) for k in ("name", "version") if model.get(k))
                or None
            )
            items.append((Path(obj["image"]), w, h, boxes, scores, version))
    for path, w, h, item_boxes, confs, version in items:
        task: dict[str, Any] = {"data": {"image": image_url_fn(Path(path))}}
        if with_predictions:
            results = [
                box_to_result(
                    b,
                    w,
                    h,
                    names,
                    score=None if confs is None else confs[i],
                    from_name=from_name,
                    to_name=to_name,
                )
                for i, b in enumerate(item_boxes)
            ]
            pred: dict[str, Any] = {"result": results, "score": min(confs) if confs else 1.0}
            if version:
                pred["model_version"] = version
            task["predictions"] = [pred]
        tasks.append(task)
    return tasks


def save_tasks(tasks: list[dict[str, Any]], path: Path) -> Path:
    """Write tasks as a JSON list (atomic), ready for Label Studio's import."""
    atomic_write_text(Path(path), json.dumps(tasks, indent=1))
    return Path(path)
