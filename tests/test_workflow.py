"""The real workflow on the tiny config: outputs, nothing stale after a run, exact staleness on change."""
import csv
import json
import subprocess
import sys

import numpy as np
import onnx
import torch
import yaml
from cardrec_edge.bundle import Bundle
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.segment import CardSegmenter
from PIL import Image

from .conftest import TINY, planned_jobs, snakemake

TRAINING = {"train_teacher", "train_student", "mine_hard_negatives",
            "export_onnx", "calibration_set", "quantize_onnx"}
UPSTREAM = {"synthesize_cards", "ingest", "preprocess", "render_queries", "preprocessing_contract"}


def overlay(tmp_path, name, changes):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(changes))
    return path


def test_outputs_and_bundle(tiny_run):
    m = json.loads((tiny_run / "results/edge/manifest.json").read_text())
    assert set(m["files"]) == {"model", "embeddings", "index", "cards", "thumbnails", "projection", "orientation",
                               "segmenter", "corners"}
    seg = m["segmenter"]  # trained on rendered scenes of the cards not held out, exported, shipped as measured
    assert (seg["height"], seg["width"], seg["band"], seg["steps"], seg["scenes"]) == (48, 64, 8, 6, 24)
    assert 0 < seg["cards"] < 16 and seg["stream"] == "detector" and np.isfinite(seg["final_loss"])
    record = json.loads((tiny_run / "results/segmenter/segmenter.json").read_text())
    assert len(record["loss"]) == 6 and all(seg[k] == v for k, v in record.items() if k != "loss")
    assert seg["model_variant"] == m["model_variant"] == "int8"  # the INT8 segmenter beside the INT8 model
    assert seg["int8"]["calibration_images"] == 4 and seg["int8"]["min_mask_agreement"] == 0.5  # its gate passed
    assert 0.5 <= seg["int8"]["mask_agreement"] <= 1
    bundle = Bundle.load(tiny_run / "results/edge")  # the runtime's loader and model
    segmenter = CardSegmenter(bundle.segmenter, bundle.manifest["segmenter"], bundle.contract, threads=1)
    frame = np.asarray(Image.open(next((tiny_run / "results/frames/val").glob("*.jpg"))).convert("RGB"))
    logits = segmenter.logits(frame)
    assert logits.shape == (24, 32) and np.isfinite(logits).all()
    corners = m["corners"]  # trained on rendered frames' corner patches, exported, shipped with its settings
    assert (corners["size"], corners["span"], corners["iterations"], corners["scenes"]) == (32, 0.4, 2, 4)
    assert corners["patches"] > 0 and corners["scenes_first"] == 50_000 and "loss" not in corners
    assert len(json.loads((tiny_run / "results/corners/refiner.json").read_text())["loss"]) == 1
    assert corners["model_variant"] == "int8" and m["files"]["corners"]["bytes"] == \
        (tiny_run / "results/corners/refiner_int8.onnx").stat().st_size   # the INT8 refiner beside the INT8 model
    q8 = corners["int8"]  # calibrated on the frames after its training frames' patches, its gate passed
    calibration = np.load(tiny_run / "results/corners/calibration.npy")
    assert q8["calibration_images"] == len(calibration) > 0 and calibration.shape[1:] == (32, 32, 3)
    assert 0 < q8["int8_shift"] <= q8["max_int8_shift"] == 0.05
    assert Recognizer(bundle, threads=1).refiner is not None  # the runtime loads it
    gate = m["orientation"]  # fitted on the 16 cards less the held-out ones, 4 views each, upright and turned
    assert gate["confidence"] == 0.9 and gate["views"] == 4 * gate["cards"] and 0 < gate["cards"] < 16
    assert gate["fit"]["crops"] == 2 * gate["views"] and 0.5 < gate["fit"]["accuracy"] <= 1
    with np.load(tiny_run / "results/edge/orientation.npz") as z:
        assert z["weights"].shape == (32,) and np.isfinite(z["weights"]).all() and np.abs(z["weights"]).sum() > 0
    assert m["index"]["expansion_search"] > 0 and m["index"]["candidates"] > 0  # not kept by the usearch file
    with np.load(tiny_run / "results/edge/projection.npz") as p:  # 16 cards: at most 15 principal directions
        assert p["components"].shape == (min(m["index"]["pca_dim"], 15), 32)
    assert m["preprocess"]["height"] == 64 and m["preprocess"]["width"] == 48
    assert 0 < m["threshold"] <= 1 and m["versions"]["torch"].startswith("2.14.1")
    cards = json.loads((tiny_run / "results/edge/cards.json").read_text())
    assert len(cards) == 16 and np.load(tiny_run / "results/edge/embeddings.npy").shape == (16, 32)
    summary = json.loads((tiny_run / "results/evaluate/summary.json").read_text())
    assert set(summary) == {"phash", "teacher", "stage1", "stage2", "fp32", "int8"}
    for row in summary.values():
        assert 0 <= row["top1"] <= row["top3"] <= 1
    cost = json.loads((tiny_run / "results/cost/training_cost.json").read_text())
    assert [s["step"] for s in cost["steps"]] == ["teacher", "stage1", "stage2", "segmenter", "corners"]
    assert all(s["seconds"] > 0 for s in cost["steps"])
    calib = np.load(tiny_run / "results/calibration/calib.npy")
    assert calib.shape == (8, 64, 48, 3) and calib.dtype == np.uint8
    mined = (tiny_run / "results/mining/hard_negatives.csv").read_text().count("\n") - 1
    assert 2 * 16 <= mined <= 2 * 2 * 16  # k=2 per card from each of stage 1 and teacher, unioned
    ckpt = torch.load(tiny_run / "results/teacher/model.pt", weights_only=False)
    assert ckpt["record"]["seed"] == 1 and ckpt["record"]["versions"]["timm"] == "1.0.31"
    for stage in ("teacher", "stage1", "stage2"):
        profile = json.loads((tiny_run / f"results/profiling/{stage}/profile.json").read_text())
        assert profile["steps"] >= 2 and profile["images_per_s"] > 0 and profile["peak_rss_mb"] > 0
    rows = list(csv.DictReader(open(tiny_run / "results/student/stage2/metrics.csv")))
    assert {"epoch", "loss", "distill", "relational", "contrastive", "margin"} <= set(rows[0])
    assert all(float(r["margin"]) >= 0 for r in rows)
    assert (tiny_run / "results/evaluate/int8/confusions.png").stat().st_size > 1000
    assert not (tiny_run / "checkpoints").exists()  # cleared once the stages finished


def test_edge_models_carry_the_contract_and_the_gate(tiny_run):
    contract = json.loads((tiny_run / "results/preprocess/contract.json").read_text())
    export = json.loads((tiny_run / "results/export/export.json").read_text())
    calib = json.loads((tiny_run / "results/calibration/calib.json").read_text())
    bundle = json.loads((tiny_run / "results/edge/manifest.json").read_text())
    assert export["preprocess"] == calib["preprocess"] == bundle["preprocess"] == contract
    assert export["fixed_max_abs_diff"] <= 1e-4 and "Shape" not in export["fixed"]["simplified_nodes"]
    q = json.loads((tiny_run / "results/export/quantize.json").read_text())
    assert q["weights"] == "int8 per channel" and q["reduce_range"] is True and q["calibration_images"] == 8
    assert q["queries"] == 16 and q["gate_min_mean_cosine"] == 0.5 and q["gate_max_top1_drop"] == 1.0
    int8 = json.loads((tiny_run / "results/evaluate/int8/metrics.json").read_text())
    assert q["top1_candidate"] == int8["top1"]  # the gate scores INT8 exactly as the evaluation does
    frames = json.loads((tiny_run / "results/export/frame_gate.json").read_text())  # rule frame_gate: test frames
    assert frames["frames_crops"] > 0 and "top1_candidate" not in frames  # the crops are quantize_onnx's gate
    assert frames["gate_max_top1_drop"] == 1.0 and "frames_top1_drop" in frames


def test_nothing_to_do_after_run(tiny_run):
    assert planned_jobs(tiny_run, TINY) == {}


def test_identify_cli_on_a_query(tiny_run, tmp_path):
    rows = json.loads((tiny_run / "results/queries/syn1/queries.json").read_text())
    img = np.load(tiny_run / "results/queries/syn1/images.npy")[0]
    Image.fromarray(img).save(tmp_path / "q.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    out = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", "identify", "--bundle",
                          str(tiny_run / "results/edge"), "--json", "--crop", str(tmp_path / "q.png"),
                          str(tmp_path / "broken.jpg")], capture_output=True, text=True)
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert out.returncode == 1 and "Traceback" not in out.stderr  # one unreadable file
    assert lines[0]["file"].endswith("q.png") and len(lines[0]["cards"]) == 1
    first = lines[0]["cards"][0]
    assert first["status"] in ("identified", "unknown") and len(first["candidates"]) == 5
    assert first["candidates"][0]["score"] == first["score"]
    assert first["card_id"] in (None, first["candidates"][0]["card_id"])
    assert rows[0]["card_id"].startswith("syn1-") and lines[1]["error"].startswith("not a JPEG, PNG, WebP or BMP image")
    verify = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", "verify-bundle",
                             str(tiny_run / "results/edge")], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout


def test_teacher_change_makes_teacher_and_downstream_stale(tiny_run, tmp_path):
    tiny = yaml.safe_load(TINY.read_text())
    jobs = planned_jobs(tiny_run, TINY, overlay(tmp_path, "t.yaml", {"teacher": {**tiny["teacher"], "lr": 0.002}}))
    assert TRAINING - {"calibration_set"} <= set(jobs) and not UPSTREAM & set(jobs)
    assert "calibration_set" not in jobs  # renders of the card faces: independent of every model
    assert jobs["evaluate"] == 5  # every model variant; the pHash baseline does not depend on the teacher
    assert {"reference_index", "edge_bundle", "cost_report"} <= set(jobs)


def test_new_untrained_set_never_makes_models_stale(tiny_run, tmp_path):
    tiny = yaml.safe_load(TINY.read_text())
    sets = tiny["synthetic"]["sets"] + [{"id": "syn3", "name": "New", "n_cards": 6, "reprints": 2}]
    jobs = planned_jobs(tiny_run, TINY, overlay(tmp_path, "s.yaml", {"synthetic": {"seed": 3, "sets": sets}}))
    assert not TRAINING & set(jobs)
    assert jobs["synthesize_cards"] == jobs["ingest"] == jobs["preprocess"] == jobs["render_queries"] == 1
    assert {"reference_index", "edge_bundle"} <= set(jobs)
    assert jobs["embed_gallery"] == 5  # the new set's shard, once per model variant; old shards untouched


def test_lint_and_report(tiny_run):
    lint = snakemake(tiny_run, "--configfile", str(TINY), "--lint", check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    snakemake(tiny_run, "--configfile", str(TINY), "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="ignore")
    assert "accuracy.png" in html and "summary.md" in html


def test_report_opens_on_the_headline_figures_and_plots(tiny_run, tmp_path):
    """The report's front page, rendered by headless Chromium, shows this run's crop and frame figures and plots."""
    import html as html_lib
    import re
    import shutil

    import pytest
    from serve_support import chromium

    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (make test installs it with apt)")
    snakemake(tiny_run, "--configfile", str(TINY), "--report", "front.html")
    dom = chromium("--virtual-time-budget=15000", "--dump-dom", (tiny_run / "front.html").as_uri(),
                   profile=tmp_path / "chromium")
    dom = re.sub(r"<script.*?</script>", "", dom, flags=re.S)  # what was rendered, not the report's own data
    text = html_lib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))
    assert "System Message" not in text
    crops = json.loads((tiny_run / "results/evaluate/summary.json").read_text())
    frames = json.loads((tiny_run / "results/evaluate/frames/test.json").read_text())["overall"]
    head = text[text.index("Headline figures"):text.index("The workflow")]
    shipped = re.search(r"ONNX INT8 \(shipped\) (\S+) (\S+)", head)
    assert shipped and shipped.groups() == (f"{crops['int8']['top1']:.3f}", f"{crops['int8']['unknown_reject_rate']:.3f}")
    bundle = re.search(r"ONNX INT8 bundle (\S+) (\S+)", head)
    assert bundle and bundle.groups() == (f"{frames['detection']:.3f}", f"{frames['top1']:.3f}")
    assert f"pHash+dHash {crops['phash']['top1']:.3f}" in head
    baseline = json.loads((tiny_run / "results/evaluate/frames/phash_test.json").read_text())["overall"]
    hashed = re.search(r"pHash\+dHash (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) A card counts", head)
    assert hashed and hashed.groups()[:2] == (f"{baseline['detection']:.3f}", f"{baseline['top1']:.3f}")
    front = dom[dom.index("Headline figures"):]
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', front)) == 2


def test_real_cards_with_bad_inputs(tmp_path):
    """config/real.yaml on a few real sv1 cards plus a corpus of bad files: quarantined, run completes."""
    import shutil

    import pytest

    from .conftest import REPO, SHARED, make_workdir
    from .test_ingest import make_bad_corpus

    if not (SHARED / "cards/sv1").is_dir():
        pytest.skip(f"real cards not found at {SHARED}/cards/sv1")
    images = tmp_path / "images"
    images.mkdir()
    real = json.loads((SHARED / "pokemon-tcg-data/cards/en/sv1.json").read_text())[:12]
    for card in real:
        shutil.copy(SHARED / "cards/sv1" / f"{card['id']}.png", images)
    bad = make_bad_corpus(images, set_id="sv1")  # sv1-1 .. sv1-8 become the bad corpus
    keep = [c for c in real if int(c["id"].split("-")[1]) > 8]
    (tmp_path / "sv1.json").write_text(json.dumps(keep + bad))
    data = overlay(tmp_path, "data.yaml", {"data": {"source": "files", "cards_json": str(tmp_path / "sv1.json"),
                                                    "images_dir": str(images), "sets": "all", "train_sets": "all"},
                                           "ingest": {"max_reject_fraction": 0.6}})
    wd = make_workdir(tmp_path / "wd")
    snakemake(wd, "--configfile", str(REPO / "config/real.yaml"), str(TINY), str(data))
    accepted = {c["id"] for c in json.loads((wd / "results/ingest/sv1/cards.json").read_text())}
    assert accepted == {c["id"] for c in keep} | {"sv1-1", "sv1-2", "sv1-3", "sv1-4"}
    reasons = (wd / "results/ingest/sv1/rejected.csv").read_text()
    for text in ("0 bytes", "decode failed", "30000x30000", "content is JPEG", "no metadata", "duplicate id"):
        assert text in reasons
    assert json.loads((wd / "results/edge/manifest.json").read_text())["files"]["cards"]
    assert planned_jobs(wd, REPO / "config/real.yaml", TINY, data) == {}


def test_hef_without_dfc_fails_early_with_instructions(tiny_run, tmp_path):
    hef = overlay(tmp_path, "hef.yaml", {"export": {"opset": 17, "parity_atol": 0.0001, "targets": ["int8", "hef"]}})
    jobs = planned_jobs(tiny_run, TINY, hef)
    dfc_steps = ("hailo_parse", "hailo_optimize", "hailo_emulate", "hailo_embed", "hailo_compile", "hailo_segmenter")
    assert all(jobs.get(r) == 1 for r in dfc_steps) and not TRAINING & set(jobs)  # the HEFs build on the exports
    assert not {"train_segmenter", "quantize_segmenter"} & set(jobs)  # and on the INT8 segmenter's scenes
    proc = snakemake(tiny_run, "results/hailo/student.hef", "--configfile", str(TINY), str(hef), check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Dataflow Compiler" in out and "3.33.0" in out and "hailo.docker_image" in out
    log = (tiny_run / "logs/hailo/hailo_parse.log").read_text()
    assert "hailo_parse: " in log and "Traceback" not in log
    assert not (tiny_run / "results/hailo/model.har").exists()
    # the segmenter's static graph is made on the host; its HEF stops at the DFC with the same message
    assert jobs.get("simplify_segmenter") == 1
    proc = snakemake(tiny_run, "results/hailo/segmenter.hef", "--configfile", str(TINY), str(hef), check=False)
    assert proc.returncode != 0
    fixed = onnx.load(str(tiny_run / "results/hailo/segmenter_fixed.onnx"))
    assert {n.op_type for n in fixed.graph.node} <= {"Conv", "Relu", "Resize", "Concat"}  # no shape arithmetic
    report = json.loads((tiny_run / "results/hailo/segmenter_fixed.json").read_text())
    assert report["max_abs_diff"] <= report["atol"] and report["scenes"] == 4
    log = (tiny_run / "logs/hailo/hailo_segmenter.log").read_text()
    assert "hailo_segmenter: " in log and "Dataflow Compiler" in log and "Traceback" not in log
    assert not (tiny_run / "results/hailo/segmenter.har").exists()


def test_stage2_change_leaves_stage1_and_key_order_irrelevant(tiny_run, tmp_path):
    tiny = yaml.safe_load(TINY.read_text())
    student = {**tiny["student"], "stage2": {**tiny["student"]["stage2"], "margin": 0.3}}
    s2 = overlay(tmp_path, "s2.yaml", {"student": student})
    jobs = planned_jobs(tiny_run, TINY, s2)
    assert jobs.get("train_student") == 1
    planned = snakemake(tiny_run, "-n", "--configfile", str(TINY), str(s2)).stdout
    assert "output: results/student/stage2/model.pt" in planned
    assert "output: results/student/stage1/model.pt" not in planned
    assert "mine_hard_negatives" not in jobs and "train_teacher" not in jobs
    # the same config with every key order reversed is the same config
    reordered = yaml.safe_dump({k: tiny[k] for k in reversed(list(tiny))}, sort_keys=True)
    assert planned_jobs(tiny_run, TINY, overlay(tmp_path, "r.yaml", yaml.safe_load(reordered))) == {}
