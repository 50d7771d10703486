"""Which cards make up a training batch: random, variant groups (teacher), mined groups (stage 2).

A *group* is anchored at a card: ``groups[i]`` starts with ``i`` and lists the cards it must be
told apart from (its printed variants, or its mined hard negatives). Grouped batches put whole
groups together so those pairs meet as in-batch negatives.
"""
from __future__ import annotations

import csv
import re

import numpy as np


def random_batch(n_cards: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n_cards, size=min(size, n_cards), replace=False)


def grouped_batch(groups: list[np.ndarray], size: int, rng: np.random.Generator) -> np.ndarray:
    """Anchors in random order, each followed by its group, until ``size`` distinct cards."""
    chosen: dict[int, None] = {}
    for a in rng.permutation(len(groups)):
        for c in groups[int(a)]:
            chosen.setdefault(int(c))
            if len(chosen) >= size:
                return np.fromiter(chosen, dtype=np.int64)
    return np.fromiter(chosen, dtype=np.int64)


def variant_key(name: str) -> str:
    """Cards printed for the same Pokémon/trainer share a key ("Pikachu ex" == "pikachu EX")."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def variant_groups(cards: list[dict]) -> list[np.ndarray]:
    """Per card: itself, then the other cards with the same name (reprints, full arts, golds)."""
    by_key: dict[str, list[int]] = {}
    for i, c in enumerate(cards):
        by_key.setdefault(variant_key(c.get("name", "")), []).append(i)
    return [np.asarray([i] + [j for j in by_key[variant_key(c.get("name", ""))] if j != i], dtype=np.int64)
            for i, c in enumerate(cards)]


def mined_groups(path: str, card_ids: list[str]) -> list[np.ndarray]:
    """Per card: itself, then its mined hard negatives in rank order (from mining's CSV)."""
    pos = {cid: i for i, cid in enumerate(card_ids)}
    groups: list[list[int]] = [[i] for i in range(len(card_ids))]
    with open(path) as f:
        for row in csv.DictReader(f):
            a, b = pos.get(row["card_id"]), pos.get(row["neighbor_id"])
            if a is not None and b is not None and b not in groups[a]:
                groups[a].append(b)
    return [np.asarray(g, dtype=np.int64) for g in groups]
