"""What the shipped path misses on whole frames, and how much of it a quad at each missed card's true corners wins back.

    python benchmarks/frame_misses.py --bundle results/frames/bundle --frames results/frames/val \
        [--config config/real.yaml ...] [--jitter 0 0.03 0.05] [--seed 0] [--json OUT]

The frames go through ``cardrec-edge identify`` exactly as the workflow's frame evaluation runs it
(``cardrec.evaluation.frames.evaluate_split``: the bundle's model, index, verification, retries and second look,
one thread). Every fully visible card it does not get right is a miss: a known card not detected (corners within
``frames.max_corner_error`` of its diagonal) or not identified correctly, an unknown card not detected. Each miss
is answered again from its true corners, each coordinate moved by up to ``--jitter`` x the card's diagonal (uniform,
seeded), through ``Recognizer.identify_quads``: what a card the detector found gets (rectification, quality gate,
shortlist, verification, its retries and relocation, the verified outline).

Printed per category: the misses (known and unknown cards; how many had no card reported near them, one reported
off, or one reported in place but not identified correctly), then per jitter what such a quad wins back: cards
reported within ``max_corner_error`` and not misidentified (placed: what the detection figure counts), known cards
identified correctly there at ``min_inliers`` (identified: answered like a first-look card) and at
``SECOND_LOOK_INLIERS`` x ``min_inliers`` (kept: as a second look keeps a new quad), and cards identified as
another card (wrong). That is the most a detector proposing quads to the shipped recognizer could add; a miss that
even its true corners do not win back needs a detector that places the corners itself (and, to be identified, a
card the recognizer can read).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.bundle import Bundle
from cardrec_edge.pipeline import SECOND_LOOK_INLIERS, Recognizer
from cardrec_edge.sources import load_image

from cardrec.config import load_config
from cardrec.evaluation.frames import corner_error, evaluate_split

REPO = Path(__file__).resolve().parents[1]


def with_corners(rows: list[dict], labels: dict) -> list[dict]:
    """The true cards' rows (``card_outcomes`` writes one per labelled card, in label order, and adds spurious ones)
    with their true corners, paired by position: a frame may hold the same card twice."""
    cards = [(fr["file"], c) for fr in labels["frames"] for c in fr["cards"]]
    rows = [r for r in rows if r["kind"] != "spurious"]
    if [(f, c["card_id"]) for f, c in cards] != [(r["file"], r["card_id"]) for r in rows]:
        raise RuntimeError("the evaluation's rows do not follow labels.json's cards")
    return [{**r, "corners": c["corners"]} for r, (_, c) in zip(rows, cards)]


def misses(rows: list[dict]) -> list[dict]:
    """The fully visible cards the shipped path did not get right (``card_outcomes`` rows)."""
    return [r for r in rows if (r["kind"] == "known" and not (r["detected"] and r["outcome"] == "correct"))
            or (r["kind"] == "unknown" and not r["detected"])]


def how(row: dict) -> str:
    """How a card was missed: nothing reported near it, a card reported off its corners, or in place but not
    identified correctly."""
    return "none" if row["corner_error"] is None else "off" if not row["detected"] else "unidentified"


def won_back(rec: Recognizer, frames: Path, missed: list[dict], jitter: float, tol: float,
             rng: np.random.Generator) -> list[dict]:
    """Each missed card answered from its true corners moved by up to ``jitter`` x its diagonal."""
    bar = SECOND_LOOK_INLIERS * rec.verifier.cfg.min_inliers if rec.verifier else None
    out, images = [], {}
    for r in missed:
        t = np.float32(r["corners"])
        diag = float(np.linalg.norm(t[2] - t[0]))
        quad = t + rng.uniform(-jitter, jitter, t.shape).astype(np.float32) * diag
        if r["file"] not in images:
            images = {r["file"]: load_image(frames / r["file"])}
        res = rec.identify_quads(images[r["file"]], [quad])[0]
        err = corner_error(res.corners, t)
        ided = res.status == "identified"
        wrong = ided and res.card_id != (r["card_id"] if r["kind"] == "known" else None)
        right = ided and not wrong and err <= tol
        out.append({**r, "how": how(r), "status": res.status, "answer": res.card_id, "inliers": res.inliers,
                    "error": round(err, 4), "placed": err <= tol and not wrong, "identified": right,
                    "kept": right and (bar is None or res.inliers >= bar), "wrong": wrong})
    return out


def table(missed: list[dict], tried: dict[float, list[dict]]) -> list[str]:
    cats = list(dict.fromkeys(r["category"] for r in missed))
    head = "| category | known missed | unknown missed | none / off / unidentified |"
    for j in tried:
        head += f" ±{j:g}: placed / identified / kept / wrong |"
    lines = [head, "|---" + "|---:" * (3 + len(tried)) + "|"]
    for cat in [*cats, None]:
        rows = [r for r in missed if cat is None or r["category"] == cat]
        ways = [sum(how(r) == h for r in rows) for h in ("none", "off", "unidentified")]
        cells = [sum(r["kind"] == "known" for r in rows), sum(r["kind"] == "unknown" for r in rows),
                 " / ".join(map(str, ways))]
        for got in tried.values():
            got = [g for g in got if cat is None or g["category"] == cat]
            cells.append(" / ".join(str(sum(g[k] for g in got)) for k in ("placed", "identified", "kept", "wrong")))
        lines.append(f"| {cat or '**overall**'} | " + " | ".join(map(str, cells)) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--bundle", type=Path, default=Path("results/frames/bundle"),
                    help="a workflow run's frame bundle (its unknown cards are not in it)")
    ap.add_argument("--frames", type=Path, default=Path("results/frames/val"),
                    help="rendered frames with labels.json (a run's results/frames/<split>, or "
                         "frame_detection.py --frames)")
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="config overlays (as given to snakemake --configfile) for frames.max_corner_error")
    ap.add_argument("--jitter", type=float, nargs="+", default=[0.0, 0.03, 0.05],
                    help="move each true corner coordinate by up to this x the card's diagonal (default: 0 0.03 0.05)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the corner moves")
    ap.add_argument("--json", type=Path, help="also write the figures and per-card rows here")
    args = ap.parse_args()
    tol = load_config(REPO, args.config)["frames"]["max_corner_error"]
    labels = json.loads((args.frames / "labels.json").read_text())
    shipped = evaluate_split(args.bundle, args.frames, tol, threads=1)
    missed = misses(with_corners(shipped["cards"], labels))
    cv2.setNumThreads(1)
    rec = Recognizer(Bundle.load(args.bundle), threads=1)
    tried = {j: won_back(rec, args.frames, missed, j, tol, np.random.default_rng(args.seed))
             for j in args.jitter}
    o = shipped["overall"]
    print(f"{args.frames}: {len(labels['frames'])} frames, {o['cards_known']} known and {o['cards_unknown']} unknown "
          f"fully visible cards; shipped detection {o['detection']}, known top-1 {o['top1']}; "
          f"{len(missed)} missed (corners within {tol:.0%} of the diagonal count)")
    print("\n".join(table(missed, tried)))
    if args.json:
        args.json.write_text(json.dumps({"frames": str(args.frames), "bundle": str(args.bundle),
                                         "max_corner_error": tol, "seed": args.seed, "shipped": o,
                                         "tried": {str(j): rows for j, rows in tried.items()}}, indent=1))


if __name__ == "__main__":
    main()
