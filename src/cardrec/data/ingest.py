"""Ingest one set: pokemon-tcg-data JSON + image files -> accepted cards, quarantined rejects."""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from cardrec_edge.bundle import sha256_file
from tqdm import tqdm

from cardrec.data.decode import decode_card
from cardrec.errors import CardrecError

log = logging.getLogger(__name__)
CARD_FIELDS = ("id", "name", "number", "rarity", "supertype", "subtypes", "types", "hp")


class IngestError(CardrecError):
    """Too many rejected files: the configured ``ingest.max_reject_fraction`` was exceeded."""


@dataclass(frozen=True)
class IngestConfig:
    max_pixels: int = 40_000_000
    min_side: int = 64
    max_reject_fraction: float = 0.2


def load_cards_json(path: Path) -> list[dict]:
    """Cards of one pokemon-tcg-data file: a list of cards, or an object with ``data``."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        data = data.get("data", data.get("cards"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of cards (pokemon-tcg-data format)")
    return data


def set_images(images_dir: Path, set_id: str, card_ids: Iterable[str] = ()) -> list[Path]:
    """Image files of a set: ``<dir>/<set>-*.<ext>``, anything under ``<dir>/<set>/``, and each card's
    ``<card id>.<ext>`` in ``<dir>``, ``<dir>/<set>/`` or ``<dir>/<card's set>/`` (its id up to the last ``-``),
    so a metadata file of any name finds its cards' images."""
    images_dir = Path(images_dir)
    found = set(images_dir.glob(f"{set_id}-*")) | set((images_dir / set_id).glob("*"))
    ids = {c for c in card_ids if c}
    folders = {images_dir, images_dir / set_id} | {images_dir / c.rsplit("-", 1)[0] for c in ids
                                                   if "-" in c and "/" not in c and not c.startswith(".")}
    for folder in folders if ids else ():
        if folder.is_dir():
            found |= {p for p in folder.iterdir() if p.stem in ids}
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def card_ids(cards_json: Path) -> list[str]:
    """The ids of a metadata file's cards (entries without one are skipped)."""
    return [str(c["id"]) for c in load_cards_json(cards_json) if isinstance(c, dict) and c.get("id")]


def ingest_set(set_id: str, cards_json: Path, images: list[Path], cfg: IngestConfig,
               out_cards: Path, out_rejected: Path) -> dict:
    """Validate every card of a set; write accepted cards (JSON) and rejects (CSV with reasons).

    Returns:
        Summary counts. Raises ``IngestError`` past ``cfg.max_reject_fraction``.
    """
    cards = load_cards_json(cards_json)
    by_stem: dict[str, list[Path]] = {}
    for p in images:
        by_stem.setdefault(p.stem, []).append(p)
    accepted, rejected, seen = [], [], set()
    for card in tqdm(cards, desc=f"ingest {set_id}", mininterval=2):
        cid = card.get("id")
        if not cid:
            rejected.append({"id": "", "path": "", "reason": "metadata entry has no id"})
            continue
        if cid in seen:
            rejected.append({"id": cid, "path": "", "reason": "duplicate id in metadata"})
            continue
        seen.add(cid)
        paths = by_stem.get(cid, [])
        if not paths:
            rejected.append({"id": cid, "path": "", "reason": "no image file for this id"})
            continue
        for extra in paths[1:]:
            rejected.append({"id": cid, "path": str(extra), "reason": f"duplicate image for id (kept {paths[0].name})"})
        dec = decode_card(paths[0], cfg.max_pixels, cfg.min_side)
        if dec.rgb is None:
            rejected.append({"id": cid, "path": str(paths[0]), "reason": dec.reason})
            continue
        h, w = dec.rgb.shape[:2]
        accepted.append({**{k: card.get(k) for k in CARD_FIELDS}, "set": set_id, "path": str(paths[0]),
                         "sha256": sha256_file(paths[0]),
                         "width": w, "height": h, "notes": dec.notes})
    for stem, paths in by_stem.items():
        if stem not in seen:
            rejected += [{"id": stem, "path": str(p), "reason": "image has no metadata entry"} for p in paths]
    out_cards.parent.mkdir(parents=True, exist_ok=True)
    out_cards.write_text(json.dumps(accepted, indent=1, ensure_ascii=False))
    with open(out_rejected, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "path", "reason"])
        writer.writeheader()
        writer.writerows(rejected)
    total = len(accepted) + len(rejected)
    frac = len(rejected) / max(total, 1)
    summary = {"set": set_id, "accepted": len(accepted), "rejected": len(rejected), "reject_fraction": frac}
    for r in rejected:  # the log survives a failed job; Snakemake deletes its outputs
        log.info("rejected %s %s: %s", r["id"] or "(no id)", r["path"] or "-", r["reason"])
    log.info("ingest %s", summary)
    if not accepted or frac > cfg.max_reject_fraction:
        first = "; ".join(f"{r['id'] or '(no id)'}: {r['reason']}" for r in rejected[:3])
        raise IngestError(f"set {set_id}: {len(rejected)} of {total} entries rejected ({frac:.0%} > "
                          f"ingest.max_reject_fraction={cfg.max_reject_fraction}); first: {first}")
    return summary
