"""profiles/slurm + profiles/slurm-cpu on a real one-node Slurm (tests/slurm_cluster.py): the tiny workflow up to
the teacher model through sbatch, as the README's cluster section prints it, compared with the local tiny run."""
from __future__ import annotations

import csv
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO, TINY, make_workdir
from .slurm_cluster import PARTITIONS, node_hardware, start_slurm
from .test_profiles import plugin_env

TARGET = "results/teacher/model.pt"
ACCOUNT = "cardrec-test"  # no accounting here: Slurm records any account name
PARTITION = PARTITIONS[1]  # not the default partition: jobs land there only through CARDREC_SLURM_PARTITION
RUN_TIMEOUT = 900  # s; about 4 min on 2 cores
# The README's command for a CPU-only site without accounting, then what the test adds: the tiny config, the
# target, tiny_run's thread count (--cores 2: byte-equal training) and a quicker first status check.
README_COMMAND = ["--profile", "profiles/slurm", "--profile", "profiles/slurm-cpu", "--slurm-status-command", "squeue"]
TEST_ARGS = ["--configfile", str(TINY), "--cores", "2", "--slurm-init-seconds-before-status-checks", "5", TARGET]
TIMING = ("seconds", "images_per_s")  # metrics.csv columns that measure the machine, not the model


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """The one-node cluster, for this module; every daemon stopped at the end, also after a failure."""
    hw = node_hardware()
    if int(hw["CPUs"]) < 2 or int(hw["RealMemory"]) < 8000:
        pytest.skip(f"the profiles ask 2 CPUs and 8000 MB (training); this node has {hw}")
    cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def slurm_run(slurm, tmp_path_factory):
    """The workflow up to the teacher through the Slurm profiles, from a directory laid out like a checkout."""
    wd = make_workdir(tmp_path_factory.mktemp("slurm-run"))
    (wd / "profiles").symlink_to(REPO / "profiles")  # profiles/default (cores: all) loads as in a checkout
    env = plugin_env("snakemake_executor_plugin_slurm", slurm.env)
    env.update(CARDREC_SLURM_ACCOUNT=ACCOUNT, CARDREC_SLURM_PARTITION=PARTITION, CARDREC_SLURM_TRAIN_CPUS="2")
    cmd = [sys.executable, "-m", "snakemake", *README_COMMAND, *TEST_ARGS]
    try:
        proc = subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"no result after {RUN_TIMEOUT} s; squeue:\n{slurm.run('squeue', '--states=all')}\n"
                             f"{(e.stderr or b'')[-4000:]!r}") from None
    assert proc.returncode == 0, f"{proc.stderr[-6000:]}\nslurmctld:\n{slurm.log('slurmctld')[-3000:]}"
    return wd, proc.stdout + proc.stderr


def submitted(log: str) -> dict[str, str]:
    """Snakemake's job id -> SLURM job id, from the executor's 'submitted with SLURM jobid' lines."""
    return dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", log))


def test_every_job_ran_through_slurm(slurm, slurm_run):
    wd, log = slurm_run
    ids = submitted(log)
    jobs = {jid: slurm.job(jid) for jid in ids.values()}
    rules = sorted(re.match(r"rule_([a-z_]+?)(?:_wildcards_.*)?$", j["Comment"]).group(1) for j in jobs.values())
    assert rules == sorted(["preprocessing_contract", "synthesize_cards", "synthesize_cards", "ingest", "ingest",
                            "preprocess", "preprocess", "train_teacher"])
    assert "8 of 8 steps (100%) done" in log
    for jid, job in jobs.items():
        assert (job["JobState"], job["Partition"], job["Account"]) == ("COMPLETED", PARTITION, ACCOUNT), jid
        assert f"_job_complete: JobId={jid} done" in slurm.log("slurmctld")
    assert (wd / TARGET).stat().st_size > 0


def test_resources_are_the_profiles(slurm, slurm_run):
    """Account and partition joined profiles/slurm's default-resources without replacing them; slurm-cpu's
    training asks for no GPU (a `--gpus` request is refused on a node without one)."""
    jobs = [slurm.job(jid) for jid in submitted(slurm_run[1]).values()]
    teacher = next(j for j in jobs if j["Comment"].startswith("rule_train_teacher"))
    others = [j for j in jobs if j is not teacher]
    assert {(j["MinMemoryNode"], j["TimeLimit"], j["NumCPUs"]) for j in others} == {("4000M", "01:00:00", "2")}
    assert (teacher["MinMemoryNode"], teacher["TimeLimit"], teacher["NumCPUs"]) == ("8000M", "12:00:00", "2")
    assert not [key for key, value in teacher.items() if "gpu" in key.lower() or "gpu" in value.lower()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_columns(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(path.open())]


def test_outputs_equal_the_local_run(slurm_run, tiny_run):
    """Everything up to the teacher is deterministic, the CPU-trained model byte for byte (same seed and threads),
    except what measures time: the training profile and metrics.csv's timing columns."""
    wd, _ = slurm_run
    files = sorted(p.relative_to(wd) for p in (wd / "results").rglob("*") if p.is_file())
    timed = {Path("results/profiling/teacher/profile.json"), Path("results/teacher/metrics.csv")}
    assert Path(TARGET) in files and timed <= set(files) and len(files) > 20
    differing = [str(p) for p in files if p not in timed and digest(wd / p) != digest(tiny_run / p)]
    assert differing == []
    metrics = Path("results/teacher/metrics.csv")
    assert model_columns(wd / metrics) == model_columns(tiny_run / metrics)
