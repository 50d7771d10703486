"""``cardrec``: command-line tools around the workflow (the workflow itself runs with snakemake)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def cmd_synth(args: argparse.Namespace) -> int:
    """Write the synthetic card sets of a config to a directory, outside the workflow."""
    from .synth import SynthSet, write_dataset

    cfg = yaml.safe_load(Path(args.config).read_text())["synthetic"]
    sets = [SynthSet(**s) for s in cfg["sets"]]
    out = Path(args.out)
    for s in sets:
        n = write_dataset(cfg["seed"], sets, s.id, out / "cards" / "en" / f"{s.id}.json", out / "images")
        print(f"{s.id}: {n} cards")
    return 0


def _overlays(args: argparse.Namespace) -> list[str]:
    return list(args.configfile or [])


def cmd_dvc_yaml(args: argparse.Namespace) -> int:
    """Generate dvc.yaml from the Snakemake DAG of the current config (or --check it for drift)."""
    from .dvc_sync import raw_inputs, render_dvc_yaml, workflow_jobs

    repo = Path(args.workdir)
    jobs = workflow_jobs(repo, [repo / c for c in _overlays(args)])
    text = render_dvc_yaml(jobs, _overlays(args))
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
    inside = sorted({p.split("/")[0] for p in raw if not p.startswith("../") and not Path(p).is_absolute()})
    if raw:
        print(f"raw inputs: {len(raw)} files, hashed in dvc.lock as deps (a changed one shows in `dvc status`)")
    for top in inside:
        if not (repo / f"{top}.dvc").exists():
            print(f"  to push raw data inside the repo too: dvc add {top}")
    return 0


def cmd_dvc_remote(args: argparse.Namespace) -> int:
    """Configure the DVC remote s3://BUCKET/project/<name>/dvc from the storage: section."""
    from .dvc_pull import configure_remote
    from .dvc_tools import load_config, storage_settings

    repo = Path(args.workdir)
    st = storage_settings(load_config(repo, _overlays(args)))
    done = configure_remote(repo, st, args.name)
    print(f"DVC remote '{args.name}' (default) in .dvc/config: {', '.join(done)}")
    print("credentials: the AWS chain (env, ~/.aws, instance role), or "
          f"`dvc remote modify --local {args.name} access_key_id ...` (goes to .dvc/config.local, never committed)")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    """dvc pull, verify with dvc status, then restore mtimes in DAG order so Snakemake agrees."""
    from .dvc_pull import pull

    res = pull(Path(args.workdir), _overlays(args), remote=args.remote, jobs=args.jobs)
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
    from .dvc_pull import commit

    commit(Path(args.workdir), _overlays(args))
    print("dvc.lock recorded from the workspace; modification times restored in DAG order "
          "(commit dvc.lock, then dvc push)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Which artifacts are stale and why (Snakemake's dry-run reasons + DVC's status)."""
    from .dvc_status import mark_changed, status

    if args.mark_changed:
        for path in mark_changed(Path(args.workdir)):
            print(f"marked as updated (content differs from dvc.lock): {path}")
    rows = status(Path(args.workdir), _overlays(args))
    if not rows:
        print("nothing is stale: snakemake -n has nothing to do and dvc status is clean")
        return 0
    width = min(max(len(r[0]) for r in rows), 60)
    for artifact, rule, why in rows:
        print(f"{artifact:<{width}}  {rule:<22}  {why}")
    print(f"{len(rows)} stale artifacts")
    return 0


def cmd_aws_restore(args: argparse.Namespace) -> int:
    """Restore archived (GLACIER/DEEP_ARCHIVE) objects: what dvc.lock needs (--dvc) or a KEY|PREFIX."""
    from .aws_commands import cmd_restore

    return cmd_restore(args)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cardrec", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write the synthetic card sets (pokemon-tcg-data format) to a directory")
    s.add_argument("--config", default="config.yaml", help="config with a synthetic: section (default: config.yaml)")
    s.add_argument("--out", required=True, help="output directory (cards/en/<set>.json, images/<id>.png)")
    s.set_defaults(func=cmd_synth)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--workdir", default=".", help="workflow directory (default: .)")
        p.add_argument("--configfile", action="append", metavar="FILE",
                       help="config overlay, as for snakemake (repeatable; relative to --workdir)")
        return p

    d = common(sub.add_parser("dvc-yaml", help="generate dvc.yaml from the Snakemake DAG (one stage per job)"))
    d.add_argument("--output", default="dvc.yaml", help="file to write (default: dvc.yaml)")
    d.add_argument("--check", action="store_true", help="exit 1 if the file differs from the DAG, write nothing")
    d.set_defaults(func=cmd_dvc_yaml)
    r = common(sub.add_parser("dvc-remote", help="configure the DVC S3 remote from the storage: config section"))
    r.add_argument("--name", default="storage", help="remote name (default: storage)")
    r.set_defaults(func=cmd_dvc_remote)
    p = common(sub.add_parser("pull", help="dvc pull + dvc status + mtimes in DAG order (exit 1: content differs)"))
    p.add_argument("--remote", "-r", help="DVC remote (default: the default remote)")
    p.add_argument("--jobs", "-j", type=int, help="parallel transfers")
    p.set_defaults(func=cmd_pull)
    c = common(sub.add_parser("commit", help="dvc commit -f after a complete run, then mtimes in DAG order again"))
    c.set_defaults(func=cmd_commit)
    t = common(sub.add_parser("status", help="stale artifacts and why (param/input changed, missing, only remote)"))
    t.add_argument("--mark-changed", action="store_true",
                   help="touch artifacts whose content differs from dvc.lock (e.g. an edited raw image inside a "
                        "directory) so Snakemake reruns their consumers")
    t.set_defaults(func=cmd_status)
    aws = sub.add_parser("aws", help="AWS helpers").add_subparsers(dest="aws_command", required=True)
    a = common(aws.add_parser("restore", help="restore archived (Glacier) objects: --dvc (what dvc.lock "
                                              "needs; exit 3 while pending) or KEY|PREFIX"))
    a.add_argument("--dvc", action="store_true", help="the objects the current dvc.lock needs")
    a.add_argument("--days", type=int, default=7, help="days the restored copy stays readable (default: 7)")
    a.add_argument("--tier", default="Standard", choices=["Standard", "Bulk", "Expedited"], help="retrieval tier")
    a.set_defaults(func=cmd_aws_restore)
    from .aws_commands import register, restore_parser

    restore_parser(a)
    register(aws, common)
    from .cost_cli import add_cost_commands

    add_cost_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, KeyError, ValueError, RuntimeError) as e:  # ToolError, DagError: expected failures
        print(f"cardrec {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
