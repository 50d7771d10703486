"""``cardrec dvc-yaml | dvc-remote | pull | status``: DVC and Snakemake agreeing on what is up to date."""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

from cardrec.cli.common import overlays, workdir_options, workflow_config
from cardrec.config import storage_settings


def cmd_dvc_yaml(args: argparse.Namespace) -> int:
    """Generate dvc.yaml from the Snakemake DAG of the current config (or --check it for drift)."""
    from cardrec.repro.dvc_yaml import raw_inputs, render_dvc_yaml, workflow_jobs

    repo = Path(args.workdir)
    jobs = workflow_jobs(repo, [repo / c for c in overlays(args)])
    text = render_dvc_yaml(jobs, overlays(args))
    out = repo / args.output
    if args.check:
        if not out.exists() or out.read_text() != text:
            print(f"cardrec dvc-yaml: {out} differs from the Snakemake DAG; regenerate with `cardrec dvc-yaml`",
                  file=sys.stderr)
            return 1
        print(f"{out} matches the Snakemake DAG")
        return 0
    out.write_text(text)
    print(f"wrote {out} ({len(yaml.safe_load(text)['stages'])} stages, one per Snakemake job)")
    raw = raw_inputs(jobs)
    inside = sorted({p.split("/")[0] for p in untracked_by_git(repo, raw)
                     if not p.startswith("../") and not Path(p).is_absolute()})
    if raw:
        print(f"raw inputs: {len(raw)} files, hashed in dvc.lock as deps (a changed one shows in `dvc status`)")
    for top in inside:
        if not (repo / f"{top}.dvc").exists():
            print(f"  to push raw data inside the repo too: dvc add {top}")
    return 0


def untracked_by_git(repo: Path, paths: list[str]) -> list[str]:
    """The paths git does not track (a raw input in git, such as a report text, needs no `dvc add`)."""
    proc = subprocess.run(["git", "-C", str(repo), "ls-files", "--", *paths], capture_output=True, text=True)
    tracked = set(proc.stdout.split()) if proc.returncode == 0 else set()
    return [p for p in paths if p not in tracked]


def cmd_dvc_remote(args: argparse.Namespace) -> int:
    """Configure the DVC remote s3://BUCKET/project/<name>/dvc from the storage: section."""
    from cardrec.repro.pull import configure_remote

    repo = Path(args.workdir)
    st = storage_settings(workflow_config(args))
    done = configure_remote(repo, st, args.name)
    print(f"DVC remote '{args.name}' (default) in .dvc/config: {', '.join(done)}")
    print("credentials: the AWS chain (env, ~/.aws, instance role), or "
          f"`dvc remote modify --local {args.name} access_key_id ...` (goes to .dvc/config.local, never committed)")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    """dvc pull, verify with dvc status, then restore mtimes in DAG order so Snakemake agrees."""
    from cardrec.repro.pull import pull

    res = pull(Path(args.workdir), overlays(args), remote=args.remote, jobs=args.jobs)
    if res.kept_local:
        print("dvc kept local edits it would have overwritten (`dvc pull --force` discards them)")
    if res.changed:
        print("content differs from dvc.lock (left stale, mtimes not restored):")
        for path, why in sorted(res.changed.items()):
            print(f"  {path}: {why}")
    else:
        print("dvc status: clean; modification times restored in DAG order")
    if res.stale_jobs:
        print(f"snakemake -n: {len(res.stale_jobs)} rules to run: {', '.join(res.stale_jobs)}")
    else:
        print("snakemake -n: nothing to be done")
    return 1 if res.changed else 0


def cmd_commit(args: argparse.Namespace) -> int:
    """dvc commit -f after a complete run, then restore mtimes in DAG order (dvc commit rewrites them)."""
    from cardrec.repro.pull import commit

    commit(Path(args.workdir), overlays(args))
    print("dvc.lock recorded from the workspace; modification times restored in DAG order "
          "(commit dvc.lock, then dvc push)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Which artifacts are stale and why (Snakemake's dry-run reasons + DVC's status)."""
    from cardrec.repro.status import mark_changed, status

    if args.mark_changed:
        for path in mark_changed(Path(args.workdir)):
            print(f"marked as updated (content differs from dvc.lock): {path}")
    rows = status(Path(args.workdir), overlays(args))
    if not rows:
        print("nothing is stale: snakemake -n has nothing to do and dvc status is clean")
        return 0
    width = min(max(len(r[0]) for r in rows), 60)
    for artifact, rule, why in rows:
        print(f"{artifact:<{width}}  {rule:<22}  {why}")
    print(f"{len(rows)} stale artifacts")
    return 0


def register(subparsers) -> None:
    def add(name: str, help: str) -> argparse.ArgumentParser:
        return workdir_options(subparsers.add_parser(name, help=help, description=help))

    d = add("dvc-yaml", "generate dvc.yaml from the Snakemake DAG (one stage per job)")
    d.add_argument("--output", default="dvc.yaml", help="file to write (default: dvc.yaml)")
    d.add_argument("--check", action="store_true", help="exit 1 if the file differs from the DAG, write nothing")
    d.set_defaults(func=cmd_dvc_yaml)
    r = add("dvc-remote", "configure the DVC S3 remote from the storage: config section")
    r.add_argument("--name", default="storage", help="remote name (default: storage)")
    r.set_defaults(func=cmd_dvc_remote)
    p = add("pull", "dvc pull + dvc status + mtimes in DAG order (exit 1: content differs)")
    p.add_argument("--remote", "-r", help="DVC remote (default: the default remote)")
    p.add_argument("--jobs", "-j", type=int, help="parallel transfers")
    p.set_defaults(func=cmd_pull)
    c = add("commit", "dvc commit -f after a complete run, then mtimes in DAG order again")
    c.set_defaults(func=cmd_commit)
    t = add("status", "stale artifacts and why (param/input changed, missing, only remote)")
    t.add_argument("--mark-changed", action="store_true",
                   help="touch artifacts whose content differs from dvc.lock (e.g. an edited raw image inside a "
                        "directory) so Snakemake reruns their consumers")
    t.set_defaults(func=cmd_status)
