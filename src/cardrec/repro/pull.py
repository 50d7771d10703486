"""DVC remote setup, and the pull path: ``dvc pull``, verify with ``dvc status``, then restore mtimes.

Snakemake decides staleness by modification time and DVC writes files in arbitrary order, so after a
clean ``dvc status`` the mtimes are restored with ``snakemake --touch --forceall``: Snakemake touches every
job's outputs in DAG order (inputs before outputs) and records its metadata (params, code, input set) for
the current config, so a later parameter change is noticed. Artifacts whose content differs from dvc.lock
are then set older than everything else, so Snakemake keeps them (and everything downstream) stale.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from cardrec.repro.mtimes import write_stamp
from cardrec.repro.dvc_yaml import artifacts, workflow_jobs
from cardrec.errors import ToolError
from cardrec.repro.tools import dvc, dvc_status, snakemake

REMOTE = "storage"


def configure_remote(repo: Path, st: dict, name: str = REMOTE) -> list[str]:
    """Write the S3 remote to .dvc/config (url, region, profile, endpointurl); never credentials."""
    if not (repo / ".dvc").is_dir():
        dvc("init", "--quiet", cwd=repo)
    dvc("remote", "add", "--force", "--default", name, st["dvc_url"], cwd=repo)
    done = [f"url={st['dvc_url']}"]
    for key, option in (("region", "region"), ("profile", "profile"), ("endpoint_url", "endpointurl")):
        if st.get(key):
            dvc("remote", "modify", name, option, str(st[key]), cwd=repo)
            done.append(f"{option}={st[key]}")
        else:
            dvc("remote", "modify", "--unset", name, option, cwd=repo, check=False)
    return done


def changed_paths(status: dict) -> dict[str, str]:
    """Workspace path -> why it differs from dvc.lock, from ``dvc status --json``."""
    paths: dict[str, str] = {}
    for stage, entries in status.items():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                for kind, changes in entry.items():
                    for path, why in (changes or {}).items() if isinstance(changes, dict) else []:
                        paths[path] = f"{why} ({kind.replace('changed ', '')} of {stage.split(':')[-1]})"
            elif isinstance(entry, str):
                paths.setdefault(f"stage {stage.split(':')[-1]}", entry)
    return paths


@dataclass
class PullResult:
    changed: dict[str, str] = field(default_factory=dict)  # path -> reason, left stale
    stale_jobs: list[str] = field(default_factory=list)  # `snakemake -n` after the restore
    kept_local: bool = False  # dvc refused to overwrite local edits (`dvc pull --force` discards them)


def _age(path: Path, when: float) -> None:
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(p, (when, when), follow_symlinks=False)


def restore_mtimes(repo: Path, configfiles: list[str], changed: dict[str, str]) -> list[str]:
    """Touch every job in DAG order, then keep what differs from dvc.lock stale.

    A changed output of a job with inputs is made older than everything (the job reruns); a changed raw
    file (no producer, or a producer without inputs like ``synthesize_cards``) is made the newest (its
    consumers rerun). Directories carry their time in ``.snakemake_timestamp``, as Snakemake reads it.
    """
    snakemake("--touch", "--forceall", "--quiet", "all", cwd=repo, configfiles=configfiles)
    write_stamp(repo)
    if not changed:
        return []
    made = artifacts(workflow_jobs(repo, [repo / c for c in configfiles]))
    old, now = time.time() - 10 * 365 * 86400, time.time() + 1
    marked = []
    for path in changed:
        job, target = made.get(path), repo / path
        if job is not None and job.inputs:
            for out in job.outputs:
                if (repo / out).exists():
                    _age(repo / out, old)
                    marked.append(out)
        elif target.exists():
            stamp = target / ".snakemake_timestamp" if target.is_dir() else target
            stamp.touch()
            os.utime(stamp, (now, now))
            marked.append(path)
    write_stamp(repo)  # after the marks: they are deliberate, not a plain `dvc pull`
    return marked


def planned_rules(dry_run: str) -> list[str]:
    """Rules of the first job-stats table of a dry run (none: nothing to be done)."""
    if "Job stats:" not in dry_run:
        return []
    table = dry_run.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return [m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", table, re.M) if m.group(1) not in ("total", "all")]


def pull(repo: Path, configfiles: list[str] = (), remote: str | None = None, jobs: int | None = None) -> PullResult:
    """``dvc pull``, then ``dvc status``, then mtimes in DAG order; returns what is left stale."""
    for name in ("dvc.yaml", "dvc.lock"):
        if not (repo / name).exists():
            hint = ("run the workflow, then `dvc commit` and commit dvc.lock" if name == "dvc.lock"
                    else "generate it with `cardrec dvc-yaml`")
            raise ToolError(f"no {name} in {repo}: {hint}")
    args = ["pull"] + (["-r", remote] if remote else []) + (["-j", str(jobs)] if jobs else [])
    proc = dvc(*args, cwd=repo, check=False)
    local_changes = "without confirmation" in proc.stderr or "Checkout failed" in proc.stderr
    if proc.returncode != 0 and not local_changes:
        text = (proc.stderr + proc.stdout).strip()
        hint = ""
        if "storage class" in text or "InvalidObjectState" in text:
            hint = "\n  archived objects: run `cardrec aws restore --dvc`, wait for it, then pull again"
        raise ToolError("dvc pull failed:\n  " + "\n  ".join(text.splitlines()[-10:]) + hint)
    result = PullResult(changed=changed_paths(dvc_status(repo)), kept_local=local_changes)
    restore_mtimes(repo, list(configfiles), result.changed)
    dry = snakemake("-n", "--quiet", "rules", cwd=repo, configfiles=list(configfiles), check=False)
    result.stale_jobs = planned_rules(dry.stdout)
    return result


def commit(repo: Path, configfiles: list[str] = ()) -> None:
    """``dvc commit -f`` after a complete run, then mtimes in DAG order again: DVC rewrites every artifact's time
    while committing, in its own order, which would leave the building machine stale at random."""
    if not (repo / "dvc.yaml").exists():
        raise ToolError(f"no dvc.yaml in {repo}: generate it with `cardrec dvc-yaml`")
    dry = snakemake("-n", "--quiet", "rules", cwd=repo, configfiles=list(configfiles), check=False)
    stale = planned_rules(dry.stdout)
    if dry.returncode != 0 or stale:
        detail = (f"{len(stale)} rules to run: {', '.join(stale)}" if stale
                  else (dry.stderr or dry.stdout).strip()[-500:])
        raise ToolError(f"the workflow is not up to date ({detail}): run it before committing")
    dvc("commit", "-f", "-q", cwd=repo)
    restore_mtimes(repo, list(configfiles), {})
