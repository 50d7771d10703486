"""What every training stage does around its loss: data, rank context, fit, checkpoint, metrics."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess

from cardrec.data.augment import AugmentParams
from cardrec.evaluation.metrics import unknown_ids
from cardrec.models.embedder import save_checkpoint
from cardrec.data.shards import load_shards
from cardrec.training.dist import Dist, from_env
from cardrec.training.loop import (
    RunOptions,
    Schedule,
    fingerprint,
    fit,
    run_record,
    seed_everything,
    steps_per_epoch,
    view_batch,
    write_metrics,
)

log = logging.getLogger(__name__)


@dataclass
class StageInputs:
    """Training cards (the evaluation's "unknown" cards held out) and the rank context."""

    cards: list[dict]
    faces: np.ndarray
    shard_ids: list[str]  # every card of the shards, in shard order (embedding files follow it)
    ctx: Dist
    contract: Preprocess
    augment: AugmentParams
    run: RunOptions


def prepare(shards: list[str], unknown_fraction: float, seed: int, threads: int, contract: dict, augment: dict,
            run: dict) -> StageInputs:
    """Seed, join the process group (under torchrun) and load the training cards."""
    ctx = from_env()
    seed_everything(seed, threads)
    cards, faces, _ = load_shards(shards)
    unknown = unknown_ids([c["id"] for c in cards], unknown_fraction)
    keep = [i for i, c in enumerate(cards) if c["id"] not in unknown]
    if len(keep) < 2:
        raise ValueError(f"only {len(keep)} training cards left after holding out evaluate.unknown_fraction")
    log.info("%d training cards (%d held out as unknown for evaluation), %d process(es)", len(keep),
             len(cards) - len(keep), ctx.world)
    return StageInputs([cards[i] for i in keep], faces[keep], [c["id"] for c in cards], ctx,
                       Preprocess.from_dict(contract), AugmentParams(**(augment or {})), RunOptions(**(run or {})))


def embed_views(net: torch.nn.Module, data: StageInputs, idx: np.ndarray, views: int, seed: int, step: int,
                key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of the whole global batch (this rank renders and embeds its slice) and labels."""
    part = data.ctx.local_slice(len(idx) * views, key)
    x, y = view_batch(data.faces, idx, views, data.contract, data.augment, seed, step, part)
    return data.ctx.gather(net(x)), y


def train_and_save(name: str, model: torch.nn.Module, embedder: torch.nn.Module, step_loss: Callable, cfg: dict,
                   stage_cfg: dict, data: StageInputs, extra_fp: list, spec: dict, provenance: dict,
                   out_model: str, out_metrics: str, profile_dir: str) -> None:
    """Fit ``model`` (embedder + training-only heads); the main rank saves the embedder and metrics."""
    sched = Schedule(name, stage_cfg["steps"], stage_cfg["lr"], stage_cfg["weight_decay"], stage_cfg["seed"],
                     steps_per_epoch(len(data.cards), stage_cfg["batch_cards"]),
                     min(stage_cfg["batch_cards"], len(data.cards)) * stage_cfg["views"])
    fp = fingerprint({"cfg": cfg, "world": data.ctx.world, "contract": data.contract.to_dict(),
                      "augment": data.augment.__dict__, "cards": [c["id"] for c in data.cards]},
                     data.faces, *extra_fp, *[v.detach().numpy() for v in model.state_dict().values()])
    rows = fit(model, step_loss, sched, data.run, fp, profile_dir, data.ctx)
    if data.ctx.is_main:
        save_checkpoint(out_model, embedder, spec, {
            "provenance": provenance, "record": run_record(cfg, stage_cfg["seed"], data.ctx.world),
            "preprocess": data.contract.to_dict(), "card_ids": [c["id"] for c in data.cards]})
        write_metrics(out_metrics, rows)
        log.info("%s done: %s", name, rows[-1] if rows else {})
