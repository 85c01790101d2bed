"""PNG plots of an evaluation: PR curves per class, P/R/F1 against confidence, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.evaluate import EvalResult


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(result: EvalResult, out: Path) -> Path:
    """Precision against recall at IoU 0.5, one line per class, mean in bold."""
    plt = _plt()
    m = result.metrics
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for r, cid in enumerate(m.classes):
        ax.plot(m.curve_x, m.pr_curve[r], lw=1, label=f"{result.names[cid]} {m.ap[r, 0]:.3f}")
    if len(m.classes):
        ax.plot(
            m.curve_x,
            m.pr_curve.mean(0),
            lw=3,
            color="blue",
            label=f"all classes {m.map50:.3f} mAP@0.5",
        )
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Precision-Recall (IoU 0.5)",
    )
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_confidence_curves(result: EvalResult, out_dir: Path) -> list[Path]:
    """Precision, recall and F1 against the confidence threshold."""
    plt = _plt()
    m = result.metrics
    paths = []
    for key, curve in (("P", m.p_curve), ("R", m.r_curve), ("F1", m.f1_curve)):
        fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
        for r, cid in enumerate(m.classes):
            ax.plot(m.curve_x, curve[r], lw=1, label=result.names[cid])
        if len(m.classes):
            ax.plot(m.curve_x, curve.mean(0), lw=3, color="blue", label="all classes")
        ax.set(xlabel="Confidence", ylabel=key, xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower left", fontsize=8)
        fig.tight_layout()
        path = out_dir / f"{key}_curve.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_confusion(result: EvalResult, out: Path, *, normalize: bool = True) -> Path:
    """Confusion matrix (columns: true class, rows: predicted; last = background)."""
    plt = _plt()
    cm = result.confusion.astype(np.float64)
    if normalize:
        cm = cm / np.maximum(cm.sum(0, keepdims=True), 1)
    labels = [*result.names, "background"]
    fig, ax = plt.subplots(figsize=(8, 7), dpi=120)
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(
                    j,
                    i,
                    f"{cm[i, j]:.2f}" if normalize else int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                )
    ax.set(
        xlabel="True",
        ylabel="Predicted",
        title="Confusion matrix" + (" (normalised by column)" if normalize else ""),
    )
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def write_plots(result: EvalResult, out_dir: str | Path) -> list[Path]:
    """All plots of an evaluation into ``out_dir``."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    return [
        plot_pr_curves(result, d / "PR_curve.png"),
        *plot_confidence_curves(result, d),
        plot_confusion(result, d / "confusion_matrix.png"),
        plot_confusion(result, d / "confusion_matrix_counts.png", normalize=False),
    ]
