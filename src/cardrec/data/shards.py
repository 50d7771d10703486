"""Sharded storage: one shard per set, uint8 arrays that memory-map for fast training.

A shard directory holds ``faces.npy`` (N,FH,FW,3: card faces for rendering views),
``gallery.npy`` (N,H,W,3: faces letterboxed to the model contract) and ``cards.json``.
Query shards hold photo-like renders: ``images.npy`` (N,H,W,3) and ``queries.json``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cardrec_edge.preprocess import Preprocess
from tqdm import tqdm

from cardrec.data.augment import AugmentParams, id_key, render_view, stream_seed
from cardrec.data.decode import decode_card

log = logging.getLogger(__name__)


def face_contract(contract: Preprocess, face_height: int, face_width: int) -> Preprocess:
    """Same resize rule as the model contract, at the face storage size."""
    return Preprocess(height=face_height, width=face_width, mean=contract.mean, std=contract.std,
                      pad_value=contract.pad_value)


def write_set_shard(cards_json: Path, out_dir: Path, contract: Preprocess, face_size: tuple[int, int]) -> int:
    """Decode the accepted cards of a set once; store faces and model-size gallery images."""
    cards = json.loads(Path(cards_json).read_text())
    face_c = face_contract(contract, *face_size)
    faces = np.zeros((len(cards), *face_size, 3), np.uint8)
    for i, card in enumerate(tqdm(cards, desc=f"preprocess {Path(cards_json).parent.name}", mininterval=2)):
        dec = decode_card(Path(card["path"]), max_pixels=2**62, min_side=1)
        if dec.rgb is None:
            raise RuntimeError(f"{card['path']} decoded at ingest but not now: {dec.reason} (was it modified?)")
        faces[i] = face_c.letterbox(dec.rgb)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "faces.npy", faces)
    np.save(out_dir / "gallery.npy", np.stack([contract.letterbox(f) for f in faces]) if len(faces) else
            np.zeros((0, contract.height, contract.width, 3), np.uint8))
    (out_dir / "cards.json").write_text(json.dumps(cards, indent=1, ensure_ascii=False))
    return len(cards)


@dataclass
class Shard:
    """A loaded set shard."""

    cards: list[dict]
    faces: np.ndarray
    gallery: np.ndarray

    @classmethod
    def load(cls, shard_dir: str | Path, mmap: bool = True) -> "Shard":
        d = Path(shard_dir)
        mode = "r" if mmap else None
        return cls(json.loads((d / "cards.json").read_text()), np.load(d / "faces.npy", mmap_mode=mode),
                   np.load(d / "gallery.npy", mmap_mode=mode))


def load_shards(dirs: list[str | Path]) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """Concatenate shards: card rows, faces and gallery images in one order."""
    shards = [Shard.load(d, mmap=False) for d in dirs]
    cards = [c for s in shards for c in s.cards]
    return cards, np.concatenate([s.faces for s in shards]), np.concatenate([s.gallery for s in shards])


def render_queries(shard_dir: Path, out_dir: Path, contract: Preprocess, seed: int, per_card: dict[str, int],
                   params: AugmentParams) -> int:
    """Held-out photo-like queries of a set; seeds come from the val/test streams only."""
    shard = Shard.load(shard_dir)
    images, rows = [], []
    for i, card in enumerate(tqdm(shard.cards, desc=f"queries {shard_dir.name}", mininterval=2)):
        for split, n in per_card.items():
            for j in range(n):
                rng = stream_seed(seed, split, id_key(card["id"]), j)
                images.append(contract.letterbox(render_view(np.asarray(shard.faces[i]), rng, params)))
                rows.append({"card_id": card["id"], "split": split})
    out_dir.mkdir(parents=True, exist_ok=True)
    arr = np.stack(images) if images else np.zeros((0, contract.height, contract.width, 3), np.uint8)
    np.save(out_dir / "images.npy", arr)
    (out_dir / "queries.json").write_text(json.dumps(rows))
    return len(rows)


def load_queries(dirs: list[str | Path]) -> tuple[list[dict], np.ndarray]:
    """Concatenate query shards."""
    rows, arrays = [], []
    for d in map(Path, dirs):
        rows += json.loads((d / "queries.json").read_text())
        arrays.append(np.load(d / "images.npy"))
    return rows, np.concatenate(arrays)


@dataclass
class EvalSet:
    """What every scoring step reads: the gallery (shard faces) and the held-out queries."""

    cards: list[dict]
    gallery: np.ndarray
    rows: list[dict]
    queries: np.ndarray

    @property
    def card_ids(self) -> list[str]:
        return [c["id"] for c in self.cards]

    @classmethod
    def load(cls, gallery_files: list[str], query_files: list[str]) -> "EvalSet":
        """From the shards' ``faces.npy`` and the query sets' ``images.npy`` paths (rule inputs)."""
        rows, queries = load_queries([str(Path(f).parent) for f in query_files])
        return cls(*load_gallery(gallery_files), rows, queries)


def load_gallery(gallery_files: list[str]) -> tuple[list[dict], np.ndarray]:
    """The cards (each shard's ``cards.json``) and their letterboxed gallery images, from the shards' gallery files."""
    cards = [c for f in gallery_files for c in json.loads((Path(f).parent / "cards.json").read_text())]
    return cards, np.concatenate([np.load(f) for f in gallery_files])
