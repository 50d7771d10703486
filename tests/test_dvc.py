"""DVC in S3 (a real SeaweedFS server): dvc.yaml from the DAG, push, fresh clones that are never wrongly stale."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cardrec.cost.training import PRICED_STEPS, training_benchmark
from cardrec.repro.dvc_yaml import workflow_jobs

from .conftest import REPO, TINY, make_workdir, planned_jobs, snakemake
from .s3_servers import Server, dvc, free_port, s3_env, sh, start_seaweedfs

BUCKET = "cardrec-test"
COPIED = ("Snakefile", "rules", "scripts", "config", "report", "envs", "config.yaml", "edge")
N_CLONES = 5


def cardrec(cwd: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    return sh(cwd, sys.executable, "-m", "cardrec.cli", *args, check=check, **env)


def git_commit(repo: Path, message: str) -> None:
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "-c", "user.email=test@example.org", "-c", "user.name=test", "commit", "-q", "-m", message)


def lock_outs(repo: Path) -> list[str]:
    data = yaml.safe_load((repo / "dvc.lock").read_text())
    return sorted(o["path"] for st in data["stages"].values() for o in st.get("outs", []))


def files_under(root: Path, rel: str) -> dict[str, bytes]:
    p = root / rel
    paths = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    return {f.relative_to(root).as_posix(): f.read_bytes() for f in paths}


def descendants(repo: Path, rule: str, wildcards: dict[str, str] | None = None) -> set[str]:
    """Rules of the jobs downstream of (and including) the matching jobs, from Snakemake's own DAG."""
    jobs = workflow_jobs(repo, [repo / "tiny.yaml"])
    hit = {i for i, j in enumerate(jobs) if j.rule == rule and all(j.wildcards.get(k) == v
                                                                    for k, v in (wildcards or {}).items())}
    changed = True
    while changed:
        new = {i for i, j in enumerate(jobs) if i not in hit and hit & set(j.deps)}
        hit |= new
        changed = bool(new)
    return {jobs[i].rule for i in hit} - {"all"}


@pytest.fixture(scope="module")
def origin(tiny_run, seaweedfs, tmp_path_factory) -> Path:
    """The machine that built: a git repo with the workflow, the tiny run's results, dvc.yaml/dvc.lock, pushed."""
    repo = tmp_path_factory.mktemp("dvc") / "origin"
    repo.mkdir()
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / name)
    shutil.copy2(TINY, repo / "tiny.yaml")
    (repo / "storage.yaml").write_text(yaml.safe_dump({"storage": {
        "bucket": BUCKET, "project": "tiny", "region": "us-east-1", "endpoint_url": seaweedfs.endpoint}}))
    (repo / ".gitignore").write_text("results/\nlogs/\n.snakemake/\ncheckpoints/\n")
    for built in ("results", "logs", ".snakemake/metadata"):  # what the building machine has, times included
        shutil.copytree(tiny_run / built, repo / built, symlinks=True)
    sh(repo, "git", "init", "-q")
    cardrec(repo, "dvc-yaml", "--configfile", "tiny.yaml")
    dvc(repo, "init", "-q")
    cardrec(repo, "dvc-remote", "--configfile", "storage.yaml")
    cardrec(repo, "commit", "--configfile", "tiny.yaml")  # dvc.lock from the Snakemake run, then times in DAG order
    dvc(repo, "push", "-q")
    git_commit(repo, "tiny run")
    return repo


@pytest.fixture(scope="module")
def clones(origin, tmp_path_factory) -> list[Path]:
    """N fresh machines: git clone, then `cardrec pull` (artifacts only from SeaweedFS)."""
    root = tmp_path_factory.mktemp("clones")
    out = []
    for i in range(N_CLONES):
        clone = root / f"clone{i}"
        sh(root, "git", "clone", "-q", str(origin), clone.name)
        assert not (clone / "results").exists()
        res = cardrec(clone, "pull", "--configfile", "tiny.yaml")
        assert "dvc status: clean" in res.stdout and "nothing to be done" in res.stdout, res.stdout
        out.append(clone)
    return out


def test_dvc_yaml_in_sync_with_dag(tmp_path):
    """The committed dvc.yaml is what the Snakemake DAG of the default config gives (fails on drift)."""
    wd = make_workdir(tmp_path / "wd")
    proc = cardrec(wd, "dvc-yaml", "--check", "--output", str(REPO / "dvc.yaml"), check=False)
    assert proc.returncode == 0, f"dvc.yaml drifted from the Snakefile: run `cardrec dvc-yaml`\n{proc.stderr}"
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = {o for st in stages.values() for o in st["outs"]}
    assert "results/edge/manifest.json" in outs and "results/teacher/model.pt" in outs
    assert not any(o.startswith("checkpoints/") for o in outs)
    logs = {o for o in outs if o.startswith("logs/")}  # only the timings the cost report reads travel with DVC
    assert logs == {training_benchmark(step) for step in PRICED_STEPS}
    assert logs <= set(stages["cost_report"]["deps"])
    (tmp_path / "drift.yaml").write_text((REPO / "dvc.yaml").read_text().replace("model.pt", "model2.pt", 1))
    drift = cardrec(wd, "dvc-yaml", "--check", "--output", str(tmp_path / "drift.yaml"), check=False)
    assert drift.returncode == 1 and "differs" in drift.stderr


def test_remote_config_has_no_credentials(origin, seaweedfs):
    config = (origin / ".dvc" / "config").read_text()
    assert f"url = s3://{BUCKET}/project/tiny/dvc" in config
    assert f"endpointurl = {seaweedfs.endpoint}" in config and "region = us-east-1" in config
    tracked = sh(origin, "git", "ls-files").stdout.split()
    assert ".dvc/config" in tracked and "dvc.lock" in tracked and ".dvc/config.local" not in tracked
    text = "".join((origin / f).read_text(errors="replace") for f in tracked if (origin / f).is_file())
    assert "cardrec-test-secret" not in text and "cardrec-test-key" not in text


def test_fresh_clones_are_up_to_date(origin, clones):
    """In every clone: `snakemake -n` has nothing to do, and every artifact is byte-identical."""
    outs = lock_outs(origin)
    expected = {k: v for rel in outs for k, v in files_under(origin, rel).items()}
    assert "results/teacher/model.pt" in expected
    for clone in clones:
        assert planned_jobs(clone, clone / "tiny.yaml") == {}
        got = {k: v for rel in outs for k, v in files_under(clone, rel).items()}
        assert got.keys() == expected.keys()
        assert all(got[k] == expected[k] for k in expected), [k for k in expected if got[k] != expected[k]]
        assert dvc(clone, "status", "-q", check=False).returncode == 0


def test_teacher_param_change_in_clone(clones):
    clone = clones[0]
    tiny = clone / "tiny.yaml"
    text = tiny.read_text()
    cfg = yaml.safe_load(text)
    cfg["teacher"]["steps"] += 1
    tiny.write_text(yaml.safe_dump(cfg))
    try:
        planned = set(planned_jobs(clone, tiny))
        assert "train_teacher" in planned
        assert planned == descendants(clone, "train_teacher")
        assert not planned & {"synthesize_cards", "ingest", "preprocess", "preprocessing_contract", "render_queries"}
        status = cardrec(clone, "status", "--configfile", "tiny.yaml").stdout
        assert "results/teacher/model.pt" in status and "param changed (steps:" in status
    finally:
        tiny.write_text(text)
    assert planned_jobs(clone, tiny) == {}


def test_runtime_change_in_clone_makes_calibration_and_frame_evaluation_stale(clones):
    """An edit of the edge runtime makes what was measured by running it stale (the bundle's calibration, the
    whole-frame evaluations and what follows them) and no model; Snakemake compares content, so undoing the edit
    leaves nothing to do."""
    clone = clones[4]
    source = clone / "edge" / "src" / "cardrec_edge" / "verify.py"
    text = source.read_text()
    source.write_text(text + "# edited\n")
    try:
        planned = set(planned_jobs(clone, clone / "tiny.yaml"))
        runners = ("edge_bundle", "evaluate_frames", "evaluate_frames_phash")
        assert set(runners) <= planned
        assert planned == set().union(*(descendants(clone, r) for r in runners))
        assert not planned & {"train_teacher", "train_student", "export_onnx", "quantize_onnx", "render_frames"}
    finally:
        source.write_text(text)
    assert planned_jobs(clone, clone / "tiny.yaml") == {}


def test_raw_image_change_in_clone(clones):
    from PIL import Image

    clone = clones[1]
    image = sorted((clone / "results" / "synthetic" / "images" / "syn1").glob("*.png"))[0]
    im = Image.open(image).convert("RGB")
    im.putpixel((2, 2), tuple(255 - c for c in im.getpixel((2, 2))))
    im.save(image)
    status = cardrec(clone, "status", "--mark-changed", "--configfile", "tiny.yaml").stdout
    assert "results/synthetic/images/syn1" in status
    planned = set(planned_jobs(clone, clone / "tiny.yaml"))
    assert "ingest" in planned and "synthesize_cards" not in planned
    assert planned == descendants(clone, "ingest", {"set": "syn1"})


def test_status_only_remote(clones):
    clone = clones[2]
    (clone / "results" / "teacher" / "metrics.csv").unlink()
    status = cardrec(clone, "status", "--configfile", "tiny.yaml").stdout
    assert any(ln.startswith("results/teacher/metrics.csv") and "only remote" in ln for ln in status.splitlines()), status
    res = cardrec(clone, "pull", "--configfile", "tiny.yaml")
    assert "nothing to be done" in res.stdout and (clone / "results" / "teacher" / "metrics.csv").exists()


def test_pull_leaves_changed_content_stale(clones):
    """Content that differs from dvc.lock is named, and it (and everything downstream) stays stale."""
    clone = clones[3]
    with (clone / "results" / "teacher" / "metrics.csv").open("a") as f:
        f.write("edited,by,hand\n")
    res = cardrec(clone, "pull", "--configfile", "tiny.yaml", check=False)
    assert res.returncode == 1 and "results/teacher/metrics.csv" in res.stdout, res.stdout + res.stderr
    assert set(planned_jobs(clone, clone / "tiny.yaml")) == descendants(clone, "train_teacher")


def fresh_clone(origin: Path, root: Path, name: str) -> Path:
    sh(root, "git", "clone", "-q", str(origin), name)
    return root / name


def test_building_machine_is_not_asked_to_pull(origin):
    """After `cardrec commit`, the machine that built plans nothing and is never told to run `cardrec pull`
    (a bare `dvc commit` rewrites every artifact's time in its own order: 10 rules were stale at random)."""
    from cardrec.repro.mtimes import lock_out_paths, unrestored

    assert sorted(lock_out_paths(origin / "dvc.lock")) == lock_outs(origin)  # the fast reader agrees with YAML
    assert "logs/teacher/train_teacher.benchmark.tsv" in lock_outs(origin)
    assert unrestored(origin) == [] and planned_jobs(origin, origin / "tiny.yaml") == {}


def test_price_change_on_pulled_clone_runs_only_the_cost_report(origin, tmp_path):
    """The timings the cost report prices travel with DVC: a pulled clone re-prices without retraining."""
    clone = fresh_clone(origin, tmp_path, "priced")
    res = cardrec(clone, "pull", "--configfile", "tiny.yaml")
    assert "nothing to be done" in res.stdout, res.stdout
    assert (clone / "logs/teacher/train_teacher.benchmark.tsv").exists()
    price = tmp_path / "price.yaml"
    electricity = {"read_on": "2026-12-02", "usd_per_kwh": 0.3}
    price.write_text(yaml.safe_dump({"cost": {"prices": {"electricity": electricity}}}))
    assert planned_jobs(clone, clone / "tiny.yaml", price) == {"cost_report": 1}
    assert planned_jobs(clone, clone / "tiny.yaml", extra=("--forcerun", "cost_report")) == {"cost_report": 1}


def test_plain_dvc_pull_is_caught_before_planning(origin, tmp_path):
    """`dvc pull` (or `dvc checkout`) without restored times: one line pointing at `cardrec pull`, no plan."""
    clone = fresh_clone(origin, tmp_path, "plain")
    dvc(clone, "pull", "-q")
    proc = snakemake(clone, "-n", "--configfile", "tiny.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Job stats" not in out and "Traceback" not in out, out
    lines = [ln for ln in out.splitlines() if "cardrec pull" in ln]
    assert len(lines) == 1 and "dvc" in lines[0] and "make pull" in lines[0], out

    assert "nothing to be done" in cardrec(clone, "pull", "--configfile", "tiny.yaml").stdout
    assert planned_jobs(clone, clone / "tiny.yaml") == {}
    (clone / "results/teacher/model.pt").unlink()  # `dvc checkout` brings it back, newer than its consumers
    dvc(clone, "checkout", "-q")
    again = snakemake(clone, "-n", "--configfile", "tiny.yaml", check=False)
    assert again.returncode == 1 and "results/teacher/model.pt" in again.stdout + again.stderr


def test_pull_errors_are_clear(origin, tmp_path):
    sh(tmp_path, "git", "clone", "-q", str(origin), "dead")
    dead = tmp_path / "dead"
    dvc(dead, "remote", "modify", "--local", "storage", "endpointurl", f"http://127.0.0.1:{free_port()}")
    proc = cardrec(dead, "pull", "--configfile", "tiny.yaml", check=False, AWS_MAX_ATTEMPTS="1")  # no retries
    assert proc.returncode == 2 and "dvc pull failed" in proc.stderr and "Traceback" not in proc.stderr
    (dead / "dvc.lock").unlink()
    proc = cardrec(dead, "pull", check=False)
    assert proc.returncode == 2 and "no dvc.lock" in proc.stderr


def object_keys(server: Server, prefix: str) -> list[str]:
    pages = server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_interrupted_push_then_retry(origin, tmp_path):
    """The server dies mid-push; after a restart a retried push completes and every object has its md5."""
    port, data = free_port(), tmp_path / "weed"
    server = start_seaweedfs(data, BUCKET, port)
    prefix = "project/interrupted/dvc/"
    try:
        dvc(origin, "remote", "add", "--local", "interrupted", f"s3://{BUCKET}/{prefix.rstrip('/')}")
        dvc(origin, "remote", "modify", "--local", "interrupted", "endpointurl", server.endpoint)
        env = dict(s3_env(), AWS_MAX_ATTEMPTS="1")  # fail fast once the server is gone
        push = subprocess.Popen([str(Path(sys.executable).parent / "dvc"), "push", "-r", "interrupted", "-j", "1"],
                                cwd=origin, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and push.poll() is None and len(object_keys(server, prefix)) < 5:
            time.sleep(0.05)
        at_kill = len(object_keys(server, prefix))
        server.kill()
        try:
            push.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still retrying against the dead server: the user gives up
            push.terminate()
            push.wait(timeout=30)
        total = len(set(_lock_hashes(origin)))
        assert push.returncode != 0 and at_kill < total, f"push was not interrupted ({at_kill}/{total})"

        server = start_seaweedfs(data, BUCKET, port)
        dvc(origin, "push", "-r", "interrupted", "-j", "2")
        client = server.client()
        keys = object_keys(server, prefix)
        assert len(keys) >= total
        for key in keys:
            body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            md5 = key[len(prefix) + len("files/md5/"):].replace("/", "")
            assert hashlib.md5(body).hexdigest() == md5.removesuffix(".dir"), f"corrupt object {key}"
        assert "Cache and remote 'interrupted' are in sync" in dvc(origin, "status", "-c", "-r", "interrupted").stdout
    finally:
        server.stop()
        dvc(origin, "remote", "remove", "--local", "interrupted", check=False)


def _lock_hashes(repo: Path) -> list[str]:
    """Every object the remote must hold: each out's md5, and the files listed in each .dir object."""
    import json

    hashes = []
    data = yaml.safe_load((repo / "dvc.lock").read_text())
    for st in data["stages"].values():
        for o in st.get("outs", []):
            hashes.append(o["md5"])
            if o["md5"].endswith(".dir"):
                listing = repo / ".dvc" / "cache" / "files" / "md5" / o["md5"][:2] / o["md5"][2:]
                hashes += [e["md5"] for e in json.loads(listing.read_text())]
    return hashes
