"""The recognition-quality targets of a finished run, each measured and marked met or missed.

    snakemake --cores all --configfile config/real.yaml     # the run being judged
    python benchmarks/quality_targets.py [--workdir .] [--json out.json]

Reads results/evaluate/summary.json, the INT8 gate report and the training jobs' benchmark files
(Snakemake's own wall-clock measurement of train_teacher / train_student (stage1, stage2)).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

TRAINING_JOBS = ("teacher/train_teacher", "student/train_student_stage1", "student/train_student_stage2")


def measure(workdir: Path) -> dict:
    summary = json.loads((workdir / "results/evaluate/summary.json").read_text())
    train_s = 0.0
    for job in TRAINING_JOBS:
        with open(workdir / "logs" / f"{job}.benchmark.tsv") as f:
            train_s += float(next(csv.DictReader(f, delimiter="\t"))["s"])
    gate_file = workdir / "results/export/quantize.json"
    gate = json.loads(gate_file.read_text()) if gate_file.exists() else {}
    return {"summary": summary, "training_seconds": round(train_s, 1), "int8_gate": gate}


def judge(m: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of the recognition-quality issue (met None: information)."""
    s = m["summary"]
    top1 = {k: v["top1"] for k, v in s.items()}
    hash_top1 = top1.pop("phash")
    rows = [("INT8 student top-1 >= 0.95", f"{top1['int8']:.3f}", top1["int8"] >= 0.95),
            ("stage 2 top-1 >= stage 1", f"{top1['stage2']:.3f} vs {top1['stage1']:.3f}",
             top1["stage2"] >= top1["stage1"])]
    for k, v in top1.items():
        rows.append((f"{k} above the pHash+dHash baseline", f"{v:.3f} vs {hash_top1:.3f}", v > hash_top1))
    unk = s["int8"]["unknown_reject_rate"]
    rows.append(("INT8 unknown-card rejection >= 0.90", f"{unk:.3f}", unk is not None and unk >= 0.90))
    fr = s["int8"]["false_reject_rate"]
    rows.append(("INT8 false rejections of known test queries (threshold set for <= 0.02 on val)", f"{fr:.3f}", None))
    rows.append(("training <= 30 min on this machine", f"{m['training_seconds'] / 60:.1f} min",
                 m["training_seconds"] <= 1800))
    if m["int8_gate"]:
        g = m["int8_gate"]
        rows.append((f"INT8 gate: mean cos(FP32, INT8) >= {g['gate_min_mean_cosine']}", f"{g['mean_cosine']:.4f}",
                     g["mean_cosine"] >= g["gate_min_mean_cosine"]))
        if "top1_drop" in g:
            rows.append((f"INT8 gate: top-1 drop <= {g['gate_max_top1_drop']}",
                         f"{g['top1_reference']:.3f} -> {g['top1_candidate']:.3f}",
                         g["top1_drop"] <= g["gate_max_top1_drop"]))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("."), help="directory holding results/ and logs/")
    ap.add_argument("--json", type=Path, help="also write the measurements and verdicts here")
    args = ap.parse_args()
    try:
        m = measure(args.workdir)
    except FileNotFoundError as e:
        print(f"missing {e.filename}: run the workflow first (see the module help)", file=sys.stderr)
        return 2
    rows = judge(m)
    width = max(len(r[0]) for r in rows)
    for target, value, ok in rows:
        print(f"{'info' if ok is None else 'met ' if ok else 'MISS'}  {target:<{width}}  {value}")
    if args.json:
        args.json.write_text(json.dumps({**m, "targets": [dict(zip(("target", "measured", "met"), r)) for r in rows]},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
