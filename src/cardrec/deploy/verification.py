"""Calibrating the verified decision's accept threshold (``min_inliers``) through the runtime's own code path.

Held-out val frames (rule ``render_frames``: true corners, the expected id or "unknown") go through the
Recognizer as ``identify_frame`` runs them: detection, rectification (the embedding's crop and verification's view
at its own size), the quality gate, embedding, shortlist and verification of both orientations
(``Recognizer.match_crops``), with the orientation gate's decision where the bundle ships one. Detections are
matched to the true cards (``cardrec.evaluation.frames``); a known card counts only when it was detected (corners
within ``max_corner_error``: detection is scored separately), an unknown card whenever the runtime answers for it.
``choose_orientation`` then decides at every candidate threshold exactly as the runtime does. The threshold kept
is the smallest that rejects at least ``min_unknown_reject`` of the unknown cards while falsely rejecting at most
``max_false_reject`` of the known ones whose true card it checked (the most lenient threshold meeting both
targets); when none meets both, the largest within the false-rejection target. It is chosen on fits counted
without the art rule (``calibrate``); the rates measured at it, with the rule, are recorded beside it in the bundle
manifest.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
from cardrec_edge.matcher import Matcher
from cardrec_edge.pipeline import Located, Recognizer
from cardrec_edge.verify import VerifyConfig, Verifier, best_inliers, choose_orientation, rerank, verified_prefix

from cardrec.evaluation.metrics import unknown_ids

TIE_MARGIN = VerifyConfig.tie_margin
RATE_KEYS = ("known_correct", "false_reject", "misidentified", "unknown_reject")
FLOOR = 5  # the most lenient threshold: a homography needs 4 points, so 4 inliers are no evidence


def restrict_gallery(rec: Recognizer, keep: set[str]) -> Recognizer:
    """The recognizer searching only the cards in ``keep`` (exact search): the others become unknown cards."""
    idx = [i for i, c in enumerate(rec.cards) if c["id"] in keep]
    rec.matcher = Matcher(rec.matcher.gallery[idx])
    rec.cards = [rec.cards[i] for i in idx]
    return rec


def shortlists(rec: Recognizer, cards: list[Located], batch: int = 32) -> list[tuple]:
    """Each located card's (upright, turned) verified shortlists, as the runtime computes them, and the orientation
    gate's decision (None: not sure, or no gate)."""
    out = []
    for i in range(0, len(cards), batch):
        part = cards[i:i + batch]
        out += rec.match_crops([c.crop for c in part], both=True, views=[c.view for c in part])
    return out


def at_threshold(cands: list[dict], min_inliers: int, margin: float = TIE_MARGIN) -> list[dict]:
    """A fully verified shortlist as the runtime verifies it at ``min_inliers``: in the embedding's order, up to
    the first candidate that verifies and those whose cosine ties it within ``margin`` (``verified_prefix``)."""
    order = sorted(cands, key=lambda c: -c["score"])
    checked = [c for c in order if c["inliers"] is not None]
    return rerank([{k: v for k, v in c.items() if k != "inliers"} for c in order],
                  verified_prefix([c["inliers"] for c in checked], min_inliers, [c["score"] for c in checked],
                                  margin))


def decisions(pairs, min_inliers: int, margin: float = TIE_MARGIN) -> list[tuple[str | None, int]]:
    """(card id or None when rejected, best inliers) per crop at ``min_inliers``, decided as the runtime does."""
    out = []
    for upright, turned, sure in pairs:
        cands, _ = choose_orientation(lambda u=upright: at_threshold(u, min_inliers, margin),
                                      lambda t=turned: at_threshold(t, min_inliers, margin), min_inliers, sure)
        n = best_inliers(cands)
        out.append((cands[0]["card_id"] if n >= min_inliers else None, n))
    return out


def shortlisted(pair, card_id: str) -> bool:
    """Whether ``card_id`` is among the candidates verification checked, upright or turned (only in the orientation
    the gate is sure of, where it is)."""
    upright, turned, sure = pair
    checked = (upright, turned) if sure is None else (turned,) if sure else (upright,)
    return any(c["card_id"] == card_id and c.get("inliers") is not None for side in checked for c in side)


def rates(known_pairs, truth: list[str], unknown_pairs, t: int, margin: float = TIE_MARGIN) -> dict:
    """The decisions' rates at ``min_inliers`` ``t``. ``false_reject_shortlisted``: of the known cards whose true
    card verification checked, the share it rejects (the rejections the threshold causes; a card the embedding
    did not shortlist cannot be identified whatever the threshold, and would be a wrong id on cosine alone)."""
    k = decisions(known_pairs, t, margin)
    u = decisions(unknown_pairs, t, margin)
    listed = [c is None for (c, _), pair, g in zip(k, known_pairs, truth) if shortlisted(pair, g)]
    return {"min_inliers": t, "known": len(k), "unknown": len(u), "known_shortlisted": len(listed),
            "known_correct": float(np.mean([c == g for (c, _), g in zip(k, truth)])) if k else None,
            "false_reject": float(np.mean([c is None for c, _ in k])) if k else None,
            "false_reject_shortlisted": float(np.mean(listed)) if listed else None,
            "misidentified": float(np.mean([c is not None and c != g for (c, _), g in zip(k, truth)])) if k else None,
            "unknown_reject": float(np.mean([c is None for c, _ in u])) if u else None}


def pick_min_inliers(known_pairs, truth: list[str], unknown_pairs, max_false_reject: float,
                     min_unknown_reject: float = 0.98, floor: int = FLOOR, margin: float = TIE_MARGIN) -> dict:
    """The calibrated threshold (at least ``floor``) with its rates on known and unknown crops (see the module
    docstring)."""
    top = max([best_inliers(p) for pair in known_pairs for p in pair[:2]] + [floor])
    within = [r for r in (rates(known_pairs, truth, unknown_pairs, t, margin) for t in range(floor, top + 2))
              if r["false_reject_shortlisted"] is None or r["false_reject_shortlisted"] <= max_false_reject]
    if not within:
        return rates(known_pairs, truth, unknown_pairs, floor, margin)
    both = [r for r in within if r["unknown_reject"] is not None and r["unknown_reject"] >= min_unknown_reject]
    return both[0] if both else within[-1]


def layout_blind(v: Verifier) -> Verifier:
    """``v`` without the art rule (``art_inliers`` 0), sharing its reference features."""
    blind = Verifier(replace(v.cfg, art_inliers=0), v.reference, v.cache_size)
    blind.cache = v.cache
    return blind


def calibrate(rec: Recognizer, known: list[Located], truth: list[str], unknown: list[Located],
              max_false_reject: float, min_unknown_reject: float = 0.98) -> dict:
    """``manifest["verify"]``: the recognizer's verification settings with the calibrated ``min_inliers`` and
    the rates measured at it (``calibration``) on located cards (``Recognizer.locate``). ``enabled`` is false when
    even the most lenient threshold (``FLOOR``) rejects more than ``max_false_reject`` of the known cards verification
    checked (crops too small for local features): the runtime then decides on the cosine threshold alone rather than
    rejecting known cards. A chosen threshold whose false rejections end up over the target (the art rule takes fits
    away, below) keeps verification on, with the rate recorded: cosine alone would guess where verification abstains
    (real.yaml at 30 val frames per category: 2.2 % at ``min_inliers`` 21, where cosine alone misidentified 4 % of
    the known test cards and accepted 65 % of the unknown ones). Known cards the embedding did not shortlist do not
    count against verification: cosine alone would give them a wrong id.

    The threshold is chosen on fits counted without the art rule (``VerifyConfig.art_inliers``): a set's val frames
    hold few unknown cards (real.yaml: 14), and their chance fits on the set's shared layout are what shows how
    many inliers chance reaches; with the rule every one of them counts 0 and the most lenient threshold would
    fall to ``floor`` (real.yaml: 5, which then let 2 of 24 unknown test cards through). The rule then only takes
    fits away. The rates recorded are measured with it, as the runtime decides (``without_art_rule``: at the same
    threshold without it; ``lenient_false_reject``: the known cards verification checked that ``FLOOR`` rejects)."""
    cfg, ruled = rec.verifier.cfg, rec.verifier
    rec.verifier = layout_blind(ruled)
    try:
        chosen = pick_min_inliers(shortlists(rec, known), truth, shortlists(rec, unknown), max_false_reject,
                                  min_unknown_reject, margin=cfg.tie_margin)
    finally:
        rec.verifier = ruled
    known_pairs, unknown_pairs = shortlists(rec, known), shortlists(rec, unknown)
    measured = rates(known_pairs, truth, unknown_pairs, chosen["min_inliers"], cfg.tie_margin)
    lenient = rates(known_pairs, truth, unknown_pairs, FLOOR, cfg.tie_margin)["false_reject_shortlisted"]
    enabled = lenient is not None and lenient <= max_false_reject
    return {**cfg.to_dict(), "enabled": enabled, "min_inliers": chosen["min_inliers"], "reference": "thumbnails",
            "calibration": {**measured, "max_false_reject": max_false_reject, "min_unknown_reject": min_unknown_reject,
                            "lenient_false_reject": lenient,
                            "without_art_rule": {k: chosen[k] for k in RATE_KEYS}}}


def labelled_cards(rec: Recognizer, frames_dir: Path) -> Iterator[tuple[dict, Located]]:
    """Each fully visible labelled card of the rendered frames in ``frames_dir`` (``labels.json``) with the card
    the runtime locates there (``Recognizer.locate``), paired by ``cardrec.evaluation.frames.match``; a labelled
    card paired with none is left out."""
    from cardrec_edge.sources import read_rgb

    from cardrec.evaluation.frames import match

    labels = json.loads((frames_dir / "labels.json").read_text())
    for fr in labels["frames"]:
        found = rec.locate(read_rgb(frames_dir / fr["file"]))
        pairs = match(fr["cards"], [{"corners": c.det.corners} for c in found], tuple(labels["size"]))
        yield from ((card, found[j]) for card, j in zip(fr["cards"], pairs) if j is not None and card["fully_visible"])


def frame_cards(rec: Recognizer, frames_dir: Path, max_corner_error: float):
    """The val frames' cards as the runtime sees them: (known located cards, their ids, unknown located cards).
    Each fully visible true card is matched to a detection (``labelled_cards``); one the runtime does not match
    (low quality) or, for a known card, whose corners are off by more than ``max_corner_error`` (``corner_error``)
    is left out."""
    from cardrec.evaluation.frames import corner_error

    known, truth, unknown = [], [], []
    for card, loc in labelled_cards(rec, frames_dir):
        if not rec.matchable(loc):
            continue
        if card["expected"] == "unknown":
            unknown.append(loc)
        elif corner_error(loc.det.corners, card["corners"]) <= max_corner_error:
            known.append(loc)
            truth.append(card["expected"])
    return known, truth, unknown


def calibration_recognizer(bundle_dir: Path, unknown_fraction: float, cfg: VerifyConfig | None = None,
                           threads: int = 1) -> Recognizer:
    """The bundle's recognizer with verification on (``cfg``) and the ``unknown_ids`` cards out of its gallery
    (exact search), as rule ``render_frames`` holds them out."""
    from cardrec_edge.bundle import Bundle

    rec = Recognizer(Bundle.load(bundle_dir), threads=threads, exact=True, verify=cfg or VerifyConfig())
    ids = [c["id"] for c in rec.cards]
    return restrict_gallery(rec, set(ids) - unknown_ids(ids, unknown_fraction))


def calibrate_bundle(bundle_dir: Path, frames_dir: Path, unknown_fraction: float, max_false_reject: float,
                     max_corner_error: float, min_unknown_reject: float = 0.98, cfg: VerifyConfig | None = None,
                     threads: int = 1) -> dict:
    """Calibrate a written bundle on the workflow's val frames (``render_frames``; see the module docstring)."""
    rec = calibration_recognizer(bundle_dir, unknown_fraction, cfg, threads)
    known, truth, unknown = frame_cards(rec, Path(frames_dir), max_corner_error)
    out = calibrate(rec, known, truth, unknown, max_false_reject, min_unknown_reject)
    out["calibration"]["source"] = "val frames"
    return out
