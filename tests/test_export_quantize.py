"""ONNX export (fixed + dynamic, opset 17, one file, simplified) with parity, INT8 quantisation and the gate."""
import numpy as np
import onnx
import pytest
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.models.embed import TorchEmbedder
from cardrec.export.onnx import ParityError, export_with_parity
from cardrec.export.gate import QualityGateError, drift_report, enforce, frame_drift_report, frame_gate
from cardrec.models.embedder import create_embedder, save_checkpoint
from cardrec.export.quantize import quantize
from cardrec.data.shards import EvalSet

from .frame_support import gallery_shard, render_test_frames, smooth_faces

C = Preprocess(height=64, width=48)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    model, prov = create_embedder("efficientnet_lite0", 32, (64, 48))
    save_checkpoint(d / "m.pt", model.eval(), {"arch": "efficientnet_lite0", "embed_dim": 32, "img_size": (64, 48)})
    imgs = np.random.default_rng(0).integers(0, 255, (24, 64, 48, 3), dtype=np.uint8)
    report = export_with_parity(str(d / "m.pt"), str(d / "fixed.onnx"), str(d / "dyn.onnx"), imgs[:4], C, 17, 1e-4)
    return d, imgs, report


def test_export_shapes_opset_and_parity(exported):
    d, imgs, report = exported
    assert report["fixed_max_abs_diff"] <= 1e-4 and report["dynamic_max_abs_diff"] <= 1e-4
    assert report["preprocess"] == C.to_dict()
    fixed, dyn = onnx.load(str(d / "fixed.onnx")), onnx.load(str(d / "dyn.onnx"))
    assert fixed.opset_import[0].version == 17
    dims = [x.dim_value for x in fixed.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 48] and fixed.graph.input[0].name == "input"
    assert fixed.graph.output[0].name == "embedding"
    assert dyn.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not list(d.glob("*.data"))  # one file, no external data
    torch_emb = TorchEmbedder(str(d / "m.pt"), C).embed_letterboxed(imgs[:5])
    onnx_emb = OnnxEmbedder(d / "fixed.onnx", C).embed_letterboxed(imgs[:5])  # fixed batch: runs one by one
    np.testing.assert_allclose(torch_emb, onnx_emb, atol=1e-4)


def test_simplifier_folds_the_shape_arithmetic(exported):
    d, _, report = exported
    before, after = report["fixed"]["nodes"], report["fixed"]["simplified_nodes"]
    assert before.get("Shape", 0) >= 1 and "Shape" not in after  # L2-norm's shape logic folded for the parser
    assert sum(after.values()) < sum(before.values())
    assert after["Conv"] == before["Conv"]  # nothing of the network itself removed
    ops = {n.op_type for n in onnx.load(str(d / "fixed.onnx")).graph.node}
    assert "Shape" not in ops


def test_parity_tolerance_is_enforced(exported, tmp_path):
    d, imgs, _ = exported
    with pytest.raises(ParityError, match="parity_atol"):
        export_with_parity(str(d / "m.pt"), str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx"), imgs[:2], C, 17, 1e-15)


def _eval_set(imgs: np.ndarray) -> EvalSet:
    """Gallery of 6 'cards' (the first images) and test queries = slightly changed copies of them."""
    gallery = imgs[:6]
    noise = np.random.default_rng(1).integers(-6, 7, gallery.shape)
    queries = np.clip(gallery.astype(int) + noise, 0, 255).astype(np.uint8)
    cards = [{"id": f"s-{i}"} for i in range(6)]
    rows = [{"card_id": f"s-{i}", "split": s} for s in ("val", "test") for i in range(3)]
    return EvalSet(cards, gallery, rows, np.concatenate([queries[:3], queries[:3]]))


def test_int8_per_channel_quantisation_and_gate(exported):
    d, imgs, _ = exported
    settings = quantize(str(d / "dyn.onnx"), str(d / "int8.onnx"), imgs[:16], C, per_channel=True)
    assert settings["weights"] == "int8 per channel" and settings["reduce_range"] is True
    assert settings["calibration_images"] == 16 and "vnni" in settings["cpu"]
    q = onnx.load(str(d / "int8.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in q.graph.node)
    scales = [init for init in q.graph.initializer if init.name.endswith("_scale") and init.dims]
    assert scales, "per-channel weights have one scale per output channel"
    assert settings["int8_bytes"] < settings["fp32_bytes"] / 2
    fp32, int8 = OnnxEmbedder(d / "dyn.onnx", C), OnnxEmbedder(d / "int8.onnx", C)
    report = drift_report(fp32.embed_letterboxed, int8.embed_letterboxed, _eval_set(imgs), 0.0)
    assert report["queries"] == 3 and 0 < report["mean_cosine"] <= 1.0 + 1e-6
    assert report["min_cosine"] <= report["mean_cosine"]
    assert report["top1_drop"] == pytest.approx(report["top1_reference"] - report["top1_candidate"])
    enforce(dict(report), 0.0, 1.0, "INT8")
    with pytest.raises(QualityGateError, match="gate.min_cosine=1.01"):
        enforce(dict(report), 1.01, 1.0, "INT8")


def test_gate_fails_on_top1_drop_with_the_figures(exported):
    d, imgs, _ = exported
    fp32 = OnnxEmbedder(d / "dyn.onnx", C).embed_letterboxed
    data = _eval_set(imgs)
    report = drift_report(fp32, fp32, data, 0.0)
    assert report["mean_cosine"] == pytest.approx(1.0, abs=1e-5) and report["top1_drop"] == 0
    assert report["top1_reference"] == 1.0  # near-copies of the gallery are found

    def scrambled(x):  # a "compressed" model that loses the ranking
        return np.roll(fp32(x), 1, axis=0) if x is data.gallery else fp32(x)

    bad = drift_report(fp32, scrambled, data, 0.0)
    assert bad["top1_candidate"] == 0.0 and bad["top1_drop"] == 1.0
    with pytest.raises(QualityGateError, match=r"drops 1.000 > gate.max_top1_drop=0.01"):
        enforce(bad, 0.0, 0.01, "INT8")


def _tiny_embed(x: np.ndarray) -> np.ndarray:
    """A model-free embedder for letterboxed images: 8x6 mean colours, centred, unit norm."""
    v = x.reshape(len(x), 8, 8, 6, 8, 3).mean(axis=(2, 4)).reshape(len(x), -1)
    v = v - v.mean(axis=1, keepdims=True)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_frame_crops_are_the_cards_upright_at_their_true_corners(tmp_path):
    faces = smooth_faces(4)
    ids = [f"s-{i}" for i in range(4)]
    labels, frames = render_test_frames(tmp_path / "frames", faces, ids, {"s-3"}, C)
    cards = [c for f in labels["frames"] for c in f["cards"] if c["fully_visible"]]
    assert len(frames.expected) == len(cards) >= 9 and frames.crops.shape[1:] == (64, 48, 3)
    assert frames.expected == [c["expected"] for c in cards] and "unknown" in frames.expected
    for crop, card in zip(frames.crops, cards):  # upside-down cards included: the crop is upright
        face = C.letterbox(faces[ids.index(card["card_id"])]).astype(float)
        upright, turned = np.abs(crop - face).mean(), np.abs(crop - face[::-1, ::-1]).mean()
        assert upright < turned / 2, (card, upright, turned)


def test_gate_checks_the_cards_of_the_test_frames(tmp_path):
    faces = smooth_faces(6)
    ids = [f"s-{i}" for i in range(6)]
    _, frames = render_test_frames(tmp_path / "frames", faces, ids, set(), C)
    gallery = np.stack([C.letterbox(f) for f in faces])
    same = frame_drift_report(_tiny_embed, _tiny_embed, ids, gallery, 0.0, frames)
    assert same["frames_crops"] == same["frames_known"] == len(frames.expected)
    assert same["frames_top1_reference"] == 1.0 and same["frames_top1_drop"] == 0.0
    assert same["frames_mean_cosine"] == pytest.approx(1.0)
    assert "mean_cosine" not in same  # the crops were gated where the model was made
    enforce(dict(same), 0.99, 0.0, "INT8")

    def lost_on_frames(x):  # right on the gallery, wrong on what a camera frame gives the model
        return np.roll(_tiny_embed(x), 1, axis=0) if x is frames.crops else _tiny_embed(x)

    bad = frame_drift_report(_tiny_embed, lost_on_frames, ids, gallery, 0.0, frames)
    assert bad["frames_top1_drop"] > 0.5
    with pytest.raises(QualityGateError, match=r"cards of the test frames: .*> gate.max_top1_drop=0.05"):
        enforce(bad, 0.0, 0.05, "INT8")


def test_frame_gate_reads_the_rule_inputs(tmp_path):
    """rule frame_gate's call: the training sets' shards and the rendered frames directory."""
    faces = smooth_faces(6)
    ids = [f"s-{i}" for i in range(6)]
    render_test_frames(tmp_path / "frames", faces, ids, set(), C)
    shards = gallery_shard(tmp_path / "preprocess/s", faces, ids, C)
    gate = {"min_cosine": 0.99, "max_top1_drop": 0.0}
    report = frame_gate(_tiny_embed, _tiny_embed, shards, tmp_path / "frames", C, 0.0, gate, "INT8")
    assert report["frames_top1_drop"] == 0.0 and report["gate_max_top1_drop"] == 0.0
    with pytest.raises(QualityGateError, match="INT8 quality gate failed"):
        frame_gate(_tiny_embed, lambda x: -_tiny_embed(x), shards, tmp_path / "frames", C, 0.0, gate, "INT8")


def test_keep_float_leaves_the_matching_nodes_unquantised(exported, tmp_path):
    """quantize.keep_float: the stem and first block stay FP32 (no QDQ pair feeds their weights), the rest is
    INT8; a pattern that matches no node is a config error naming the key."""
    from cardrec.errors import ConfigError

    d, imgs, _ = exported
    keep = ["/backbone/conv_stem/*", "/backbone/blocks/blocks.0/*"]
    settings = quantize(str(d / "dyn.onnx"), str(tmp_path / "int8.onnx"), imgs[:8], C, keep_float=keep)
    assert settings["float_nodes"] and all(n.startswith(("/backbone/conv_stem/", "/backbone/blocks/blocks.0/"))
                                           for n in settings["float_nodes"])
    g = onnx.load(str(tmp_path / "int8.onnx")).graph
    producer = {o: n for n in g.node for o in n.output}
    convs = [n for n in g.node if n.op_type == "Conv"]
    dequantized = {n.name: producer.get(n.input[1]) is not None and producer[n.input[1]].op_type == "DequantizeLinear"
                   for n in convs}
    assert not any(dequantized[n] for n in settings["float_nodes"] if n in dequantized)
    assert sum(dequantized.values()) == len(convs) - sum(n in dequantized for n in settings["float_nodes"]) > 0
    with pytest.raises(ConfigError, match="quantize.keep_float"):
        quantize(str(d / "dyn.onnx"), str(tmp_path / "x.onnx"), imgs[:8], C, keep_float=["/no/such/*"])


def test_the_int8_segmenter_ships_only_if_its_mask_agrees_with_fp32():
    """Rule quantize_segmenter's gate: under ``segmenter.min_mask_agreement`` it fails naming the key, the figures and
    what to change; at or over it, it passes."""
    from cardrec.export.gate import QualityGateError
    from cardrec.export.segmenter import mask_gate

    mask_gate(0.99, 0.99, 256)
    mask_gate(0.9993, 0.99, 256)
    with pytest.raises(QualityGateError, match=r"0\.9800 of the pixels of 256 .*segmenter\.min_mask_agreement=0\.99"):
        mask_gate(0.98, 0.99, 256)
