"""Multi-step workflows behind the CLI: export + card + metrics (+ INT8 with its accuracy change)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.card import ModelCard, write_card
from training.data import load_labels, read_data_yaml

CARD_RESAMPLES = 200  # bootstrap resamples behind the card's metric intervals


def describe_data(data: str | Path, split: str = "train") -> tuple[str, str]:
    """A one-paragraph description of a dataset split and its content hash.

    Image sizes come from the file headers (orientation applied, as decoding shows them); no
    pixel is decoded.
    """
    from datasets.formats._common import image_size
    from finishscan.errors import DatasetError
    from training.data import dataset_sha256

    spec = read_data_yaml(data)
    images = spec.images(split)
    counts = np.zeros(len(spec.names), int)
    negatives = 0
    for p in images:
        try:
            wh = image_size(p)
        except DatasetError:
            wh = (1, 1)  # an unreadable image still has its labels counted
        cls, _ = load_labels(p, wh)
        counts += np.bincount(cls, minlength=len(spec.names))[: len(spec.names)]
        negatives += not len(cls)
    per = ", ".join(f"{n} {c}" for n, c in zip(spec.names, counts, strict=True))
    text = (
        f"{len(images)} images of the '{split}' split of `{spec.yaml_path}` "
        f"({negatives} without any defect); boxes per class: {per}."
    )
    extra = spec.root / "synth.json"
    if extra.exists():
        text += f" Generator settings: `{extra.read_text().strip()[:400]}`."
    return text, dataset_sha256(images)


def export_with_card(
    weights: str | Path,
    out: str | Path,
    *,
    imgsz: int | None = None,
    name: str | None = None,
    version: str = "1",
    data: str | Path | None = None,
    split: str = "val",
    int8_calib: str | Path | None = None,
    card: ModelCard | None = None,
) -> str:
    """Export to ONNX, fill the card (data hash, metrics on ``data``/``split``), optionally INT8.

    Returns a short human-readable report (what was written, metrics, INT8 accuracy change).
    """
    from training.evaluate import evaluate_model
    from training.export import export_onnx, operating_thresholds, quantize_int8

    out = Path(out)
    card = card or ModelCard(name=name or out.stem, version=version, classes=[])
    if data is not None and not card.training_data:
        card.training_data, card.data_sha256 = describe_data(data, "train")
    path = export_onnx(weights, out, imgsz=imgsz, card=card)
    lines = [f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.md')}"]
    fp32 = None
    if data is not None:
        res = evaluate_model(path, data, split=split, bootstrap=CARD_RESAMPLES)
        fp32 = res.to_dict()
        card.metrics = {**fp32, "data": f"the '{split}' split of {data}"}
        card.conf_thresholds = operating_thresholds(fp32)
        write_card(path, card)
        ci = fp32.get("ci") or {}
        iv = "" if not ci.get("map50") else " [{:.4f}-{:.4f}]".format(*ci["map50"])
        lines.append(f"fp32: mAP50 {fp32['map50']:.4f}{iv}  mAP50-95 {fp32['map50_95']:.4f}")
        lines.append(_thresholds_line(card.conf_thresholds))
    if int8_calib is not None:
        q = quantize_int8(path, path.with_name(path.stem + "-int8.onnx"), calib=int8_calib)
        lines.append(f"wrote {q} ({q.stat().st_size / 1e6:.1f} MB)")
        if data is not None and fp32 is not None:
            qres = evaluate_model(q, data, split=split).to_dict()
            from training.card import read_card

            qcard = read_card(q) or card
            qcard.metrics = {**qres, "data": f"the '{split}' split of {data}"}
            qcard.conf_thresholds = operating_thresholds(qres)  # its own scores, its own points
            drop = fp32["map50"] - qres["map50"]
            qcard.notes += f"\nAccuracy change vs FP32 on the same split: mAP50 {-drop:+.4f}, mAP50-95 {qres['map50_95'] - fp32['map50_95']:+.4f}."
            write_card(q, qcard)
            lines.append(
                f"int8: mAP50 {qres['map50']:.4f} ({-drop:+.4f} vs fp32)  mAP50-95 {qres['map50_95']:.4f}"
            )
            lines.append(_thresholds_line(qcard.conf_thresholds))
            (q.with_suffix(".comparison.json")).write_text(
                json.dumps({"fp32": fp32, "int8": qres}, indent=2)
            )
    return "\n".join(lines)


def _thresholds_line(thresholds: dict[str, float]) -> str:
    if not thresholds:
        return "  conf thresholds: none stored (no class has a max-F1 point; default 0.25)"
    return "  conf thresholds: " + ", ".join(f"{c} {t:.3f}" for c, t in thresholds.items())
