"""The bundle's corner refiner on the workflow's held-out frames: the detector alone and the shipped path, with and
without it.

    python benchmarks/corner_refiner.py --bundle results/frames/bundle --frames results/frames/val
        [--frames results/frames/test] [--model refiner.onnx] [--config config/real.yaml ...] [--json OUT]

The refiner (``cardrec_edge.corners``; rule train_corner_refiner, ``cardrec.training.corners``) moves a quad onto the
card's corners it sees in patches around the quad's corners. Which refiner: ``--model`` (an exported ONNX, with the
bundle's ``corners`` settings), else the bundle's. Per ``--frames`` split:

1. the detector alone (``find_cards``, first look): per category, the fully visible cards within
   ``frames.max_corner_error`` of their corners as detected and as refined, and how many each way;
2. the shipped path (``Recognizer.identify_frame``, as ``cardrec-edge identify`` runs it, one thread) with
   ``corner_refiner=False`` and with the refiner, which moves the corners of every card it reports that no verified
   outline places (its crops and answers are the detector's): overall figures as the workflow's frame evaluation
   scores them, and the ``corners`` stage's CPU cost.
"""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from cardrec_edge.bundle import Bundle
from cardrec_edge.corners import CornerRefiner
from cardrec_edge.detect import find_cards
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.sources import load_image
from frame_detection import frames_parser
from tqdm import tqdm

from cardrec.config import load_config
from cardrec.errors import ConfigError
from cardrec.evaluation.frames import corner_error, score

REPO = Path(__file__).resolve().parents[1]
WHOLE = ("detection", "top1", "wrong", "false_reject", "abstain", "unknown_reject", "spurious")
COUNTS = ("visible", "detected", "refined", "gained", "lost")


def detector_alone(refiner: CornerRefiner, frames: Path, labels: dict, mce: float) -> dict:
    """Per category: fully visible cards, those within ``mce`` as detected and refined, and the cards each way."""
    rows: dict[str, list[int]] = {}
    for fr in tqdm(labels["frames"], desc="detector", mininterval=5):
        rgb = load_image(frames / fr["file"])
        dets = [d.corners for d in find_cards(rgb) if not d.full_frame]
        refined = [refiner.refine(rgb, q) for q in dets]
        for card in fr["cards"]:
            if not card["fully_visible"]:
                continue
            a, b = (min([corner_error(q.tolist(), card["corners"]) for q in qs] or [np.inf]) <= mce
                    for qs in (dets, refined))
            r = rows.setdefault(fr["category"], [0] * len(COUNTS))
            for i, v in enumerate((1, a, b, b and not a, a and not b)):
                r[i] += int(v)
    return {c: dict(zip(COUNTS, v)) for c, v in rows.items()}


def whole_frames(rec: Recognizer, frames: Path, labels: dict, mce: float) -> tuple[dict, list[float]]:
    """The recognizer's answers on every frame, scored; the ``corners`` stage's ms per frame (0 where it did not
    run)."""
    preds = {fr["file"]: rec.identify_frame(load_image(frames / fr["file"])).to_json()
             for fr in tqdm(labels["frames"], desc="identify", mininterval=5)}
    return score(labels, preds, mce), [p["timings_ms"].get("corners", 0.0) for p in preds.values()]


def main(argv: list[str] | None = None) -> int:
    ap = frames_parser(__doc__)
    ap.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="a run's results/frames/bundle")
    ap.add_argument("--frames", type=Path, action="append", required=True,
                    help="a workflow run's results/frames/val (or test); repeatable")
    ap.add_argument("--model", type=Path, help="measure this exported refiner instead of the bundle's")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(REPO, args.config)
        bundle = Bundle.load(args.bundle)
        spec = bundle.manifest.get("corners")
        if spec is None:
            raise ConfigError(f"--bundle {args.bundle} ships no corner refiner (corners.enabled: false?)")
        for f in args.frames:
            if not (f / "labels.json").exists():
                raise ConfigError(f"--frames {f}: no labels.json (a workflow run's results/frames/<split>)")
    except (ConfigError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    model = args.model or bundle.corners
    refiner = CornerRefiner(model, spec, threads=1)
    plain, refined = (Recognizer(bundle, threads=1, corner_refiner=False) for _ in range(2))
    refined.refiner = refiner  # the measured one (the bundle's is not loaded twice)
    mce, results = cfg["frames"]["max_corner_error"], {}
    for frames in args.frames:
        labels = json.loads((frames / "labels.json").read_text())
        alone = detector_alone(refiner, frames, labels, mce)
        total = {k: sum(r[k] for r in alone.values()) for k in COUNTS}
        print(f"{frames}: the detector alone, fully visible cards within {mce:.0%} of their corners")
        print(f"{'category':16s}" + "".join(f" {k:>8s}" for k in COUNTS))
        for c, r in [*alone.items(), ("overall", total)]:
            print(f"{c:16s}" + "".join(f" {r[k]:8d}" for k in COUNTS))
        (before, _), (after, ms) = (whole_frames(r, frames, labels, mce) for r in (plain, refined))
        ran = [v for v in ms if v]
        cost = {"frames_run": len(ran), "frames": len(ms), "mean_ms_all_frames": round(float(np.mean(ms)), 3),
                "p50_ms_frames_run": round(float(np.median(ran)), 3) if ran else 0.0}
        print(f"  identify, --no-corner-refiner / with it: "
              + ", ".join(f"{k} {before['overall'][k]} / {after['overall'][k]}" for k in WHOLE))
        print(f"  corners stage (wall ms, 1 thread): ran on {cost['frames_run']} of {cost['frames']} frames, "
              f"{cost['mean_ms_all_frames']} ms per frame on average, {cost['p50_ms_frames_run']} ms p50 there")
        results[str(frames)] = {"detector": alone, "detector_overall": total, "corners_stage": cost,
                                "identify": {k: {"overall": v["overall"], "categories": v["categories"]}
                                             for k, v in (("no_corner_refiner", before), ("corner_refiner", after))}}
    if args.json:
        args.json.write_text(json.dumps({"bundle": str(args.bundle), "model": str(model), "corners": spec,
                                         "config": args.config, "results": results, "onnxruntime": ort.__version__,
                                         "opencv": cv2.__version__, "python": platform.python_version(),
                                         "machine": platform.machine()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
