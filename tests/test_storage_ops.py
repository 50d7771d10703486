"""`cardrec aws` storage operations against a real `moto_server` (HTTP on 127.0.0.1), plus pure request builders."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from cardrec.aws import admin as aws_admin

from cardrec.aws import lifecycle as aws_lifecycle

from cardrec.aws import objects as aws_objects

from cardrec.aws import registry as aws_registry
from cardrec.cli import main
from cardrec.errors import ToolError

from .s3_servers import ACCESS_KEY, SECRET_KEY, start_moto

REPO = Path(__file__).resolve().parents[1]
P = "project/demo"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    """One moto_server for the module (each test uses its own bucket)."""
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)


AWS = {  # the aws: section of config.yaml (test_repo_config checks they agree)
    "lifecycle": [
        {"id": "ArchiveOldTrainingOutputs", "prefix": "models/embedding/", "transition_days": 90,
         "storage_class": "GLACIER"},
        {"id": "ArchiveOldProfilingData", "prefix": "profiling/", "transition_days": 180, "storage_class": "GLACIER"},
        {"id": "DeleteIncompleteMultipartUploads", "prefix": "", "abort_multipart_days": 7}],
    "tiering": {"id": "cardrec-auto-tier", "prefix": "", "archive_days": 90, "deep_archive_days": 180},
    "billing": {"threshold_usd": 10, "topic": "cardrec-billing-alerts", "alarm": "cardrec-monthly-billing",
                "email": None},
}


def test_repo_config():
    import jsonschema

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    jsonschema.validate(cfg, yaml.safe_load((REPO / "config" / "schema.yaml").read_text()))
    assert cfg["aws"] == AWS
    assert aws_lifecycle.DEFAULT_RULES == AWS["lifecycle"]


def workdir(tmp_path: Path, bucket: str, endpoint: str, aws: dict | None = None) -> Path:
    """A config.yaml with the storage: section and the aws: section (``AWS`` unless given)."""
    cfg = {"storage": {"bucket": bucket, "project": "demo", "region": "us-east-1", "endpoint_url": endpoint},
           "aws": aws if aws is not None else AWS}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def cardrec(capsys, wd: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["aws", *args[:1], "--workdir", str(wd), *args[1:]])
    out = capsys.readouterr()
    return rc, out.out, out.err


def s3(server):
    return server.client()


# ---------------------------------------------------------------- lifecycle

EXPECTED = [
    {"ID": "ArchiveOldTrainingOutputs", "Status": "Enabled", "Filter": {"Prefix": f"{P}/models/embedding/"},
     "Transitions": [{"Days": 90, "StorageClass": "GLACIER"}]},
    {"ID": "ArchiveOldProfilingData", "Status": "Enabled", "Filter": {"Prefix": f"{P}/profiling/"},
     "Transitions": [{"Days": 180, "StorageClass": "GLACIER"}]},
    {"ID": "DeleteIncompleteMultipartUploads", "Status": "Enabled", "Filter": {"Prefix": f"{P}/"},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
]
FOREIGN = {"ID": "SomeoneElsesLogs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}


def rules(c, bucket):
    return {r["ID"]: aws_lifecycle.normalize(r)
            for r in c.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}


def test_lifecycle_round_trip(moto, tmp_path, capsys):
    c, bucket = s3(moto), "lc-main"
    c.create_bucket(Bucket=bucket)
    c.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [FOREIGN]})
    wd = workdir(tmp_path, bucket, moto.endpoint)

    rc, out, _ = cardrec(capsys, wd, "lifecycle", "diff")
    assert rc == 1 and out.count("+ ") == 3 and "+ ArchiveOldTrainingOutputs" in out, out
    rc, out, _ = cardrec(capsys, wd, "lifecycle", "apply", "--dry-run")
    assert rc == 0 and "dry run" in out and list(rules(c, bucket)) == ["SomeoneElsesLogs"]

    rc, out, _ = cardrec(capsys, wd, "lifecycle", "apply")
    assert rc == 0 and "3 added" in out, out
    got = rules(c, bucket)
    assert got == {**{r["ID"]: aws_lifecycle.normalize(r) for r in EXPECTED},
                   "SomeoneElsesLogs": aws_lifecycle.normalize(FOREIGN)}

    rc, out, _ = cardrec(capsys, wd, "lifecycle", "apply")
    assert rc == 0 and "no changes" in out and rules(c, bucket) == got
    rc, out, _ = cardrec(capsys, wd, "lifecycle", "diff")
    assert rc == 0 and out.strip() == "no changes"
    rc, out, _ = cardrec(capsys, wd, "lifecycle", "show")
    assert rc == 0 and "owned  ArchiveOldProfilingData" in out and "other  SomeoneElsesLogs" in out

    changed = yaml.safe_load((wd / "config.yaml").read_text())
    changed["aws"]["lifecycle"][1]["transition_days"] = 365
    (wd / "config.yaml").write_text(yaml.safe_dump(changed))
    rc, out, _ = cardrec(capsys, wd, "lifecycle", "diff")
    assert rc == 1 and "~ ArchiveOldProfilingData" in out and "after 365 d" in out, out


def test_lifecycle_refuses_to_archive_dvc_remote(moto, tmp_path, capsys):
    c, bucket = s3(moto), "lc-guard"
    c.create_bucket(Bucket=bucket)
    everything = [{"id": "ArchiveEverything", "prefix": "", "transition_days": 30, "storage_class": "DEEP_ARCHIVE"}]
    wd = workdir(tmp_path, bucket, moto.endpoint, aws={"lifecycle": everything})
    rc, _, err = cardrec(capsys, wd, "lifecycle", "apply")
    assert rc == 2 and "ArchiveEverything" in err and f"{P}/dvc/" in err and "Traceback" not in err
    with pytest.raises(ClientError):  # nothing written
        c.get_bucket_lifecycle_configuration(Bucket=bucket)
    ok = [{"id": "ToIA", "prefix": "", "transition_days": 30, "storage_class": "GLACIER_IR"}]  # readable class
    assert aws_lifecycle.dvc_conflicts([aws_lifecycle.s3_rule(ok[0], P)], P) == []
    rc, out, _ = cardrec(capsys, wd, "lifecycle", "apply", "--force")
    assert rc == 0 and list(rules(c, bucket)) == ["ArchiveEverything"]


# ---------------------------------------------------------------- restore

def test_restore_flow(moto, tmp_path, capsys):
    c, bucket = s3(moto), "glacier"
    c.create_bucket(Bucket=bucket)
    cold, warm = f"{P}/models/embedding/run1/model.tar.gz", f"{P}/models/embedding/run1/log.txt"
    c.put_object(Bucket=bucket, Key=cold, Body=b"weights", StorageClass="GLACIER")
    c.put_object(Bucket=bucket, Key=warm, Body=b"log")
    with pytest.raises(ClientError) as e:
        c.get_object(Bucket=bucket, Key=cold)
    assert e.value.response["Error"]["Code"] == "InvalidObjectState"
    wd = workdir(tmp_path, bucket, moto.endpoint)

    rc, out, _ = cardrec(capsys, wd, "restore-status", "models/embedding/")
    assert rc == 3 and f"{cold}: archived (GLACIER)" in out and f"{warm}: readable" in out, out
    rc, out, _ = cardrec(capsys, wd, "restore", "models/embedding/run1/", "--dry-run")
    assert rc == 0 and "1 would request" in out and "1 readable" in out, out
    with pytest.raises(ClientError):
        c.get_object(Bucket=bucket, Key=cold)

    rc, out, _ = cardrec(capsys, wd, "restore", "models/embedding/run1/", "--days", "2", "--tier", "Bulk")
    assert rc == 0 and "1 requested" in out and "1 readable" in out, out
    assert c.get_object(Bucket=bucket, Key=cold)["Body"].read() == b"weights"  # moto restores at once
    rc, out, _ = cardrec(capsys, wd, "restore-status", cold)
    assert rc == 0 and "restored (GLACIER)" in out and "readable until" in out, out
    rc, out, _ = cardrec(capsys, wd, "restore", cold)  # already restored: no new request
    assert rc == 0 and "1 restored" in out and "requested" not in out, out
    rc, _, err = cardrec(capsys, wd, "restore", "no/such/thing")
    assert rc == 2 and "nothing at" in err


def test_restore_dvc_flag_still_parsed(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("storage: {bucket: b, endpoint_url: 'http://127.0.0.1:9'}\n")
    rc, _, err = cardrec(capsys, tmp_path, "restore", "--dvc")
    assert rc == 2 and "no dvc.lock" in err
    rc, _, err = cardrec(capsys, tmp_path, "restore")
    assert rc == 2 and "--dvc" in err and "KEY|PREFIX" in err


# ---------------------------------------------------------------- compress-profiling

PROFILING = {
    f"{P}/profiling/teacher/2026-01-10/epoch1.json": b'{"step": 1}' * 50,
    f"{P}/profiling/teacher/2026-01-10/epoch2.json": b'{"step": 2}' * 50,
    f"{P}/profiling/teacher/2026-01-10/gpu/trace.json": b"trace" * 100,
    f"{P}/profiling/student/2026-01-11/epoch1.json": b'{"loss": 0.5}' * 40,
}
LOOSE = f"{P}/profiling/teacher/README.txt"  # not in a dated folder: left alone


def put_profiling(c, bucket, extra: dict | None = None):
    c.create_bucket(Bucket=bucket)
    for key, body in {**PROFILING, LOOSE: b"notes", **(extra or {})}.items():
        c.put_object(Bucket=bucket, Key=key, Body=body)


def listing(c, bucket) -> set[str]:
    return {o["Key"] for o in c.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_compress_profiling(moto, tmp_path, capsys):
    import datetime as dt

    c, bucket = s3(moto), "prof"
    today = f"{P}/profiling/teacher/{dt.datetime.now(dt.timezone.utc).date().isoformat()}/live.json"
    put_profiling(c, bucket, {today: b"still being written"})
    wd = workdir(tmp_path, bucket, moto.endpoint)
    before = listing(c, bucket)

    rc, out, _ = cardrec(capsys, wd, "compress-profiling")  # dry run by default
    assert rc == 0 and "2 planned" in out and "1 too recent" in out and listing(c, bucket) == before, out
    rc, out, _ = cardrec(capsys, wd, "compress-profiling", "--yes", "--dry-run")
    assert rc == 0 and listing(c, bucket) == before

    rc, out, _ = cardrec(capsys, wd, "compress-profiling", "--yes")
    assert rc == 0 and "2 compressed" in out, out
    teacher, student = f"{P}/profiling/teacher/2026-01-10.tar.gz", f"{P}/profiling/student/2026-01-11.tar.gz"
    assert listing(c, bucket) == {teacher, student, LOOSE, today}
    obj = c.get_object(Bucket=bucket, Key=teacher)
    data = obj["Body"].read()
    assert obj["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        inside = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert inside == {k.split("2026-01-10/", 1)[1]: v for k, v in PROFILING.items() if "2026-01-10" in k}

    rc, out, _ = cardrec(capsys, wd, "compress-profiling", "--yes")
    assert rc == 0 and out.strip().endswith("1 too recent") and listing(c, bucket) == {teacher, student, LOOSE, today}


def test_compress_profiling_failures_keep_originals(moto, monkeypatch):
    c, bucket = s3(moto), "prof-fail"
    put_profiling(c, bucket)
    before = listing(c, bucket)
    real_upload = aws_objects.upload

    def corrupt(s3c, b, key, data):  # stored bytes differ from what was archived
        real_upload(s3c, b, key, data[: len(data) // 2])

    def wrong_archive(s3c, b, key, data):  # a valid tar.gz with a matching sha256, but not these files
        real_upload(s3c, b, key, aws_objects.build_archive({"other.json": b"{}"}))

    monkeypatch.setattr(aws_objects, "upload", wrong_archive)
    with pytest.raises(ToolError, match="originals missing or different"):
        aws_objects.compress_profiling(c, bucket, P, act=True, log=lambda *_: None)
    assert before <= listing(c, bucket)

    monkeypatch.setattr(aws_objects, "upload", corrupt)
    with pytest.raises(ToolError, match="failed verification"):
        aws_objects.compress_profiling(c, bucket, P, act=True, log=lambda *_: None)
    assert before <= listing(c, bucket)  # originals intact; a bad archive may be left behind

    def boom(*_):
        raise ConnectionError("connection reset mid-upload")

    monkeypatch.setattr(aws_objects, "upload", boom)
    with pytest.raises(ToolError, match="originals kept"):
        aws_objects.compress_profiling(c, bucket, P, act=True, log=lambda *_: None)
    assert before <= listing(c, bucket)

    # crash after a good upload, before the delete: the rerun reuses the verified archive without uploading
    monkeypatch.setattr(aws_objects, "upload", real_upload)
    monkeypatch.setattr(aws_objects, "delete", boom)
    lines: list[str] = []
    with pytest.raises(ConnectionError):
        aws_objects.compress_profiling(c, bucket, P, act=True, log=lines.append)
    assert any("replacing an unverified archive" in s for s in lines), lines  # the corrupt one from above
    assert before <= listing(c, bucket)
    monkeypatch.undo()
    uploaded: list[str] = []
    monkeypatch.setattr(aws_objects, "upload", lambda s3c, b, key, data: uploaded.append(key) or real_upload(
        s3c, b, key, data))
    lines.clear()
    counts = aws_objects.compress_profiling(c, bucket, P, act=True, log=lines.append)
    student, teacher = f"{P}/profiling/student/2026-01-11.tar.gz", f"{P}/profiling/teacher/2026-01-10.tar.gz"
    assert any(f"{student}: already uploaded and verified" in s for s in lines), lines  # folders go in order
    assert uploaded == [teacher]  # the verified student archive is not uploaded again
    assert counts == {"compressed": 2}
    assert listing(c, bucket) == {student, teacher, LOOSE}


# ---------------------------------------------------------------- billing alarm

def test_billing_alarm_idempotent(moto, tmp_path, capsys):
    import boto3

    wd = workdir(tmp_path, "unused", moto.endpoint)
    kw = {"endpoint_url": moto.endpoint, "region_name": "us-east-1"}
    sns, cw = boto3.client("sns", **kw), boto3.client("cloudwatch", **kw)
    rc, out, _ = cardrec(capsys, wd, "billing-alarm", "--dry-run", "--email", "ops@example.org")
    assert rc == 0 and "would ensure" in out and not cw.describe_alarms()["MetricAlarms"]

    rc, out, _ = cardrec(capsys, wd, "billing-alarm", "--email", "ops@example.org", "--threshold", "25")
    assert rc == 0 and "created SNS topic" in out and "created alarm" in out, out
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert [t.rsplit(":", 1)[1] for t in topics] == ["cardrec-billing-alerts"] and ":us-east-1:" in topics[0]
    subs = sns.list_subscriptions_by_topic(TopicArn=topics[0])["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.org")]
    (alarm,) = cw.describe_alarms(AlarmNames=["cardrec-monthly-billing"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/Billing", "EstimatedCharges", 25.0)
    assert alarm["Dimensions"] == [{"Name": "Currency", "Value": "USD"}] and alarm["AlarmActions"] == topics

    rc, out, _ = cardrec(capsys, wd, "billing-alarm", "--email", "ops@example.org", "--threshold", "25")
    assert rc == 0 and "no changes" in out, out
    assert len(sns.list_topics()["Topics"]) == 1
    assert len(sns.list_subscriptions_by_topic(TopicArn=topics[0])["Subscriptions"]) == 1
    rc, out, _ = cardrec(capsys, wd, "billing-alarm", "--email", "ops@example.org")  # config threshold: 10
    assert rc == 0 and "updated alarm" in out
    assert cw.describe_alarms(AlarmNames=["cardrec-monthly-billing"])["MetricAlarms"][0]["Threshold"] == 10.0


# ---------------------------------------------------------------- pure builders

def statements(doc):
    assert doc["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in doc["Statement"]}


def as_list(x):
    return x if isinstance(x, list) else [x]


def test_iam_policy_structure(tmp_path, capsys):
    dvc = statements(aws_admin.iam_policy("dvc", "bkt", P))
    assert set(dvc) == {"ListDvcRemote", "ReadWriteDvcRemote"}
    assert dvc["ListDvcRemote"]["Resource"] == "arn:aws:s3:::bkt"
    assert all(p.startswith(f"{P}/dvc") for p in dvc["ListDvcRemote"]["Condition"]["StringLike"]["s3:prefix"])
    assert dvc["ReadWriteDvcRemote"]["Resource"] == f"arn:aws:s3:::bkt/{P}/dvc/*"
    assert "s3:DeleteObject" not in dvc["ReadWriteDvcRemote"]["Action"]

    pi = statements(aws_admin.iam_policy("pi", "bkt", P, model="v3"))
    assert pi["ReadBundle"]["Action"] == "s3:GetObject"
    assert pi["ReadBundle"]["Resource"] == f"arn:aws:s3:::bkt/{P}/models/v3/*"
    assert all(not a.startswith("s3:Put") for s in pi.values() for a in as_list(s["Action"]))
    with pytest.raises(ToolError):
        aws_admin.iam_policy("pi", "bkt", P)

    tr = statements(aws_admin.iam_policy("trainer", "bkt", P, region="us-east-2", account="123456789012"))
    assert tr["ReadTrainingData"]["Resource"] == f"arn:aws:s3:::bkt/{P}/data/*"
    assert tr["ReadTrainingData"]["Action"] == "s3:GetObject"
    assert sorted(tr["WriteTrainingOutputs"]["Resource"]) == [f"arn:aws:s3:::bkt/{P}/models/embedding/*",
                                                            f"arn:aws:s3:::bkt/{P}/profiling/*"]
    assert "sagemaker:CreateTrainingJob" in tr["SageMakerTraining"]["Action"]
    assert tr["SageMakerTraining"]["Resource"].startswith("arn:aws:sagemaker:us-east-2:123456789012:training-job/")
    assert tr["PassExecutionRoleToSageMaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    everything = [a for s in tr.values() for a in as_list(s["Action"])]
    assert not any(a.endswith("*") for a in everything) and "s3:DeleteObject" not in everything
    write = {r for s in tr.values() if "s3:PutObject" in as_list(s["Action"]) for r in as_list(s["Resource"])}
    assert not any("/data/" in r or "/dvc/" in r for r in write)

    wd = workdir(tmp_path, "bkt", "http://127.0.0.1:9")
    rc, out, _ = cardrec(capsys, wd, "iam-policy", "dvc")
    assert rc == 0 and json.loads(out) == aws_admin.iam_policy("dvc", "bkt", P)


def test_tiering_request_shape(moto, tmp_path, capsys):
    req = aws_lifecycle.tiering_request({"aws": AWS}, "bkt", P)
    assert req["Bucket"] == "bkt" and req["Id"] == req["IntelligentTieringConfiguration"]["Id"]
    conf = req["IntelligentTieringConfiguration"]
    assert conf["Status"] == "Enabled" and conf["Filter"] == {"Prefix": f"{P}/"}
    assert conf["Tierings"] == [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"},
                                {"Days": 180, "AccessTier": "DEEP_ARCHIVE_ACCESS"}]
    with pytest.raises(ToolError):
        aws_lifecycle.tiering_request({"aws": {"tiering": {"archive_days": 30}}}, "bkt", P)
    # the request validates against botocore's model of the real API
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("s3")
    validate_parameters(req, model.operation_model("PutBucketIntelligentTieringConfiguration").input_shape)

    wd = workdir(tmp_path, "bkt", moto.endpoint)
    rc, out, err = cardrec(capsys, wd, "tiering", "--dry-run")
    assert rc == 0 and "dry run" in out and '"ARCHIVE_ACCESS"' in out and "DVC remote" in err
    assert aws_lifecycle.same_tiering(req["IntelligentTieringConfiguration"], req)  # as AWS's GET returns it
    changed = {**req["IntelligentTieringConfiguration"], "Tierings": [{"Days": 120, "AccessTier": "ARCHIVE_ACCESS"}]}
    assert not aws_lifecycle.same_tiering(changed, req) and not aws_lifecycle.same_tiering({}, req)
    # moto 5.2.5 answers the PUT but stores nothing (its GET returns {}): only the call path is checked here
    s3(moto).create_bucket(Bucket="tier-bkt")
    wd = workdir(tmp_path, "tier-bkt", moto.endpoint)
    rc, out, _ = cardrec(capsys, wd, "tiering")
    assert rc == 0 and "written" in out


# ---------------------------------------------------------------- errors and help

def test_clear_errors(moto, tmp_path, capsys, monkeypatch):
    wd = workdir(tmp_path, "no-such-bucket", moto.endpoint)
    rc, _, err = cardrec(capsys, wd, "lifecycle", "show")
    assert rc == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = cardrec(capsys, wd, "lifecycle", "show", "--endpoint-url", "http://127.0.0.1:9")
    assert rc == 2 and "Could not connect" in err and len(err.strip().splitlines()) == 1, err
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    rc, _, err = cardrec(capsys, wd, "compress-profiling")
    assert rc == 2 and "no AWS credentials" in err, err
    (tmp_path / "config.yaml").write_text("storage: {bucket: null}\n")
    rc, _, err = cardrec(capsys, wd, "restore-status", "x")
    assert rc == 2 and "--bucket" in err


@pytest.mark.parametrize("cmd", ["restore", "restore-status", "lifecycle", "tiering", "compress-profiling", "registry",
                                 "billing-alarm", "iam-policy"])
def test_help(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        main(["aws", cmd, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: cardrec aws" in out
    assert "--endpoint-url" in out and ("--dry-run" in out or cmd in ("restore-status", "iam-policy"))


# ---------------------------------------------------------------- model registry

def test_registry(moto, tmp_path, capsys):
    import boto3

    wd = workdir(tmp_path, "unused", moto.endpoint)
    (tmp_path / "metrics.json").write_text(json.dumps({"top1": 0.91, "recall": {"at5": 0.98}, "note": "x"}))
    art = "s3://bkt/project/demo/models/v1/"
    rc, out, _ = cardrec(capsys, wd, "registry", "register", "teacher", "--artifact", art + "teacher.onnx",
                         "--metrics", str(tmp_path / "metrics.json"), "--dry-run")
    req = json.loads(out.rsplit("dry run", 1)[0])
    assert rc == 0 and req["CustomerMetadataProperties"] == {
        "kind": "teacher", "artifact": art + "teacher.onnx", "metric:top1": "0.91", "metric:recall.at5": "0.98"}
    assert req["ModelApprovalStatus"] == "PendingManualApproval" and "InferenceSpecification" not in req
    with_image = aws_registry.package_request("g", "student", art + "s.tar.gz", image="123.dkr.ecr/x:1")
    assert with_image["InferenceSpecification"]["Containers"] == [{"Image": "123.dkr.ecr/x:1",
                                                                  "ModelDataUrl": art + "s.tar.gz"}]

    for kind, name in (("teacher", "teacher.onnx"), ("student", "student.onnx"), ("hef", "student.hef")):
        rc, out, _ = cardrec(capsys, wd, "registry", "register", kind, "--artifact", art + name,
                             "--metrics", str(tmp_path / "metrics.json"))
        assert rc == 0 and out.startswith("registered:"), out
    rc, out, _ = cardrec(capsys, wd, "registry", "register", "hef", "--artifact", art + "student.hef")
    assert rc == 0 and out.startswith("already registered:")
    rc, out, _ = cardrec(capsys, wd, "registry", "approve", "3")
    assert rc == 0 and "approved" in out
    rc, out, _ = cardrec(capsys, wd, "registry", "list")
    lines = out.strip().splitlines()
    assert rc == 0 and len(lines) == 3 and "top1=0.91" in lines[0], out
    assert "Approved" in lines[2] and "hef" in lines[2] and "PendingManualApproval" in lines[0]
    sm = boto3.client("sagemaker", endpoint_url=moto.endpoint, region_name="us-east-1")
    pkgs = sm.list_model_packages(ModelPackageGroupName="demo-card-recognition")["ModelPackageSummaryList"]
    assert sorted(p["ModelApprovalStatus"] for p in pkgs) == ["Approved", "PendingManualApproval",
                                                             "PendingManualApproval"]
    rc, _, err = cardrec(capsys, wd, "registry", "approve", "9")
    assert rc == 2 and "no version 9" in err
