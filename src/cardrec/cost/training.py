"""Training cost: measured durations (Snakemake benchmark files) and SageMaker job records, priced from config."""
from __future__ import annotations

import csv
import json
from pathlib import Path

TRAINING_STAGES = ("teacher", "stage1", "stage2")
PRICED_STEPS = (*TRAINING_STAGES, "segmenter", "corners")  # every training rule whose seconds the cost report prices


def training_benchmark(stage: str) -> str:
    """Where Snakemake writes a training rule's benchmark file (``stage`` may be the ``{stage}`` wildcard;
    ``segmenter``: rule train_segmenter's; ``corners``: rule train_corner_refiner's)."""
    if stage in ("teacher", "segmenter"):
        return f"logs/{stage}/train_{stage}.benchmark.tsv"
    if stage == "corners":
        return "logs/corners/train_corner_refiner.benchmark.tsv"
    return f"logs/student/train_student_{stage}.benchmark.tsv"


def benchmark_seconds(tsv: str | Path) -> float:
    """Wall-clock seconds recorded in a Snakemake ``benchmark:`` TSV (mean over repeats)."""
    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return sum(float(r["s"]) for r in rows) / max(1, len(rows))


def instance_prices(prices: dict, instance: str) -> tuple[float, float]:
    """(on-demand $/h, spot $/h) of a training instance; spot from ``spot_hour`` or the configured discount."""
    tr = prices["training"]
    inst = tr["instances"][instance]
    od = float(inst["on_demand_hour"])
    return od, float(inst.get("spot_hour", od * (1 - tr["spot_discount"])))


def training_cost(durations: dict[str, float], prices: dict, instance: str, local_kw: float) -> dict:
    """Cost of each measured local step: electricity here, and the same seconds on ``instance`` (on-demand, spot).

    Args:
        durations: step name -> measured seconds.
        prices: the config's ``cost.prices`` table.
        instance: training instance type to price the same seconds on.
        local_kw: average power draw of this machine in kW.
    """
    od, spot = instance_prices(prices, instance)
    kwh = prices["electricity"]["usd_per_kwh"]
    rows = []
    for step, s in durations.items():
        h = s / 3600.0
        rows.append({"step": step, "seconds": round(s, 2), "local_usd": round(h * local_kw * kwh, 6),
                     "on_demand_usd": round(h * od, 4), "spot_usd": round(h * spot, 4)})
    total = {k: round(sum(r[k] for r in rows), 6) for k in ("seconds", "local_usd", "on_demand_usd", "spot_usd")}
    return {"instance": instance, "prices_read_on": prices["training"]["read_on"],
            "electricity_read_on": prices["electricity"]["read_on"], "steps": rows, "total": total}


def read_job_record(path: str | Path) -> dict:
    """A SageMaker ``DescribeTrainingJob`` record (``results/jobs/<stage>.json``), reduced to what cost needs."""
    rec = json.loads(Path(path).read_text())
    res = rec.get("ResourceConfig") or {}
    return {"stage": Path(path).stem, "job": rec.get("TrainingJobName", Path(path).stem),
            "instance": res.get("InstanceType") or rec["InstanceType"],
            "count": int(res.get("InstanceCount") or rec.get("InstanceCount") or 1),
            "training_s": float(rec["TrainingTimeInSeconds"]),
            "billable_s": float(rec.get("BillableTimeInSeconds", rec["TrainingTimeInSeconds"])),
            "spot": bool(rec.get("EnableManagedSpotTraining", False))}


def job_cost(job: dict, prices: dict) -> dict:
    """Billed cost of one SageMaker job: billable seconds x instance count x on-demand price.

    SageMaker bills managed-spot jobs for ``BillableTimeInSeconds`` (per instance); the spot saving is
    1 - billable / training time. ``on_demand_usd`` is what the same training time costs without spot.
    """
    od, _ = instance_prices(prices, job["instance"])
    billed = job["billable_s"] * job["count"] * od / 3600.0
    full = job["training_s"] * job["count"] * od / 3600.0
    saving = 1 - job["billable_s"] / job["training_s"] if job["training_s"] else 0.0
    return {**job, "on_demand_hour": od, "billed_usd": round(billed, 4), "on_demand_usd": round(full, 4),
            "spot_saving": round(saving, 4)}


def to_markdown(report: dict) -> str:
    """The local-run training table (kept for ``results/cost/training_cost.md``)."""
    lines = [f"# Training cost of this run (instance prices read on {report['prices_read_on']}, "
             f"electricity {report['electricity_read_on']})", "",
             f"Measured durations priced locally and on `{report['instance']}`.", "",
             "| step | seconds | local $ | on-demand $ | spot $ |", "|---|---:|---:|---:|---:|"]
    for r in report["steps"] + [{"step": "**total**", **report["total"]}]:
        lines.append(f"| {r['step']} | {r['seconds']:.1f} | {r['local_usd']:.4f} | {r['on_demand_usd']:.4f} | "
                     f"{r['spot_usd']:.4f} |")
    return "\n".join(lines) + "\n"
