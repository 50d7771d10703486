"""Hard-negative mining finds the constructed near-duplicates; calibration sets follow the contract."""
import csv

import numpy as np
from cardrec_edge.preprocess import Preprocess

from cardrec.data.augment import AugmentParams
from cardrec.data.calibration import build_calibration, stratified_pick
from cardrec.training.mining import mine, nearest_other_cards, write_hard_negatives


def test_mining_excludes_self_and_finds_twin(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(6, 8))
    emb[3] = emb[1] + 0.01 * rng.normal(size=8)  # card 3 is a near-duplicate of card 1
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    idx, sims = nearest_other_cards(emb.astype(np.float32), 2)
    assert (idx != np.arange(6)[:, None]).all()
    assert idx[1, 0] == 3 and idx[3, 0] == 1 and sims[1, 0] > 0.99
    cards = [{"id": f"c{i}", "name": f"n{i}"} for i in range(6)]
    n = write_hard_negatives(cards, {"stage1": emb}, 2, tmp_path / "hn.csv", tmp_path / "pairs.md")
    rows = list(csv.DictReader(open(tmp_path / "hn.csv")))
    assert n == len(rows) == 12
    assert "c1" in (tmp_path / "pairs.md").read_text().splitlines()[4]


def test_mining_unions_sources_and_ranks_by_best_cosine():
    e1 = np.eye(4, dtype=np.float32)
    e1[2] = [0.9, 0.1, 0.0, 0.0]  # stage 1: card 2 looks like card 0
    e2 = np.eye(4, dtype=np.float32)
    e2[3] = [0.0, 0.95, 0.0, 0.05]  # teacher: card 3 looks like card 1
    e1 /= np.linalg.norm(e1, axis=1, keepdims=True)
    e2 /= np.linalg.norm(e2, axis=1, keepdims=True)
    cards = [{"id": f"c{i}", "name": f"n{i}"} for i in range(4)]
    rows = mine(cards, {"stage1": e1, "teacher": e2}, 1)
    first = {r["card_id"]: r for r in rows if r["rank"] == 1}
    assert first["c0"]["neighbor_id"] == "c2" and first["c0"]["sources"] == "stage1"
    assert first["c1"]["neighbor_id"] == "c3" and first["c1"]["sources"] == "teacher"
    assert all(1 <= sum(r["card_id"] == c["id"] for r in rows) <= 2 for c in cards)


def test_stratified_over_sets_and_types():
    cards = [{"id": f"{s}-{i}", "set": s, "types": [t]} for s in "ab" for i, t in enumerate(["Fire"] * 8 + ["Water"] * 2)]
    picks = stratified_pick(cards, 4, seed=0)
    strata = {(cards[i]["set"], cards[i]["types"][0]) for i in picks}
    assert len(strata) == 4  # one from each (set, type) before any repeat
    assert len(stratified_pick(cards, 30, seed=0)) == 30  # more than the cards: another round


def test_calibration_format_and_contract():
    c = Preprocess(height=64, width=48)
    cards = [{"id": f"s-{i}", "set": "s", "types": ["Fire"]} for i in range(3)]
    faces = np.random.default_rng(1).integers(0, 255, (3, 112, 80, 3), dtype=np.uint8)
    calib, ids = build_calibration(cards, faces, 5, 9, c, AugmentParams())
    assert calib.shape == (5, 64, 48, 3) and calib.dtype == np.uint8 and len(ids) == 5
    assert calib.max() > 128  # raw 0-255 pixels, not normalised
    np.testing.assert_array_equal(c.denormalize(c.normalize(calib)), calib)


def test_calibration_set_leaves_out_the_unknown_cards(tmp_path):
    """The rule's calibration renders never show a card held out as unknown (real Snakemake, tiny config)."""
    import json

    import yaml

    from cardrec.evaluation.metrics import unknown_ids

    from .conftest import TINY, make_workdir, snakemake

    wd = make_workdir(tmp_path / "wd")
    many = tmp_path / "calib.yaml"  # more renders than cards: every card the rule may use is drawn
    many.write_text(yaml.safe_dump({"calibration": {"count": 40, "seed": 4}}))
    snakemake(wd, "results/calibration/calib.json", "--configfile", str(TINY), str(many))
    cards = [c["id"] for s in ("syn1", "syn2") for c in json.loads((wd / f"results/ingest/{s}/cards.json").read_text())]
    unknown = unknown_ids(cards, yaml.safe_load(TINY.read_text())["evaluate"]["unknown_fraction"])
    used = set(json.loads((wd / "results/calibration/calib.json").read_text())["card_ids"])
    assert unknown and used and not used & unknown, sorted(used & unknown)
    assert used == set(cards) - unknown
