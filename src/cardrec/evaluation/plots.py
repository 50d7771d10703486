"""Report plots (PNG, Agg backend): evaluation bars, score histograms, training curves, confusions."""
from __future__ import annotations

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def bar_chart(labels: list[str], series: dict[str, list[float]], title: str, ylabel: str, out: str) -> None:
    """Grouped bars: one group per label, one bar per series."""
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(labels)), 3.6))
    width = 0.8 / max(1, len(series))
    for n, (name, values) in enumerate(series.items()):
        xs = [i + n * width for i in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels, rotation=20)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def score_histograms(per_model: dict[str, dict], out: str) -> None:
    """Best-match cosine of known vs unknown test queries per model, with the chosen threshold."""
    n = len(per_model)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), squeeze=False)
    for ax, (name, m) in zip(axes[0], per_model.items()):
        ax.hist(m["scores_known"], bins=30, alpha=0.6, label="known")
        ax.hist(m["scores_unknown"], bins=30, alpha=0.6, label="unknown")
        ax.axvline(m["threshold"], color="k", ls="--", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("best-match score")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def training_curves(per_stage: dict[str, list[dict]], out: str) -> None:
    """The loss and each weighted loss term, one panel per training stage: per ``epoch``, or per ``step`` for rows
    without one."""
    n = max(1, len(per_stage))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False)
    for ax, (name, rows) in zip(axes[0], per_stage.items()):
        x = "epoch" if rows and "epoch" in rows[0] else "step"
        ticks = [int(r[x]) for r in rows]
        terms = [k for k in (rows[0] if rows else {}) if k not in ("epoch", "step", "lr", "seconds", "images_per_s")]
        for k in terms:
            ax.plot(ticks, [float(r[k]) for r in rows], label=k, lw=2 if k == "loss" else 1,
                    ls="-" if k == "loss" else "--", marker="." if len(rows) < 30 else None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(x)
        if x == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("loss (weighted terms)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def confusion_pairs(pairs: list[tuple[np.ndarray, np.ndarray, str]], out: str, title: str) -> None:
    """The hardest confusions as image pairs: the query photo beside the card it was mistaken for."""
    n = max(1, len(pairs))
    fig, axes = plt.subplots(n, 2, figsize=(4.2, 2.3 * n + 0.4), squeeze=False)
    for row, (query, wrong, caption) in zip(axes, pairs):
        for ax, img, label in zip(row, (query, wrong), ("query", "matched")):
            ax.imshow(img)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(label, fontsize=7)
        row[0].set_ylabel(caption, fontsize=6, rotation=0, ha="right", va="center")
    if not pairs:
        axes[0][0].text(0.5, 0.5, "no confusions", ha="center", va="center")
        for ax in axes[0]:
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
