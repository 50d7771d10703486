"""Latency and accuracy of the edge runtime's model-free card detector on synthetic 1280x720 frames, 1 thread.

    python benchmarks/edge_detect.py [--scenes 100] [--cards 1] [--crop 224x160] [--faces DIR] [--json out.json]

Each scene warps real card faces (sv1, alpha on the rounded corners) with a random rotation, scale (long side
25-80 % of the frame height) and perspective onto a textured background (cardrec.data.scenes). Per frame it
times ``find_cards`` (detect), ``rectify`` of every detection to the crop size (rectify) and both together, at
one OpenCV thread, after a warm-up; reports p50/p90 ms, the corner error of the best-matching detection per card
(fraction of the card diagonal, up to the 4 cyclic corner orders) and the share of cards found within 3 %.
Judges the target: detect + rectify <= 5 ms (p50) for a 1280x720 frame.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from cardrec_edge.detect import find_cards, rectify  # noqa: E402

from cardrec.data.scenes import load_face, synthetic_scene  # noqa: E402

TARGET_MS = 5.0
MATCH = 0.03
DEFAULT_FACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "cards" / "sv1"


def corner_error(found: np.ndarray, true: np.ndarray) -> float:
    diag = float(np.linalg.norm(true[2] - true[0]))
    return min(float(np.linalg.norm(np.roll(found, k, axis=0) - true, axis=1).max()) for k in range(4)) / diag


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=100, help="number of synthetic frames (default 100)")
    ap.add_argument("--cards", type=int, default=1, help="cards per frame (default 1; 2-4 use smaller cards)")
    ap.add_argument("--crop", default="224x160", help="rectified crop HEIGHTxWIDTH (default 224x160)")
    ap.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="folder of card face PNGs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per frame, the fastest counts (default 3)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    height, width = (int(v) for v in args.crop.lower().split("x"))
    files = sorted(args.faces.glob("*.png"))
    if not files:
        print(f"no card faces in {args.faces}", file=sys.stderr)
        return 2
    cv2.setNumThreads(1)
    faces = [load_face(p) for p in files[:: max(1, len(files) // 60)]]
    rng = np.random.default_rng(args.seed)
    hr = (0.25, 0.8) if args.cards == 1 else (0.25, 0.45)
    scenes = [synthetic_scene(faces, rng, n_cards=args.cards, height_range=hr) for _ in range(args.scenes)]

    for s in scenes[:5]:                                        # warm-up
        for d in find_cards(s.rgb):
            rectify(s.rgb, d.corners, height, width)
    detect_ms, rectify_ms, total_ms, errors = [], [], [], []
    for s in scenes:
        best_d, best_r = np.inf, np.inf
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            dets = find_cards(s.rgb)
            t1 = time.perf_counter()
            for d in dets:
                rectify(s.rgb, d.corners, height, width)
            t2 = time.perf_counter()
            best_d, best_r = min(best_d, t1 - t0), min(best_r, t2 - t1)
        detect_ms.append(best_d * 1e3)
        rectify_ms.append(best_r * 1e3)
        total_ms.append((best_d + best_r) * 1e3)
        errors += [min((corner_error(d.corners, true) for d in dets), default=np.inf) for true in s.corners]

    found = [e for e in errors if e <= MATCH]
    p50 = float(np.median(total_ms))
    res = {
        "frame": "1280x720", "scenes": args.scenes, "cards_per_frame": args.cards, "crop": [height, width],
        "threads": 1, "python": platform.python_version(), "opencv": cv2.__version__, "machine": platform.machine(),
        "detect_ms": {"p50": pct(detect_ms, 50), "p90": pct(detect_ms, 90)},
        "rectify_ms": {"p50": pct(rectify_ms, 50), "p90": pct(rectify_ms, 90)},
        "detect_rectify_ms": {"p50": pct(total_ms, 50), "p90": pct(total_ms, 90)},
        "cards": len(errors), "found_within_3pct": len(found), "found_rate": round(len(found) / len(errors), 4),
        "corner_error_of_found": {"median": pct(found, 50), "p90": pct(found, 90), "max": pct(found, 100)},
        "target": f"detect + rectify <= {TARGET_MS:g} ms (p50) for a 1280x720 frame at 1 thread",
        "met": p50 <= TARGET_MS,
    }
    print(f"{args.scenes} frames 1280x720, {args.cards} card(s) each, crop {height}x{width}, 1 thread "
          f"(OpenCV {cv2.__version__}, Python {platform.python_version()})")
    for key, name in (("detect_ms", "detect"), ("rectify_ms", "rectify"), ("detect_rectify_ms", "detect+rectify")):
        print(f"  {name:15s} p50 {res[key]['p50']:7.2f} ms   p90 {res[key]['p90']:7.2f} ms")
    ce = res["corner_error_of_found"]
    print(f"  cards found within 3 % of the diagonal: {len(found)}/{len(errors)} ({res['found_rate']:.1%}); "
          f"corner error of those: median {ce['median']:.2%}, p90 {ce['p90']:.2%}, max {ce['max']:.2%}")
    print(f"  {'met' if res['met'] else 'MISS'}: {res['target']} (p50 {p50:.2f} ms)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
