"""Cost report end to end: live bucket inventory (moto_server, paginated), Cost Explorer, CLI and the Snakemake rule."""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from cardrec.cost.actual import beside_estimate, month_period, request
from cardrec.cli import main as cardrec_main
from cardrec.cost.storage import list_inventory
from cardrec.cost.training import PRICED_STEPS, training_benchmark

from .conftest import make_workdir, snakemake
from .s3_servers import ACCESS_KEY, SECRET_KEY

BUCKET = "cardrec-cost"
PREFIX = "project/cardrec"
N_DVC = 1100  # > 1000: ListObjectsV2 needs a second page


def run_cli(*argv: str) -> int:
    return cardrec_main(list(argv))


@pytest.fixture()
def filled_bucket(moto_s3):
    c = moto_s3.client()
    c.create_bucket(Bucket=BUCKET)

    def put(args):
        key, body, cls = args
        c.put_object(Bucket=BUCKET, Key=key, Body=body, StorageClass=cls)

    items = [(f"{PREFIX}/dvc/files/md5/{i:04d}", b"x" * 10, "STANDARD") for i in range(N_DVC)]
    items += [(f"{PREFIX}/models/embedding/job{i}/model.tar.gz", b"m" * 200_000, "GLACIER") for i in range(3)]
    items += [(f"{PREFIX}/models/embedding/job9/model.tar.gz", b"n" * 200_000, "STANDARD")]
    items += [(f"{PREFIX}/profiling/teacher/{i}.json", b"p" * 1000, "STANDARD_IA") for i in range(5)]
    items += [("elsewhere/not-ours.bin", b"z" * 5000, "STANDARD")]
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(put, items))
    return moto_s3


def test_inventory_paginates_and_keeps_storage_classes(filled_bucket):
    objs = list_inventory(filled_bucket.client(), BUCKET, PREFIX)
    assert len(objs) == N_DVC + 3 + 1 + 5  # every page, nothing outside the project prefix
    by_class: dict[str, int] = {}
    for o in objs:
        by_class[o.storage_class] = by_class.get(o.storage_class, 0) + 1
    assert by_class == {"STANDARD": N_DVC + 1, "GLACIER": 3, "STANDARD_IA": 5}
    assert all(not o.key.startswith("project/") for o in objs)
    assert all(o.age_days >= 0 for o in objs)


@pytest.fixture()
def aws_env(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


def _workdir(tmp_path, overlay: dict | None = None):
    wd = make_workdir(tmp_path / "wd")
    for step in PRICED_STEPS:  # the default config trains all of them
        rel = training_benchmark(step)
        (wd / rel).parent.mkdir(parents=True, exist_ok=True)
        (wd / rel).write_text("s\th:m:s\n720.0\t0:12:00\n")
    (wd / "results" / "jobs").mkdir(parents=True)
    (wd / "results" / "jobs" / "teacher.json").write_text(json.dumps(
        {"TrainingJobName": "teacher-1", "TrainingTimeInSeconds": 720, "BillableTimeInSeconds": 216,
         "EnableManagedSpotTraining": True, "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1}}))
    (wd / "results" / "model.bin").write_bytes(b"0" * 300_000)
    if overlay:
        (wd / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    return wd


def test_cli_report_from_the_bucket(filled_bucket, aws_env, tmp_path):
    wd = _workdir(tmp_path, {"storage": {"bucket": BUCKET, "endpoint_url": filled_bucket.endpoint}})
    assert run_cli("cost", "report", "--workdir", str(wd), "--configfile", "overlay.yaml") == 0
    r = json.loads((wd / "results/cost/cost_report.json").read_text())
    rows = {(x["group"], x["storage_class"]): x for x in r["storage"]["rows"]}
    assert rows[("dvc/", "STANDARD")]["objects"] == N_DVC
    assert rows[("models/embedding/", "GLACIER")]["objects"] == 3
    assert rows[("profiling/", "STANDARD_IA")]["objects"] == 5
    assert r["storage"]["source"] == f"s3://{BUCKET}/{PREFIX}/"
    # the one STANDARD model output (200 kB >= 128 KB) moves in month 4; the 10-byte dvc objects have no rule
    assert [(t["month"], t["objects"]) for t in r["lifecycle"]["transitions"]] == [(4, 1)]
    assert r["jobs"][0]["billed_usd"] == pytest.approx(216 * 32.77 / 3600, abs=1e-4)
    md = (wd / "results/cost/cost_report.md").read_text()
    assert "Prices read on: training 2026-01-12" in md and "| dvc/ | STANDARD | 1100 |" in md
    for png in ("cloud_vs_edge.png", "storage.png"):
        assert (wd / "results/cost" / png).read_bytes()[:4] == b"\x89PNG"


def test_cost_actual_from_cost_explorer(moto_s3, aws_env, tmp_path, capsys):
    results = {"results": [{"ResultsByTime": [{
        "TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"}, "Total": {}, "Estimated": False,
        "Groups": [{"Keys": ["Amazon SageMaker"], "Metrics": {"UnblendedCost": {"Amount": "6.55", "Unit": "USD"}}},
                   {"Keys": ["Amazon Simple Storage Service"],
                    "Metrics": {"UnblendedCost": {"Amount": "0.77", "Unit": "USD"}}}]}]}]}
    req = urllib.request.Request(f"{moto_s3.endpoint}/moto-api/static/ce/cost-and-usage-results",
                                 data=json.dumps(results).encode(), headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req).status == 201
    wd = _workdir(tmp_path)
    assert run_cli("cost", "actual", "--workdir", str(wd), "--month", "2026-01", "--endpoint-url", moto_s3.endpoint,
                   "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["service"]: r["actual_usd"] for r in out["services"]} == {
        "Amazon SageMaker": 6.55, "Amazon Simple Storage Service": 0.77}


def test_cost_explorer_request_and_estimate():
    assert month_period("2026-12") == {"Start": "2026-12-01", "End": "2027-01-01"}
    assert request("2026-02")["TimePeriod"] == {"Start": "2026-02-01", "End": "2026-03-01"}
    assert request("2026-02")["GroupBy"] == [{"Type": "DIMENSION", "Key": "SERVICE"}]
    with pytest.raises(ValueError):
        month_period("2026-13")
    rows = beside_estimate({"Amazon SageMaker": 1.0}, {"jobs_total_usd": 2.0, "lifecycle": {"months": [
        {"total_usd": 0.5}]}})
    assert rows == [{"service": "Amazon SageMaker", "actual_usd": 1.0, "estimate_usd": 2.0},
                    {"service": "Amazon Simple Storage Service", "actual_usd": 0.0, "estimate_usd": 0.5}]


def test_rule_cost_report_runs_on_the_default_config(tmp_path):
    """The real rule (no bucket: local artifact sizes), with the training benchmarks as given inputs."""
    wd = _workdir(tmp_path)
    shutil.rmtree(wd / "results" / "jobs")
    snakemake(wd, "results/cost/cost_report.json", "--allowed-rules", "cost_report")
    r = json.loads((wd / "results/cost/cost_report.json").read_text())
    assert r["storage"]["rows"] == [{"group": "dvc/", "storage_class": "STANDARD", "objects": 1, "bytes": 300_000,
                                     "gb": round(300_000 / 1024 ** 3, 6), "usd_month": round(300_000 / 1024 ** 3 *
                                                                                             0.023, 9)}]
    assert r["jobs"] == [] and [s["step"] for s in r["training"]["steps"]] == list(PRICED_STEPS)
    assert [s["seconds"] for s in r["training"]["steps"]] == [720.0] * len(PRICED_STEPS)
    assert (wd / "results/cost/training_cost.json").exists() and (wd / "results/cost/storage.png").exists()
    assert os.path.getsize(wd / "results/cost/cloud_vs_edge.png") > 1000


def test_cli_report_without_bucket_uses_local_artifacts(tmp_path, capsys):
    wd = _workdir(tmp_path)
    assert run_cli("cost", "report", "--workdir", str(wd), "--out", "out") == 0
    r = json.loads((wd / "out/cost_report.json").read_text())
    assert r["storage"]["source"].startswith("local artifacts")
    # results/model.bin and the job record, each one STANDARD object under dvc/
    assert [(x["group"], x["objects"]) for x in r["storage"]["rows"]] == [("dvc/", 2)]
    assert r["lifecycle"]["transitions"] == []  # dvc/ has no lifecycle rule: it must stay readable
    assert "wrote" in capsys.readouterr().out
