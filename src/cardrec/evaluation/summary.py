"""Evaluation summary: one table and the report plots from every variant's metrics."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from cardrec.evaluation import plots

LABELS = {"phash": "pHash+dHash", "teacher": "teacher", "stage1": "student s1", "stage2": "student s2",
          "fp32": "ONNX FP32", "int8": "ONNX INT8", "hef": "HEF (emulator)"}


def segmenter_curve(record: dict) -> list[dict]:
    """The segmenter record's loss curve (means over ``loss_every`` steps) as rows of ``step`` and ``loss``."""
    every = record["loss_every"]
    return [{"step": (i + 1) * every, "loss": v} for i, v in enumerate(record["loss"])]


def refiner_curve(record: dict) -> list[dict]:
    """The corner refiner record's loss curve (one mean per epoch) as rows of ``epoch`` and ``loss``."""
    return [{"epoch": i + 1, "loss": v} for i, v in enumerate(record["loss"])]


def summarize(metric_files: list[str], metrics_csvs: list[str], top_k: int, out: dict[str, str],
              segmenter: str | None = None, corners: str | None = None) -> dict:
    """Write summary JSON/Markdown, accuracy bars, score histograms and the training curves (per epoch; the
    segmenter's, from its record, per step; the corner refiner's, from its record, per epoch)."""
    per = {Path(f).parent.name: json.loads(Path(f).read_text()) for f in metric_files}
    keys = ["top1", f"top{top_k}", "mean_cosine_true", "threshold", "false_reject_rate", "unknown_reject_rate"]
    table = {v: {k: m.get(k) for k in keys + ["queries_test", "queries_unknown", "gallery"]} for v, m in per.items()}
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for v, row in table.items():
        cells = ["-" if row[k] is None else f"{row[k]:.3f}" for k in keys]
        lines.append(f"| {LABELS.get(v, v)} | " + " | ".join(cells) + " |")
    Path(out["table"]).write_text("\n".join(lines) + "\n")
    Path(out["summary"]).write_text(json.dumps(table, indent=1) + "\n")
    plots.bar_chart([LABELS.get(v, v) for v in per], {"top-1": [m["top1"] for m in per.values()],
                                                      f"top-{top_k}": [m[f"top{top_k}"] for m in per.values()]},
                    "Held-out photo-like queries", "accuracy", out["accuracy"])
    plots.score_histograms({LABELS.get(v, v): m for v, m in per.items()}, out["scores"])
    curves = {}
    for f in metrics_csvs:
        with open(f, newline="") as fh:
            curves[Path(f).parent.name] = list(csv.DictReader(fh))
    if segmenter:
        curves["segmenter"] = segmenter_curve(json.loads(Path(segmenter).read_text()))
    if corners:
        curves["corner refiner"] = refiner_curve(json.loads(Path(corners).read_text()))
    plots.training_curves(curves, out["loss"])
    return table
