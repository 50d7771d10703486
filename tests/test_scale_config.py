"""config/scale20k.yaml: 20,000 synthetic cards plan as per-set (shard) jobs, never one job per image."""
from __future__ import annotations

import yaml

from .conftest import REPO, make_workdir, planned_jobs

SCALE = REPO / "config" / "scale20k.yaml"


def test_scale_config_has_20k_cards():
    sets = yaml.safe_load(SCALE.read_text())["synthetic"]["sets"]
    assert len(sets) == 40 and sum(s["n_cards"] for s in sets) == 20_000


def test_scale_dag_grows_with_sets_not_cards(tmp_path):
    jobs = planned_jobs(make_workdir(tmp_path), SCALE)
    assert jobs["synthesize_cards"] == 40 and jobs["preprocess"] == 40
    assert sum(jobs.values()) < 1000  # 20,000 cards: a job per image would be tens of thousands
