"""Held-out whole frames: the renderer's corners, the scorer on hand-made predictions, the workflow's frame report."""
import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import yaml
from cardrec_edge.detect import rectify

from cardrec.data.frames import CATEGORIES, render_frame, render_split
from cardrec.evaluation.frames import corner_error, markdown, match, score

from .conftest import TINY

CORNER_COLOURS = np.float32([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]])  # TL, TR, BR, BL


def marked_face(h=112, w=80) -> np.ndarray:
    """A grey face with a saturated colour patch in each corner and a dark diagonal (not symmetric)."""
    face = np.full((h, w, 3), 128, np.uint8)
    ph, pw = h // 4, w // 4
    for (ys, xs), c in zip([(slice(0, ph), slice(0, pw)), (slice(0, ph), slice(w - pw, w)),
                            (slice(h - ph, h), slice(w - pw, w)), (slice(h - ph, h), slice(0, pw))], CORNER_COLOURS):
        face[ys, xs] = c
    cv2.line(face, (pw, ph), (w - pw, h - ph), (20, 20, 20), 3)
    return face


def clean(category: str):
    """The category's geometry and holders without the photometric effects, so pixels can be checked."""
    return replace(CATEGORIES[category], glare=0.0, blur=(0.0, 0.0), motion=0.0, light=(1.0, 1.0), noise=(0.0, 0.0))


@pytest.mark.parametrize("category", ["single", "multi", "upside_down", "perspective", "slab", "sleeve", "large",
                                      "busy_background"])
def test_rendered_corners_are_where_the_face_corners_landed(category):
    face = marked_face()
    for seed in range(3):
        fr = render_frame([face], lambda rng: 0, clean(category), np.random.default_rng(seed), (360, 640))
        assert fr.rgb.shape == (360, 640, 3) and fr.rgb.dtype == np.uint8 and fr.cards
        for card in fr.cards:
            q = np.float32(card["corners"])
            assert card["fully_visible"] and card["visible_fraction"] > 0.99
            centre = q.mean(0)
            for corner, colour in zip(q, CORNER_COLOURS):  # just inside each corner: that corner's patch
                x, y = np.round(corner + 0.06 * (centre - corner)).astype(int)
                px = fr.rgb[y, x].astype(np.float32)
                assert np.argmin(np.linalg.norm(CORNER_COLOURS - px, axis=1)) == \
                    np.argmin(np.linalg.norm(CORNER_COLOURS - colour, axis=1)), (category, seed, px, colour)
            crop = rectify(fr.rgb, q, *face.shape[:2]).astype(np.float32)  # the true corners give back the face
            corr = np.corrcoef(crop.ravel(), face.astype(np.float32).ravel())[0, 1]
            assert corr > 0.9, (category, seed, corr)


def test_partial_cards_reach_outside_the_frame():
    fr = render_frame([marked_face()], lambda rng: 0, clean("partial"), np.random.default_rng(4), (360, 640))
    first = fr.cards[0]
    q = np.float32(first["corners"])
    assert not first["fully_visible"] and 0.5 <= first["visible_fraction"] <= 0.85
    assert ((q < 0) | (q > [639, 359])).any()
    assert all(c["fully_visible"] for c in fr.cards[1:])


def test_split_is_deterministic_and_labels_unknown_cards(tmp_path):
    faces = [marked_face(), 255 - marked_face()]
    cfg = {"seed": 3, "size": [240, 320], "per_category": {"val": 1, "test": 2}, "categories": ["single", "multi"],
           "unknown_share": 0.5, "jpeg_quality": 90, "max_corner_error": 0.03}
    a = render_split(faces, ["k-1", "u-1"], {"u-1"}, cfg, "test", tmp_path / "a")
    b = render_split(faces, ["k-1", "u-1"], {"u-1"}, cfg, "test", tmp_path / "b")
    v = render_split(faces, ["k-1", "u-1"], {"u-1"}, cfg, "val", tmp_path / "v")
    assert a == b and (tmp_path / "a/frame_0003.jpg").read_bytes() == (tmp_path / "b/frame_0003.jpg").read_bytes()
    assert [f["category"] for f in a["frames"]] == ["single", "single", "multi", "multi"] and len(v["frames"]) == 2
    assert (tmp_path / "a/frame_0000.jpg").read_bytes() != (tmp_path / "v/frame_0000.jpg").read_bytes()
    cards = [c for f in a["frames"] for c in f["cards"]]
    assert {c["card_id"] for c in cards} == {"k-1", "u-1"}
    assert all(c["expected"] == ("unknown" if c["card_id"] == "u-1" else "k-1") for c in cards)
    assert json.loads((tmp_path / "a/labels.json").read_text()) == a


def quad(cx, cy, h):
    w = h * 63 / 88
    return [[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]]


def test_corner_error_allows_the_upside_down_order_only():
    q = np.float32(quad(100, 100, 88))
    assert corner_error(q, q) == 0 and corner_error(np.roll(q, 2, axis=0), q) == 0
    assert corner_error(np.roll(q, 1, axis=0), q) > 0.3  # a landscape reading of a portrait card is wrong
    shifted = q + [0, 0.02 * np.hypot(63, 88)]
    assert corner_error(shifted, q) == pytest.approx(0.02, abs=1e-4)


def test_whole_frame_fallback_does_not_match_an_off_centre_card():
    truth = [{"corners": quad(60, 60, 80)}]
    whole = [{"corners": [[0, 0], [319, 0], [319, 239], [0, 239]]}]
    assert match(truth, whole, (240, 320)) == [None]
    assert match([{"corners": quad(160, 120, 200)}], whole, (240, 320)) == [0]  # a tight shot: its answer counts


def test_scorer_on_hand_made_predictions():
    size = [480, 640]
    a, u, p, b = quad(120, 150, 200), quad(330, 150, 200), quad(620, 400, 200), quad(320, 240, 300)
    labels = {"split": "test", "size": size, "frames": [
        {"file": "f0.jpg", "category": "multi", "cards": [
            {"card_id": "A", "expected": "A", "corners": a, "fully_visible": True},
            {"card_id": "U", "expected": "unknown", "corners": u, "fully_visible": True},
            {"card_id": "P", "expected": "P", "corners": p, "fully_visible": False}]},
        {"file": "f1.jpg", "category": "single", "cards": [
            {"card_id": "B", "expected": "B", "corners": b, "fully_visible": True}]},
        {"file": "f2.jpg", "category": "single", "cards": [
            {"card_id": "A", "expected": "A", "corners": a, "fully_visible": True}]}]}
    off = (np.float32(b) + [0, 0.05 * np.hypot(300 * 63 / 88, 300)]).tolist()  # 5 % of the diagonal: not detected
    preds = {
        "f0.jpg": {"cards": [
            {"corners": np.roll(np.float32(a), 2, axis=0).tolist(), "status": "identified", "card_id": "A"},
            {"corners": u, "status": "identified", "card_id": "X"},  # an unknown card taken for X
            {"corners": quad(600, 400, 150), "status": "partial", "card_id": None},
            {"corners": quad(500, 60, 60), "status": "identified", "card_id": "Y"}]},  # nothing there
        "f1.jpg": {"cards": [{"corners": off, "status": "unknown", "card_id": None}]},
        "f2.jpg": {"cards": []}}
    r = score(labels, preds, 0.03)
    o = r["overall"]
    assert (o["frames"], o["cards_known"], o["cards_unknown"], o["cards_partial"]) == (3, 3, 1, 1)
    assert o["detection"] == 0.5  # A (turned 180°) and U found, B 5 % off, A in f2 missed
    assert o["top1"] == pytest.approx(1 / 3, abs=1e-4) and o["false_reject"] == pytest.approx(1 / 3, abs=1e-4)
    assert o["abstain"] == pytest.approx(1 / 3, abs=1e-4) and o["wrong"] == 0  # the missed card abstains
    assert o["top1_detected"] == 1.0 and o["unknown_reject"] == 0.0 and o["partial_identified"] == 0.0
    assert o["spurious"] == 1
    rows = {(c["file"], c["card_id"]): c for c in r["cards"]}
    assert rows["f0.jpg", "A"]["corner_error"] == 0 and rows["f1.jpg", "B"]["corner_error"] == pytest.approx(0.05, 1e-3)
    assert rows["f2.jpg", "A"]["corner_error"] is None
    assert o["outcomes"] == {"known": {"correct": 1, "unknown": 1, "missed": 1}, "unknown": {"identified": 1},
                             "partial": {"partial": 1}, "spurious": {"identified": 1}}
    assert r["categories"]["single"]["top1"] == 0.0 and r["categories"]["multi"]["top1"] == 1.0
    table = markdown(r)
    assert table.count("\n") == 2 + 3 and "| **overall** | 3 | 3 | 1 | 1 | 0.500 | 0.333 |" in table


def check_frame_report(wd):
    """What the workflow leaves: frames with labels, the held-out bundle, per-split figures, summary.md."""
    from cardrec_edge.bundle import Bundle

    tiny = yaml.safe_load(TINY.read_text())["frames"]
    shipped = json.loads((wd / "results/edge/cards.json").read_text())
    held = Bundle.load(wd / "results/frames/bundle")  # every sha256 checked
    kept = {c["id"] for c in held.card_table()}
    assert 0 < len(kept) < len(shipped) and held.threshold == json.loads(
        (wd / "results/edge/manifest.json").read_text())["threshold"]
    assert held.manifest["files"]["orientation"]["sha256"] == json.loads(  # the gate is the same for any gallery
        (wd / "results/edge/manifest.json").read_text())["files"]["orientation"]["sha256"]
    for split in ("val", "test"):
        labels = json.loads((wd / f"results/frames/{split}/labels.json").read_text())
        assert len(labels["frames"]) == len(tiny["categories"]) * tiny["per_category"][split]
        assert sorted(p.name for p in (wd / f"results/frames/{split}").glob("*.jpg")) == \
            sorted(f["file"] for f in labels["frames"])
        for card in (c for f in labels["frames"] for c in f["cards"]):
            assert (card["expected"] == "unknown") == (card["card_id"] not in kept)
        r = json.loads((wd / f"results/evaluate/frames/{split}.json").read_text())
        assert list(r["categories"]) == tiny["categories"] and r["overall"]["frames"] == len(labels["frames"])
        assert r["overall"]["cards_known"] + r["overall"]["cards_unknown"] + r["overall"]["cards_partial"] == \
            sum(len(f["cards"]) for f in labels["frames"])
        assert 0 <= r["overall"]["detection"] <= 1 and (wd / f"results/evaluate/frames/{split}.png").stat().st_size
        base = json.loads((wd / f"results/evaluate/frames/phash_{split}.json").read_text())
        assert base["model"] == "pHash+dHash" and base["overall"]["frames"] == r["overall"]["frames"]
        assert base["overall"]["cards_known"] == r["overall"]["cards_known"] and r["model"] == "int8"
        assert base["crop_threshold"] == json.loads((wd / "results/evaluate/phash/metrics.json").read_text())[
            "threshold"]
    summary = (wd / "results/evaluate/summary.md").read_text()
    assert "| ONNX INT8 |" in summary and summary.count("| **overall** |") == 2
    assert summary.count("| pHash+dHash |") == 3 and summary.count("| ONNX INT8 (shipped) |") == 2
    assert (wd / "results/evaluate/crops.md").read_text() in summary


def test_workflow_renders_and_scores_whole_frames(tiny_run):
    check_frame_report(tiny_run)


def textured_face(seed: int, h=224, w=160) -> np.ndarray:
    """A card-like face: a coloured border around coarse random blocks (each seed hashes apart)."""
    blocks = np.random.default_rng(seed).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    face = np.full((h, w, 3), (235, 200, 40), np.uint8)
    face[12:h - 12, 12:w - 12] = cv2.resize(blocks, (w - 24, h - 24), interpolation=cv2.INTER_NEAREST)
    return face


def mean_colour_onnx(path) -> None:
    """A real (if useless) ONNX embedder: the mean of each input channel."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("ReduceMean", ["input"], ["embedding"], axes=[2, 3], keepdims=0)],
                              "mean", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 128, 96])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def test_hash_baseline_identifies_frames_through_the_runtime(tmp_path):
    """pHash+dHash in the runtime's frame pipeline: a card on a mat is found and identified, an upside-down one
    after the 180° retry, a card outside the gallery is rejected at the crop threshold; scored and summarised
    beside the shipped bundle."""
    from cardrec_edge.preprocess import Preprocess

    from cardrec.deploy.bundle import write_bundle
    from cardrec.deploy.index import build_index
    from cardrec.evaluation.frame_baseline import hash_recognizer, hash_vectors, predictions
    from cardrec.evaluation.frames import write_summary
    from cardrec.evaluation.metrics import hash_similarity, phash_codes

    contract = Preprocess(height=128, width=96)
    ids = ["A", "B", "C", "D", "E"]
    faces = {c: textured_face(i) for i, c in enumerate(ids + ["U"])}
    gallery = {c: contract.letterbox(f) for c, f in faces.items()}
    codes = phash_codes(np.stack(list(gallery.values())))
    assert np.allclose(hash_vectors(codes) @ hash_vectors(codes).T,
                       2 * hash_similarity(codes, codes)(np.arange(6), np.arange(6)) - 1, atol=1e-6)

    mean_colour_onnx(tmp_path / "model.onnx")
    emb = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    np.save(tmp_path / "emb.npy", emb)
    index_cfg = {"dtype": "f32", "connectivity": 16, "expansion_add": 64, "expansion_search": 64}
    build_index(emb, index_cfg).save(str(tmp_path / "g.usearch"))
    (tmp_path / "cards.json").write_text(json.dumps([{"id": c, "name": c} for c in ids]))
    files = {"model": tmp_path / "model.onnx", "embeddings": tmp_path / "emb.npy", "index": tmp_path / "g.usearch",
             "cards": tmp_path / "cards.json"}
    write_bundle(tmp_path / "bundle", {k: str(v) for k, v in files.items()}, contract.to_dict(), 0.99, "int8", None,
                 {})

    frames = tmp_path / "frames"
    frames.mkdir()
    shots = {"up.jpg": faces["A"], "down.jpg": faces["B"][::-1, ::-1], "unknown.jpg": faces["U"]}
    labels = {"split": "test", "size": [0, 0], "frames": []}
    for name, face in shots.items():
        img = cv2.copyMakeBorder(np.ascontiguousarray(face), 80, 80, 100, 100, cv2.BORDER_CONSTANT,
                                 value=(30, 110, 60))
        cv2.imwrite(str(frames / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        h, w = face.shape[:2]
        corners = [[100, 80], [100 + w, 80], [100 + w, 80 + h], [100, 80 + h]]
        card = {"up.jpg": "A", "down.jpg": "B", "unknown.jpg": "U"}[name]
        labels["size"] = list(img.shape[:2])
        labels["frames"].append({"file": name, "category": "single", "cards": [
            {"card_id": card, "expected": "unknown" if card == "U" else card, "corners": corners,
             "fully_visible": True}]})

    rec = hash_recognizer(tmp_path / "bundle", gallery, crop_threshold=0.75)
    assert rec.bundle.threshold == pytest.approx(0.5) and rec.verifier is None
    preds = predictions(rec, frames)
    got = {f: [(c["status"], c["card_id"], c["rotated"]) for c in p["cards"]] for f, p in preds.items()}
    assert got == {"up.jpg": [("identified", "A", False)], "down.jpg": [("identified", "B", True)],
                   "unknown.jpg": [("unknown", None, False)]}

    baseline = {"model": "pHash+dHash", **score(labels, preds, 0.03)}
    assert baseline["overall"]["top1"] == 1.0 and baseline["overall"]["unknown_reject"] == 1.0
    shipped = {"model": "int8", **score(labels, {}, 0.03)}  # the bundle found nothing
    (tmp_path / "crops.md").write_text("| model | top1 |\n")
    paths = []
    for name, r in (("test.json", shipped), ("phash_test.json", baseline)):
        (tmp_path / name).write_text(json.dumps(r))
        paths.append(tmp_path / name)
    write_summary(tmp_path / "crops.md", paths[:1], tmp_path / "summary.md", paths[1:])
    text = (tmp_path / "summary.md").read_text()
    assert "| pHash+dHash | 1.000 | 1.000 | 0.000 | 0.000 | 0.000 |" in text
    assert "| ONNX INT8 (shipped) | 0.000 | 1.000 | 0.000 | 0.000 | 1.000 |" in text  # missed: not identified
