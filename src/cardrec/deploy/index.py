"""Reference index: gallery embeddings of the deployed model, a usearch HNSW index and card metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from cardrec_edge.matcher import Matcher, Projection, l2_normalize
from usearch.index import Index

CARD_KEYS = ("id", "name", "set", "number", "rarity", "types", "subtypes")


def fit_projection(emb: np.ndarray, dim: int, sample: int = 50_000, seed: int = 0) -> Projection | None:
    """The gallery's mean and ``dim`` leading principal directions (SVD of at most ``sample`` rows, seeded).

    HNSW routes far better in this low-dimensional space than among 768 noisy coordinates (see
    benchmarks/search_scale.py); the full vectors still decide the scores. None when ``dim`` is 0 or
    would not be lower than the embedding's.
    """
    k = min(int(dim or 0), len(emb) - 1)
    if k < 1 or k >= emb.shape[1]:
        return None
    rows = emb if len(emb) <= sample else emb[np.random.default_rng(seed).choice(len(emb), sample, replace=False)]
    mean = rows.mean(axis=0, dtype=np.float64)
    _, _, vt = np.linalg.svd(rows - mean, full_matrices=False)
    return Projection(mean.astype(np.float32), vt[:k].astype(np.float32))


def save_projection(projection: Projection | None, dim: int, path: Path) -> None:
    """``.npz`` with ``mean`` and ``components``; empty components mean "no projection"."""
    if projection is None:
        projection = Projection(np.zeros(dim, np.float32), np.zeros((0, dim), np.float32))
    with open(path, "wb") as f:
        np.savez(f, mean=projection.mean, components=projection.components)


def build_index(emb: np.ndarray, cfg: dict, threads: int = 1, projection: Projection | None = None) -> Index:
    """HNSW over cosine; keys are row numbers of ``emb`` (the card table's order).

    The workflow builds with one thread: a multi-threaded HNSW build inserts in a racy order, so the graph
    (and the file DVC tracks) would differ between runs of the same inputs. Benchmarks pass ``threads=0``
    (all cores). With a ``projection`` the graph holds the projected vectors.
    """
    vectors = projection(l2_normalize(emb)) if projection is not None else emb.astype(np.float32)
    index = Index(ndim=vectors.shape[1], metric="cos", dtype=cfg["dtype"], connectivity=cfg["connectivity"],
                  expansion_add=cfg["expansion_add"], expansion_search=cfg["expansion_search"])
    index.add(np.arange(len(emb), dtype=np.uint64), vectors, threads=threads)
    return index


def build_reference_index(emb: np.ndarray, cfg: dict, threads: int = 1) -> tuple[Index, Projection | None]:
    """The projection (``cfg["pca_dim"]``) and the graph built in it, as the workflow ships them."""
    projection = fit_projection(l2_normalize(emb), cfg.get("pca_dim", 0))
    return build_index(emb, cfg, threads, projection), projection


def recall_at_1(matcher: Matcher) -> float:
    """Fraction of gallery vectors that find themselves first through the matcher's index (self-consistency)."""
    top = [m[0].index for m in matcher.search(matcher.gallery, 1)]
    return float(np.mean(np.asarray(top) == np.arange(len(matcher.gallery))))


def write_reference(cards: list[dict], emb_files: list[str], cfg: dict, out_emb: Path, out_index: Path,
                    out_cards: Path, out_projection: Path) -> dict:
    """Concatenate per-set embeddings (same order as ``cards``), build and save the index, projection and table."""
    emb = np.concatenate([np.load(f) for f in emb_files]).astype(np.float32)
    if len(emb) != len(cards):
        raise ValueError(f"{len(emb)} embeddings for {len(cards)} cards")
    np.save(out_emb, emb)
    index, projection = build_reference_index(emb, cfg)
    save_projection(projection, emb.shape[1], out_projection)
    index.save(str(out_index))
    out_cards.write_text(json.dumps([{k: c.get(k) for k in CARD_KEYS} for c in cards], ensure_ascii=False))
    matcher = Matcher(emb, index, cfg["expansion_search"], cfg.get("candidates", 16), projection)
    return {"cards": len(cards), "dim": int(emb.shape[1]),
            "graph_dim": int(projection.components.shape[0]) if projection is not None else int(emb.shape[1]),
            "self_recall_at_1": recall_at_1(matcher)}


def write_thumbnails(cards: list[dict], gallery_files: list[str], out_zip: Path, quality: int = 85) -> int:
    """The letterboxed gallery faces as ``<card id>.jpg`` in one zip, for the edge page's card images; entries
    sorted by name with a fixed date and mode, so rebuilding from the same inputs gives the same bytes."""
    import zipfile

    import cv2

    images = np.concatenate([np.load(f, mmap_mode="r") for f in gallery_files])
    if len(images) != len(cards):
        raise ValueError(f"{len(images)} gallery images for {len(cards)} cards")
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_STORED) as zf:  # JPEG does not compress further
        for card, rgb in sorted(zip(cards, images), key=lambda ci: ci[0]["id"]):
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
            # a fixed date and mode, not the build time: the same inputs give the same bytes
            entry = zipfile.ZipInfo(f"{card['id']}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            zf.writestr(entry, jpg.tobytes(), compress_type=zipfile.ZIP_STORED)
    return out_zip.stat().st_size
