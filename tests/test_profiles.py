"""Snakemake profiles in profiles/: each parses and plans the DAG (dry run only), with the training resources."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, make_workdir, snakemake

PROFILES = REPO / "profiles"
TRAINING_RULES = ("train_teacher", "train_student")
PLUGINS = Path(sys.prefix) / "cluster-plugins"  # `make install`: profiles/cluster-plugins.txt, kept off site-packages


def plugin_env(module: str, base: dict | None = None) -> dict:
    """The environment with the cluster plugins importable (skips when `make install` did not put them aside)."""
    if not (PLUGINS / module).is_dir():
        pytest.skip(f"{module} not in {PLUGINS}: run `make install` (profiles/cluster-plugins.txt)")
    env = dict(base if base is not None else os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), env.get("PYTHONPATH")]))
    return env


def job_resources(dry_run_output: str, rule: str) -> dict[str, str]:
    """The `resources:` line of ``rule``'s job in a dry run, as a dict."""
    block = dry_run_output.split(f"rule {rule}:", 1)[1]
    line = re.search(r"^\s*resources: (.*)$", block, re.M).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


@pytest.mark.parametrize("name", ["default", "slurm", "slurm-cpu", "aws-batch"])
def test_profile_is_a_yaml_mapping(name):
    conf = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
    assert isinstance(conf, dict) and conf


@pytest.mark.parametrize("name", ["slurm", "aws-batch"])
def test_cluster_profiles_give_training_a_gpu(name):
    conf = yaml.safe_load((PROFILES / name / "config.yaml").read_text())
    for rule in TRAINING_RULES:
        assert conf["set-resources"][rule]["gpu"] == 1
        assert conf["set-resources"][rule]["runtime"] > conf["default-resources"]["runtime"]


def test_training_rules_declare_resources_locally(tmp_path):
    out = snakemake(make_workdir(tmp_path), "-n", "--profile", str(PROFILES / "default")).stdout
    for rule in TRAINING_RULES:
        res = job_resources(out, rule)
        assert (res["gpu"], res["mem_mb"], res["runtime"]) == ("0", "8000", "240")


def test_slurm_profile_plans(tmp_path):
    env = plugin_env("snakemake_executor_plugin_slurm")
    out = snakemake(make_workdir(tmp_path), "-n", "--profile", str(PROFILES / "slurm"), env=env).stdout
    assert "train_teacher" in out.split("Job stats:", 1)[1]
    res = job_resources(out, "train_teacher")
    assert (res["gpu"], res["mem_mb"], res["runtime"], res["cpus_per_task"]) == ("1", "32000", "720", "8")


def slurm_plan(tmp_path, *args: str, **env: str) -> str:
    """A dry run through profiles/slurm (+ args), with the environment variables ``env``."""
    env = plugin_env("snakemake_executor_plugin_slurm", {**os.environ, **env})
    for key in ("CARDREC_SLURM_ACCOUNT", "CARDREC_SLURM_PARTITION", "CARDREC_SLURM_TRAIN_CPUS"):
        if key not in env or not env[key]:
            env.pop(key, None)
    wd = make_workdir(tmp_path)
    return snakemake(wd, "-n", "--profile", str(PROFILES / "slurm"), *args, env=env).stdout


def test_slurm_account_and_partition_keep_the_profile_defaults(tmp_path):
    """CARDREC_SLURM_ACCOUNT/PARTITION join default-resources; `--default-resources` would replace them all."""
    out = slurm_plan(tmp_path / "a", CARDREC_SLURM_ACCOUNT="acme", CARDREC_SLURM_PARTITION="cpu")
    res = job_resources(out, "ingest")
    assert (res["slurm_account"], res["slurm_partition"]) == ("acme", "cpu")
    assert (res["mem_mb"], res["runtime"], res["cpus_per_task"]) == ("4000", "60", "2")
    res = job_resources(slurm_plan(tmp_path / "b"), "ingest")
    assert "slurm_account" not in res and "slurm_partition" not in res and res["mem_mb"] == "4000"
    res = job_resources(slurm_plan(tmp_path / "c", "--default-resources", "slurm_account=acme"), "ingest")
    assert res["slurm_account"] == "acme" and "runtime" not in res and res["mem_mb"] != "4000"


def test_slurm_cpu_layer_asks_training_for_no_gpu(tmp_path):
    """`--profile profiles/slurm --profile profiles/slurm-cpu`: training without GPU, CARDREC_SLURM_TRAIN_CPUS
    cores (8 unless set); the other rules keep profiles/slurm's default-resources."""
    cpu = ("--profile", str(PROFILES / "slurm-cpu"))
    out = slurm_plan(tmp_path / "a", *cpu, CARDREC_SLURM_PARTITION="cpu")
    for rule in TRAINING_RULES:
        res = job_resources(out, rule)
        assert (res["gpu"], res["cpus_per_task"], res["mem_mb"], res["slurm_partition"]) == ("0", "8", "8000", "cpu")
    res = job_resources(out, "ingest")
    assert (res["mem_mb"], res["runtime"], res["cpus_per_task"]) == ("4000", "60", "2")
    res = job_resources(slurm_plan(tmp_path / "b", *cpu, CARDREC_SLURM_TRAIN_CPUS="3"), "train_teacher")
    assert (res["gpu"], res["cpus_per_task"]) == ("0", "3")
    env = plugin_env("snakemake_executor_plugin_slurm", {**os.environ, "CARDREC_SLURM_TRAIN_CPUS": "eight"})
    bad = snakemake(make_workdir(tmp_path / "c"), "-n", "--profile", str(PROFILES / "slurm"), *cpu,
                    check=False, env=env)
    assert bad.returncode != 0 and "CARDREC_SLURM_TRAIN_CPUS='eight' is not a number of cores" in bad.stderr


def test_aws_batch_profile_plans(tmp_path, moto_s3):
    """The profile's default storage is S3: the dry run checks outputs on moto_server instead of AWS."""
    from .s3_servers import s3_env

    env = plugin_env("snakemake_executor_plugin_aws_batch", s3_env())
    moto_s3.client().create_bucket(Bucket="cardrec-test")
    cmd = [sys.executable, "-m", "snakemake", "-n", "--profile", str(PROFILES / "aws-batch"),
           "--storage-s3-endpoint-url", moto_s3.endpoint, "--default-storage-prefix", "s3://cardrec-test/snake"]
    proc = subprocess.run(cmd, cwd=make_workdir(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    res = job_resources(proc.stdout, "train_student")
    assert (res["gpu"], res["mem_mb"]) == ("1", "16000")


def test_no_profile_is_needed_in_a_checkout_without_profiles(tmp_path):
    """make_workdir has no profiles/: a plain dry run still plans (profiles/default is optional)."""
    assert not (Path(make_workdir(tmp_path)) / "profiles").exists()
    assert "Job stats:" in snakemake(tmp_path, "-n").stdout


def test_cluster_plugin_pins_match_the_cluster_extra():
    """`pip install -e '.[cluster]'` (users) and profiles/cluster-plugins.txt (tests) pin the same plugins."""
    import tomllib

    extra = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["cluster"])
    pins = {line.strip() for line in (PROFILES / "cluster-plugins.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    assert extra and extra <= pins
