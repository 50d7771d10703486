"""Training objectives. Every term returns a scalar with gradients; tests check each is non-zero."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_positive_infonce(emb: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive (multi-positive InfoNCE) over unit-norm embeddings.

    Every other view of the same card is a positive; all other cards in the batch are negatives.
    """
    sim = emb @ emb.T / temperature
    n = len(emb)
    self_mask = torch.eye(n, dtype=torch.bool, device=emb.device)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    sim = sim.masked_fill(self_mask, float("-inf"))
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    has_pos = pos.any(1)
    per_anchor = -(log_prob.masked_fill(~pos, 0).sum(1) / pos.sum(1).clamp(min=1))
    return per_anchor[has_pos].mean()


def cosine_distill(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean (1 - cosine) between student embeddings and their teacher targets."""
    return (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()


def similarity_matching(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Relational term: match the in-batch cosine-similarity matrices (teacher detached)."""
    s = student @ student.T
    t = (teacher @ teacher.T).detach()
    off = ~torch.eye(len(s), dtype=torch.bool, device=s.device)
    return F.mse_loss(s[off], t[off])


def hard_negative_margin(emb: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplet margin on cosine: hardest positive must beat hardest negative by ``margin``."""
    sim = emb @ emb.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    pos_sim = sim.masked_fill(~same | eye, 2.0).min(1).values
    neg_sim = sim.masked_fill(same, -2.0).max(1).values
    valid = (same & ~eye).any(1) & (~same).any(1)
    return F.relu(neg_sim - pos_sim + margin)[valid].mean()


def arcface(emb: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor, margin: float,
            scale: float) -> torch.Tensor:
    """ArcFace: softmax over cards with an additive angular ``margin`` on the true card's centre."""
    cos = F.normalize(emb, dim=-1) @ F.normalize(centres, dim=-1).T
    true = cos.gather(1, labels[:, None]).clamp(-1 + 1e-6, 1 - 1e-6)
    theta = torch.acos(true)
    # past pi - margin cos(theta + m) stops decreasing; fall back to a linear penalty there (as in ArcFace)
    target = torch.where(theta + margin < torch.pi, torch.cos(theta + margin), true - margin * torch.sin(
        torch.as_tensor(margin)))
    return F.cross_entropy(scale * cos.scatter(1, labels[:, None], target), labels)
