"""Hard-negative mining: the k most similar *other* cards of each card in embedding space."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def nearest_other_cards(emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For unit-norm ``emb`` (N,D): indices and cosines of the k nearest other rows (self excluded)."""
    sims = emb @ emb.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(emb) - 1)
    idx = np.argsort(-sims, axis=1)[:, :k]
    return idx, np.take_along_axis(sims, idx, axis=1)


def write_hard_negatives(cards: list[dict], emb: np.ndarray, k: int, out_csv: Path, out_md: Path,
                         top_pairs: int = 25) -> int:
    """Write the mined table (CSV, used by stage 2) and a readable list of the most confusable pairs."""
    idx, sims = nearest_other_cards(emb, k)
    rows = [{"card_id": cards[i]["id"], "rank": r + 1, "neighbor_id": cards[j]["id"], "cosine": f"{sims[i, r]:.6f}",
             "card_name": cards[i]["name"], "neighbor_name": cards[j]["name"]}
            for i in range(len(cards)) for r, j in enumerate(idx[i])]
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["card_id"])
        w.writeheader()
        w.writerows(rows)
    seen, pairs = set(), []
    for row in sorted(rows, key=lambda r: -float(r["cosine"])):
        key = tuple(sorted((row["card_id"], row["neighbor_id"])))
        if key not in seen:
            seen.add(key)
            pairs.append(row)
    lines = ["# Most confusable card pairs (stage-1 gallery embeddings)", "",
             "| cosine | card | neighbour |", "|---:|---|---|"]
    lines += [f"| {p['cosine'][:6]} | {p['card_id']} {p['card_name']} | {p['neighbor_id']} {p['neighbor_name']} |"
              for p in pairs[:top_pairs]]
    out_md.write_text("\n".join(lines) + "\n")
    return len(rows)
