"""The target-vs-prediction plot shared by the reservoir experiments."""

from __future__ import annotations

import numpy as np


def _plot_series(target, pred, path, title, dt: float = 1.0, xlabel: str = "time step"):
    import matplotlib.pyplot as plt

    target, pred = np.atleast_2d(target.T).T, np.atleast_2d(pred.T).T
    k = target.shape[1]
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.2 * k + 0.6), squeeze=False)
    tt = np.arange(len(target)) * dt
    for i in range(k):
        ax = axes[i, 0]
        ax.plot(tt, target[:, i], "k-", lw=1.2, label="target")
        ax.plot(tt, pred[:, i], "r--", lw=1.0, label="prediction")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name
