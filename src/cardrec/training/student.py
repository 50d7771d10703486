"""Student (EfficientNet-Lite0) distillation: stage 1 from teacher embeddings, stage 2 on mined negatives."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from cardrec.training.losses import cosine_distill, hard_negative_margin, multi_positive_infonce, similarity_matching
from cardrec.models.embedder import create_embedder, load_checkpoint
from cardrec.training.loop import batch_cards
from cardrec.training.samplers import grouped_batch, mined_groups, random_batch
from cardrec.training.stage import embed_views, prepare, train_and_save

log = logging.getLogger(__name__)


def load_teacher_targets(shard_ids: list[str], emb_files: list[str], keep_ids: list[str]) -> torch.Tensor:
    """Teacher gallery embeddings (shard order) of the training cards ``keep_ids``, in that order."""
    emb = np.concatenate([np.load(f) for f in emb_files]).astype(np.float32)
    if len(emb) != len(shard_ids):
        raise ValueError(f"{len(emb)} teacher embeddings for {len(shard_ids)} cards: shards and embeddings disagree")
    pos = {c: i for i, c in enumerate(shard_ids)}
    return torch.from_numpy(emb[[pos[c] for c in keep_ids]])


def train_student(stage: str, shards: list[str], teacher_emb: list[str], out_model: str, out_metrics: str,
                  profile_dir: str, cfg: dict, contract: dict, augment: dict, run: dict, unknown_fraction: float,
                  threads: int, init: str | None = None, negatives: str | None = None) -> None:
    """Stage 1: distil (cosine + relational + contrastive). Stage 2: also a margin over mined groups."""
    scfg = cfg[stage]
    data = prepare(shards, unknown_fraction, scfg["seed"], threads, contract, augment, run)
    ids = [c["id"] for c in data.cards]
    targets = load_teacher_targets(data.shard_ids, teacher_emb, ids)
    img_size = (data.contract.height, data.contract.width)
    if init:
        model, ckpt = load_checkpoint(init)
        provenance = {**ckpt.get("provenance", {}), "init": f"stage1 checkpoint {init}"}
    else:
        model, provenance = create_embedder(cfg["arch"], int(targets.shape[1]), img_size, cfg.get("pretrained"))
    groups = mined_groups(negatives, ids) if negatives else None
    per_batch = min(scfg["batch_cards"], len(ids))

    def step_loss(step: int, net: nn.Module) -> dict:
        rng = batch_cards(scfg["seed"], step)
        idx = grouped_batch(groups, per_batch, rng) if groups else random_batch(len(ids), per_batch, rng)
        emb, y = embed_views(net, data, idx, scfg["views"], scfg["seed"], step, f"student.{stage}.batch_cards")
        t = targets[y]
        terms = {"distill": scfg["w_distill"] * cosine_distill(emb, t),
                 "relational": scfg["w_relational"] * similarity_matching(emb, t),
                 "contrastive": scfg["w_contrastive"] * multi_positive_infonce(emb, y, scfg["temperature"])}
        if stage == "stage2":
            terms["margin"] = scfg["w_margin"] * hard_negative_margin(emb, y, scfg["margin"])
        return terms

    spec = {"arch": cfg["arch"], "embed_dim": int(targets.shape[1]), "img_size": img_size, "model_kwargs": {}}
    train_and_save(stage, model, model, step_loss, cfg, scfg, data, [targets.numpy()], spec, provenance, out_model,
                   out_metrics, profile_dir)
