"""The verified decision on the workflow's whole frames: calibrated on val frames, measured on val and test frames.

    python benchmarks/verify_frames.py --bundle results/edge --val results/frames/val --test results/frames/test \
        [--json out.json]

With ``--photos DIR`` (default ../shared/data/photos, 16 phone photos of cards outside sv1), each photo also goes
through the bundle as shipped (``Recognizer.identify_frame``, what ``cardrec-edge identify`` runs): the status of
every card found, and how many photos are answered only ``unknown`` or ``partial``.

Exactly what rule edge_bundle calibrates (``cardrec.deploy.verification.calibrate_bundle``: the runtime's
detection, rectification, quality gate, shortlist and verification of both orientations, the ``unknown_ids``
cards out of the gallery), then, on the cards of each split's frames the runtime answers for (known cards only when
detected, corners within ``frames.max_corner_error``), at the calibrated ``min_inliers``: known cards identified
correctly, falsely rejected, misidentified, and unknown cards rejected (and at the ``--curve`` thresholds); beside
them the cosine threshold alone on the same cards (what a bundle whose verification is disabled answers). Settings
from config.yaml's ``evaluate`` and ``frames`` sections, with the run's overlays (``--config``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.bundle import Bundle
from cardrec_edge.matcher import decide
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.sources import load_image

from cardrec.config import load_config
from cardrec.deploy.verification import calibrate, calibration_recognizer, frame_cards, rates, shortlists

REPO = Path(__file__).resolve().parents[1]


def cosine_rates(rec, known, truth, unknown) -> dict:
    """The cosine threshold alone (the 180° retry when weak), on the same located cards."""
    verifier, rec.verifier = rec.verifier, None
    try:
        def ids(cards):
            out = rec.match_crops([c.crop for c in cards]) if cards else []
            return [m[0][0]["card_id"] if decide(m[0][0]["score"], rec.bundle.threshold) else None for m in out]

        k, u = ids(known), ids(unknown)
    finally:
        rec.verifier = verifier
    return {"known": len(k), "unknown": len(u),
            "known_correct": float(np.mean([c == g for c, g in zip(k, truth)])) if k else None,
            "false_reject": float(np.mean([c is None for c in k])) if k else None,
            "misidentified": float(np.mean([c is not None and c != g for c, g in zip(k, truth)])) if k else None,
            "unknown_reject": float(np.mean([c is None for c in u])) if u else None}


def photo_answers(bundle_dir: Path, photos: Path) -> dict:
    """Each photo through the shipped bundle: its cards' statuses (and ids, when identified)."""
    rec = Recognizer(Bundle.load(bundle_dir), threads=1)
    answers = {}
    for p in sorted(photos.glob("*.jpg")):
        cards = rec.identify_frame(load_image(p)).cards
        answers[p.name] = [c.card_id or c.status for c in cards]
    only_unknown = sum(bool(a) and all(x in ("unknown", "partial") for x in a) for a in answers.values())
    return {"photos": answers, "unknown_or_partial": only_unknown,
            "identified": sum(any(x not in ("unknown", "partial", "low_quality") for x in a) for a in answers.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, required=True, help="edge bundle directory (its full gallery)")
    ap.add_argument("--val", type=Path, required=True, help="val frames (rule render_frames)")
    ap.add_argument("--test", type=Path, required=True, help="test frames (rule render_frames)")
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="config overlay(s) on config.yaml for the evaluate: and frames: settings, as snakemake "
                    "--configfile (repeatable; the run's own, e.g. config/real.yaml)")
    ap.add_argument("--curve", type=int, nargs="*", default=[10, 15, 25, 30, 40],
                    help="other min_inliers to measure each split at")
    ap.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "photos",
                    help="photos of cards outside the gallery, through the bundle as shipped (skipped if absent)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = load_config(REPO, args.config)
    ev, tol = cfg["evaluate"], cfg["frames"]["max_corner_error"]
    rec = calibration_recognizer(args.bundle, ev["unknown_fraction"])
    cards = {split: frame_cards(rec, d, tol) for split, d in (("val", args.val), ("test", args.test))}
    verify = calibrate(rec, *cards["val"], ev["max_false_reject"])
    t = verify["min_inliers"]
    out = {"min_inliers": t, "enabled": verify["enabled"], "calibration": verify["calibration"]}
    for split, (known, truth, unknown) in cards.items():
        pairs = shortlists(rec, known), truth, shortlists(rec, unknown)
        out[split] = {"verified": rates(*pairs, t), "cosine_only": cosine_rates(rec, known, truth, unknown),
                      "by_min_inliers": [rates(*pairs, x) for x in args.curve]}
    if args.photos.is_dir():
        out["photos"] = photo_answers(args.bundle, args.photos)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
