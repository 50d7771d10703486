"""``cardrec cost report`` and ``cardrec cost actual``."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from cardrec.aws.common import friendly_errors
from cardrec.cli.common import workdir_options, workflow_config


def cmd_cost_report(args: argparse.Namespace) -> int:
    """Build the cost report from this workdir's benchmark files, job records and storage inventory."""
    from cardrec.cost.training import PRICED_STEPS, benchmark_seconds, training_benchmark
    from cardrec.cost.report import build, inventory, write_outputs

    repo = Path(args.workdir)
    cfg = workflow_config(args)
    found = {s: repo / training_benchmark(s) for s in PRICED_STEPS}  # those this run has
    durations = {s: benchmark_seconds(p) for s, p in found.items() if p.exists()}
    jobs = sorted((repo / "results" / "jobs").glob("*.json"))
    with friendly_errors("bucket inventory"):
        objs, source = inventory(cfg.get("storage") or {}, repo / "results")
    r = build(cfg["cost"], cfg["aws"]["lifecycle"], durations, jobs, objs, source)
    out = repo / args.out
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(r, out / "cost_report.json", out / "cost_report.md", out / "cloud_vs_edge.png", out / "storage.png")
    print(f"wrote {out}/cost_report.{{md,json}}, cloud_vs_edge.png, storage.png ({len(objs)} objects from {source})")
    return 0


def cmd_cost_actual(args: argparse.Namespace) -> int:
    """Actual spend per service for one month from Cost Explorer, beside the report's estimate."""
    import boto3

    from cardrec.cost.actual import actual, beside_estimate

    st = workflow_config(args).get("storage") or {}
    session = boto3.Session(profile_name=st.get("profile") or None)
    client = session.client("ce", region_name="us-east-1", endpoint_url=args.endpoint_url)  # CE lives in us-east-1
    with friendly_errors("Cost Explorer request"):
        spend = actual(client, args.month)
    rp = Path(args.workdir) / args.report
    rows = beside_estimate(spend, json.loads(rp.read_text()) if rp.exists() else None)
    if args.json:
        print(json.dumps({"month": args.month, "services": rows}, indent=1))
        return 0
    print(f"{'service':<40} {'actual $':>12} {'estimate $':>12}")
    for r in rows:
        est = "" if r["estimate_usd"] is None else f"{r['estimate_usd']:.4f}"
        print(f"{r['service']:<40} {r['actual_usd']:>12.4f} {est:>12}")
    return 0


def register(subparsers) -> None:
    cost = subparsers.add_parser("cost", help="cost report and actual spend").add_subparsers(
        dest="cost_command", required=True)
    r = workdir_options(cost.add_parser("report", help="training, storage, lifecycle projection, cloud vs edge "
                                              "(Markdown, JSON, PNG)"))
    r.add_argument("--out", default="results/cost", help="output directory, relative to --workdir")
    r.set_defaults(func=cmd_cost_report)
    a = workdir_options(cost.add_parser("actual", help="actual spend per service for one month (Cost Explorer)"))
    a.add_argument("--month", required=True, help="YYYY-MM")
    a.add_argument("--report", default="results/cost/cost_report.json", help="estimate to show beside it")
    a.add_argument("--endpoint-url", help="Cost Explorer endpoint (tests: a moto_server)")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=cmd_cost_actual)
