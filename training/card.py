"""The model card: what a model is, what it was trained on, how well it does, where it fails.

It travels twice: as JSON in the ONNX ``metadata_props`` (key ``finishscan_card``, plus
``model_name`` / ``model_version``, which the detector reports, and ``conf_thresholds``, the
per-class operating confidences the detector applies when no ``conf`` is given) and as
``models/<name>.md`` beside the ONNX file.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from detector.model import CARD_KEY
from detector.model import CONF_THRESHOLDS_KEY as CONF_KEY  # what detector.Detector applies

CONF_FLOOR = 0.05  # no stored operating threshold is lower (see export.operating_thresholds)


@dataclass
class ModelCard:
    """``ModelCard(name="finishscan-yolo11n-320", version="1", classes=[...])``."""

    name: str
    version: str
    classes: list[str]
    imgsz: int = 320
    architecture: str = ""
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    )
    training_data: str = ""
    data_sha256: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    generalisation: str = ""
    limits: str = ""
    notes: str = ""
    precision: str = "fp32"
    conf_thresholds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        doc = json.loads(text)
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    def metadata(self) -> dict[str, str]:
        """The ONNX ``metadata_props`` entries this card adds (``conf_thresholds`` only when it
        has some; :func:`write_card` removes a stale one otherwise)."""
        out = {
            CARD_KEY: self.to_json(),
            "model_name": self.name,  # what detector.ModelInfo reports with every detection
            "model_version": self.version,
            "finishscan_precision": self.precision,
        }
        if self.conf_thresholds:
            out[CONF_KEY] = json.dumps(self.conf_thresholds)
        return out

    def to_markdown(self) -> str:
        m = self.metrics or {}
        lines = [
            f"# {self.name}",
            "",
            f"- version: {self.version}",
            f"- created: {self.created}",
            f"- architecture: {self.architecture}",
            f"- precision: {self.precision}",
            f"- input: {self.imgsz}×{self.imgsz} letterboxed RGB, dynamic batch; "
            f"photos larger than the input are tiled at this scale (`--tile auto`)",
            f"- classes ({len(self.classes)}): {', '.join(self.classes)}",
            "",
            "## Training data",
            "",
            self.training_data or "(not recorded)",
            "",
            f"sha256 of the training images and labels: `{self.data_sha256 or 'n/a'}`",
            "",
        ]
        if self.command:
            lines += ["## How it was trained", "", "```bash", self.command.strip(), "```", ""]
        lines += ["## Metrics", ""]
        if m:
            if "data" in m:
                lines += [
                    f"Measured by `finishscan evaluate` on {m['data']} ({m.get('images', '?')} images).",
                    "",
                ]
            ci = m.get("ci") or {}
            head = f" {round(100 * ci['level'])} % interval |" if ci else ""
            lines += [
                "| metric | value |" + head,
                "| --- | --- |" + (" --- |" if ci else ""),
                *(
                    f"| {k} | {_fmt(m[k])} |" + (f" {_interval(ci.get(k))} |" if ci else "")
                    for k in ("map50", "map50_95", "precision", "recall")
                    if k in m
                ),
                "",
            ]
            per = m.get("per_class") or {}
            if per:
                per_ci = ci.get("per_class_ap50") or {}
                lines += [
                    "| class | AP50 |"
                    + (" AP50 interval |" if ci else "")
                    + " precision | recall |",
                    "| --- | --- |" + (" --- |" if ci else "") + " --- | --- |",
                ]
                lines += [
                    f"| {c} | {_fmt(v.get('ap50'))} |"
                    + (f" {_interval(per_ci.get(c))} |" if ci else "")
                    + f" {_fmt(v.get('precision'))} | {_fmt(v.get('recall'))} |"
                    for c, v in per.items()
                ]
                lines.append("")
            if ci:
                lines += [
                    f"Intervals: {round(100 * ci['level'])} % bootstrap over the photos the images "
                    f"come from ({ci['resamples']} resamples; the tiles of one photo are drawn "
                    "together): how far a figure moves between sets of this size.",
                    "",
                ]
        else:
            lines += ["(not measured)", ""]
        if self.conf_thresholds:
            lines += self._thresholds_markdown()
        for title, text in (
            ("Generalisation to real photos", self.generalisation),
            ("Limits", self.limits),
            ("Notes", self.notes),
        ):
            if text:
                lines += [f"## {title}", "", text.strip(), ""]
        return "\n".join(lines).rstrip() + "\n"

    def _thresholds_markdown(self) -> list[str]:
        m = self.metrics or {}
        per = m.get("per_class") or {}
        overall = m.get("conf_threshold_max_f1")
        lines = [
            "## Operating thresholds",
            "",
            "Without `--conf` (or `conf=`), a box is kept when its confidence exceeds its class's"
            " threshold below (stored in the ONNX metadata as `conf_thresholds`): the confidence"
            " where that class's F1 peaks"
            + (f" on {m['data']}" if "data" in m else "")
            + f", but at least {CONF_FLOOR:g} (lower ones mostly let noise through); a class"
            " without labels or true positives there takes the max-F1 confidence of all classes"
            + (f" ({overall:.3f})" if isinstance(overall, float) else "")
            + ". An explicit `--conf` applies one threshold to every class.",
            "",
            "| class | confidence | from |",
            "| --- | --- | --- |",
        ]
        for c, v in self.conf_thresholds.items():
            own = (per.get(c) or {}).get("conf_threshold_max_f1")
            if own is None:
                src = "all classes' max-F1"
            elif own < CONF_FLOOR:
                src = f"floor (its max-F1: {own:.3f})"
            else:
                src = "its max-F1"
            lines.append(f"| {c} | {v:.3f} | {src} |")
        return [*lines, ""]


def _interval(v: list[float] | None) -> str:
    return "–" if not v else f"{v[0]:.3f}-{v[1]:.3f}"


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def load_card_fields(path: str | Path, *, name: str, version: str) -> ModelCard:
    """A card started from a YAML of its text fields (``generalisation: ...``, ``limits: ...``)."""
    import yaml

    from finishscan.errors import ConfigError

    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"card file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"card file {path} is not valid YAML: {e}") from e
    allowed = {
        "architecture",
        "training_data",
        "generalisation",
        "limits",
        "command",
        "notes",
        "data_sha256",
    }
    unknown = set(doc) - allowed
    if unknown:
        raise ConfigError(
            f"card file {path}: unknown fields {sorted(unknown)} (allowed: {sorted(allowed)})"
        )
    card = ModelCard(name=name, version=version, classes=[])
    for k, v in doc.items():
        setattr(card, k, str(v))
    return card


def read_card(model: str | Path) -> ModelCard | None:
    """The card stored in an ONNX file's metadata, or None."""
    import onnx

    m = onnx.load(str(model), load_external_data=False)
    props = {p.key: p.value for p in m.metadata_props}
    return ModelCard.from_json(props[CARD_KEY]) if CARD_KEY in props else None


def write_card(model: str | Path, card: ModelCard, *, markdown: Path | None = None) -> Path:
    """Store ``card`` in the ONNX metadata (replacing keys it sets) and write the markdown beside it."""
    import onnx

    path = Path(model)
    m = onnx.load(str(path))
    props = {p.key: p.value for p in m.metadata_props}
    props.pop(CONF_KEY, None)  # the card's thresholds are the model's (none: none stale)
    props.update(card.metadata())
    del m.metadata_props[:]
    for k, v in props.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    md = markdown or path.with_suffix(".md")
    md.write_text(card.to_markdown())
    return md
