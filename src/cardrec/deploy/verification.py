"""Calibrating the verified decision's accept threshold (``min_inliers``) through the runtime's own code path.

Held-out crops of gallery cards and of cards absent from the gallery go through ``Recognizer.match_crops`` (embed,
shortlist, verify both orientations); ``choose_orientation`` then decides at every candidate threshold exactly as
the runtime does. The threshold kept is the smallest that rejects at least ``min_unknown_reject`` of the unknown crops
while falsely rejecting at most ``max_false_reject`` of the known ones (the most lenient threshold meeting both
targets); when none meets both, the largest within the false-rejection target. The rates measured at it are
recorded beside it in the bundle manifest.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from cardrec_edge.matcher import Matcher
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.verify import (VerifyConfig, best_inliers, card_region, choose_orientation, rerank,
                                 verified_prefix)

from cardrec.evaluation.metrics import unknown_ids


def restrict_gallery(rec: Recognizer, keep: set[str]) -> Recognizer:
    """The recognizer searching only the cards in ``keep`` (exact search): the others become unknown cards."""
    idx = [i for i, c in enumerate(rec.cards) if c["id"] in keep]
    rec.matcher = Matcher(rec.matcher.gallery[idx])
    rec.cards = [rec.cards[i] for i in idx]
    return rec


def shortlists(rec: Recognizer, crops: list[np.ndarray], batch: int = 32) -> list[tuple[list[dict], list[dict]]]:
    """Each crop's (upright, turned) verified shortlists, as the runtime computes them."""
    out = []
    for i in range(0, len(crops), batch):
        out += rec.match_crops(crops[i:i + batch], both=True)
    return out


def at_threshold(cands: list[dict], min_inliers: int) -> list[dict]:
    """A fully verified shortlist as the runtime verifies it at ``min_inliers``: in the embedding's order, up to
    the first candidate that verifies (``verified_prefix``)."""
    order = sorted(cands, key=lambda c: -c["score"])
    checked = [c["inliers"] for c in order if c["inliers"] is not None]
    return rerank([{k: v for k, v in c.items() if k != "inliers"} for c in order],
                  verified_prefix(checked, min_inliers))


def decisions(pairs, min_inliers: int) -> list[tuple[str | None, int]]:
    """(card id or None when rejected, best inliers) per crop at ``min_inliers``, decided as the runtime does."""
    out = []
    for upright, turned in pairs:
        cands, _ = choose_orientation(at_threshold(upright, min_inliers),
                                      lambda turned=turned: at_threshold(turned, min_inliers), min_inliers)
        n = best_inliers(cands)
        out.append((cands[0]["card_id"] if n >= min_inliers else None, n))
    return out


def rates(known_pairs, truth: list[str], unknown_pairs, t: int) -> dict:
    k = decisions(known_pairs, t)
    u = decisions(unknown_pairs, t)
    return {"min_inliers": t, "known": len(k), "unknown": len(u),
            "known_correct": float(np.mean([c == g for (c, _), g in zip(k, truth)])) if k else None,
            "false_reject": float(np.mean([c is None for c, _ in k])) if k else None,
            "misidentified": float(np.mean([c is not None and c != g for (c, _), g in zip(k, truth)])) if k else None,
            "unknown_reject": float(np.mean([c is None for c, _ in u])) if u else None}


def pick_min_inliers(known_pairs, truth: list[str], unknown_pairs, max_false_reject: float,
                     min_unknown_reject: float = 0.98, floor: int = 5) -> dict:
    """The calibrated threshold (at least ``floor``: a homography needs 4 points, so 4 inliers are no evidence)
    with its rates on known and unknown crops (see the module docstring)."""
    top = max([best_inliers(p) for pair in known_pairs for p in pair] + [floor])
    within = [r for r in (rates(known_pairs, truth, unknown_pairs, t) for t in range(floor, top + 2))
              if r["false_reject"] is None or r["false_reject"] <= max_false_reject]
    if not within:
        return rates(known_pairs, truth, unknown_pairs, floor)
    both = [r for r in within if r["unknown_reject"] is not None and r["unknown_reject"] >= min_unknown_reject]
    return both[0] if both else within[-1]


def calibrate(rec: Recognizer, known: list[np.ndarray], truth: list[str], unknown: list[np.ndarray],
              max_false_reject: float, min_unknown_reject: float = 0.98) -> dict:
    """``manifest["verify"]``: the recognizer's verification settings with the calibrated ``min_inliers`` and
    the rates measured at it (``calibration``). ``enabled`` is false when even the most lenient threshold rejects
    more than ``max_false_reject`` of the known crops (crops too small for local features, e.g. a 64 px contract):
    the runtime then decides on the cosine threshold alone rather than rejecting known cards."""
    cfg = rec.verifier.cfg
    chosen = pick_min_inliers(shortlists(rec, known), truth, shortlists(rec, unknown), max_false_reject,
                              min_unknown_reject)
    enabled = chosen["false_reject"] is not None and chosen["false_reject"] <= max_false_reject
    return {**cfg.to_dict(), "enabled": enabled, "min_inliers": chosen["min_inliers"], "reference": "thumbnails",
            "calibration": {**chosen, "max_false_reject": max_false_reject, "min_unknown_reject": min_unknown_reject}}


def calibrate_bundle(bundle_dir: Path, query_dirs: list[str], unknown_fraction: float, max_false_reject: float,
                     min_unknown_reject: float = 0.98, split: str = "val", cfg: VerifyConfig | None = None,
                     threads: int = 1) -> dict:
    """Calibrate a written bundle on the workflow's held-out query renders of ``split`` (``render_queries``):
    cards in ``unknown_ids`` are taken out of the gallery and their queries are the unknown crops."""
    from cardrec_edge.bundle import Bundle
    from cardrec_edge.detect import CARD_ASPECT

    from cardrec.data.shards import load_queries

    rec = Recognizer(Bundle.load(bundle_dir), threads=threads, exact=True, verify=cfg or VerifyConfig())
    rows, images = load_queries(query_dirs)
    unknown = unknown_ids([c["id"] for c in rec.cards], unknown_fraction)
    restrict_gallery(rec, {c["id"] for c in rec.cards} - unknown)
    pick = [i for i, r in enumerate(rows) if r["split"] == split]
    crops = {i: card_region(np.asarray(images[i]), CARD_ASPECT) for i in pick}
    known = [i for i in pick if rows[i]["card_id"] not in unknown]
    unk = [i for i in pick if rows[i]["card_id"] in unknown]
    return calibrate(rec, [crops[i] for i in known], [rows[i]["card_id"] for i in known], [crops[i] for i in unk],
                     max_false_reject, min_unknown_reject)
