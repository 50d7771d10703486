"""Student (EfficientNet-Lite0) distillation: stage 1 from teacher embeddings, stage 2 on mined negatives."""
from __future__ import annotations

import csv
import logging
import time

import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess

from ..augment import AugmentParams
from ..losses import cosine_distill, hard_negative_margin, multi_positive_infonce, similarity_matching
from ..models import create_embedder, load_checkpoint, save_checkpoint
from ..shards import load_shards
from .loop import fit, run_record, seed_everything, train_rng, view_batch, write_history

log = logging.getLogger(__name__)


def load_teacher_targets(cards: list[dict], emb_files: list[str]) -> torch.Tensor:
    """Teacher gallery embeddings, concatenated in shard order (same order as ``cards``)."""
    emb = np.concatenate([np.load(f) for f in emb_files]).astype(np.float32)
    if len(emb) != len(cards):
        raise ValueError(f"{len(emb)} teacher embeddings for {len(cards)} cards: shards and embeddings disagree")
    return torch.from_numpy(emb)


def mined_groups(path: str, card_ids: list[str]) -> list[np.ndarray]:
    """Per card index: indices of its mined hard negatives (rank order)."""
    pos = {cid: i for i, cid in enumerate(card_ids)}
    groups: list[list[int]] = [[] for _ in card_ids]
    with open(path) as f:
        for row in csv.DictReader(f):
            if row["card_id"] in pos and row["neighbor_id"] in pos:
                groups[pos[row["card_id"]]].append(pos[row["neighbor_id"]])
    return [np.asarray(g, dtype=np.int64) for g in groups]


def group_batch(groups: list[np.ndarray], n_anchors: int, rng: np.random.Generator) -> np.ndarray:
    """Cards for one stage-2 batch: anchors plus their hard negatives, no repeats."""
    chosen: list[int] = []
    for a in rng.permutation(len(groups)):
        for c in [int(a), *groups[int(a)].tolist()]:
            if c not in chosen:
                chosen.append(c)
        if len(chosen) >= n_anchors:
            break
    return np.asarray(chosen[:max(n_anchors, 2)])


def train_student(stage: str, shards: list[str], teacher_emb: list[str], out_model: str, out_history: str,
                  cfg: dict, contract: Preprocess, augment: AugmentParams, threads: int,
                  init: str | None = None, negatives: str | None = None) -> None:
    """Stage 1: distil (cosine + relational + contrastive). Stage 2: also a margin over mined groups."""
    started = time.time()
    scfg = cfg[stage]
    seed_everything(scfg["seed"], threads)
    cards, faces, _ = load_shards(shards)
    targets = load_teacher_targets(cards, teacher_emb)
    img_size = (contract.height, contract.width)
    if init:
        model, ckpt = load_checkpoint(init)
        provenance = {**ckpt.get("provenance", {}), "init": f"stage1 checkpoint {init}"}
    else:
        model, provenance = create_embedder(cfg["arch"], int(targets.shape[1]), img_size, cfg.get("pretrained"))
    groups = mined_groups(negatives, [c["id"] for c in cards]) if negatives else None
    n = len(cards)
    per_batch = min(scfg["batch_cards"], n)

    def step_loss(step: int) -> dict:
        rng = train_rng(scfg["seed"], step)
        idx = group_batch(groups, per_batch, rng) if groups else rng.choice(n, size=per_batch, replace=False)
        x, y = view_batch(faces, idx, scfg["views"], contract, augment, rng)
        emb = model(x)
        t = targets[y]
        terms = {"distill": scfg["w_distill"] * cosine_distill(emb, t),
                 "relational": scfg["w_relational"] * similarity_matching(emb, t),
                 "contrastive": scfg["w_contrastive"] * multi_positive_infonce(emb, y, scfg["temperature"])}
        if stage == "stage2":
            terms["margin"] = scfg["w_margin"] * hard_negative_margin(emb, y, scfg["margin"])
        return terms

    history = fit(model, step_loss, scfg["steps"], scfg["lr"], scfg["weight_decay"], f"student {stage}")
    spec = {"arch": cfg["arch"], "embed_dim": int(targets.shape[1]), "img_size": img_size, "model_kwargs": {}}
    record = run_record(cfg, scfg["seed"], started)
    save_checkpoint(out_model, model, spec, {"provenance": provenance, "record": record,
                                             "preprocess": contract.to_dict(), "card_ids": [c["id"] for c in cards]})
    write_history(out_history, history, record)
