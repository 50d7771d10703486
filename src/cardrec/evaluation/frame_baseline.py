"""The pHash+dHash baseline on whole frames, scored like the shipped bundle (``cardrec.evaluation.frames``).

The edge runtime's own ``Recognizer`` runs on the held-out bundle (unknown cards left out): the same detection,
rectification, letterbox, quality gate, partial-card rule and 180° retry. Only the embedding and the decision
differ: each crop's 128-bit pHash+dHash code (``metrics.phash_codes``) is matched against the gallery faces'
codes, and the threshold is the crop baseline's (chosen on the val query crops, ``evaluate.max_false_reject``).
No geometric verification: the baseline is the hash alone, as on crops.

A code becomes a unit vector of ±1/sqrt(bits), so the runtime's cosine is 1 - 2 * Hamming / bits: the matcher
ranks as ``metrics.hash_similarity`` does, and a crop threshold ``s`` (1 - Hamming / bits) is ``2 s - 1`` here.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from cardrec_edge.bundle import Bundle
from cardrec_edge.matcher import Matcher
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.sources import image_files

from cardrec.evaluation.metrics import phash_codes


def hash_vectors(codes: np.ndarray) -> np.ndarray:
    """(N, bits) bool codes -> (N, bits) float32 unit vectors whose dot product is 1 - 2 * Hamming / bits."""
    return (codes.astype(np.float32) * 2 - 1) / np.sqrt(codes.shape[1])


class HashEmbedder:
    """The runtime's backend interface (``contract``, ``embed_letterboxed``) with hash codes as embeddings."""

    def __init__(self, contract: Preprocess):
        self.contract = contract

    def embed_letterboxed(self, nhwc: np.ndarray) -> np.ndarray:
        return hash_vectors(phash_codes(nhwc))


def hash_recognizer(bundle_dir: Path, faces: dict[str, np.ndarray], crop_threshold: float) -> Recognizer:
    """The runtime on ``bundle_dir`` with pHash+dHash in place of its model, index and verification.

    ``faces``: card id -> letterboxed gallery face (what the crop baseline hashes); ``crop_threshold``: the crop
    baseline's threshold (similarity 1 - Hamming / bits)."""
    bundle = Bundle.load(bundle_dir)
    bundle = dataclasses.replace(bundle, threshold=2 * float(crop_threshold) - 1)
    rec = Recognizer(bundle, exact=True, threads=1)
    rec.verifier = None
    rec.embedder = HashEmbedder(bundle.contract)
    rec.matcher = Matcher(hash_vectors(phash_codes(np.stack([faces[c["id"]] for c in rec.cards]))))
    return rec


def predictions(rec: Recognizer, frames_dir: Path) -> dict[str, dict]:
    """File name -> ``{"cards": [...]}`` as ``cardrec-edge identify --json`` prints it."""
    out = {}
    for name, rgb, error in image_files([str(frames_dir)]):
        if rgb is None:
            raise RuntimeError(f"{name}: {error}")
        out[Path(name).name] = {"file": name, "cards": [c.to_json() for c in rec.identify_frame(rgb).cards]}
    return out
