"""Training cost arithmetic from benchmark files (the seed's own example, corrected)."""
import pytest

from cardrec.cost import benchmark_seconds, to_markdown, training_cost

PRICES = {"read_on": "2025-01-15", "electricity_kwh": 0.15, "spot_discount": 0.7,
          "instances": {"ml.p4d.24xlarge": {"on_demand_hour": 32.77}}}


def test_seed_teacher_example_is_6_55(tmp_path):
    tsv = tmp_path / "b.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\n720.0\t0:12:00\t1\n")
    assert benchmark_seconds(tsv) == 720.0
    r = training_cost({"teacher": benchmark_seconds(tsv)}, PRICES, "ml.p4d.24xlarge", local_kw=0.065)
    assert r["steps"][0]["on_demand_usd"] == pytest.approx(6.554, abs=1e-3)  # $32.77/h x 12 min, not $4.00
    assert r["steps"][0]["spot_usd"] == pytest.approx(6.554 * 0.3, abs=1e-3)
    assert r["steps"][0]["local_usd"] == pytest.approx(0.2 * 0.065 * 0.15, abs=1e-6)
    assert "| teacher | 720.0 |" in to_markdown(r)


def test_unknown_instance_is_a_clear_error():
    with pytest.raises(KeyError):
        training_cost({"t": 1.0}, PRICES, "ml.nope", 0.1)
