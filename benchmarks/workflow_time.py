"""Wall-clock time of the workflow and its per-rule breakdown, from Snakemake's benchmark files.

    python benchmarks/workflow_time.py --run            # fresh workdir, `snakemake --cores all`, then breakdown
    python benchmarks/workflow_time.py --logs logs      # breakdown of an existing run
"""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def job_times(logs: Path) -> dict[str, tuple[float, float]]:
    """Benchmark file (relative, without suffix) -> (seconds, max RSS MB)."""
    out = {}
    for tsv in sorted(logs.rglob("*.benchmark.tsv")):
        with open(tsv) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        rss = float(row["max_rss"]) if row["max_rss"] not in ("", "NA", "-") else 0.0
        out[str(tsv.relative_to(logs)).removesuffix(".benchmark.tsv")] = (float(row["s"]), rss)
    return out


def by_stage(times: dict[str, tuple[float, float]]) -> dict[str, tuple[int, float, float]]:
    """Group job times by stage (the first directory under logs/)."""
    out: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])
    for name, (secs, rss) in times.items():
        rec = out[name.split("/")[0]]
        rec[0], rec[1], rec[2] = rec[0] + 1, rec[1] + secs, max(rec[2], rss)
    return {k: tuple(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="store_true", help="run the workflow in a fresh temporary workdir first")
    ap.add_argument("--logs", type=Path, default=REPO / "logs", help="logs directory to read (default: logs/)")
    ap.add_argument("--configfile", nargs="*", default=[], help="config overlays for --run")
    ap.add_argument("--cores", default="all")
    args = ap.parse_args()
    logs = args.logs
    if args.run:
        wd = Path(tempfile.mkdtemp(prefix="cardrec-bench-"))
        for name in ("Snakefile", "rules", "scripts", "config", "report", "config.yaml", "envs", "edge"):
            (wd / name).symlink_to(REPO / name)
        cmd = [sys.executable, "-m", "snakemake", "--cores", args.cores, "--quiet", "all"]
        cmd += ["--configfile", *map(str, args.configfile)] if args.configfile else []
        t0 = time.time()
        subprocess.run(cmd, cwd=wd, check=True)
        print(f"workflow wall-clock: {time.time() - t0:.1f} s ({wd})")
        logs = wd / "logs"
    rows = sorted(by_stage(job_times(logs)).items(), key=lambda kv: -kv[1][1])
    total = sum(v[1] for _, v in rows)
    print(f"{'step':<40} {'jobs':>4} {'seconds':>9} {'share':>6} {'max RSS MB':>10}")
    for name, (jobs, secs, rss) in rows:
        print(f"{name:<40} {jobs:>4} {secs:>9.1f} {secs / total:>6.1%} {rss:>10.0f}")
    print(f"{'sum of job times':<40} {'':>4} {total:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
