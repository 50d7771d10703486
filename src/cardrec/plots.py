"""Report plots (PNG, Agg backend): evaluation bars, score histograms, loss curves, cost bars."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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


def loss_curves(histories: dict[str, list[dict]], out: str) -> None:
    """Training loss per step for each trained model."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, hist in histories.items():
        ax.plot([h["step"] for h in hist], [h["loss"] for h in hist], label=name, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
