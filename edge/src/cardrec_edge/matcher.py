"""Matching embeddings against the reference gallery: one score (cosine), one threshold."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


@dataclass(frozen=True)
class Match:
    index: int
    score: float  # cosine similarity of the unit-norm embeddings


class Matcher:
    """Top-k cosine search over unit-norm gallery vectors, exact (numpy) or HNSW (usearch).

    Both backends return cosine similarity: usearch's ``cos`` metric returns the distance
    ``1 - cos``, which is converted back, so scores and the threshold mean the same thing.
    """

    def __init__(self, gallery: np.ndarray, index_path: str | None = None):
        self.gallery = l2_normalize(gallery)
        self._index = None
        if index_path is not None:
            from usearch.index import Index

            self._index = Index.restore(str(index_path), view=False)
            if self._index is None or len(self._index) != len(self.gallery):
                raise ValueError(f"index {index_path} does not match the gallery "
                                 f"({0 if self._index is None else len(self._index)} vs {len(self.gallery)})")

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Match]]:
        q = l2_normalize(np.atleast_2d(queries))
        k = min(k, len(self.gallery))
        if self._index is not None:
            res = self._index.search(q, k)
            keys = np.atleast_2d(res.keys)
            dists = np.atleast_2d(res.distances)
            return [[Match(int(i), float(1.0 - d)) for i, d in zip(kr, dr)] for kr, dr in zip(keys, dists)]
        sims = q @ self.gallery.T
        top = np.argsort(-sims, axis=1)[:, :k]
        return [[Match(int(i), float(sims[r, i])) for i in row] for r, row in enumerate(top)]


def decide(best_score: float, threshold: float) -> bool:
    """A match is accepted when its cosine is at least the bundle's calibrated threshold."""
    return best_score >= threshold
