"""Can the runtime tell from a card's embedding whether its crop is upside down? (a lever on whole-frame latency)

    python benchmarks/orientation_gate.py --bundle results/frames/bundle --val results/frames/val \
        --test results/frames/test [--confidence 0.9 0.99] [--json OUT]

Detection cannot tell upright from 180°, so the runtime verifies the upright crop's shortlist and, when that does
not verify, embeds the crop turned by 180° and verifies that shortlist too: every unknown card pays for both
(``retry_180`` and half of ``verify`` in ``benchmarks/edge_bench.py``). A gate that knew the orientation could skip
one of them. This measures whether the embedding the runtime already has can be that gate.

Each split's frames go through the shipped detection and rectification (``Recognizer.locate``). Every fully
visible labelled card that a located quad matches (``cardrec.deploy.verification.labelled_cards``) with corners within
``--max-corner-error`` of its diagonal is kept, with its true orientation: whether the located corners lie closer to
the label's corners turned by 180°. Each crop is embedded both ways by the bundle's model. Printed:

* the best gallery cosine of the crop as located, by true orientation: can that cosine alone tell?
* a logistic regression on the embedding (both orientations of the --val crops, labelled turned or not), scored
  on the --test crops as located: accuracy, and per --confidence the share of crops it decides (probability above
  it either way) and how many of those it gets wrong, known and unknown cards apart.

Nothing here is shipped: a gate would need its own training data (not the calibration frames), its weights in
the bundle, and to sit inside ``choose_orientation`` so that calibration and the runtime share it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from cardrec_edge.bundle import Bundle
from cardrec_edge.pipeline import Recognizer

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
    lb = np.stack(crops)
    return {"upright": rec.embedder.embed_letterboxed(lb),
            "turned": rec.embedder.embed_letterboxed(np.ascontiguousarray(lb[:, ::-1, ::-1])),
            "flipped": np.array(flipped), "known": np.array(known)}


def fit_gate(crops: dict[str, np.ndarray], weight_decay: float) -> tuple[np.ndarray, float]:
    """Logistic regression ``p(turned) = sigmoid(e . w + b)`` on both orientations of each crop (L-BFGS from zero:
    deterministic)."""
    x = torch.tensor(np.concatenate([crops["upright"], crops["turned"]]))
    y = torch.tensor(np.concatenate([crops["flipped"], ~crops["flipped"]]), dtype=torch.float32)
    w, b = torch.zeros(x.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        opt.zero_grad()
        out = torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + weight_decay * w.pow(2).sum()
        out.backward()
        return out

    opt.step(loss)
    return w.detach().numpy(), float(b.item())


def best_cosine(rec: Recognizer, emb: np.ndarray) -> np.ndarray:
    return np.array([m[0].score for m in rec.matcher.search(emb, 1)])


def report(rec: Recognizer, val: dict, test: dict, confidence: list[float], weight_decay: float) -> dict:
    cos = best_cosine(rec, test["upright"])
    pct = (0, 5, 50, 95, 100)
    by_orientation = {name: np.percentile(cos[test["flipped"] == f], pct).round(3).tolist()
                      for name, f in (("upright", False), ("upside_down", True)) if (test["flipped"] == f).any()}
    w, b = fit_gate(val, weight_decay)
    p = 1 / (1 + np.exp(-(test["upright"] @ w + b)))  # p(the crop as located is upside down)
    out = {"val_crops": len(val["flipped"]), "test_crops": len(test["flipped"]),
           "test_upside_down": round(float(test["flipped"].mean()), 3),
           "best_cosine_percentiles": {"at": list(pct), **by_orientation},
           "accuracy": round(float(((p > 0.5) == test["flipped"]).mean()), 4), "gate": {}}
    for c in confidence:
        sure = (p > c) | (p < 1 - c)
        wrong = sure & ((p > c) != test["flipped"])
        out["gate"][str(c)] = {kind: {"crops": int(m.sum()), "decided": round(float(sure[m].mean()), 3),
                                      "wrong": int(wrong[m].sum())}
                               for kind, m in (("known", test["known"]), ("unknown", ~test["known"])) if m.any()}
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
