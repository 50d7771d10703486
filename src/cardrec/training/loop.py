"""Shared training machinery: seeded view batches, the optimisation loop, run records."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess
from tqdm import tqdm

from ..augment import AugmentParams, render_view, stream_seed
from ..bundle import package_versions

log = logging.getLogger(__name__)


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(max(1, threads))


def view_batch(faces: np.ndarray, card_idx: np.ndarray, views: int, contract: Preprocess, params: AugmentParams,
               rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``views`` photo-like renders of each card in ``card_idx`` -> (normalised NCHW batch, labels)."""
    imgs = [contract.letterbox(render_view(np.asarray(faces[i]), rng, params)) for i in card_idx for _ in range(views)]
    labels = np.repeat(card_idx, views)
    return torch.from_numpy(contract.normalize(np.stack(imgs))), torch.from_numpy(labels.astype(np.int64))


def train_rng(seed: int, step: int) -> np.random.Generator:
    return stream_seed(seed, "train", step)


def fit(model: torch.nn.Module, step_loss: Callable[[int], dict[str, torch.Tensor]], steps: int, lr: float,
        weight_decay: float, desc: str) -> list[dict]:
    """AdamW + warm-up/cosine schedule over ``steps``; ``step_loss(step)`` returns named loss terms.

    The optimised loss is the sum of the returned terms (each already weighted). Returns the history.
    """
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    history = []
    model.train()
    bar = tqdm(range(steps), desc=desc, mininterval=5)
    for step in bar:
        terms = step_loss(step)
        loss = sum(terms.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        rec = {"step": step, "loss": float(loss), **{k: float(v) for k, v in terms.items()}}
        history.append(rec)
        bar.set_postfix(loss=f"{rec['loss']:.3f}")
        if step % max(1, steps // 10) == 0 or step == steps - 1:
            log.info("%s step %d/%d %s", desc, step + 1, steps, {k: round(v, 4) for k, v in rec.items()})
    return history


def run_record(cfg: dict, seed: int, started: float) -> dict:
    """What a checkpoint records for reproducibility: config, seed, versions, duration."""
    return {"config": cfg, "seed": seed, "seconds": round(time.time() - started, 2),
            "versions": package_versions(("torch", "timm", "numpy"))}


def write_history(path: str | Path, history: list[dict], record: dict) -> None:
    Path(path).write_text(json.dumps({"record": record, "history": history}, indent=1))
