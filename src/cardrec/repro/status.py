"""Which artifacts are stale and why: Snakemake's dry-run reasons combined with DVC's status."""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from cardrec.repro.mtimes import write_stamp
from cardrec.repro.pull import changed_paths
from cardrec.errors import ToolError
from cardrec.repro.tools import dvc_status, snakemake

RULE_LINE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$")


@dataclass
class PlannedJob:
    rule: str
    outputs: list[str]
    reason: str


def parse_dry_run(text: str) -> list[PlannedJob]:
    """Jobs of ``snakemake -n`` output (rule, outputs, reason)."""
    jobs: list[PlannedJob] = []
    cur: PlannedJob | None = None
    for line in text.splitlines():
        m = RULE_LINE.match(line)
        if m:
            cur = PlannedJob(m.group(1), [], "")
            jobs.append(cur)
            continue
        if cur is None or not line.startswith("    "):
            cur = None if not line.strip() else cur
            continue
        key, _, value = line.strip().partition(": ")
        if key == "output":
            cur.outputs = [v.strip() for v in value.split(", ") if v.strip()]
        elif key == "reason":
            cur.reason = value.strip()
    return [j for j in jobs if j.rule != "all"]


def _clause(reason: str, head: str) -> str:
    return reason.split(head, 1)[-1].split(";")[0].strip() if head in reason else ""


def param_diff(reason: str) -> str:
    """``key: old -> new`` for the params Snakemake reports as changed (best effort)."""
    m = re.search(r"before: (\{.*\}) now: (\{.*\})", reason)
    if not m:
        return ""
    try:
        before, now = (ast.literal_eval(g) for g in m.groups())
    except (ValueError, SyntaxError):
        return ""
    keys = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
    return ", ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in keys)


def classify(reason: str, artifact: str, in_lock: bool) -> str:
    """A short cause for one artifact from Snakemake's reason text."""
    causes = []
    if artifact in _clause(reason, "Missing output files:").split(", "):
        causes.append("only remote (in dvc.lock: `cardrec pull`)" if in_lock else "missing")
    if "Params have changed" in reason:
        diff = param_diff(reason)
        causes.append(f"param changed ({diff})" if diff else "param changed")
    if "Updated input files" in reason:
        causes.append("input changed: " + _clause(reason, "Updated input files:"))
    if "Input files updated by another job" in reason:
        causes.append("upstream stale: " + _clause(reason, "Input files updated by another job:"))
    if "Code has changed" in reason:
        causes.append("code changed")
    if "Set of input files has changed" in reason:
        causes.append("input set changed")
    if "Forced" in reason:
        causes.append("forced")
    return "; ".join(causes) or reason[:200]


def locked_outs(repo: Path) -> set[str]:
    lock = repo / "dvc.lock"
    if not lock.exists():
        return set()
    data = yaml.safe_load(lock.read_text()) or {}
    return {o["path"] for st in (data.get("stages") or {}).values() for o in st.get("outs") or []}


def mark_changed(repo: Path) -> list[str]:
    """Touch the artifacts whose content differs from dvc.lock, so Snakemake sees them as updated inputs.

    Snakemake takes a directory output's time from its ``.snakemake_timestamp``, so an edited file inside
    one (a raw image in ``results/synthetic/images/<set>``) is invisible to ``snakemake -n`` until this runs.
    """
    touched = []
    for path, why in changed_paths(dvc_status(repo)).items():
        target = repo / path
        if not why.startswith("modified") or not target.exists():
            continue
        stamp = target / ".snakemake_timestamp" if target.is_dir() else target
        stamp.touch()
        touched.append(path)
    write_stamp(repo)  # deliberate marks, not times lost by a plain `dvc pull`
    return sorted(set(touched))


def status(repo: Path, configfiles: list[str] = ()) -> list[tuple[str, str, str]]:
    """(artifact, rule, why) for every stale artifact, in DAG order."""
    dry = snakemake("-n", cwd=repo, configfiles=list(configfiles), check=False)
    if dry.returncode != 0:
        raise ToolError("snakemake -n failed:\n  " + "\n  ".join((dry.stderr or dry.stdout).strip().splitlines()[-10:]))
    locked = locked_outs(repo)
    rows: list[tuple[str, str, str]] = []
    for job in parse_dry_run(dry.stdout):
        for out in job.outputs or ["-"]:
            rows.append((out, job.rule, classify(job.reason, out, out in locked)))
    if (repo / "dvc.yaml").exists() and (repo / ".dvc").is_dir():
        seen = {r[0] for r in rows}
        for path, why in changed_paths(dvc_status(repo)).items():
            if path in seen:
                rows = [(a, r, f"{w}; dvc: {why}" if a == path else w) for a, r, w in rows]
            elif why.startswith("deleted"):  # Snakemake ignores missing files nothing up-to-date needs
                rows.append((path, "-", f"only remote (missing here, in dvc.lock: `cardrec pull`); dvc: {why}"))
            else:
                rows.append((path, "-", f"dvc: {why}"))
    return rows
