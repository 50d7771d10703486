"""``cardrec aws ...``: lifecycle, tiering, Glacier restores, profiling archives, billing alarm, IAM, registry."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from cardrec.aws import admin as aws_admin, lifecycle as aws_lifecycle, objects as aws_objects, registry as aws_registry
from cardrec.aws.common import check_bucket, client, friendly_errors
from cardrec.cli.common import storage_options, workdir_options, workflow_config
from cardrec.config import storage_settings
from cardrec.errors import ToolError


def _settings(args: argparse.Namespace, need_bucket: bool = True) -> tuple[dict, dict]:
    cfg = workflow_config(args)
    return cfg, storage_settings(cfg, args.bucket, args.project, args.endpoint_url, need_bucket)


@contextlib.contextmanager
def _bucket(st: dict, action: str) -> Iterator:
    """An S3 client for the configured bucket (checked to exist); AWS failures inside become one line."""
    with friendly_errors(f"{action} in s3://{st['bucket']}"):
        s3 = client(st)
        check_bucket(s3, st["bucket"])
        yield s3


def cmd_lifecycle(args: argparse.Namespace) -> int:
    cfg, st = _settings(args)
    desired = aws_lifecycle.desired_rules(cfg, st["prefix"])
    with _bucket(st, "lifecycle") as s3:
        current = aws_lifecycle.current_rules(s3, st["bucket"])
        plan = aws_lifecycle.plan(current, desired)
        if args.action == "show":
            owned = {r["ID"] for r in desired}
            for r in current:
                mark = "owned " if r.get("ID") in owned else "other "
                print(f"{mark} {r.get('ID')}: {aws_lifecycle.describe(r)}")
            print(f"{len(current)} rules" + (f"; {len(plan.added) + len(plan.changed)} differ from config "
                                              "(see `cardrec aws lifecycle diff`)" if not plan.empty else ""))
            return 0
        for line in aws_lifecycle.diff_lines(plan):
            print(line)
        if args.action == "diff":
            print("no changes" if plan.empty else f"{len(plan.added)} to add, {len(plan.changed)} to change "
                  f"(`cardrec aws lifecycle apply`)")
            return 0 if plan.empty else 1
        bad = aws_lifecycle.dvc_conflicts([r for r in plan.merged if r["ID"] in plan.added + plan.changed],
                                          st["prefix"])
        if bad and not args.force:
            raise ToolError(f"rules {', '.join(bad)} would archive the DVC remote {st['prefix']}/dvc/ to a class "
                            "DVC cannot read without a restore; narrow their prefix or pass --force")
        if plan.empty:
            print(f"no changes ({len(plan.unchanged)} owned rules up to date, "
                  f"{len(current) - len(plan.unchanged)} other rules kept)")
        elif args.dry_run:
            print("dry run: nothing written")
        else:
            aws_lifecycle.apply(s3, st["bucket"], plan)
            print(f"applied: {len(plan.added)} added, {len(plan.changed)} changed, "
                  f"{len(plan.merged) - len(plan.added) - len(plan.changed) - len(plan.unchanged)} other rules kept")
    return 0


def cmd_tiering(args: argparse.Namespace) -> int:
    cfg, st = _settings(args)
    req = aws_lifecycle.tiering_request(cfg, st["bucket"], st["prefix"])
    print(json.dumps(req, indent=2))
    if aws_lifecycle.tiering_covers_dvc(req, st["prefix"]):
        print(f"note: the filter covers the DVC remote {st['prefix']}/dvc/; DVC pushes STANDARD objects, which "
              "Intelligent-Tiering leaves alone, but INTELLIGENT_TIERING objects there would need a restore once "
              "archived", file=sys.stderr)
    if args.dry_run:
        print("dry run: nothing written")
        return 0
    with friendly_errors(f"intelligent-tiering of s3://{st['bucket']}"):
        s3 = client(st)
        if aws_lifecycle.same_tiering(aws_lifecycle.current_tiering(s3, st["bucket"], req["Id"]), req):
            print(f"no changes: intelligent-tiering configuration {req['Id']} up to date")
            return 0
        s3.put_bucket_intelligent_tiering_configuration(**req)
    print(f"intelligent-tiering configuration {req['Id']} written")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """`aws restore KEY|PREFIX` (objects under the project prefix) or `aws restore --dvc` (what dvc.lock needs)."""
    if args.target and args.dvc:
        raise ToolError("give KEY|PREFIX or --dvc, not both")
    if not args.target and not args.dvc:
        raise ToolError("say what to restore: KEY|PREFIX (relative to project/<name>/) or --dvc "
                        "(the objects the current dvc.lock needs)")
    _, st = _settings(args)
    if args.dvc:
        from cardrec.aws.restore import restore, summary

        with friendly_errors("S3 request failed"):
            report = restore(Path(args.workdir), st, days=args.days, tier=args.tier)
        print(summary(report, args.tier))
        return 0 if report.pull_ready else 3
    with _bucket(st, "restore") as s3:
        keys = aws_objects.objects(s3, st["bucket"], aws_objects.resolve(st["prefix"], args.target))
        states = aws_objects.restore(s3, st["bucket"], keys, args.days, args.tier, dry_run=args.dry_run)
    for key, state in states.items():
        if state != "readable":
            print(f"{state:<14} {key}")
    print(f"{len(keys)} objects: {aws_objects.tally(states)}" + (" (dry run)" if args.dry_run else ""))
    return 0


def cmd_restore_status(args: argparse.Namespace) -> int:
    _, st = _settings(args)
    with _bucket(st, "restore-status") as s3:
        keys = aws_objects.objects(s3, st["bucket"], aws_objects.resolve(st["prefix"], args.target))
        states = aws_objects.restore_status(s3, st["bucket"], keys)
    for key, state in states.items():
        print(f"{key}: {state}")
    print(f"{len(keys)} objects: {aws_objects.tally(states)}")
    return 0 if all(s.split(" (")[0] in ("readable", "restored") for s in states.values()) else 3


def cmd_compress_profiling(args: argparse.Namespace) -> int:
    _, st = _settings(args)
    with _bucket(st, "compress-profiling") as s3:
        counts = aws_objects.compress_profiling(s3, st["bucket"], st["prefix"], act=args.yes and not args.dry_run,
                                                   min_age_days=args.min_age_days)
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to do")
    if counts.get("planned"):
        print("dry run: pass --yes to compress, verify, then delete the originals")
    return 0


def cmd_billing_alarm(args: argparse.Namespace) -> int:
    cfg, st = _settings(args, need_bucket=False)
    b = aws_admin.billing_settings(cfg, args.threshold, args.email)
    with friendly_errors("billing alarm"):
        sns = client(st, "sns", region=aws_admin.BILLING_REGION)
        cw = client(st, "cloudwatch", region=aws_admin.BILLING_REGION)
        changes = aws_admin.billing_alarm(sns, cw, b, dry_run=args.dry_run)
    for c in changes:
        print(c)
    if not args.dry_run:
        if not changes:
            print(f"no changes: topic, subscription and alarm {b['alarm']} up to date")
        print("note: enable 'Receive Billing Alerts' in the Billing preferences, or the metric never appears")
    return 0


def cmd_iam_policy(args: argparse.Namespace) -> int:
    _, st = _settings(args)
    doc = aws_admin.iam_policy(args.role, st["bucket"], st["prefix"], model=args.model,
                               region=st.get("region") or "*", account=args.account,
                               execution_role=args.execution_role)
    print(json.dumps(doc, indent=2))
    return 0


def cmd_registry(args: argparse.Namespace) -> int:
    _, st = _settings(args, need_bucket=False)
    group = aws_registry.group_name(st["project"], args.group)
    if args.action == "register":
        if not args.target or not args.artifact:
            raise ToolError(f"registry register needs KIND ({', '.join(aws_registry.KINDS)}) and --artifact s3://...")
        req = aws_registry.package_request(group, args.target, args.artifact, aws_registry.read_metrics(args.metrics),
                                           args.image, approve=args.approve)
        if args.dry_run:
            print(json.dumps(req, indent=2))
            print("dry run: nothing registered")
            return 0
    elif args.action == "approve" and not args.target:
        raise ToolError("registry approve needs VERSION (a number) or a model package ARN")
    with friendly_errors(f"model registry {group}"):
        sm = client(st, "sagemaker")
        if args.action == "register":
            arn, created = aws_registry.register(sm, req)
            print(f"{'registered' if created else 'already registered'}: {arn}")
        elif args.action == "approve":
            arn = aws_registry.resolve_version(sm, group, args.target)
            if args.dry_run:
                print(f"would approve {arn}")
            else:
                aws_registry.approve(sm, arn)
                print(f"approved {arn}")
        else:
            lines = aws_registry.rows(aws_registry.packages(sm, group))
            print("\n".join(lines) or f"no versions in model package group {group}")
    return 0


def register(subparsers) -> None:
    aws = subparsers.add_parser("aws", help="AWS storage, restores, billing, IAM and model registry").add_subparsers(
        dest="aws_command", required=True)

    def sub(name: str, help: str, changes: bool = True) -> argparse.ArgumentParser:
        p = storage_options(workdir_options(aws.add_parser(name, help=help, description=help)))
        if changes:
            p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
        return p

    p = sub("restore", "restore archived (Glacier) objects: --dvc (what dvc.lock needs; exit 3 while pending) "
                       "or KEY|PREFIX")
    p.add_argument("target", nargs="?", metavar="KEY|PREFIX",
                   help="restore archived objects at KEY or under PREFIX (relative to project/<name>/)")
    p.add_argument("--dvc", action="store_true", help="the objects the current dvc.lock needs")
    p.add_argument("--days", type=int, default=7, help="days the restored copy stays readable (default: 7)")
    p.add_argument("--tier", default="Standard", choices=["Standard", "Bulk", "Expedited"], help="retrieval tier")
    p.set_defaults(func=cmd_restore)
    p = sub("lifecycle", "show, diff or apply the lifecycle rules of aws.lifecycle (other rules are kept)")
    p.add_argument("action", choices=["show", "diff", "apply"], help="diff exits 1 when the bucket differs")
    p.add_argument("--force", action="store_true", help="allow rules that archive the DVC remote prefix")
    p.set_defaults(func=cmd_lifecycle)
    p = sub("tiering", "put the Intelligent-Tiering configuration of aws.tiering (archive tiers) on the project")
    p.set_defaults(func=cmd_tiering)
    p = sub("restore-status", "restore state of the objects at KEY or under PREFIX (exit 3: some not readable)",
            changes=False)
    p.add_argument("target", metavar="KEY|PREFIX", help="relative to project/<name>/ (or starting with project/)")
    p.set_defaults(func=cmd_restore_status)
    p = sub("compress-profiling", "tar.gz each profiling/<stage>/<YYYY-MM-DD>/ folder, verify, delete originals "
                                  "(dry run unless --yes)")
    p.add_argument("--yes", action="store_true", help="act: upload, verify, then delete the originals")
    p.add_argument("--min-age-days", type=int, default=2, help="skip folders dated within this many days "
                                                               "(a run may still write there; default: 2)")
    p.set_defaults(func=cmd_compress_profiling)
    p = sub("billing-alarm", "SNS topic + e-mail subscription + CloudWatch alarm on AWS/Billing EstimatedCharges "
                             "(us-east-1)")
    p.add_argument("--threshold", type=float, help="USD, month to date (default: aws.billing.threshold_usd)")
    p.add_argument("--email", help="subscribe this address (default: aws.billing.email)")
    p.set_defaults(func=cmd_billing_alarm)
    p = sub("iam-policy", "print a least-privilege IAM policy document", changes=False)
    p.add_argument("role", choices=["trainer", "dvc", "pi"])
    p.add_argument("--model", help="pi: the released bundle models/<MODEL>/")
    p.add_argument("--account", default="*", help="AWS account id for ARNs (default: *)")
    p.add_argument("--execution-role", help="trainer: SageMaker execution role ARN it may pass")
    p.set_defaults(func=cmd_iam_policy)
    p = sub("registry", "SageMaker model registry: register teacher/student/HEF artifacts, approve, list")
    p.add_argument("action", choices=["register", "approve", "list"])
    p.add_argument("target", nargs="?", metavar="KIND|VERSION", help="register: teacher, student or hef; "
                   "approve: version number or ARN")
    p.add_argument("--artifact", help="register: s3:// URI of the model artifact")
    p.add_argument("--metrics", metavar="JSON", help="register: JSON file of numeric metrics (e.g. top1, recall_at_5)")
    p.add_argument("--image", help="register: inference image URI (teacher/student served by SageMaker)")
    p.add_argument("--approve", action="store_true", help="register: approved at once")
    p.add_argument("--group", help="model package group (default: <project>-card-recognition)")
    p.set_defaults(func=cmd_registry)

