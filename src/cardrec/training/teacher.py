"""Teacher: a timm ViT (DINOv3 family by default) trained with multi-positive InfoNCE over views."""
from __future__ import annotations

import logging
import time

import numpy as np
from cardrec_edge.preprocess import Preprocess

from ..augment import AugmentParams
from ..losses import multi_positive_infonce
from ..models import create_embedder, save_checkpoint
from ..shards import load_shards
from .loop import fit, run_record, seed_everything, train_rng, view_batch, write_history

log = logging.getLogger(__name__)


def train_teacher(shards: list[str], out_model: str, out_history: str, cfg: dict, contract: Preprocess,
                  augment: AugmentParams, threads: int) -> None:
    """Train the teacher on the faces of the training shards and save the checkpoint."""
    started = time.time()
    seed_everything(cfg["seed"], threads)
    cards, faces, _ = load_shards(shards)
    img_size = (contract.height, contract.width)
    model, provenance = create_embedder(cfg["arch"], cfg["embed_dim"], img_size, cfg.get("pretrained"),
                                        cfg.get("model_kwargs"))
    n = len(cards)
    per_batch = min(cfg["batch_cards"], n)
    log.info("teacher %s: %d cards, %d steps, %d cards x %d views per batch", cfg["arch"], n, cfg["steps"],
             per_batch, cfg["views"])

    def step_loss(step: int) -> dict:
        rng = train_rng(cfg["seed"], step)
        idx = rng.choice(n, size=per_batch, replace=False)
        x, y = view_batch(faces, idx, cfg["views"], contract, augment, rng)
        return {"infonce": multi_positive_infonce(model(x), y, cfg["temperature"])}

    history = fit(model, step_loss, cfg["steps"], cfg["lr"], cfg["weight_decay"], "teacher")
    spec = {"arch": cfg["arch"], "embed_dim": cfg["embed_dim"], "img_size": img_size,
            "model_kwargs": cfg.get("model_kwargs") or {}}
    record = run_record(cfg, cfg["seed"], started)
    save_checkpoint(out_model, model, spec, {"provenance": provenance, "record": record,
                                             "preprocess": contract.to_dict(), "card_ids": [c["id"] for c in cards]})
    write_history(out_history, history, record)
    log.info("teacher done in %.1fs, final loss %.4f", record["seconds"], np.mean([h["loss"] for h in history[-10:]]))
