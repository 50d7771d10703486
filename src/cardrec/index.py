"""Reference index: gallery embeddings of the deployed model, a usearch HNSW index and card metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from usearch.index import Index

CARD_KEYS = ("id", "name", "set", "number", "rarity", "types", "subtypes")


def build_index(emb: np.ndarray, cfg: dict) -> Index:
    """HNSW over cosine; keys are row numbers of ``emb`` (the card table's order).

    Built with one thread: a multi-threaded HNSW build inserts in a racy order, so the graph (and the
    file DVC tracks) would differ between runs of the same inputs.
    """
    index = Index(ndim=emb.shape[1], metric="cos", dtype=cfg["dtype"], connectivity=cfg["connectivity"],
                  expansion_add=cfg["expansion_add"], expansion_search=cfg["expansion_search"])
    index.add(np.arange(len(emb), dtype=np.uint64), emb.astype(np.float32), threads=1)
    return index


def recall_at_1(index: Index, emb: np.ndarray) -> float:
    """Fraction of gallery vectors whose own key is the index's top hit (a self-consistency check)."""
    res = index.search(emb.astype(np.float32), 1)
    return float(np.mean(np.asarray(res.keys).reshape(-1) == np.arange(len(emb))))


def write_reference(cards: list[dict], emb_files: list[str], cfg: dict, out_emb: Path, out_index: Path,
                    out_cards: Path) -> dict:
    """Concatenate per-set embeddings (same order as ``cards``), build and save the index and table."""
    emb = np.concatenate([np.load(f) for f in emb_files]).astype(np.float32)
    if len(emb) != len(cards):
        raise ValueError(f"{len(emb)} embeddings for {len(cards)} cards")
    np.save(out_emb, emb)
    index = build_index(emb, cfg)
    index.save(str(out_index))
    out_cards.write_text(json.dumps([{k: c.get(k) for k in CARD_KEYS} for c in cards], ensure_ascii=False))
    return {"cards": len(cards), "dim": int(emb.shape[1]), "self_recall_at_1": recall_at_1(index, emb)}


def write_thumbnails(cards: list[dict], gallery_files: list[str], out_zip: Path, quality: int = 85) -> int:
    """The letterboxed gallery faces as ``<card id>.jpg`` in one zip, for the edge page's card images."""
    import zipfile

    import cv2

    images = np.concatenate([np.load(f, mmap_mode="r") for f in gallery_files])
    if len(images) != len(cards):
        raise ValueError(f"{len(images)} gallery images for {len(cards)} cards")
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_STORED) as zf:  # JPEG does not compress further
        for card, rgb in zip(cards, images):
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR),
                                   [cv2.IMWRITE_JPEG_QUALITY, quality])
            zf.writestr(f"{card['id']}.jpg", jpg.tobytes())
    return out_zip.stat().st_size
