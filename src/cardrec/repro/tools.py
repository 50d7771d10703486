"""Running DVC and Snakemake as subprocesses (expected failures become ``ToolError``)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cardrec.errors import ToolError


def _bin(name: str) -> str:
    """The tool next to this Python (the venv), else the one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise ToolError(f"`{name}` not found: install cardrec with its dependencies (pip install -e .)")
    return found


def run(cmd: list[str], cwd: Path, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ToolError(f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s") from None
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        raise ToolError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n  " + "\n  ".join(tail))
    return proc


def dvc(*args: str, cwd: Path, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
    return run([_bin("dvc"), *args], cwd=cwd, check=check, timeout=timeout)


def snakemake(*args: str, cwd: Path, configfiles: list[str] = (), check: bool = True) -> subprocess.CompletedProcess:
    overlay = ["--configfile", *configfiles] if configfiles else []
    return run([sys.executable, "-m", "snakemake", "--cores", "1", *overlay, *args], cwd=cwd, check=check)


def dvc_status(repo: Path, cloud: bool = False, remote: str | None = None) -> dict:
    """``dvc status --json`` (workspace vs dvc.lock, or ``--cloud``: cache vs remote)."""
    args = ["status", "--json"] + (["--cloud"] if cloud else []) + (["-r", remote] if remote else [])
    out = dvc(*args, cwd=repo).stdout.strip()
    start = out.find("{")
    return json.loads(out[start:]) if start >= 0 else {}
