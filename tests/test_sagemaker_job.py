"""cardrec.aws.sagemaker.job against a real moto_server (S3 + SageMaker) on 127.0.0.1.

moto records a training job as Completed at once and writes no model.tar.gz: the tests upload one at the
job's S3ModelArtifacts key to stand for the job's output. moto cannot make a job fail, so the failure path
uses ``ScriptedSageMaker``, a minimal stand-in client that replays DescribeTrainingJob responses.
"""
from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
import yaml

from cardrec.cost.training import read_job_record
from cardrec.aws.sagemaker.job import (CHECKPOINT_LOCAL, SageMakerSettings, TrainingJobFailed, collect_files,
                                   run_training_job, safe_extract, stopping_condition, training_request,
                                   upload_channel, wait_for_job)

from .s3_servers import ACCESS_KEY, SECRET_KEY

BUCKET = "cardrec-test"
SETTINGS = SageMakerSettings(role_arn="arn:aws:iam::123456789012:role/cardrec-test", image_uri="example/cardrec:1",
                             instance_type="ml.g5.2xlarge", instance_count=2, max_run_s=3600, max_wait_s=7200,
                             use_spot=True)


@pytest.fixture()
def aws(moto_s3):
    kw = dict(endpoint_url=moto_s3.endpoint, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
              aws_secret_access_key=SECRET_KEY)
    s3, sm = boto3.client("s3", **kw), boto3.client("sagemaker", **kw)
    s3.create_bucket(Bucket=BUCKET)
    return s3, sm


def shard_dir(root, name="syn1", payload=b"faces"):
    d = root / "results" / "preprocess" / name
    d.mkdir(parents=True)
    (d / "faces.npy").write_bytes(payload)
    (d / "cards.json").write_text("[]")
    return d


def request_for(tmp_path, s3, name="teacher-job-1"):
    files = collect_files([shard_dir(tmp_path)])
    uri, _ = upload_channel(s3, BUCKET, "cardrec", files)
    return training_request(name, "teacher", SETTINGS, BUCKET, "cardrec", {"inputs": uri},
                            {"cfg": {"steps": 200, "lr": 0.0005}, "cardrec_target": "t:f"}, processes=4)


def model_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_create_request_as_moto_stores_it(tmp_path, aws):
    s3, sm = aws
    req = request_for(tmp_path, s3)
    sm.create_training_job(**req)
    desc = sm.describe_training_job(TrainingJobName="teacher-job-1")
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert desc["CheckpointConfig"] == {"S3Uri": f"s3://{BUCKET}/project/cardrec/checkpoints/teacher/",
                                        "LocalPath": CHECKPOINT_LOCAL}
    assert desc["ResourceConfig"]["InstanceType"] == "ml.g5.2xlarge" and desc["ResourceConfig"]["InstanceCount"] == 2
    hps = desc["HyperParameters"]
    assert hps["cardrec_processes_per_host"] == "4" and "sagemaker_program" not in hps  # custom image
    assert json.loads(hps["cfg"]) == {"lr": 0.0005, "steps": 200} and hps["cardrec_target"] == "t:f"
    (channel,) = desc["InputDataConfig"]
    uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
    assert channel["ChannelName"] == "inputs"
    assert uri.startswith(f"s3://{BUCKET}/project/cardrec/data/") and len(uri.rstrip("/").rsplit("/", 1)[1]) == 64
    assert desc["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/project/cardrec/models/embedding/teacher"


def test_upload_is_content_addressed_and_skipped_when_present(tmp_path, aws):
    s3, _ = aws
    files = collect_files([shard_dir(tmp_path)])
    uri1, n1 = upload_channel(s3, BUCKET, "cardrec", files)
    uri2, n2 = upload_channel(s3, BUCKET, "cardrec", files)
    assert (n1, n2) == (2, 0) and uri1 == uri2
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert any(k.endswith("results/preprocess/syn1/faces.npy") for k in keys)
    (tmp_path / "results/preprocess/syn1/faces.npy").write_bytes(b"changed")
    uri3, n3 = upload_channel(s3, BUCKET, "cardrec", collect_files([tmp_path / "results/preprocess/syn1"]))
    assert uri3 != uri1 and n3 == 2


def test_run_downloads_model_and_writes_the_job_record(tmp_path, aws):
    s3, sm = aws
    req = request_for(tmp_path, s3, "teacher-job-2")
    artifacts = "project/cardrec/models/embedding/teacher/teacher-job-2/output/model.tar.gz"
    # stands for the job's output: moto completes the job without writing model.tar.gz
    s3.put_object(Bucket=BUCKET, Key=artifacts, Body=model_tar({"model.pt": b"weights", "metrics.csv": b"step\n"}))
    messages = []
    record = run_training_job(sm, s3, req, tmp_path / "out", tmp_path / "results/jobs/teacher.json", poll_s=0,
                              log=messages.append, sleep=lambda s: None)
    assert (tmp_path / "out/model.pt").read_bytes() == b"weights"
    assert (tmp_path / "out/metrics.csv").read_bytes() == b"step\n"
    assert record["TrainingJobName"] == "teacher-job-2" and record["InstanceCount"] == 2
    assert any("Starting" in m for m in messages)
    cost = read_job_record(tmp_path / "results/jobs/teacher.json")
    assert (cost["stage"], cost["instance"], cost["count"], cost["spot"]) == ("teacher", "ml.g5.2xlarge", 2, True)


class ScriptedSageMaker:
    """Stand-in SageMaker client (moto cannot fail a job): replays DescribeTrainingJob responses in order."""

    def __init__(self, responses):
        self.responses = list(responses)

    def describe_training_job(self, TrainingJobName):
        return self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]


def describe(status, transitions, **extra):
    return {"TrainingJobName": "j", "TrainingJobStatus": status,
            "SecondaryStatusTransitions": [{"Status": s, "StatusMessage": f"{s} msg"} for s in transitions], **extra}


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_or_stopped_job_raises_with_failure_reason(status):
    sm = ScriptedSageMaker([describe("InProgress", ["Starting"]), describe("InProgress", ["Starting", "Training"]),
                            describe(status, ["Starting", "Training", status],
                                     FailureReason="AlgorithmError: CUDA out of memory\n(exit 1)")])
    messages = []
    with pytest.raises(TrainingJobFailed) as e:
        wait_for_job(sm, "j", poll_s=0, log=messages.append, sleep=lambda s: None)
    assert str(e.value) == f"SageMaker training job j {status.lower()}: AlgorithmError: CUDA out of memory (exit 1)"
    assert [m.split(": ")[1].split(" -")[0] for m in messages] == ["Starting", "Training", status]


def test_job_record_spot_savings():
    from cardrec.aws.sagemaker.job import job_record

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rec = job_record({"TrainingJobName": "j", "ResourceConfig": {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1},
                      "TrainingTimeInSeconds": 1000, "BillableTimeInSeconds": 300, "EnableManagedSpotTraining": True,
                      "TrainingStartTime": t0, "TrainingEndTime": t0 + timedelta(seconds=1000)})
    assert rec["SpotSavings"] == 0.7 and rec["BillableTimeInSeconds"] == 300


def test_stopping_condition_validates_spot_wait():
    assert stopping_condition(100, None, False) == {"MaxRuntimeInSeconds": 100}
    assert stopping_condition(100, None, True) == {"MaxRuntimeInSeconds": 100, "MaxWaitTimeInSeconds": 200}
    with pytest.raises(ValueError, match="max_wait_s"):
        stopping_condition(100, 50, True)
    with pytest.raises(ValueError, match="role_arn"):
        SageMakerSettings.from_config({"image_uri": "x"})


@pytest.mark.parametrize("image_uri", ["example/cardrec:1", None])
def test_submit_puts_outputs_where_the_rule_expects_them(tmp_path, aws, moto_s3, monkeypatch, image_uri):
    """The rule side end to end on moto: upload, create, wait, unpack, record; the second run uploads nothing.
    Without image_uri: AWS's PyTorch image (SDK v3 image_uris) runs our source tar.gz."""
    from cardrec.aws.sagemaker import train as sagemaker_train

    s3, _ = aws
    monkeypatch.chdir(tmp_path)
    for k, v in (("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)):
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    shard_dir(tmp_path)
    names = iter(["job-a", "job-b"])
    monkeypatch.setattr(sagemaker_train, "job_name", lambda stage: next(names))
    for name in ("job-a", "job-b"):  # stands for each job's output (moto writes none)
        s3.put_object(Bucket=BUCKET, Key=f"project/cardrec/models/embedding/teacher/{name}/output/model.tar.gz",
                      Body=model_tar({"model.pt": name.encode(), "metrics.csv": b"step\n",
                                      "profile/profile.json": b"{}"}))
    storage = {"bucket": BUCKET, "project": "cardrec", "endpoint_url": moto_s3.endpoint, "region": "us-east-1"}
    compute = {"backend": "sagemaker", "sagemaker": {"role_arn": SETTINGS.role_arn, "image_uri": image_uri, "poll_s": 0}}
    kwargs = {"shards": ["results/preprocess/syn1"], "out_model": "results/teacher/model.pt",
              "out_metrics": "results/teacher/metrics.csv", "profile_dir": "results/profiling/teacher",
              "cfg": {"steps": 3}}
    Path("results/teacher").mkdir(parents=True)
    logs = []
    for _ in range(2):
        record = sagemaker_train.submit("m:f", kwargs, compute, storage, "teacher", "results/jobs/teacher.json",
                                        log=logs.append)
    assert Path("results/teacher/model.pt").read_bytes() == b"job-b"
    assert Path("results/profiling/teacher/profile.json").exists() and Path("results/teacher/metrics.csv").exists()
    assert json.loads(Path("results/jobs/teacher.json").read_text())["TrainingJobName"] == record["TrainingJobName"]
    assert [m for m in logs if m.startswith("inputs at")][1].endswith("(0 files uploaded)")
    desc = aws[1].describe_training_job(TrainingJobName="job-a")
    hps = desc["HyperParameters"]
    if image_uri:
        assert desc["AlgorithmSpecification"]["TrainingImage"] == image_uri and "sagemaker_program" not in hps
        return
    assert desc["AlgorithmSpecification"]["TrainingImage"] == \
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.10.0-gpu-py313"  # ml.g4dn: GPU image
    assert hps["sagemaker_program"] == "cardrec_sagemaker_entry.py" and hps["sagemaker_region"] == "us-east-1"
    bucket, key = hps["sagemaker_submit_directory"].removeprefix("s3://").split("/", 1)
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as tar:
        names = set(tar.getnames())
        reqs = tar.extractfile("requirements.txt").read().decode()
    assert {"cardrec_sagemaker_entry.py", "cardrec/aws/sagemaker/train.py", "cardrec/training/dist.py",
            "cardrec_edge/preprocess.py"} <= names and not any("__pycache__" in n for n in names)
    assert "timm==1.0.31\n" in reqs
    assert [m for m in logs if m.startswith("image ")][1].endswith("(0 files uploaded)")  # same bytes: skipped


def job_channel(root: Path, target: str = "m:f", kwargs: dict | None = None) -> tuple[Path, str]:
    """A ``job`` channel directory as SageMaker lays it out, and the sha256 the request carries."""
    import hashlib

    from cardrec.aws.sagemaker.job import JOB_FILE, job_spec

    spec = job_spec(target, kwargs or {})
    (root / "job").mkdir(parents=True, exist_ok=True)
    (root / "job" / JOB_FILE).write_bytes(spec)
    return root / "job", hashlib.sha256(spec).hexdigest()


def test_container_kwargs_honour_sagemaker_env(tmp_path):
    from cardrec.aws.sagemaker.train import container_kwargs

    job, digest = job_channel(tmp_path, kwargs={"run": {"checkpoint_every": 5}, "shards": ["results/preprocess/syn1"]})
    hps = {"cardrec_job_sha256": digest, "cardrec_processes_per_host": "4", "sagemaker_program": "entry.py"}
    env = {"SM_MODEL_DIR": "/opt/ml/model", "SM_CHANNEL_INPUTS": "/opt/ml/input/data/inputs",
           "SM_CHANNEL_JOB": str(job)}
    target, kwargs, processes, inputs = container_kwargs(hps, env)
    assert (target, processes, str(inputs)) == ("m:f", 4, "/opt/ml/input/data/inputs")
    assert kwargs["out_model"] == "/opt/ml/model/model.pt" and kwargs["profile_dir"] == "/opt/ml/model/profile"
    assert kwargs["run"] == {"checkpoint_every": 5, "checkpoint_dir": "/opt/ml/checkpoints"}
    assert kwargs["shards"] == ["results/preprocess/syn1"] and "sagemaker_program" not in kwargs
    (job / "job.json").write_text((job / "job.json").read_text().replace("syn1", "syn2"))
    with pytest.raises(RuntimeError, match="does not match the job's cardrec_job_sha256"):
        container_kwargs(hps, env)


def fake_rule(tmp_path, backend):
    """A stand-in for Snakemake's ``snakemake`` object of rule train_teacher (only what cardrec.workflow.script.train reads)."""
    from types import SimpleNamespace

    (tmp_path / "contract.json").write_text("{}")
    return SimpleNamespace(
        params=SimpleNamespace(training={"processes": 2}, augment={}, unknown_fraction=0.1),
        input=SimpleNamespace(faces=["results/preprocess/syn1/faces.npy"], contract=str(tmp_path / "contract.json")),
        output=SimpleNamespace(model="results/teacher/model.pt", metrics="results/teacher/metrics.csv",
                               profile="results/profiling/teacher/profile.json"),
        config={"compute": {"backend": backend}, "storage": {"bucket": "b"}}, threads=2)


def test_training_rule_dispatches_on_backend(tmp_path, monkeypatch):
    from cardrec.aws.sagemaker import train as sagemaker_train
    from cardrec.workflow import script as snakescript
    from cardrec.training import dist

    calls = []
    monkeypatch.setattr(sagemaker_train, "submit", lambda *a, **k: calls.append(("sagemaker", a[4], a[5], a[2])))
    monkeypatch.setattr(dist, "launch", lambda *a, **k: calls.append(("local",)))
    snakescript.train(fake_rule(tmp_path, "sagemaker"), "m:f", {})
    snakescript.train(fake_rule(tmp_path, "local"), "m:f", {})
    assert calls == [("sagemaker", "teacher", "results/jobs/teacher.json", {"backend": "sagemaker"}), ("local",)]


def test_failed_job_fails_the_rule_with_one_line(tmp_path, monkeypatch, caplog):
    from cardrec.aws.sagemaker import train as sagemaker_train
    from cardrec.workflow import script as snakescript

    def failing(*a, **k):
        raise TrainingJobFailed("SageMaker training job j failed: AlgorithmError: boom")

    monkeypatch.setattr(sagemaker_train, "submit", failing)
    with pytest.raises(SystemExit) as e:
        snakescript.train(fake_rule(tmp_path, "sagemaker"), "m:f", {})
    assert e.value.code == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "SageMaker training job j failed: AlgorithmError: boom"]


def test_container_finds_its_node_among_the_job_hosts(tmp_path):
    from cardrec.aws.sagemaker.train import container_kwargs, container_nodes
    from cardrec.training.dist import Nodes

    env = {"SM_HOSTS": '["algo-2", "algo-1", "algo-3"]', "SM_CURRENT_HOST": "algo-3", "SM_NUM_GPUS": "4"}
    assert container_nodes(env) == Nodes(count=3, rank=2, master_addr="algo-1", master_port=29500)
    assert container_nodes({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}) == Nodes()
    with pytest.raises(RuntimeError, match="algo-9"):
        container_nodes({**env, "SM_CURRENT_HOST": "algo-9"})
    job, digest = job_channel(tmp_path)
    _, _, processes, _ = container_kwargs({"cardrec_job_sha256": digest, "cardrec_processes_per_host": "0"},
                                          {**env, "SM_CHANNEL_JOB": str(job)})
    assert processes == 4  # one rank per GPU of the instance


def test_two_nodes_rendezvous_through_launch(tmp_path):
    """Two 'hosts' (processes here) run the same launch() with their node rank: one job of world size 2."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import sys; from cardrec.training.dist import Nodes, launch; "
            "launch('tests.dist_probe:probe', {'out': sys.argv[1]}, 1, 1, Nodes(2, int(sys.argv[2]), '127.0.0.1', "
            "int(sys.argv[3])))")
    repo = Path(__file__).resolve().parents[1]
    nodes = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(r), str(port)], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in (0, 1)]
    for p in nodes:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0, out[-2000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [(x["rank"], x["world"], x["node"], x["sum"]) for x in ranks] == [(0, 2, 0, 3.0), (1, 2, 1, 3.0)]


def test_job_records_are_declared_outputs_with_sagemaker_backend(tmp_path):
    """With compute.backend sagemaker the DAG knows the records: the cost report waits for all three."""
    from .conftest import make_workdir, snakemake

    wd = make_workdir(tmp_path)
    overlay = tmp_path / "sm.yaml"
    overlay.write_text(yaml.safe_dump({"compute": {"backend": "sagemaker",
                                                   "sagemaker": {"role_arn": "arn:aws:iam::1:role/r",
                                                                 "image_uri": "img"}},
                                       "storage": {"bucket": "b"}}))
    records = [f"results/jobs/{s}.json" for s in ("teacher", "stage1", "stage2")]
    out = snakemake(wd, "-n", "--configfile", str(overlay)).stdout
    cost_inputs = re.search(r"rule cost_report:\n\s+input: (.*)", out).group(1)
    assert all(r in cost_inputs for r in records)
    training_outputs = re.findall(r"rule train_(?:teacher|student):\n\s+input: .*\n\s+output: (.*)", out)
    assert len(training_outputs) == 3
    for record in records:
        assert sum(record in o for o in training_outputs) == 1
    local = snakemake(wd, "-n").stdout
    assert "results/jobs/" not in local


def full_config_kwargs(root: Path) -> dict:
    """The teacher rule's kwargs at config/full.yaml's scale: one shard per pokemon-tcg-data set (163)."""
    from .conftest import REPO, SHARED

    full = yaml.safe_load((REPO / "config" / "full.yaml").read_text())
    sets = sorted(p.stem for p in (SHARED / "pokemon-tcg-data" / "cards" / "en").glob("*.json"))
    shards = [f"results/preprocess/{s}" for s in sets]
    for s in shards:
        (root / s).mkdir(parents=True)
        (root / s / "cards.json").write_text("[]")
    return {"shards": shards, "out_model": "results/teacher/model.pt", "out_metrics": "results/teacher/metrics.csv",
            "profile_dir": "results/profiling/teacher", "cfg": full["teacher"], "contract": full["preprocess"],
            "augment": {}, "run": {"processes": 1}, "unknown_fraction": 0.1}


def test_full_config_job_fits_sagemaker_hyperparameter_limits(tmp_path, aws, moto_s3, monkeypatch):
    """config/full.yaml's 163 shards (about 4,500 characters as JSON) travel in a content-addressed job
    specification (S3 object, channel ``job``); every hyperparameter stays within SageMaker's limits and the
    container side rebuilds the exact arguments from the channel."""
    from cardrec.aws.sagemaker import train as sagemaker_train
    from cardrec.aws.sagemaker.train import container_kwargs

    s3, sm = aws
    monkeypatch.chdir(tmp_path)
    for k, v in (("AWS_ACCESS_KEY_ID", ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", SECRET_KEY)):
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    kwargs = full_config_kwargs(tmp_path)
    assert len(kwargs["shards"]) == 163 and len(json.dumps(kwargs["shards"])) > 4000
    monkeypatch.setattr(sagemaker_train, "job_name", lambda stage: "job-full")
    s3.put_object(Bucket=BUCKET, Key="project/cardrec/models/embedding/teacher/job-full/output/model.tar.gz",
                  Body=model_tar({"model.pt": b"w", "metrics.csv": b"step\n"}))  # stands for the job's output
    Path("results/teacher").mkdir(parents=True)
    storage = {"bucket": BUCKET, "project": "cardrec", "endpoint_url": moto_s3.endpoint, "region": "us-east-1"}
    compute = {"backend": "sagemaker", "sagemaker": {"role_arn": SETTINGS.role_arn, "image_uri": "img:1", "poll_s": 0}}
    sagemaker_train.submit("m:f", kwargs, compute, storage, "teacher", "results/jobs/teacher.json", log=lambda m: None)

    desc = sm.describe_training_job(TrainingJobName="job-full")
    hps = desc["HyperParameters"]
    assert len(hps) <= 100
    assert max(map(len, hps)) <= 256 and max(map(len, hps.values())) <= 256, {k: len(v) for k, v in hps.items()}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc["InputDataConfig"]}
    bucket, prefix = channels["job"].removeprefix("s3://").split("/", 1)
    assert prefix.startswith("project/cardrec/data/")  # content-addressed like the inputs
    job_dir = tmp_path / "opt/ml/input/data/job"  # what SageMaker copies into the container
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        (job_dir / obj["Key"][len(prefix):]).parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(job_dir / obj["Key"][len(prefix):]))
    target, got, processes, _ = container_kwargs(hps, {"SM_CHANNEL_JOB": str(job_dir), "SM_MODEL_DIR": "/opt/ml/model"})
    assert target == "m:f" and processes == 1
    assert got["shards"] == kwargs["shards"] and got["cfg"] == kwargs["cfg"] and got["contract"] == kwargs["contract"]
    assert got["out_model"] == "/opt/ml/model/model.pt" and got["run"]["checkpoint_dir"] == CHECKPOINT_LOCAL


def test_oversized_hyperparameter_is_refused_with_its_name():
    from cardrec.aws.sagemaker.job import hyperparameters

    with pytest.raises(ValueError, match=r"hyperparameter 'shards' is 4\d\d\d characters.*2500"):
        hyperparameters({"shards": [f"results/preprocess/set{i:03d}" for i in range(163)]})
    with pytest.raises(ValueError, match="101 hyperparameters.*100"):
        hyperparameters({f"k{i}": "v" for i in range(101)})


@pytest.mark.parametrize("name,kind", [("../escaped.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)])
def test_model_archive_members_outside_the_folder_are_refused(tmp_path, monkeypatch, name, kind):
    """``safe_extract`` refuses what would land outside the output folder, with Python's ``data`` filter where it
    has one and by its own checks where it does not (Debian 12's 3.11.2); a plain archive unpacks either way."""
    def archive(members: list[tuple[str, bytes, bytes]]) -> Path:
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.tar"
        with tarfile.open(path, "w") as tar:
            for member, kind_, body in members:
                info = tarfile.TarInfo(member)
                info.type, info.size = kind_, len(body)
                if kind_ == tarfile.SYMTYPE:
                    info.linkname, info.size = "/etc/passwd", 0
                tar.addfile(info, io.BytesIO(body) if kind_ == tarfile.REGTYPE else None)
        return path

    for with_filter in (True, False):
        if not with_filter:
            monkeypatch.delattr(tarfile, "data_filter", raising=False)
        out = tmp_path / f"out_{with_filter}"
        with tarfile.open(archive([("model.pt", tarfile.REGTYPE, b"weights")])) as tar:
            safe_extract(tar, out)
        assert (out / "model.pt").read_bytes() == b"weights"
        with tarfile.open(archive([(name, kind, b"x")])) as tar, pytest.raises(tarfile.TarError):
            safe_extract(tar, out / "bad")
        assert not (tmp_path / "escaped.txt").exists() and not (out / "bad" / "link").exists()
