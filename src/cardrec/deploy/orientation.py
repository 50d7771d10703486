"""Fitting the runtime's orientation gate (``cardrec_edge.orientation``) on photo-like views of the gallery's faces.

Each card not held out of the evaluation gallery (``unknown_ids``: the frames' unknown cards stay unseen) is rendered
``views`` times by the training renderer (``render_view``) from the ``orientation`` seed stream (never a training
view, query, calibration image or frame), letterboxed by the contract and embedded by the deployed model, upright
and turned by 180°. The gate is a logistic regression telling the two apart (L2-penalised, L-BFGS from zero:
deterministic). The record keeps what it was fitted on and how sure it is on those views at ``confidence``; its
figures on located crops of whole frames come from ``benchmarks/orientation_gate.py``.
"""
from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np
from cardrec_edge.preprocess import Preprocess
from tqdm import tqdm

from cardrec.data.augment import AugmentParams, id_key, render_view, stream_seed
from cardrec.data.shards import Shard
from cardrec.errors import ConfigError
from cardrec.evaluation.metrics import unknown_ids


def render_views(shard_dirs: list[Path], contract: Preprocess, seed: int, views: int, unknown_fraction: float,
                 params: AugmentParams) -> Iterator[tuple[np.ndarray, str]]:
    """Letterboxed views (H, W, 3) of every card kept in the evaluation gallery, with their card ids."""
    shards = [Shard.load(d) for d in shard_dirs]
    held_out = unknown_ids([c["id"] for s in shards for c in s.cards], unknown_fraction)
    for shard in shards:
        for i, card in enumerate(tqdm(shard.cards, desc="orientation views", mininterval=2)):
            if card["id"] in held_out:
                continue
            for j in range(views):
                rng = stream_seed(seed, "orientation", id_key(card["id"]), j)
                yield contract.letterbox(render_view(np.asarray(shard.faces[i]), rng, params)), card["id"]


def fit_logistic(x: np.ndarray, y: np.ndarray, weight_decay: float) -> tuple[np.ndarray, float]:
    """``p(y=1 | x) = sigmoid(x . w + b)``: cross-entropy plus ``weight_decay`` x |w|², L-BFGS from zero."""
    import torch

    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    w, b = torch.zeros(xt.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        out = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + weight_decay * w.pow(2).sum()
        out.backward()
        return out

    opt.step(loss)
    return w.detach().numpy().astype(np.float32), float(b.item())


def both_ways(embed, letterboxed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (x) of letterboxed crops upright then turned by 180°, and the labels (y: 1 = turned)."""
    x = np.concatenate([embed(letterboxed), embed(np.ascontiguousarray(letterboxed[:, ::-1, ::-1]))])
    return x, np.repeat(np.float32([0, 1]), len(letterboxed))


def accuracy(p: np.ndarray, turned: np.ndarray) -> float:
    """The share of crops the gate puts on the right side of 0.5."""
    return round(float(((p > 0.5) == turned).mean()), 4)


def decided(p: np.ndarray, turned: np.ndarray, confidence: float) -> dict:
    """The share of crops the gate decides at ``confidence`` and how many of those it gets wrong."""
    sure = (p > confidence) | (p < 1 - confidence)
    return {"crops": int(len(p)), "decided": round(float(sure.mean()), 4) if len(p) else None,
            "wrong": int((sure & ((p > confidence) != turned)).sum())}


def fit_gate(model: Path, shard_dirs: list[Path], contract: Preprocess, out: Path, seed: int, views: int,
             confidence: float, weight_decay: float, unknown_fraction: float, params: AugmentParams,
             threads: int = 1) -> dict:
    """Render, embed and fit; write the gate's weights to ``out`` (.npz: ``weights``, ``bias``) and return its
    record (``manifest["orientation"]`` in the bundle)."""
    from cardrec_edge.orientation import OrientationGate
    from cardrec_edge.runtime import OnnxEmbedder

    embedder = OnnxEmbedder(model, contract, threads)
    parts, ids = [], []
    rendered = render_views(shard_dirs, contract, seed, views, unknown_fraction, params)
    while chunk := list(islice(rendered, 128)):
        parts.append(both_ways(embedder.embed_letterboxed, np.stack([v for v, _ in chunk])))
        ids += [cid for _, cid in chunk]  # memory holds embeddings, not images, at any gallery size
    if not parts:
        raise ConfigError("orientation gate: no card to render views of (evaluate.unknown_fraction holds every card "
                          "out)")
    x, y = (np.concatenate([part[k] for part in parts]) for k in (0, 1))
    w, b = fit_logistic(x, y, weight_decay)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        np.savez(f, weights=w, bias=np.float32(b))
    p = OrientationGate(w, b, confidence).probability(x)
    return {"confidence": confidence, "views_per_card": views, "cards": len(set(ids)), "views": len(ids),
            "seed": seed, "stream": "orientation", "weight_decay": weight_decay,
            "unknown_fraction_held_out": unknown_fraction,
            "fit": {"accuracy": accuracy(p, y > 0.5), **decided(p, y > 0.5, confidence)}}
