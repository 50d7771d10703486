"""Matching embeddings against the reference gallery: one score (cosine), one threshold."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


@dataclass(frozen=True)
class Projection:
    """Where the HNSW graph lives: unit vectors of ``(x - mean) @ components.T`` (the gallery's leading
    principal directions). The graph only proposes candidates; scores stay full-dimensional cosines."""

    mean: np.ndarray  # (dim,)
    components: np.ndarray  # (k, dim)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return l2_normalize((np.atleast_2d(x) - self.mean) @ self.components.T)

    @classmethod
    def load(cls, path: str | Path) -> "Projection | None":
        """From an ``.npz`` with ``mean`` and ``components``; None when it holds no components (no projection)."""
        with np.load(path) as z:
            mean, comps = np.asarray(z["mean"], np.float32), np.asarray(z["components"], np.float32)
        return cls(mean, comps) if comps.size else None


@dataclass(frozen=True)
class Match:
    index: int
    score: float  # cosine similarity of the unit-norm embeddings


class Matcher:
    """Top-k cosine search over unit-norm gallery vectors, exact (numpy) or HNSW (usearch) + exact rescoring.

    With an index, HNSW proposes ``candidates`` cards (its distances come from the index's storage type,
    e.g. int8) and their float32 cosines against the gallery decide the order. So scores are exact
    cosine similarities whatever the index stores, and the threshold means the same thing on both paths.
    ``expansion_search`` is applied here because a usearch file does not keep it. With a ``projection`` the
    graph is searched in the projected space (see ``Projection``).
    """

    def __init__(self, gallery: np.ndarray, index=None, expansion_search: int | None = None, candidates: int = 16,
                 projection: Projection | None = None):
        self.gallery = l2_normalize(gallery)
        self.candidates = max(1, int(candidates))
        self.projection = projection
        self._index = None
        self._lock = threading.Lock()  # usearch's Python search is not documented as safe across threads
        if index is not None:
            if isinstance(index, (str, Path)):
                from usearch.index import Index

                index = Index.restore(str(index), view=False)
            if index is None or len(index) != len(self.gallery):
                raise ValueError(f"index does not match the gallery "
                                 f"({0 if index is None else len(index)} vs {len(self.gallery)} vectors)")
            if expansion_search:
                index.expansion_search = int(expansion_search)
            self._index = index

    def search(self, queries: np.ndarray, k: int = 5) -> list[list[Match]]:
        q = l2_normalize(np.atleast_2d(queries))
        k = min(k, len(self.gallery))
        if self._index is None:
            sims = q @ self.gallery.T
            top = np.argsort(-sims, axis=1)[:, :k]
            return [[Match(int(i), float(sims[r, i])) for i in row] for r, row in enumerate(top)]
        nav = self.projection(q) if self.projection is not None else q
        with self._lock:
            res = self._index.search(nav, min(max(k, self.candidates), len(self.gallery)))
        keys = np.asarray(res.keys, np.int64).reshape(len(q), -1)  # one query: Matches, several: BatchMatches
        counts = np.asarray(res.counts if hasattr(res, "counts") else [keys.shape[1]]).reshape(-1, 1)
        valid = np.arange(keys.shape[1]) < counts
        keys = np.where(valid, keys, 0)
        sims = np.where(valid, np.matmul(self.gallery[keys], q[:, :, None])[..., 0], -np.inf)
        order = np.argsort(-sims, axis=1)[:, :k]
        top, top_sims = np.take_along_axis(keys, order, 1), np.take_along_axis(sims, order, 1)
        return [[Match(int(i), float(v)) for i, v in zip(kr, sr) if v > -np.inf] for kr, sr in zip(top, top_sims)]


def decide(best_score: float, threshold: float) -> bool:
    """A match is accepted when its cosine is at least the bundle's calibrated threshold."""
    return best_score >= threshold
