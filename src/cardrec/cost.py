"""Training cost of this run from measured durations (Snakemake benchmark files) and the price table."""
from __future__ import annotations

import csv
from pathlib import Path


def benchmark_seconds(tsv: str | Path) -> float:
    """Wall-clock seconds recorded in a Snakemake ``benchmark:`` TSV (mean over repeats)."""
    with open(tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return sum(float(r["s"]) for r in rows) / max(1, len(rows))


def training_cost(durations: dict[str, float], prices: dict, instance: str, local_kw: float) -> dict:
    """Cost of each measured step, locally (electricity) and on the configured cloud instance.

    Args:
        durations: step name -> measured seconds.
        prices: the config's ``cost.prices`` table.
        instance: instance type to price the same seconds on (on-demand and spot).
        local_kw: average power draw of this machine in kW.
    """
    inst = prices["instances"][instance]
    rows = []
    for step, s in durations.items():
        h = s / 3600.0
        on_demand = h * inst["on_demand_hour"]
        rows.append({"step": step, "seconds": round(s, 2), "local_usd": round(h * local_kw * prices["electricity_kwh"], 6),
                     "on_demand_usd": round(on_demand, 4),
                     "spot_usd": round(on_demand * (1 - prices["spot_discount"]), 4)})
    total = {k: round(sum(r[k] for r in rows), 4) for k in ("seconds", "local_usd", "on_demand_usd", "spot_usd")}
    return {"instance": instance, "prices_read_on": prices["read_on"], "steps": rows, "total": total}


def to_markdown(report: dict) -> str:
    lines = [f"# Training cost of this run (prices read on {report['prices_read_on']})", "",
             f"Measured durations priced locally and on `{report['instance']}`.", "",
             "| step | seconds | local $ | on-demand $ | spot $ |", "|---|---:|---:|---:|---:|"]
    for r in report["steps"] + [{"step": "**total**", **report["total"]}]:
        lines.append(f"| {r['step']} | {r['seconds']:.1f} | {r['local_usd']:.4f} | {r['on_demand_usd']:.4f} | "
                     f"{r['spot_usd']:.4f} |")
    return "\n".join(lines) + "\n"
