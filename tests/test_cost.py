"""Cost arithmetic: the seed document's scenario with corrected totals, and hand-computed lifecycle cases."""
from __future__ import annotations

import json

import pytest
import yaml

from cardrec.cost.training import benchmark_seconds, job_cost, read_job_record, to_markdown, training_cost
from cardrec.cost.edge import break_even_month, compare, edge_option, endpoint_option, units_needed
from cardrec.cost.projection import MONTH_DAYS, project, rules_from_lifecycle
from cardrec.cost.storage import GB, Obj, group_of, month_usd, storage_table

from .conftest import REPO

KB, MB = 1024, 1024 ** 2
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())["cost"]
LIFECYCLE = yaml.safe_load((REPO / "config.yaml").read_text())["aws"]["lifecycle"]  # what `aws lifecycle` applies
PRICES = CONFIG["prices"]
S3 = PRICES["s3"]
# The seed's own numbers (docs: shared/seed/cost-optimization.md).
SEED_S3 = {**S3, "storage_gb_month": {"STANDARD": 0.023, "GLACIER": 0.004}}


def test_config_prices_are_the_seeds_and_dated():
    tr, ep = PRICES["training"]["instances"], PRICES["endpoints"]["instances"]
    assert tr["ml.p4d.24xlarge"]["on_demand_hour"] == 32.77 and tr["ml.m5.2xlarge"]["on_demand_hour"] == 0.461
    assert {k: v["on_demand_hour"] for k, v in ep.items()} == {"ml.c5.xlarge": 0.204, "ml.g4dn.xlarge": 0.736,
                                                               "ml.inf1.xlarge": 0.362}
    assert all(isinstance(g["read_on"], str) and g["read_on"] for g in PRICES.values())


def test_seed_training_is_20_67_not_11_50(tmp_path):
    tsv = tmp_path / "b.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\n720.0\t0:12:00\t1\n")
    assert benchmark_seconds(tsv) == 720.0
    r = training_cost({"teacher": 720, "stage1": 900, "stage2": 600}, PRICES, "ml.p4d.24xlarge", local_kw=0.065)
    od = [s["on_demand_usd"] for s in r["steps"]]
    assert od == pytest.approx([6.554, 8.1925, 5.4617], abs=1e-4)  # seed: $4.00, $4.00, $3.00
    hailo = training_cost({"hailo": 3600}, PRICES, "ml.m5.2xlarge", 0.065)["total"]["on_demand_usd"]
    assert r["total"]["on_demand_usd"] + hailo == pytest.approx(20.6692, abs=1e-3)  # seed: $11.50
    assert r["total"]["spot_usd"] == pytest.approx(9.83 * 37 / 60, abs=1e-3)  # spot_hour from the table
    assert r["steps"][0]["local_usd"] == pytest.approx(0.2 * 0.065 * 0.15, abs=1e-6)
    assert "| teacher | 720.0 |" in to_markdown(r)


def test_spot_falls_back_to_discount_and_unknown_instance_fails():
    r = training_cost({"t": 3600}, PRICES, "ml.g4dn.xlarge", 0.1)
    assert r["total"]["spot_usd"] == pytest.approx(0.736 * 0.3, abs=1e-4)
    with pytest.raises(KeyError):
        training_cost({"t": 1.0}, PRICES, "ml.nope", 0.1)


def test_sagemaker_job_record_bills_billable_seconds_times_instances(tmp_path):
    p = tmp_path / "teacher.json"
    p.write_text(json.dumps({"TrainingJobName": "t-1", "TrainingTimeInSeconds": 1000, "BillableTimeInSeconds": 300,
                             "EnableManagedSpotTraining": True,
                             "ResourceConfig": {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2}}))
    j = job_cost(read_job_record(p), PRICES)
    assert j["stage"] == "teacher" and j["count"] == 2
    assert j["billed_usd"] == pytest.approx(300 * 2 * 32.77 / 3600, abs=1e-4)  # 5.4617
    assert j["on_demand_usd"] == pytest.approx(1000 * 2 * 32.77 / 3600, abs=1e-4)
    assert j["spot_saving"] == pytest.approx(0.7)


def test_seed_storage_tables_sum_to_0_732_and_0_769():
    before = {"models/": 5.7, "data/": 26.0, "profiling/": 0.117, "analytics/": 0.002, "metadata/": 0.010}
    assert sum(before.values()) == pytest.approx(31.829)  # seed: "31.7 GB"
    assert month_usd({"STANDARD": sum(before.values())}, SEED_S3) == pytest.approx(0.732067, abs=1e-6)  # seed 0.729
    after = {"STANDARD": 5.7 + 26.0 + 0.002 + 0.010, "GLACIER": 0.117 + 10.0}  # its lifecycle table's rows
    assert month_usd(after, SEED_S3) == pytest.approx(0.769844, abs=1e-6)  # seed claims $0.302
    assert round(0.131 + 0.598 + 0.000 + 0.000 + 0.000 + 0.040, 3) == 0.769  # the table's own rounded rows


def test_storage_table_groups_by_longest_prefix_and_adds_archive_overhead():
    groups = CONFIG["storage_groups"]
    assert group_of("models/embedding/job/out.tar.gz", groups) == "models/embedding/"
    assert group_of("models/v1/model.onnx", groups) == "models/"
    assert group_of("tmp/x", groups) == "other"
    rows = storage_table([Obj("models/embedding/a", GB, "GLACIER"), Obj("dvc/x", 2 * GB)], groups, S3)
    by = {(r["group"], r["storage_class"]): r for r in rows}
    assert by[("dvc/", "STANDARD")]["usd_month"] == pytest.approx(2 * 0.023)
    glacier = (GB + 32 * KB) / GB * 0.004 + 8 * KB / GB * 0.023
    assert by[("models/embedding/", "GLACIER")]["usd_month"] == pytest.approx(glacier, abs=1e-9)


def test_lifecycle_projection_hand_computed():
    objs = ([Obj(f"models/embedding/j/{i}", MB) for i in range(2000)]
            + [Obj(f"models/embedding/s/{i}", 64 * KB) for i in range(100)]  # under 128 KB: never moves
            + [Obj(f"dvc/{i}", MB) for i in range(10)])
    p = project(objs, rules_from_lifecycle(LIFECYCLE), S3, months=60)
    m = p["months"]
    assert len(m) == 60
    std_before = (2000 * MB + 100 * 64 * KB + 10 * MB) / GB * 0.023
    assert m[0]["total_usd"] == pytest.approx(std_before, abs=1e-6)
    assert m[2]["transition_usd"] == 0  # day 61 of 90
    moved = 3  # month index whose start (day 91.25) is past 90 days
    assert moved * MONTH_DAYS >= 90 > (moved - 1) * MONTH_DAYS
    assert m[moved]["transition_usd"] == pytest.approx(2000 * 0.03 / 1000)  # $0.06 in request fees
    glacier = 2000 * (MB + 32 * KB) / GB * 0.004
    standard = (100 * 64 * KB + 10 * MB + 2000 * 8 * KB) / GB * 0.023
    assert m[moved]["storage_usd"] == pytest.approx(glacier + standard, abs=1e-6)
    assert m[59]["total_usd"] == pytest.approx(glacier + standard, abs=1e-6)
    assert p["transitions"] == [{"from": "STANDARD", "to": "GLACIER", "month": moved + 1, "objects": 2000,
                                 "gb": round(2000 * MB / GB, 6), "fee_usd": 0.06}]
    assert p["by_rule"]["ArchiveOldTrainingOutputs: under 128 KB, not transitioned"]["objects"] == 100
    assert m[59]["cumulative_usd"] == pytest.approx(sum(x["total_usd"] for x in m), abs=1e-5)


def test_glacier_minimum_duration_is_billed_on_early_expiry():
    rules = [{"id": "r", "prefix": "x/", "days": 0, "storage_class": "GLACIER", "expire_days": 30}]
    p = project([Obj("x/a", GB)], rules, S3, months=3)["months"]
    per_month = (GB + 32 * KB) / GB * 0.004 + 8 * KB / GB * 0.023
    assert p[0]["transition_usd"] == pytest.approx(0.03 / 1000)
    assert p[0]["storage_usd"] == pytest.approx(per_month, abs=1e-6)
    assert p[1]["storage_usd"] == 0  # expired after one month (30.4 days) in Glacier ...
    billed_rest = (90 - MONTH_DAYS) / MONTH_DAYS * per_month  # ... but 90 days are billed
    assert p[1]["early_delete_usd"] == pytest.approx(billed_rest, abs=1e-6)
    assert p[2]["total_usd"] == 0


def test_seed_cloud_vs_edge_at_720_hours():
    c5 = endpoint_option("ml.c5.xlarge", 0.204, 80, 100, 720, 60)
    assert c5["monthly_usd"] == pytest.approx(146.88) and c5["year1_usd"] == pytest.approx(1762.56)
    pi = edge_option(80 + 70, 15, 0.15, 30, 100, 720, 60)
    assert pi["upfront_usd"] == 150  # seed: "Total Hardware: $80"
    assert pi["monthly_usd"] == pytest.approx(1.62)
    assert pi["year1_usd"] == pytest.approx(169.44)  # seed: $115 with $80 hardware
    assert pi["cumulative_usd"][-1] == pytest.approx(247.2)
    assert c5["cumulative_usd"][-1] - pi["cumulative_usd"][-1] == pytest.approx(8565.6)  # seed: $8,603
    assert break_even_month(c5, pi) == 2  # 150 + 1.62 m <= 146.88 m from m = 2


def test_capacity_scales_units_with_demand():
    assert units_needed(100, 80) == 1
    assert units_needed(45_000, 80) == 1 and units_needed(45_001, 80) == 2
    assert edge_option(150, 15, 0.15, 30, 250_000, 730, 12)["units"] == 3


def test_compare_uses_config_prices():
    r = compare(CONFIG, PRICES)
    assert r["edge"]["upfront_usd"] == 150 and r["edge"]["hardware"] == {"raspberry_pi_5_8gb": 80, "hailo_8l_m2": 70}
    by = {c["name"]: c for c in r["cloud"]}
    assert by["ml.inf1.xlarge"]["monthly_usd"] == pytest.approx(0.362 * 730)
    assert r["read_on"]["hardware"] == PRICES["hardware"]["read_on"]


def test_one_off_fees_upload_and_restore():
    from cardrec.cost.storage import one_off_fees

    rows = [{"storage_class": "STANDARD", "objects": 2000, "gb": 1.0},
            {"storage_class": "GLACIER", "objects": 1000, "gb": 10.0}]
    f = one_off_fees(rows, S3)
    assert f["upload_usd"] == pytest.approx(3000 * 0.005 / 1000)
    assert f["restore_all_usd"] == {"GLACIER": pytest.approx(10 * 0.01 + 1000 * 0.05 / 1000)}  # seed: "$0.01/1,000"
