"""The verified decision: cost per card on one core, where reference features come from, and its accuracy.

    python benchmarks/verify_cost.py [--json out.json] [--known 120] [--unknown 60]

Builds the sv1 test bundle of edge/tests/edge_support (real sv1 faces, an untrained EfficientNet-Lite0 head: the
embedding only shortlists) with every 9th card held out as an *unknown* card, then

* cost: CPU time (one thread) of verifying one detected card against its ``top_k`` candidates (an unknown card:
  both orientations' shortlists, from one feature extraction), with reference features cached (warm) and
  computed from the bundle's thumbnails on demand (cold), per candidate and per card;
* reference source: thumbnails on demand (0 bytes added) vs features stored in the bundle (bytes per card and
  a 20,000-card bundle), and the inliers each gives on the workflow's photo-like query renders (render_view at
  the queries' strength, 128 px like the workflow's) for the true card vs the best of 3 other cards;
* decision: ``min_inliers`` calibrated on val frames (synthetic 1280x720 scenes of gallery and held-out cards,
  through ``Recognizer.match_crops``), then on other test frames: known-card accept rate (correct id), false
  rejections, misidentifications, unknown-card rejection; and the 16 real photos in ../shared/data/photos.
Target: <= 5 ms per card on one core.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "edge" / "tests"))  # edge_support: the test bundle builder

from cardrec_edge.bundle import Bundle  # noqa: E402
from cardrec_edge.detect import CARD_ASPECT  # noqa: E402
from cardrec_edge.pipeline import Recognizer  # noqa: E402
from cardrec_edge.sources import read_rgb  # noqa: E402
from cardrec_edge.verify import Verifier, VerifyConfig, card_region, thumbnail_reference  # noqa: E402

from cardrec.data.augment import AugmentParams, render_view, stream_seed  # noqa: E402
from cardrec.data.scenes import load_face, synthetic_scene  # noqa: E402
from cardrec.data.shards import face_contract  # noqa: E402
from cardrec.deploy.verification import calibrate, decisions, shortlists  # noqa: E402
from edge_support import CONTRACT, SV1_CARDS, build_edge_bundle, card_face  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "photos"
TARGET_MS = 5.0


def cpu_ms(fn, n: int) -> float:
    fn()
    t = time.process_time()
    for _ in range(n):
        fn()
    return 1000 * (time.process_time() - t) / n


def cost(bundle: Bundle, cfg: VerifyConfig, ids: list[str], n: int = 60) -> dict:
    """A known card (its own card first in the shortlist: verification stops there) and an unknown one (every
    candidate verified: the upright crop's ``top_k``, and with the 180° retry the turned crop's ``top_k`` too, none
    shared), references cached (warm) or decoded from the thumbnails first (cold). As ``Recognizer.verify_crop``
    runs it: the crop's features once, serving both orientations."""
    v = Verifier(cfg, thumbnail_reference(bundle, CARD_ASPECT))
    crop = cv2.resize(card_face(ids[0]), (round(CONTRACT.height * CARD_ASPECT), CONTRACT.height),
                      interpolation=cv2.INTER_AREA)
    stop, k = cfg.min_inliers, cfg.top_k
    known = ids[:k]
    unknown = [c for c in ids[1:] if max(v.verify(crop, [c])[0], v.verify(crop, [c], turned=True)[0]) < stop]
    unknown = unknown[:2 * k]  # none verifies either way up: all are checked

    def both_orientations():
        query, seen = v.features(crop), {}
        return v.check(query, unknown[:k], stop, False, seen) + v.check(query, unknown[k:], stop, True, seen)

    assert len(v.verify(crop, known, stop)) == 1 and len(both_orientations()) == 2 * k
    warm_known = cpu_ms(lambda: v.verify(crop, known, stop), n)
    warm_unknown = cpu_ms(lambda: v.verify(crop, unknown[:k], stop), n)
    warm_both = cpu_ms(both_orientations, n)
    pool = iter(ids[2 * k + 1:] * 50)

    def cold():
        v.cache.clear()
        return v.verify(crop, [next(pool) for _ in unknown[:k]], stop)

    cold_unknown = cpu_ms(cold, n)
    feat = cpu_ms(lambda: v.features(crop), n)
    return {"top_k": k, "min_inliers": stop, "crop_features_ms": round(feat, 3),
            "known_card_warm_ms": round(warm_known, 3), "unknown_card_warm_ms": round(warm_unknown, 3),
            "unknown_card_cold_ms": round(cold_unknown, 3),
            "per_candidate_warm_ms": round((warm_unknown - feat) / k, 3),
            "per_candidate_cold_ms": round((cold_unknown - feat) / k, 3),
            "unknown_card_both_orientations_warm_ms": round(warm_both, 3), "target_ms": TARGET_MS}


def reference_sources(bundle: Bundle, cfg: VerifyConfig, ids: list[str], strength: float) -> dict:
    """Inliers on photo-like renders for the true card vs 3 others, per reference source; bytes per card."""
    fc = face_contract(CONTRACT, 224, 160)
    faces = {c: fc.letterbox(card_face(c)) for c in ids}
    stored = {c: card_region(f, CARD_ASPECT) for c, f in faces.items()}  # features a builder would store
    sources = {"thumbnails": thumbnail_reference(bundle, CARD_ASPECT), "stored_from_faces": stored.get}
    renders = [card_region(CONTRACT.letterbox(render_view(faces[c], stream_seed(900001, "val", i, 0),
                                                          AugmentParams(strength=strength))), CARD_ASPECT)
               for i, c in enumerate(ids)]
    out = {}
    for name, ref in sources.items():
        v = Verifier(cfg, ref)
        true = [v.verify(r, [c])[0] for r, c in zip(renders, ids)]
        other = [max(v.verify(r, [ids[(i + k) % len(ids)] for k in (1, 2, 5)])) for i, r in enumerate(renders)]
        out[name] = {"true_inliers_p5_p25_p50": np.percentile(true, [5, 25, 50]).round(1).tolist(),
                     "other_inliers_p95_max": [float(np.percentile(other, 95)), int(max(other))]}
    per_card = cfg.features * (32 + 4)  # ORB descriptor + int16 x, y
    out["stored_bytes_per_card"] = per_card
    out["stored_mb_20k_cards"] = round(per_card * 20_000 / 1e6, 1)
    out["thumbnail_bytes_per_card"] = round(bundle.thumbnails.stat().st_size / len(bundle.card_table()))
    return out


def frame_crops(rec: Recognizer, ids: list[str], n: int, seed: int):
    rng = np.random.default_rng(seed)
    crops, truth = [], []
    for _ in range(n):
        cid = ids[int(rng.integers(len(ids)))]
        rgb = synthetic_scene([load_face(SV1_CARDS / f"{cid}.png")], rng).rgb
        cards = [c for c in rec.locate(rgb) if rec.matchable(c) and not c.partial]  # as identify_frame matches them
        if cards:
            crops.append(cards[0])
            truth.append(cid)
    return crops, truth, n


def decision(bundle_dir: Path, gallery: list[str], unknown: list[str], n_known: int, n_unknown: int) -> dict:
    rec = Recognizer(Bundle.load(bundle_dir), threads=1, verify=VerifyConfig())
    kc, kt, _ = frame_crops(rec, gallery, n_known, seed=100)
    uc, _, _ = frame_crops(rec, unknown, n_unknown, seed=200)
    cal = calibrate(rec, kc, kt, uc, max_false_reject=0.02)
    t = cal["min_inliers"]
    kc, kt, nk = frame_crops(rec, gallery, n_known, seed=300)
    uc, _, nu = frame_crops(rec, unknown, n_unknown, seed=400)
    k = decisions(shortlists(rec, kc), t)
    u = decisions(shortlists(rec, uc), t)
    out = {"min_inliers": t, "calibration_val": cal["calibration"],
           "test_known_frames": nk, "test_known_detected": len(kc),
           "known_accept_correct": float(np.mean([c == g for (c, _), g in zip(k, kt)])),
           "known_false_reject": float(np.mean([c is None for c, _ in k])),
           "known_misidentified": float(np.mean([c is not None and c != g for (c, _), g in zip(k, kt)])),
           "test_unknown_frames": nu, "unknown_reject": float(np.mean([c is None for c, _ in u]))}
    if PHOTOS.is_dir():
        at = VerifyConfig(**{**rec.verifier.cfg.to_dict(), "min_inliers": t})
        rec.verifier = Verifier(at, rec.verifier.reference)
        photos = {p.name: [c.status for c in rec.identify_frame(read_rgb(p)).cards]
                  for p in sorted(PHOTOS.glob("*.jpg"))}
        out["photos"] = photos
        out["photos_unknown_or_partial"] = sum(bool(s) and all(x in ("unknown", "partial") for x in s)
                                               for s in photos.values())
        out["photos_identified"] = sum("identified" in s for s in photos.values())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--known", type=int, default=120, help="frames of gallery cards (val and test each)")
    ap.add_argument("--unknown", type=int, default=60, help="frames of held-out cards (val and test each)")
    ap.add_argument("--strength", type=float, default=1.25, help="render strength for the reference-source check")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    ids = sorted((p.stem for p in SV1_CARDS.glob("*.png")), key=lambda s: int(s.split("-")[1]))
    unknown = ids[3::9]
    gallery = [c for c in ids if c not in unknown]
    cfg = VerifyConfig()
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = build_edge_bundle(Path(tmp), gallery, threshold=0.5)
        bundle = Bundle.load(bundle_dir)
        dec = decision(bundle_dir, gallery, unknown, args.known, args.unknown)
        at = VerifyConfig(**{**cfg.to_dict(), "min_inliers": dec["min_inliers"]})
        res = {"config": cfg.to_dict(), "cards": len(gallery), "cost": cost(bundle, at, gallery),
               "reference_sources": reference_sources(bundle, cfg, gallery[:80], args.strength), "decision": dec}
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
