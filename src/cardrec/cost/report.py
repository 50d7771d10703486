"""The cost report: training, storage, lifecycle projection, cloud vs edge; as JSON, Markdown and PNG plots."""
from __future__ import annotations

from pathlib import Path

from cardrec.config import project_prefix
from cardrec.cost.training import job_cost, read_job_record, training_cost
from cardrec.cost.edge import compare
from cardrec.cost.projection import project, rules_from_lifecycle
from cardrec.cost.storage import Obj, list_inventory, local_inventory, one_off_fees, storage_table

NOTES = [
    "Prices come only from the config price table (`cost.prices`); each group prints the date it was read.",
    "AWS billing metrics (CloudWatch `EstimatedCharges`) exist only in us-east-1, whatever the bucket's region.",
    "Lifecycle transitions bill a request fee per 1,000 objects; objects under the transition minimum size "
    "(S3 default 128 KB) are not transitioned; GLACIER/DEEP_ARCHIVE objects add 32 KB at the archive price "
    "and 8 KB at Standard each, and bill their minimum storage duration when deleted early.",
    "The DVC remote (dvc/) must stay readable: no Glacier rule may cover it.",
]


def inventory(storage: dict, results_dir: str | Path, client=None) -> tuple[list[Obj], str]:
    """The live bucket under ``project/<project>/`` when a bucket is configured, else the local artifacts."""
    if storage.get("bucket"):
        from cardrec.aws.common import client as s3_client

        prefix = project_prefix(storage.get("project"))
        client = client or s3_client(storage)
        return list_inventory(client, storage["bucket"], prefix), f"s3://{storage['bucket']}/{prefix}/"
    return local_inventory(results_dir), f"local artifacts in {results_dir}/ (as `dvc push` stores them, dvc/)"


def build(cost: dict, lifecycle: list[dict], durations: dict[str, float], job_files: list[str | Path], objs: list[Obj],
          source: str) -> dict:
    """Every section of the report from the ``cost:`` config, the bucket's lifecycle rules (``aws.lifecycle``),
    measured durations, job records and an inventory."""
    lifecycle = rules_from_lifecycle(lifecycle)
    prices = cost["prices"]
    s3 = prices["s3"]
    jobs = [job_cost(read_job_record(p), prices) for p in job_files]
    proj = project(objs, lifecycle, s3, cost["months"])
    edge = compare(cost, prices)
    rows = storage_table(objs, cost["storage_groups"], s3)
    return {
        "read_on": {k: v["read_on"] for k, v in prices.items()},
        "training": training_cost(durations, prices, cost["instance"], cost["local_watts"] / 1000.0),
        "jobs": jobs,
        "jobs_total_usd": round(sum(j["billed_usd"] for j in jobs), 4),
        "storage": {"source": source, "region": s3["region"], "rows": rows,
                    "fees": one_off_fees(rows, s3), "objects": len(objs), "bytes": sum(o.size for o in objs)},
        "lifecycle": {"rules": lifecycle, **proj},
        "cloud_vs_edge": edge,
        "notes": NOTES,
    }


def _money(x: float) -> str:
    return f"${x:,.2f}" if abs(x) >= 1 else f"${x:.4f}"


def to_markdown(r: dict) -> str:
    """The report as Markdown tables."""
    L = ["# Cost report", "", "Prices read on: " + ", ".join(f"{k} {v}" for k, v in r["read_on"].items()), ""]
    t = r["training"]
    L += [f"## Training (local runs priced on `{t['instance']}`)", "",
          "| step | seconds | local electricity | on-demand | spot |", "|---|---:|---:|---:|---:|"]
    for s in t["steps"] + [{"step": "**total**", **t["total"]}]:
        L.append(f"| {s['step']} | {s['seconds']:.1f} | {_money(s['local_usd'])} | {_money(s['on_demand_usd'])} "
                 f"| {_money(s['spot_usd'])} |")
    if r["jobs"]:
        L += ["", "SageMaker jobs (billed = BillableTimeInSeconds x instances x on-demand $/h):", "",
              "| stage | instance | training s | billable s | spot saving | billed | without spot |",
              "|---|---|---:|---:|---:|---:|---:|"]
        for j in r["jobs"]:
            L.append(f"| {j['stage']} | {j['count']}x {j['instance']} | {j['training_s']:.0f} | {j['billable_s']:.0f} "
                     f"| {j['spot_saving']:.0%} | {_money(j['billed_usd'])} | {_money(j['on_demand_usd'])} |")
        L.append(f"| **total** | | | | | {_money(r['jobs_total_usd'])} | |")
    st = r["storage"]
    L += ["", f"## Storage ({st['source']}, {st['objects']} objects, {st['region']})", "",
          "| prefix | class | objects | GB | $/month |", "|---|---|---:|---:|---:|"]
    for row in st["rows"]:
        L.append(f"| {row['group']} | {row['storage_class']} | {row['objects']} | {row['gb']:.4f} | "
                 f"{_money(row['usd_month'])} |")
    fees = st["fees"]
    L += ["", f"One-off: uploading these objects (PUT) {_money(fees['upload_usd'])}"
          + "".join(f"; restoring all {c} once {_money(v)}" for c, v in fees["restore_all_usd"].items()) + "."]
    lc = r["lifecycle"]
    months = lc["months"]
    L += ["", f"## Lifecycle projection ({len(months)} months)", "",
          "| rule / reason | objects | GB |", "|---|---:|---:|"]
    L += [f"| {k} | {v['objects']} | {v['bytes'] / 1024 ** 3:.4f} |" for k, v in lc["by_rule"].items()]
    L += ["", "| transition | month | objects | GB | request fee |", "|---|---:|---:|---:|---:|"]
    L += [f"| {x['from']} -> {x['to']} | {x['month']} | {x['objects']} | {x['gb']:.4f} | {_money(x['fee_usd'])} |"
          for x in lc["transitions"]] or ["| none | | | | |"]
    L += ["", "| month | storage | transitions | early deletion | total | cumulative |",
          "|---:|---:|---:|---:|---:|---:|"]
    for m in months:
        if m["month"] in (1, 2, 3, 4, 6, 7, 12, 24, 36, 48, 60) or m["transition_usd"] or m["early_delete_usd"]:
            L.append(f"| {m['month']} | {_money(m['storage_usd'])} | {_money(m['transition_usd'])} | "
                     f"{_money(m['early_delete_usd'])} | {_money(m['total_usd'])} | {_money(m['cumulative_usd'])} |")
    ce = r["cloud_vs_edge"]
    e = ce["edge"]
    L += ["", f"## Cloud vs edge ({ce['demand_per_hour']} requests/hour, {ce['hours_per_month']} h/month)", "",
          "| option | units | capacity/h | upfront | $/month | year 1 | 5 years | break-even month |",
          "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for o in ce["cloud"] + [e]:
        be = o.get("break_even_month", "")
        L.append(f"| {o['name']} | {o['units']} | {o['capacity_per_hour']:,} | {_money(o['upfront_usd'])} | "
                 f"{_money(o['monthly_usd'])} | {_money(o['year1_usd'])} | {_money(o['cumulative_usd'][-1])} | "
                 f"{'never' if be is None else be} |")
    L += ["", "Edge hardware: " + " + ".join(f"{k} {_money(v)}" for k, v in e["hardware"].items())
          + f" = {_money(sum(e['hardware'].values()))} per device.", "", "## Notes", ""]
    L += [f"- {n}" for n in r["notes"]]
    return "\n".join(L) + "\n"


def plot_cumulative(r: dict, path: str | Path) -> None:
    """Cumulative cost of every cloud option and the edge device over the projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ce = r["cloud_vs_edge"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for o in ce["cloud"] + [ce["edge"]]:
        ax.plot(range(1, len(o["cumulative_usd"]) + 1), o["cumulative_usd"], label=o["name"],
                linestyle="--" if o["kind"] == "edge" else "-")
    ax.set(xlabel="month", ylabel="cumulative $", yscale="log", title=f"Cloud vs edge at {ce['demand_per_hour']} req/h")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_storage(r: dict, path: str | Path) -> None:
    """Stored GB by prefix and class (left) and projected monthly storage cost by month (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = r["storage"]["rows"]
    groups = sorted({x["group"] for x in rows})
    classes = sorted({x["storage_class"] for x in rows})
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    left = [0.0] * len(groups)
    for c in classes:
        gb = [sum(x["gb"] for x in rows if x["group"] == g and x["storage_class"] == c) for g in groups]
        a.barh(groups, gb, left=left, label=c)
        left = [p + q for p, q in zip(left, gb)]
    a.set(xlabel="GB", title="Stored by prefix and class")
    if classes:
        a.legend(fontsize=8)
    months = r["lifecycle"]["months"]
    b.plot([m["month"] for m in months], [m["total_usd"] for m in months])
    b.set(xlabel="month", ylabel="$ / month", title="Lifecycle projection (storage + fees)")
    b.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(r: dict, json_path: str | Path, md_path: str | Path, cumulative_png: str | Path,
                  storage_png: str | Path) -> None:
    """Write the report's JSON, Markdown and both plots."""
    from cardrec.records import write_json

    write_json(json_path, r)
    Path(md_path).write_text(to_markdown(r))
    plot_cumulative(r, cumulative_png)
    plot_storage(r, storage_png)
