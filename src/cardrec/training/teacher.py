"""Teacher: a timm ViT (DINOv3 family by default) trained with multi-positive InfoNCE over views,
optionally plus an ArcFace margin classifier over card ids. Batches are built from variant groups
(cards with the same name) so a gold or full-art reprint is always seen next to its regular print."""
from __future__ import annotations

import logging

import torch
from torch import nn

from cardrec.training.losses import arcface, multi_positive_infonce
from cardrec.models.embedder import create_embedder, freeze_prefix
from cardrec.training.loop import batch_cards
from cardrec.training.samplers import grouped_batch, random_batch, variant_groups
from cardrec.training.stage import embed_views, prepare, train_and_save

log = logging.getLogger(__name__)


class TeacherNet(nn.Module):
    """The embedder plus the training-only ArcFace class centres (one per training card)."""

    def __init__(self, embedder: nn.Module, n_cards: int, dim: int, arc: bool):
        super().__init__()
        self.embedder = embedder
        self.centres = nn.Parameter(torch.randn(n_cards, dim) * 0.01) if arc else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedder(x)


def train_teacher(shards: list[str], out_model: str, out_metrics: str, profile_dir: str, cfg: dict, contract: dict,
                  augment: dict, run: dict, unknown_fraction: float, threads: int) -> None:
    """Train the teacher on the training cards' faces and save the checkpoint (main rank)."""
    data = prepare(shards, unknown_fraction, cfg["seed"], threads, contract, augment, run)
    img_size = (data.contract.height, data.contract.width)
    embedder, provenance = create_embedder(cfg["arch"], cfg["embed_dim"], img_size, cfg.get("pretrained"),
                                           cfg.get("model_kwargs"))
    trainable = freeze_prefix(embedder.backbone, cfg.get("freeze_blocks", 0))
    log.info("teacher %s (%s): %d trainable backbone parameters", cfg["arch"], provenance["init"], trainable)
    use_arc = cfg.get("w_arcface", 0) > 0
    model = TeacherNet(embedder, len(data.cards), cfg["embed_dim"], use_arc)
    groups = variant_groups(data.cards) if cfg.get("sampler", "variants") == "variants" else None
    per_batch = min(cfg["batch_cards"], len(data.cards))

    def step_loss(step: int, net: nn.Module) -> dict:
        rng = batch_cards(cfg["seed"], step)
        idx = grouped_batch(groups, per_batch, rng) if groups else random_batch(len(data.cards), per_batch, rng)
        emb, y = embed_views(net, data, idx, cfg["views"], cfg["seed"], step, "teacher.batch_cards")
        terms = {"infonce": cfg.get("w_infonce", 1.0) * multi_positive_infonce(emb, y, cfg["temperature"])}
        if use_arc:
            terms["arcface"] = cfg["w_arcface"] * arcface(emb, model.centres, y, cfg["arcface_margin"],
                                                          cfg["arcface_scale"])
        return terms

    spec = {"arch": cfg["arch"], "embed_dim": cfg["embed_dim"], "img_size": img_size,
            "model_kwargs": cfg.get("model_kwargs") or {}}
    train_and_save("teacher", model, embedder, step_loss, cfg, cfg, data, [], spec, provenance, out_model,
                   out_metrics, profile_dir)
