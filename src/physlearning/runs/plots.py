"""Plot helpers (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves(
    history: list[dict], path: Path, keys: list[str] | None = None, title: str = "", logy: bool = False
) -> Path | None:
    """Plot per-epoch numeric metrics vs epoch (integer ticks): ``keys``, default every logged training,
    validation and test metric (``train_*``, ``val_*``, ``test_*``, ``*loss*``, ``*accuracy*``); accuracies
    on their own axis."""
    rows = [r for r in history if "epoch" in r]
    if not rows:
        return None
    if keys is None:
        keys = sorted(
            {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
             and ("loss" in k or "accuracy" in k or k.startswith(("train_", "val_", "test_")))}
        )
    keys = [k for k in keys if any(k in r for r in rows)]  # e.g. no val_* keys without validation rows
    loss_keys = [k for k in keys if "accuracy" not in k]
    acc_keys = [k for k in keys if "accuracy" in k]
    ncols = (1 if loss_keys else 0) + (1 if acc_keys else 0)
    if ncols == 0:
        return None
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.6), squeeze=False)
    ax_i = 0
    epochs = [r["epoch"] for r in rows]
    from matplotlib.ticker import MaxNLocator

    for group, ylabel in ((loss_keys, "loss / error (per sample)"), (acc_keys, "accuracy (fraction correct)")):
        if not group:
            continue
        ax = axes[0, ax_i]
        ax_i += 1
        for k in group:
            ax.plot(epochs, [r.get(k, np.nan) for r in rows], marker=".", label=k)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if logy and "loss" in ylabel:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion(cm: np.ndarray, path: Path, title: str = "confusion matrix") -> Path:
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    im = ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if cm[i, j] > cm.max() / 2 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def confusion_from_labels(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, path: Path,
                          title: str = "confusion matrix") -> Path:
    """Confusion matrix with every class on both axes (scikit-learn's ``ConfusionMatrixDisplay``)."""
    from sklearn.metrics import ConfusionMatrixDisplay

    labels = list(range(n_classes))
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False,
                                            cmap="Blues", text_kw={"fontsize": 7})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def image_grid(images: np.ndarray, path: Path, shape: tuple[int, int], ncols: int = 10, title: str = "") -> Path:
    """Grid of flattened images (values in any range; each shown with a common scale)."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.8, nrows * 0.8 + (0.3 if title else 0)), squeeze=False)
    lo, hi = float(np.min(images)), float(np.max(images))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(np.asarray(images[i]).reshape(shape), cmap="gray_r", vmin=lo, vmax=hi)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_curves(run_dir: Path, title: str = "", logy: bool = False) -> list[str]:
    """``curves.png`` of a run folder from its metrics.jsonl (the names drawn: [] without epoch records)."""
    from physlearning.runs.store import read_metrics

    p = curves(read_metrics(run_dir), Path(run_dir) / "plots" / "curves.png", title=title, logy=logy)
    return [] if p is None else [p.name]
