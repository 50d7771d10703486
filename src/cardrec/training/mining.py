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


def mine(cards: list[dict], embeddings: dict[str, np.ndarray], k: int) -> list[dict]:
    """Per card, the union of its k nearest other cards under each model (``{source: (N,D)}``).

    Neighbours are ranked by their best cosine over the sources; ``sources`` says who found them.
    """
    found: list[dict[int, dict]] = [{} for _ in cards]
    for source, emb in embeddings.items():
        idx, sims = nearest_other_cards(emb, k)
        for i in range(len(cards)):
            for j, s in zip(idx[i], sims[i]):
                rec = found[i].setdefault(int(j), {"cosine": -2.0, "sources": []})
                rec["cosine"] = max(rec["cosine"], float(s))
                rec["sources"].append(source)
    rows = []
    for i in range(len(cards)):
        mine_i = sorted(found[i].items(), key=lambda t: -t[1]["cosine"])
        rows += [{"card_id": cards[i]["id"], "rank": n + 1, "neighbor_id": cards[j]["id"],
                  "cosine": f"{r['cosine']:.6f}", "sources": "+".join(r["sources"]), "card_name": cards[i]["name"],
                  "neighbor_name": cards[j]["name"]} for n, (j, r) in enumerate(mine_i)]
    return rows


def write_hard_negatives(cards: list[dict], embeddings: dict[str, np.ndarray], k: int, out_csv: Path, out_md: Path,
                         top_pairs: int = 25) -> int:
    """Write the mined table (CSV, used by stage 2) and a readable list of the most confusable pairs."""
    rows = mine(cards, embeddings, k)
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
    lines = [f"# Most confusable card pairs ({' + '.join(embeddings)} gallery embeddings)", "",
             "| cosine | card | neighbour | found by |", "|---:|---|---|---|"]
    lines += [f"| {p['cosine'][:6]} | {p['card_id']} {p['card_name']} | {p['neighbor_id']} {p['neighbor_name']} "
              f"| {p['sources']} |"
              for p in pairs[:top_pairs]]
    out_md.write_text("\n".join(lines) + "\n")
    return len(rows)
