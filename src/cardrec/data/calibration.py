"""Calibration set: deployment-like renders, stratified over sets and card types, NHWC uint8 0-255."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
from cardrec_edge.preprocess import Preprocess

from cardrec.data.augment import AugmentParams, id_key, render_view, stream_seed
from cardrec.errors import ConfigError


def stratified_pick(cards: list[dict], count: int, seed: int) -> list[int]:
    """Round-robin over (set, first type) strata so every stratum is represented before repeats."""
    strata: dict[tuple, list[int]] = defaultdict(list)
    for i, c in enumerate(cards):
        strata[(c.get("set"), (c.get("types") or ["-"])[0])].append(i)
    rng = np.random.default_rng([seed, 77])
    queues = [list(rng.permutation(v)) for _, v in sorted(strata.items())]
    picks: list[int] = []
    while len(picks) < count:
        for q in queues:
            if len(picks) == count:
                break
            if q:
                picks.append(int(q.pop()))
        if not any(queues):  # fewer cards than requested: start another round of renders
            queues = [list(rng.permutation(v)) for _, v in sorted(strata.items())]
    return picks


def build_calibration(cards: list[dict], faces: np.ndarray, count: int, seed: int, contract: Preprocess,
                      params: AugmentParams, exclude: set[str] = frozenset()) -> tuple[np.ndarray, list[str]]:
    """(count,H,W,3) uint8 letterboxed renders from the calibration seed stream, and their card ids.

    Cards in ``exclude`` (those the evaluation holds out as unknown) are never rendered.
    """
    allowed = [i for i, c in enumerate(cards) if c["id"] not in exclude]
    if not allowed:
        raise ConfigError("no card left for the calibration set after holding out evaluate.unknown_fraction")
    picks = [allowed[k] for k in stratified_pick([cards[i] for i in allowed], count, seed)]
    images = [contract.letterbox(render_view(np.asarray(faces[i]), stream_seed(seed, "calibration",
                                                                                id_key(cards[i]["id"]), n), params))
              for n, i in enumerate(picks)]
    return np.stack(images).astype(np.uint8), [cards[i]["id"] for i in picks]
