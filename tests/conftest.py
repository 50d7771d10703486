"""Shared fixtures: a workdir that runs the real Snakefile, and small image helpers."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TINY = REPO / "tests" / "config" / "tiny.yaml"
WORKFLOW_FILES = ("Snakefile", "rules", "scripts", "config", "report", "config.yaml", "edge")

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_workdir(path: Path) -> Path:
    """A directory that looks like the repository to Snakemake (symlinks), with its own results/."""
    path.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        link = path / name
        if not link.exists():
            link.symlink_to(REPO / name)
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI in ``workdir``."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1800, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path, *configfiles: Path, extra: tuple[str, ...] = ()) -> dict[str, int]:
    """Rule -> job count of a dry run (`snakemake -n`, plus ``extra`` arguments), parsed from its job-stats table."""
    args = ["-n", *extra, "--configfile", *map(str, configfiles)] if configfiles else ["-n", *extra]
    out = snakemake(workdir, *args).stdout
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:", 1)[1].split("Reasons:", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)
            if m.group(1) not in ("total", "job", "all")}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow, run once per session on the tiny config (real Snakemake, real models)."""
    wd = make_workdir(tmp_path_factory.mktemp("tiny"))
    snakemake(wd, "--configfile", str(TINY))
    return wd


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory):
    """A real S3-compatible server (SeaweedFS `weed mini`, random ports, temp dir) with bucket `cardrec-test`."""
    from .s3_servers import start_seaweedfs

    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs") / "data", "cardrec-test")
    yield server
    server.stop()


@pytest.fixture()
def moto_s3(tmp_path):
    """`moto_server` (GLACIER objects refuse GET until restored) on a random port."""
    from .s3_servers import start_moto

    server = start_moto(tmp_path)
    yield server
    server.stop()
