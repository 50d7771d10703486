"""How sure is the runtime's orientation gate of which way up a located card lies, and is it ever wrong?

    python benchmarks/orientation_gate.py --bundle results/frames/bundle --val results/frames/val \
        --test results/frames/test [--confidence 0.9 0.99] [--json OUT]

Detection cannot tell upright from 180°. Without a gate the runtime verifies the upright crop's shortlist and, when
that does not verify, embeds the crop turned by 180° and verifies that shortlist too: every unknown card pays for
both. The bundle's gate (``cardrec_edge.orientation``, fitted by rule ``orientation_gate`` on views of the gallery's
faces) lets the runtime verify only the orientation it is sure of; a wrong sure decision would reject a known card.

Each split's frames go through the shipped detection and rectification (``Recognizer.locate``). Every fully
visible labelled card that a located quad matches (``cardrec.deploy.verification.labelled_cards``) with corners within
``--max-corner-error`` of its diagonal is kept, with its true orientation: whether the located corners lie closer to
the label's corners turned by 180°. Each crop is embedded both ways by the bundle's model. Printed:

* the best gallery cosine of the crop as located, by true orientation: can that cosine alone tell? (it cannot)
* ``shipped``: the bundle's gate on both splits' crops as located: accuracy, and at its confidence the share of
  crops it decides and how many of those it gets wrong, known and unknown cards apart;
* ``fitted_on_val``: for comparison, the same regression fitted on the --val crops themselves (both orientations)
  and scored on the --test crops, per --confidence.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from cardrec_edge.bundle import Bundle
from cardrec_edge.orientation import OrientationGate
from cardrec_edge.pipeline import Recognizer

from cardrec.deploy.orientation import accuracy, both_ways, decided, fit_logistic
from cardrec.deploy.verification import labelled_cards
from cardrec.evaluation.frames import corner_errors


def located_crops(rec: Recognizer, frames: Path, max_error: float) -> dict[str, np.ndarray]:
    """Embeddings of the located, fully visible labelled cards, as located (``upright``) and turned by 180°
    (``turned``), whether the located crop is upside down (``flipped``) and whether the card is in the gallery
    (``known``)."""
    crops, flipped, known = [], [], []
    for card, loc in labelled_cards(rec, frames):
        upright, turned = corner_errors(loc.det.corners, card["corners"])
        if loc.det.full_frame or min(upright, turned) > max_error:
            continue
        crops.append(rec.embedder.contract.letterbox(loc.crop))
        flipped.append(turned < upright)
        known.append(card["expected"] != "unknown")
    upright, turned = np.split(both_ways(rec.embedder.embed_letterboxed, np.stack(crops))[0], 2)
    return {"upright": upright, "turned": turned, "flipped": np.array(flipped), "known": np.array(known)}


def fit_on(crops: dict[str, np.ndarray], weight_decay: float) -> tuple[np.ndarray, float]:
    """The regression fitted on both orientations of each crop (``cardrec.deploy.orientation.fit_logistic``)."""
    x = np.concatenate([crops["upright"], crops["turned"]])
    y = np.concatenate([crops["flipped"], ~crops["flipped"]]).astype(np.float32)
    return fit_logistic(x, y, weight_decay)


def best_cosine(rec: Recognizer, emb: np.ndarray) -> np.ndarray:
    return np.array([m[0].score for m in rec.matcher.search(emb, 1)])


def by_kind(p: np.ndarray, crops: dict, confidence: float) -> dict:
    """``decided`` for known and unknown cards apart."""
    return {kind: decided(p[m], crops["flipped"][m], confidence)
            for kind, m in (("known", crops["known"]), ("unknown", ~crops["known"])) if m.any()}


def report(rec: Recognizer, val: dict, test: dict, confidence: list[float], weight_decay: float) -> dict:
    cos = best_cosine(rec, test["upright"])
    pct = (0, 5, 50, 95, 100)
    by_orientation = {name: np.percentile(cos[test["flipped"] == f], pct).round(3).tolist()
                      for name, f in (("upright", False), ("upside_down", True)) if (test["flipped"] == f).any()}
    out = {"val_crops": len(val["flipped"]), "test_crops": len(test["flipped"]),
           "test_upside_down": round(float(test["flipped"].mean()), 3),
           "best_cosine_percentiles": {"at": list(pct), **by_orientation}}
    if rec.gate is not None:  # the bundle's own gate, fitted on views of the gallery's faces (rule orientation_gate)
        out["shipped"] = {"confidence": rec.gate.confidence}
        for name, d in (("val", val), ("test", test)):
            p = rec.gate.probability(d["upright"])
            out["shipped"][name] = {"accuracy": accuracy(p, d["flipped"]), **by_kind(p, d, rec.gate.confidence)}
    w, b = fit_on(val, weight_decay)
    p = OrientationGate(w, b, 0.5).probability(test["upright"])  # p(the crop as located is upside down)
    out["fitted_on_val"] = {"accuracy": accuracy(p, test["flipped"]),
                            "gate": {str(c): by_kind(p, test, c) for c in confidence}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, required=True, help="edge bundle the frames were scored with")
    ap.add_argument("--val", type=Path, required=True, help="frames (with labels.json) the gate is fitted on")
    ap.add_argument("--test", type=Path, required=True, help="frames (with labels.json) it is scored on")
    ap.add_argument("--confidence", type=float, nargs="+", default=[0.9, 0.99],
                    help="probabilities a decision must exceed (default: 0.9 0.99)")
    ap.add_argument("--weight-decay", type=float, default=1e-4, help="L2 penalty of the regression (default: 1e-4)")
    ap.add_argument("--max-corner-error", type=float, default=0.05,
                    help="located corners within this x the diagonal pair a card (default: 0.05)")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()
    rec = Recognizer(Bundle.load(args.bundle), threads=1)
    val, test = (located_crops(rec, d, args.max_corner_error) for d in (args.val, args.test))
    res = {"bundle": str(args.bundle), **report(rec, val, test, args.confidence, args.weight_decay)}
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
