"""Evaluation on held-out photo-like queries: top-k, cosine to the true card, calibrated rejection.

Known-card queries are matched against the gallery without the "unknown" cards, whose queries
measure rejection: a card not in the database must score below the threshold. The threshold is
chosen on the *val* queries (false rejections <= ``max_false_reject``) and applied to *test*.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from cardrec.data.augment import id_key
from cardrec.errors import ConfigError


def unknown_ids(card_ids: list[str], fraction: float) -> set[str]:
    """Deterministic subset of cards held out of the evaluation gallery (by a stable id hash)."""
    return {c for c in card_ids if id_key(c) % 10_000 < fraction * 10_000}


def choose_threshold(best_scores: np.ndarray, max_false_reject: float) -> float:
    """Largest threshold rejecting at most ``max_false_reject`` of these known-card best scores."""
    if not 0 <= max_false_reject < 1:
        raise ConfigError(f"evaluate.max_false_reject must be in [0, 1), got {max_false_reject}")
    s = np.sort(np.asarray(best_scores, np.float64))
    if len(s) == 0:
        return 0.0
    return float(s[int(np.floor(max_false_reject * len(s)))])


def rank_queries(sims: np.ndarray, true_idx: np.ndarray, k: int) -> dict:
    """Top-1 / top-k accuracy and similarity to the true card from a (Q,G) similarity matrix."""
    order = np.argsort(-sims, axis=1)[:, :k]
    hit1 = order[:, 0] == true_idx
    hitk = (order == true_idx[:, None]).any(1)
    return {"top1": float(hit1.mean()) if len(hit1) else float("nan"),
            f"top{k}": float(hitk.mean()) if len(hitk) else float("nan"),
            "best": sims.max(1) if len(sims) else np.zeros(0), "pred": order[:, 0],
            "true_sim": sims[np.arange(len(sims)), true_idx] if len(sims) else np.zeros(0)}


def evaluate_similarity(sim_fn, card_ids: list[str], rows: list[dict], unknown: set[str], max_false_reject: float,
                        top_k: int, threshold: float | None = None) -> dict:
    """Metrics from ``sim_fn(query_idx, gallery_idx) -> (Q,G) similarity``, the one score for every model.
    ``threshold``: score at a given threshold (e.g. the bundle's) instead of choosing one on the val queries."""
    gal = [i for i, c in enumerate(card_ids) if c not in unknown]
    gal_pos = {card_ids[g]: n for n, g in enumerate(gal)}
    out: dict = {"gallery": len(gal), "unknown_cards": len(unknown)}
    res = {}
    for split in ("val", "test"):
        known = [i for i, r in enumerate(rows) if r["split"] == split and r["card_id"] in gal_pos]
        sims = sim_fn(np.asarray(known, int), np.asarray(gal, int))
        true_idx = np.asarray([gal_pos[rows[i]["card_id"]] for i in known], int)
        res[split] = rank_queries(sims, true_idx, top_k)
        res[split]["queries"], res[split]["true_idx"] = known, true_idx
    unk = [i for i, r in enumerate(rows) if r["split"] == "test" and r["card_id"] in unknown]
    unk_best = sim_fn(np.asarray(unk, int), np.asarray(gal, int)).max(1) if unk else np.zeros(0)
    thr = choose_threshold(res["val"]["best"], max_false_reject) if threshold is None else float(threshold)
    t = res["test"]
    wrong = np.flatnonzero(t["pred"] != t["true_idx"])
    wrong = wrong[np.argsort(-t["best"][wrong], kind="stable")][:50]  # most confident mistakes first
    out.update({
        "queries_test": len(t["queries"]), "queries_unknown": len(unk), "top1": t["top1"], f"top{top_k}": t[f"top{top_k}"],
        "mean_cosine_true": float(np.mean(t["true_sim"])) if len(t["true_sim"]) else None,
        "threshold": thr, "false_reject_rate": float(np.mean(t["best"] < thr)) if len(t["best"]) else None,
        "unknown_reject_rate": float(np.mean(unk_best < thr)) if len(unk) else None,
        "scores_known": [round(float(x), 5) for x in t["best"]],
        "scores_unknown": [round(float(x), 5) for x in unk_best],
        "confusions": [{"query": t["queries"][w], "true": rows[t["queries"][w]]["card_id"],
                        "pred": card_ids[gal[int(t["pred"][w])]], "score": round(float(t["best"][w]), 5)} for w in wrong],
    })
    return out


def hardest_confusions(metrics: dict, queries: np.ndarray, gallery: np.ndarray, card_ids: list[str],
                       n: int = 6) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The ``n`` wrong matches made with the highest score: (query image, matched card image, caption)."""
    pos = {c: i for i, c in enumerate(card_ids)}
    worst = sorted(metrics["confusions"], key=lambda c: -c["score"])[:n]
    return [(queries[c["query"]], gallery[pos[c["pred"]]], f"{c['true']}\nseen as {c['pred']}\n{c['score']:.3f}")
            for c in worst]


def embedding_similarity(gallery_emb: np.ndarray, query_emb: np.ndarray):
    """Cosine similarity on unit-norm embeddings, as the edge runtime computes it."""
    return lambda q, g: query_emb[q] @ gallery_emb[g].T if len(q) else np.zeros((0, len(g)))


def phash_codes(images: np.ndarray) -> np.ndarray:
    """128-bit codes: pHash + dHash (64 bits each) of each uint8 RGB image."""
    import imagehash

    codes = []
    for img in images:
        pil = Image.fromarray(np.asarray(img))
        codes.append(np.concatenate([imagehash.phash(pil).hash.ravel(), imagehash.dhash(pil).hash.ravel()]))
    return np.asarray(codes, bool)


def hash_similarity(gallery_codes: np.ndarray, query_codes: np.ndarray):
    """Similarity 1 - Hamming/bits, so the same top-k and threshold logic applies to the baseline."""
    bits = gallery_codes.shape[1]

    def sim(q, g):
        if not len(q):
            return np.zeros((0, len(g)))
        qc, gc = query_codes[q].astype(np.int16), gallery_codes[g].astype(np.int16)
        ham = qc @ (1 - gc).T + (1 - qc) @ gc.T
        return 1.0 - ham / bits
    return sim
