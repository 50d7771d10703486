"""Glacier safety for the DVC remote: find the objects dvc.lock needs that are archived, and restore them.

DVC cannot read GLACIER / DEEP_ARCHIVE objects ("The operation is not valid for the object's storage
class"). DVC 3 stores content under ``<remote>/files/md5/<2 hex>/<30 hex>`` (directories as a ``.dir``
listing whose entries are objects too).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cardrec.aws.common import ARCHIVED, TIERS, check_bucket, request_restore, restore_state
from cardrec.aws.common import client as aws_client
from cardrec.errors import ToolError

__all__ = ["ARCHIVED", "TIERS", "restore", "summary", "lock_hashes", "object_key"]

TYPICAL_HOURS = {("GLACIER", "Expedited"): "1-5 minutes", ("GLACIER", "Standard"): "3-5 hours",
                 ("GLACIER", "Bulk"): "5-12 hours", ("DEEP_ARCHIVE", "Standard"): "up to 12 hours",
                 ("DEEP_ARCHIVE", "Bulk"): "up to 48 hours"}


def object_key(prefix: str, md5: str) -> str:
    return f"{prefix.strip('/')}/files/md5/{md5[:2]}/{md5[2:]}"


def lock_hashes(repo: Path) -> list[tuple[str, str]]:
    """(path, md5) of every out recorded in dvc.lock (``.dir`` hashes for directories); deps are outs of other
    stages or raw files outside the repo, which DVC does not push."""
    lock = repo / "dvc.lock"
    if not lock.exists():
        raise ToolError(f"no dvc.lock in {repo}: nothing to restore (commit dvc.lock after a run)")
    data = yaml.safe_load(lock.read_text()) or {}
    found: dict[str, str] = {}
    for stage in (data.get("stages") or {}).values():
        for entry in stage.get("outs") or []:
            if entry.get("md5"):
                found.setdefault(entry["md5"], entry["path"])
    return sorted((p, h) for h, p in found.items())


@dataclass
class RestoreReport:
    readable: int = 0
    requested: list[str] = field(default_factory=list)  # restores issued now
    in_progress: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # archived but a restored copy is readable
    missing: list[str] = field(default_factory=list)  # not in the remote at all
    pending_dirs: list[str] = field(default_factory=list)  # .dir listings not yet readable
    classes: set[str] = field(default_factory=set)

    @property
    def pull_ready(self) -> bool:
        return not (self.requested or self.in_progress or self.missing or self.pending_dirs)


def _dir_entries(client, bucket: str, key: str, cache: Path) -> list[str] | None:
    """md5s listed in a ``.dir`` object, from the local DVC cache or the remote (None: not readable yet)."""
    from botocore.exceptions import BotoCoreError, ClientError

    local = cache / key.split("/files/", 1)[1] if "/files/" in key else None
    try:
        text = (local.read_text() if local and local.exists()
                else client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (OSError, BotoCoreError, ClientError):  # archived (InvalidObjectState), missing, unreadable
        return None
    return [e["md5"] for e in json.loads(text) if e.get("md5")]


def restore(repo: Path, st: dict, days: int = 7, tier: str = "Standard", client=None) -> RestoreReport:
    """Check every object dvc.lock needs; issue restores for archived ones; report where each stands."""
    from botocore.exceptions import ClientError

    if tier not in TIERS:
        raise ToolError(f"--tier must be one of {', '.join(TIERS)}")
    client = client or aws_client(st)
    bucket, prefix = st["bucket"], f"{st['prefix']}/dvc"
    cache = repo / ".dvc" / "cache"
    report = RestoreReport()
    todo = lock_hashes(repo)
    check_bucket(client, bucket)
    seen: set[str] = set()
    while todo:
        path, md5 = todo.pop(0)
        key = object_key(prefix, md5)
        if key in seen:
            continue
        seen.add(key)
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                report.missing.append(path)
                continue
            if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ToolError(f"access to s3://{bucket}/{key} denied ({code}): check the AWS profile/credentials")
            if code == "NoSuchBucket":
                raise ToolError(f"bucket {bucket} does not exist")
            raise
        state = restore_state(head)
        readable = state in ("readable", "restored")
        if state == "readable":
            report.readable += 1
        else:
            report.classes.add(head.get("StorageClass", "GLACIER"))
            if state == "archived":
                state = request_restore(client, bucket, key, days, tier)
                if state == "requested":
                    report.requested.append(path)
                    head = client.head_object(Bucket=bucket, Key=key)  # some stores restore at once
                    readable = restore_state(head) == "restored"
            if state == "in-progress":
                report.in_progress.append(path)
            elif state == "restored":
                report.restored.append(path)
        if md5.endswith(".dir"):
            entries = _dir_entries(client, bucket, key, cache) if readable else None
            if entries is None:
                report.pending_dirs.append(path)
            else:
                todo.extend((f"{path}/…", h) for h in entries)
    return report


def summary(report: RestoreReport, tier: str) -> str:
    lines = [f"readable: {report.readable + len(report.restored)} objects"
             + (f" ({len(report.restored)} restored from archive)" if report.restored else "")]
    if report.requested:
        lines.append(f"restore requested now: {len(report.requested)} objects ({tier} tier)")
    if report.in_progress:
        lines.append(f"restore in progress: {len(report.in_progress)} objects")
    if report.pending_dirs:
        lines.append(f"directory listings still archived (their files are checked once restored): "
                     f"{', '.join(sorted(set(report.pending_dirs)))}")
    if report.missing:
        lines.append("not in the remote (push them from a machine that has them): "
                     f"{', '.join(sorted(set(report.missing)))}")
    if report.pull_ready:
        lines.append("`dvc pull` (or `cardrec pull`) will work now.")
    elif report.requested or report.in_progress or report.pending_dirs:
        waits = sorted({TYPICAL_HOURS.get((c, tier), "hours") for c in report.classes})
        lines.append(f"`dvc pull` will work once the restores finish (typically {' / '.join(waits)}); "
                     "rerun `cardrec aws restore --dvc` to check.")
    return "\n".join(lines)
