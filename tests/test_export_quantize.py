"""ONNX export (fixed + dynamic, opset 17, one file) with parity, INT8 quantisation and its gate."""
import numpy as np
import onnx
import pytest
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.embed import TorchEmbedder
from cardrec.export import ParityError, export_with_parity
from cardrec.models import create_embedder, save_checkpoint
from cardrec.quantize import QualityGateError, gate, quantize

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


def test_parity_tolerance_is_enforced(exported, tmp_path):
    d, imgs, _ = exported
    with pytest.raises(ParityError, match="parity_atol"):
        export_with_parity(str(d / "m.pt"), str(tmp_path / "f.onnx"), str(tmp_path / "g.onnx"), imgs[:2], C, 17, 1e-15)


def test_int8_quantisation_and_gate(exported):
    d, imgs, _ = exported
    quantize(str(d / "dyn.onnx"), str(d / "int8.onnx"), imgs[:16], C, per_channel=True)
    q = onnx.load(str(d / "int8.onnx"))
    assert any(n.op_type == "QuantizeLinear" for n in q.graph.node)
    assert (d / "int8.onnx").stat().st_size < (d / "dyn.onnx").stat().st_size / 2
    report = gate(str(d / "dyn.onnx"), str(d / "int8.onnx"), imgs[16:], C, min_cosine=0.0)
    assert 0 < report["mean_cosine"] <= 1.0 + 1e-6
    with pytest.raises(QualityGateError, match="min_cosine"):
        gate(str(d / "dyn.onnx"), str(d / "int8.onnx"), imgs[16:], C, min_cosine=1.01)
