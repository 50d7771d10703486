"""The Snakemake report's front page: the run's headline figures and plots, then the workflow description.

Rule ``report_front`` writes it; the Snakefile's ``report:`` uses it once it exists (``report_description``), so
``make report`` opens on what the run measured: crop-level and whole-frame figures, then the plots inline.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

from cardrec.evaluation.summary import LABELS

CROP_COLUMNS = (("top1", "top-1"), ("unknown_reject_rate", "unknown rejected"), ("false_reject_rate", "false reject"))
FRAME_COLUMNS = (("detection", "detection"), ("top1", "top-1 known"), ("wrong", "wrong id"),
                 ("abstain", "abstain"), ("false_reject", "false reject"), ("unknown_reject", "unknown rejected"))


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def list_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """An rst list-table (docutils renders it as an HTML table)."""
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines) + "\n"


def inline_image(png: Path, alt: str) -> str:
    """An rst image whose source is the PNG itself (a data URI), so the self-contained report shows it in place.

    The URI is wrapped over indented lines (docutils drops the whitespace) to stay under its line-length limit.
    """
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    lines = [data[i:i + 76] for i in range(0, len(data), 76)]
    return "\n".join([".. image:: data:image/png;base64,", *[f"   {line}" for line in lines],
                      f"   :alt: {alt}", "   :width: 640px", ""])


def headline(crops: dict, frames: dict, deployed: str, baseline: dict | None = None) -> str:
    """Crop-level rows of every model (the shipped one marked) and the shipped runtime's whole-frame figures, beside
    the pHash+dHash baseline's through the same frame pipeline (``baseline``, rule evaluate_frames_phash)."""
    rows = [[LABELS.get(v, v) + (" (shipped)" if v == deployed else ""), *[_cell(m.get(k)) for k, _ in CROP_COLUMNS]]
            for v, m in crops.items()]
    any_crops = next(iter(crops.values()), {})
    crop_title = (f"Held-out query crops (test: {any_crops.get('queries_test')} known, "
                  f"{any_crops.get('queries_unknown')} unknown)")
    overall = frames["overall"]
    frame_title = (f"Whole {frames['split']} frames through the shipped edge runtime ({overall['frames']} frames, "
                   f"{overall['cards_known']} known and {overall['cards_unknown']} unknown cards)")
    frame_rows = [[LABELS.get(deployed, deployed) + " bundle", *[_cell(overall.get(k)) for k, _ in FRAME_COLUMNS]]]
    if baseline is not None:
        frame_rows.append([LABELS["phash"], *[_cell(baseline["overall"].get(k)) for k, _ in FRAME_COLUMNS]])
    return "\n".join([
        list_table(crop_title, ["model", *[h for _, h in CROP_COLUMNS]], rows),
        list_table(frame_title, ["runtime", *[h for _, h in FRAME_COLUMNS]], frame_rows),
        f"A card counts as detected when every corner is within {frames['max_corner_error']:.0%} of its diagonal. "
        "The per-category tables are in Evaluation > summary.md.",
        "",
    ])


def front_page(description: str, summary_json: Path, frames_json: Path, deployed: str,
               plots: dict[str, Path], baseline_json: Path | None = None) -> str:
    """The report's front page: the headline tables, each plot inline, then the workflow description."""
    crops = json.loads(summary_json.read_text())
    frames = json.loads(frames_json.read_text())
    baseline = json.loads(baseline_json.read_text()) if baseline_json else None
    parts = ["Headline figures\n" + "=" * 16 + "\n", headline(crops, frames, deployed, baseline)]
    parts += [inline_image(png, alt) for alt, png in plots.items()]
    parts += ["The workflow\n" + "-" * 12 + "\n", description.rstrip() + "\n"]
    return "\n".join(parts)
