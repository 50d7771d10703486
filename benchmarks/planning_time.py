"""Planning time of `snakemake -n` at scale (default: config/scale20k.yaml, 20,000 synthetic cards).

    python benchmarks/planning_time.py                       # 3 dry runs in a fresh workdir, median seconds
    python benchmarks/planning_time.py --configfile config/scale20k.yaml --repeats 5 --target 5

Rules work per set (shard), so the job count grows with the number of sets, not of images. Snakemake
imports every installed executor/storage plugin at start; `make install` keeps the cluster plugins out of
.venv (see profiles/cluster-plugins.txt), `--with-cluster-plugins` measures a cluster user's install.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LINKED = ("Snakefile", "rules", "scripts", "config", "report", "config.yaml", "edge")


def dry_run(workdir: Path, configfile: Path | None, env: dict | None = None) -> tuple[float, int]:
    """Seconds of one `snakemake -n` (process start included) and the number of planned jobs."""
    extra = ["--configfile", str(configfile)] if configfile else []
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed:\n{proc.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)\s*$", proc.stdout, re.M)
    return secs, int(total.group(1)) if total else 0


def count_cards(configfile: Path) -> int:
    return sum(s["n_cards"] for s in yaml.safe_load(configfile.read_text())["synthetic"]["sets"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=REPO / "config" / "scale20k.yaml")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target", type=float, default=5.0, help="seconds (median) the dry run should stay under")
    ap.add_argument("--with-cluster-plugins", action="store_true",
                    help="put .venv/cluster-plugins on PYTHONPATH, as a cluster user's install has them")
    args = ap.parse_args()
    env = None
    if args.with_cluster_plugins:
        plugins = Path(sys.prefix) / "cluster-plugins"
        if not plugins.is_dir():
            ap.error(f"{plugins} not found: run `make install`")
        env = {**os.environ, "PYTHONPATH": str(plugins)}
    with tempfile.TemporaryDirectory(prefix="cardrec-plan-") as tmp:
        wd = Path(tmp)
        for name in LINKED:
            (wd / name).symlink_to(REPO / name)
        runs = [dry_run(wd, args.configfile.resolve(), env) for _ in range(args.repeats)]
        base = [dry_run(wd, None, env) for _ in range(args.repeats)]
    secs = [s for s, _ in runs]
    median = statistics.median(secs)
    print(f"baseline config.yaml ({count_cards(REPO / 'config.yaml')} cards, {base[0][1]} jobs): "
          f"median {statistics.median(s for s, _ in base):.2f} s (process start, imports, plugin discovery)")
    print(f"cards: {count_cards(args.configfile)}  jobs planned: {runs[0][1]}")
    print(f"snakemake -n: median {median:.2f} s, min {min(secs):.2f} s, max {max(secs):.2f} s over {len(secs)} runs")
    print(f"target <= {args.target:.1f} s: {'met' if median <= args.target else 'MISSED'}")
    return 0 if median <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
