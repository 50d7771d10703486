"""Evaluation metrics on constructed similarities: top-k, threshold calibration, unknown rejection."""
import numpy as np

from cardrec.evaluation.metrics import (choose_threshold, embedding_similarity, evaluate_similarity, hash_similarity,
                              phash_codes, unknown_ids)


def test_threshold_rejects_at_most_the_budget():
    scores = np.linspace(0.5, 1.0, 100)
    thr = choose_threshold(scores, 0.02)
    assert np.mean(scores < thr) <= 0.02 and np.mean(scores < np.nextafter(thr, 2)) > 0.02


def test_metrics_from_embeddings():
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(20)]
    gal = rng.normal(size=(20, 16))
    gal /= np.linalg.norm(gal, axis=1, keepdims=True)
    rows, qs = [], []
    for i in range(20):
        for split in ("val", "test"):
            q = gal[i] + 0.1 * rng.normal(size=16)
            qs.append(q / np.linalg.norm(q))
            rows.append({"card_id": ids[i], "split": split})
    qs = np.asarray(qs)
    qs[1] = gal[5]  # one test query of c0 looks exactly like c5: a confusion
    unknown = {"c19"}
    m = evaluate_similarity(embedding_similarity(gal, qs), ids, rows, unknown, 0.05, 3)
    assert m["gallery"] == 19 and m["queries_test"] == 19 and m["queries_unknown"] == 1
    assert m["top1"] == 18 / 19 and m["confusions"][0]["true"] == "c0" and m["confusions"][0]["pred"] == "c5"
    assert m["top3"] >= m["top1"]
    assert 0 < m["threshold"] < 1 and m["unknown_reject_rate"] in (0.0, 1.0)


def test_unknown_subset_is_deterministic():
    ids = [f"x-{i}" for i in range(1000)]
    a, b = unknown_ids(ids, 0.1), unknown_ids(ids, 0.1)
    assert a == b and 60 < len(a) < 140


def test_phash_identical_images_score_one():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, (3, 64, 48, 3), dtype=np.uint8)
    codes = phash_codes(imgs)
    assert codes.shape == (3, 128)
    sim = hash_similarity(codes, codes)(np.arange(3), np.arange(3))
    np.testing.assert_allclose(np.diag(sim), 1.0)
    assert (sim[~np.eye(3, dtype=bool)] < 0.9).all()


def test_max_false_reject_is_bounded_by_the_schema(tmp_path):
    """`max_false_reject: 1` would index past the scores: the config check names the key before planning."""
    import yaml

    from .conftest import TINY, make_workdir, snakemake

    wd = make_workdir(tmp_path / "wd")
    tiny = yaml.safe_load(TINY.read_text())
    for bad in (1, 0.9, -0.1):
        overlay = tmp_path / "bad.yaml"
        overlay.write_text(yaml.safe_dump({"evaluate": {**tiny["evaluate"], "max_false_reject": bad}}))
        proc = snakemake(wd, "-n", "--configfile", str(TINY), str(overlay), check=False)
        assert proc.returncode != 0 and "max_false_reject" in proc.stdout + proc.stderr, (bad, proc.stderr[-2000:])
    try:
        choose_threshold(np.linspace(0, 1, 10), 1.0)
    except ValueError as e:
        assert "max_false_reject" in str(e)
    else:
        raise AssertionError("choose_threshold accepted max_false_reject=1")


def test_the_loss_plot_has_a_panel_per_stage_and_the_segmenters_curve_per_step(tmp_path):
    """Rule summarize_evaluation's loss plot: the epoch curves of the teacher and students, from the segmenter's
    record its windowed loss against the step each window ends at, and from the corner refiner's its loss per epoch
    (one panel each: the figure's width says how many)."""
    from PIL import Image

    from cardrec.evaluation.plots import training_curves
    from cardrec.evaluation.summary import refiner_curve, segmenter_curve

    curve = segmenter_curve({"loss_every": 80, "loss": [1.16, 0.73, 0.05]})
    assert curve == [{"step": 80, "loss": 1.16}, {"step": 160, "loss": 0.73}, {"step": 240, "loss": 0.05}]
    epochs = [{"epoch": "1", "step": "10", "loss": "2.0", "lr": "0.1"}, {"epoch": "2", "step": "20", "loss": "1.5",
                                                                         "lr": "0.1"}]
    refiner = refiner_curve({"loss": [0.06, 0.03, 0.004]})
    assert refiner == [{"epoch": 1, "loss": 0.06}, {"epoch": 2, "loss": 0.03}, {"epoch": 3, "loss": 0.004}]
    widths = {}
    for n in (1, 2, 3):
        stages = dict(list({"teacher": epochs, "segmenter": curve, "corner refiner": refiner}.items())[:n])
        training_curves(stages, str(tmp_path / f"{n}.png"))
        widths[n] = Image.open(tmp_path / f"{n}.png").size[0]
    assert widths[2] == 2 * widths[1] and widths[3] == 3 * widths[1]
