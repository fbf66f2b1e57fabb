"""Plots people would rather look at than read: confusion matrix and reliability diagram."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .bundle import BundleMeta  # noqa: E402
from .metrics import Reliability  # noqa: E402


def plot_confusion(confusion, labels, title: str, path: Path) -> Path:
    cm = np.asarray(confusion, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(6.0, 0.38 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability(bins: Reliability, title: str, path: Path) -> Path:
    conf = np.asarray(bins.confidence)
    acc = np.asarray(bins.accuracy)
    count = np.asarray(bins.count)
    edges = np.linspace(0, 1, len(conf) + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    used = count > 0
    ax.bar(centres[used], acc[used], width=1 / len(conf), edgecolor="k", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "r--", label="perfect calibration")
    ax.plot(conf[used], acc[used], "ko", ms=3, label="mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {bins.ece:.3f})")
    ax.legend(loc="upper left", fontsize=8)
    ax2.bar(centres, count, width=1 / len(conf), color="grey")
    ax2.set_xlabel("confidence")
    ax2.set_ylabel("photos")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(meta: BundleMeta, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in ("val", "test"):
        name = f"confusion_{split}.png"
        files[name] = plot_confusion(meta.metrics.split(split).confusion, meta.labels,
                                     f"{meta.version}: {split} confusion", folder / name)
    files["reliability_test.png"] = plot_reliability(
        meta.metrics.reliability_test, f"{meta.version}: test reliability", folder / "reliability_test.png")
    return files
