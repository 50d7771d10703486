"""Catch DVC artifacts whose modification times were not restored (a plain `dvc pull` or `dvc checkout`).

Snakemake judges staleness by modification time, and DVC gives every file it writes the time of writing, in
arbitrary order: planned right after a plain `dvc pull`, Snakemake reruns jobs needlessly (every job on a
fresh clone). Snakemake keeps a metadata record for each output it writes or touches, whose ``endtime`` is
the file's modification time then. An artifact of dvc.lock that exists without a record, or that is newer
than its record and than the last restore by `cardrec pull` / `cardrec status --mark-changed` (the stamp
file below), was written by something else. The Snakefile stops before planning and says so in one line.
"""
from __future__ import annotations

import json
import os
from base64 import urlsafe_b64encode
from pathlib import Path

import yaml

from cardrec.repro.dvc_yaml import SKIP_CHECK_ENV, SKIP_PREFIXES

STAMP = Path(".snakemake") / "cardrec-times-restored"  # touched by `cardrec pull` and `--mark-changed`
SLACK_S = 1e-3


def write_stamp(repo: Path) -> None:
    """Record that the artifacts' times were just restored (or deliberately marked) by cardrec."""
    stamp = Path(repo) / STAMP
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.touch()  # an existing stamp gets the current time


def lock_out_paths(lock: Path) -> list[str]:
    """``outs`` paths of dvc.lock, read line by line: the file lists every raw image as a dep (megabytes at full
    scale) and this runs on every `snakemake` call. DVC writes stages at 2 spaces, fields at 4, items ``- path``."""
    paths, in_outs = [], False
    for line in lock.read_text().splitlines():
        if line.startswith("    - path: ") and in_outs:
            paths.append(str(yaml.safe_load(line[len("    - path: "):])))
        elif line.startswith("    ") and not line.startswith("     ") and not line.startswith("    - "):
            in_outs = line.strip() == "outs:"
        elif not line.startswith("    "):
            in_outs = False
    return paths


def _record(root: Path, key: str) -> Path:
    """Snakemake's record file for output ``key`` (snakemake.persistence.file.FilePersistence._record_path)."""
    max_len = (os.pathconf(root, "PC_NAME_MAX") if root.is_dir() else 255) or 255
    b64 = urlsafe_b64encode(key.encode()).decode()
    parts = [b64[i:i + max_len - 1] for i in range(0, len(b64), max_len - 1)]
    return root.joinpath(*["@" + s for s in parts[:-1]], parts[-1])


def _mtime(path: Path) -> float | None:
    """The time Snakemake judges a file by (a directory: its ``.snakemake_timestamp`` when it has one)."""
    try:
        if path.is_dir() and (path / ".snakemake_timestamp").exists():
            return (path / ".snakemake_timestamp").stat().st_mtime
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def unrestored(repo: Path) -> list[str]:
    """dvc.lock artifacts present here that Snakemake did not write or touch last (none without dvc.lock)."""
    repo = Path(repo)
    lock = repo / "dvc.lock"
    if not lock.exists():
        return []
    meta, incomplete = repo / ".snakemake" / "metadata", repo / ".snakemake" / "incomplete"
    stamp = _mtime(repo / STAMP) or 0.0
    found = []
    for path in lock_out_paths(lock):
        when = _mtime(repo / path)
        if when is None or path.startswith(SKIP_PREFIXES) or _record(incomplete, path).exists():
            continue  # missing (Snakemake plans it), a benchmark (no record of its own), or a job cut short
        try:
            end = json.loads(_record(meta, path).read_text()).get("endtime") or 0.0
        except (FileNotFoundError, NotADirectoryError, ValueError):
            end = None
        if end is None or when > max(end, stamp) + SLACK_S:
            found.append(path)
    return found


def unrestored_message(repo: Path) -> str | None:
    """One line for the user when artifacts were pulled without their times; None when all is well."""
    if os.environ.get(SKIP_CHECK_ENV):
        return None
    paths = unrestored(repo)
    if not paths:
        return None
    return (f"{len(paths)} DVC artifact(s) were written outside Snakemake (e.g. {paths[0]}), by `dvc pull`, "
            "`dvc checkout` or `dvc commit`, whose file times do not follow the workflow, so Snakemake would rerun "
            "jobs for nothing: run `cardrec pull` (or `make pull`) first, which restores them and keeps edited files "
            f"stale ({SKIP_CHECK_ENV}=1 plans anyway)")
