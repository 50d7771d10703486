"""``cardrec-edge``: identify trading cards in photos, streams and over HTTP with an edge bundle."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from . import defaults
from .bundle import Bundle
from .errors import UsageError, run_cli
from .sources import image_files, image_frames, open_stream
from .tracking import Tracker


def _recognizer(args: argparse.Namespace):
    from .pipeline import Recognizer

    if args.threads:
        cv2.setNumThreads(args.threads)  # detection, rectification and verification too, not only the model
    return Recognizer(Bundle.load(args.bundle), backend=args.backend, threads=args.threads, exact=args.exact,
                      min_blur=args.min_blur, max_glare=args.max_glare, top_k=args.top_k,
                      second_look=not args.no_second_look, orientation_gate=not args.no_orientation_gate,
                      segmenter=not args.no_segmenter, corner_refiner=not args.no_corner_refiner)


def annotate(rgb: np.ndarray, cards: list) -> np.ndarray:
    """BGR copy of the frame with each card's quad and its verdict drawn on it (the label on a dark box, kept
    inside the image: readable on a yellow border and for a card at the frame's edge)."""
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    scale = max(1.0, max(img.shape[:2]) / 1000)
    for c in cards:
        colour = {"identified": (60, 200, 60), "unknown": (0, 165, 255)}.get(c.status, (60, 60, 230))
        pts = np.round(np.asarray(c.corners)).astype(np.int32)
        cv2.polylines(img, [pts], True, colour, max(2, int(3 * scale)))
        label = f"{c.name} {c.score:.2f}" if c.card_id else (c.status if c.score is None else f"unknown {c.score:.2f}")
        _draw_label(img, label, tuple(int(v) for v in pts[np.argmin(pts.sum(1))]), colour, scale)
    return img


def _draw_label(img: np.ndarray, text: str, corner: tuple[int, int], colour, scale: float) -> None:
    """``text`` on a near-black box just above ``corner`` (below it when there is no room), inside ``img``."""
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, max(1, int(2 * scale))
    (tw, th), base = cv2.getTextSize(text, font, size, thick)
    pad = max(3, int(4 * scale))
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    h, w = img.shape[:2]
    x = min(max(0, corner[0]), max(0, w - bw))
    y = corner[1] - bh - pad if corner[1] - bh - pad >= 0 else corner[1] + pad
    y = min(max(0, y), max(0, h - bh))
    cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), (20, 20, 20), cv2.FILLED)
    cv2.putText(img, text, (x + pad, y + pad + th), font, size, colour, thick, cv2.LINE_AA)


def _print_cards(name: str, cards: list, threshold: float) -> None:
    if not cards:
        print(f"{name}: no card found")
    for i, c in enumerate(cards):
        where = f"{name}[{i}]" if len(cards) > 1 else name
        if c.status == "low_quality":
            print(f"{where}: low quality, not matched ({'; '.join(c.quality['reasons'])})")
            continue
        if c.status == "partial":
            print(f"{where}: partial card (touches the frame border), not identified")
            continue
        verdict = c.card_id or "unknown card"
        turned = ", turned 180°" if c.rotated else ""
        verified = f", {c.inliers} verified inliers" if c.inliers is not None else ""
        print(f"{where}: {verdict} (cosine {c.score:.3f}, threshold {threshold:.3f}{verified}{turned})")
        for cand in c.candidates:
            print(f"    {cand['score']:.3f}  {cand['card_id']:<14} {cand['name']}")


def cmd_identify(args: argparse.Namespace) -> int:
    rec = _recognizer(args)
    failures = 0
    if args.annotate:
        Path(args.annotate).mkdir(parents=True, exist_ok=True)
    for name, rgb, error in image_files(args.images):
        if rgb is None:
            failures += 1
            if args.json:
                print(json.dumps({"file": name, "error": error}), flush=True)
            else:
                print(f"{name}: error: {error}", file=sys.stderr, flush=True)
            continue
        if args.crop:
            cards, timings = [rec.identify_crop(rgb)], {}
        else:
            frame = rec.identify_frame(rgb)
            cards, timings = frame.cards, frame.timings_ms
        if args.json:
            print(json.dumps({"file": name, "cards": [c.to_json() for c in cards], "timings_ms": timings}), flush=True)
        else:
            _print_cards(name, cards, rec.bundle.threshold)
        if args.annotate:
            cv2.imwrite(str(Path(args.annotate) / f"{Path(name).stem}.annotated.jpg"), annotate(rgb, cards))
    return 1 if failures else 0


def cmd_watch(args: argparse.Namespace) -> int:
    rec = _recognizer(args)
    tracker = Tracker(window=args.window, min_votes=args.min_votes)
    try:
        stream = open_stream(args.source, args.every)
    except OSError as e:
        print(f"cardrec-edge watch: {e}", file=sys.stderr)
        return 2
    frames = 0
    for name, rgb in stream:
        frames += 1
        result = rec.identify_frame(rgb)
        for s in tracker.update([(np.asarray(c.corners), c.card_id) for c in result.cards]):
            card = next(c for c in rec.cards if c["id"] == s.card_id)
            event = {"frame": name, "track": s.track_id, "card_id": s.card_id, "name": card.get("name"),
                     "votes": f"{s.votes}/{s.window}"}
            line = f"{name}: track {s.track_id}: {s.card_id} {card.get('name')} ({s.votes}/{s.window} frames)"
            print(json.dumps(event) if args.json else line, flush=True)
        if args.max_frames and frames >= args.max_frames:
            break
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    rec = _recognizer(args)
    frames = [rgb for _, rgb in image_frames(args.images) if rgb is not None]
    if not frames:
        print("cardrec-edge bench: no readable images given", file=sys.stderr)
        return 2
    for rgb in frames[: args.warmup]:
        rec.identify_frame(rgb)
    rows = []
    t0 = time.perf_counter()
    for i in range(args.runs):
        rows.append(rec.identify_frame(frames[i % len(frames)]).timings_ms)
    wall = time.perf_counter() - t0
    report = {"frames": args.runs, "threads": args.threads, "stages": bench_stages(rows), "fps": args.runs / wall}
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report["stages"].items():
            print(f"{k:<10} p50 {v['p50_ms']:7.2f} ms  p90 {v['p90_ms']:7.2f} ms  "
                  f"in {100 * v['share']:5.1f} % of frames")
        print(f"{'fps':<10} {report['fps']:8.1f} frames/s")
    return 0


def bench_stages(rows: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p90 of each stage over all frames (0 ms in a frame that did not run it, e.g. no card found) and the
    share of frames that ran it."""
    names = list(dict.fromkeys(k for r in rows for k in r if k != "total")) + ["total"]
    out = {}
    for k in names:
        ms = [r.get(k, 0.0) for r in rows]
        out[k] = {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p90_ms": round(float(np.percentile(ms, 90)), 3),
                  "share": round(sum(k in r for r in rows) / len(rows), 4)}
    return out


def server_token(args: argparse.Namespace) -> str | None:
    """The access token from --token-file, --token or $CARDREC_EDGE_TOKEN (one source); UsageError if unusable."""
    if args.token_file and args.token:
        raise UsageError("give the token once: --token or --token-file, not both")
    if args.token_file:
        try:
            token = next(iter(Path(args.token_file).read_text().strip().splitlines()), "").strip()
        except (OSError, UnicodeDecodeError) as e:
            why = getattr(e, "strerror", None) or e
            raise UsageError(f"cannot read --token-file {args.token_file}: {why}") from None
        if not token:
            raise UsageError(f"--token-file {args.token_file} is empty")
        return token
    return args.token or os.environ.get(defaults.TOKEN_ENV, "").strip() or None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .server.app import serve
    except ImportError as e:
        print(f"cardrec-edge serve needs the [serve] extra (pip install 'cardrec-edge[serve]'): {e}", file=sys.stderr)
        return 2
    if (args.workers is not None and args.workers < 1) or (args.queue is not None and args.queue < 0):
        raise UsageError(f"--workers must be at least 1 and --queue at least 0 (got {args.workers}, {args.queue})")
    token = server_token(args)
    serve(args.bundle, host=args.host, port=args.port, token=token, db=args.db, backend=args.backend,
          threads=args.threads, max_upload_mb=args.max_upload_mb, allow_hosts=args.allow_host,
          workers=args.workers, queue=args.queue, exact=args.exact, top_k=args.top_k, min_blur=args.min_blur,
          max_glare=args.max_glare, second_look=not args.no_second_look,
          orientation_gate=not args.no_orientation_gate, segmenter=not args.no_segmenter,
          corner_refiner=not args.no_corner_refiner)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.bundle, verify=False)
    problems = bundle.verify()
    for p in problems:
        print(p)
    print(f"{args.bundle}: bundle_id {bundle.bundle_id}")
    if not problems:
        print(f"{args.bundle}: manifest and {len(bundle.manifest['files'])} files verified")
    return 1 if problems else 0


def _runtime_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", default="results/edge", help="edge bundle directory (default: results/edge)")
    p.add_argument("--backend", choices=("auto", "onnx", "hailo"), default="auto",
                   help="auto: the bundle's HEF on a Hailo device if there is one, else ONNX (default)")
    p.add_argument("--threads", type=int, default=None,
                   help="onnxruntime and OpenCV threads (default: all cores)")
    p.add_argument("--exact", action="store_true", help="exact numpy search instead of the HNSW index")
    p.add_argument("--top-k", type=int, default=defaults.TOP_K,
                   help=f"candidates to report (default: {defaults.TOP_K})")
    p.add_argument("--min-blur", type=float, default=defaults.MIN_BLUR, help="variance of Laplacian below which a "
                   f"crop is too blurry to match (default: {defaults.MIN_BLUR:g})")
    p.add_argument("--max-glare", type=float, default=defaults.MAX_GLARE, help="glare fraction above which a crop "
                   f"is not matched (default: {defaults.MAX_GLARE:g})")
    p.add_argument("--no-second-look", action="store_true", help="do not search a frame again at other scales "
                   "where a card did not verify (faster on frames of unknown cards, finds fewer cards)")
    p.add_argument("--no-segmenter", action="store_true", help="do not search a frame still unsure after the second "
                   "look in the band the bundle's card segmenter sees (faster there, finds fewer cards)")
    p.add_argument("--no-corner-refiner", action="store_true", help="report the corners of a card no verified "
                   "outline places where the detector put them, not where the bundle's corner refiner moves them")
    p.add_argument("--no-orientation-gate", action="store_true", help="ignore the bundle's orientation gate: a card "
                   "that does not verify upright is verified turned by 180° too (slower, for a backend the gate was "
                   "not fitted on)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cardrec-edge", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("identify", help="identify the cards in image files or directories",
                       description="Finds every card in each image (or, with --crop, takes the image as the card), "
                                   "rectifies it, checks blur and glare, embeds and matches it.")
    p.add_argument("images", nargs="+", help="image files or directories")
    _runtime_args(p)
    p.add_argument("--json", action="store_true", help="one JSON object per image and line")
    p.add_argument("--crop", action="store_true", help="each image already is one card: no detection")
    p.add_argument("--annotate", metavar="DIR", help="write each image with its cards drawn on it to DIR")
    p.set_defaults(func=cmd_identify)
    w = sub.add_parser("watch", help="identify cards in a camera or video stream, print stable identifications",
                       description="Tracks each card across frames and prints its id once it wins the vote of the "
                                   "last --window frames.")
    w.add_argument("source", nargs="?", default="0", help="camera index (default 0), a video file, or 'picamera'")
    _runtime_args(w)
    w.add_argument("--window", type=int, default=5, help="frames that vote per card (default: 5)")
    w.add_argument("--min-votes", type=int, default=None, help="votes needed (default: a majority of --window)")
    w.add_argument("--every", type=int, default=1, help="process one frame in N (default: every frame)")
    w.add_argument("--max-frames", type=int, default=0, help="stop after this many processed frames (0: never)")
    w.add_argument("--json", action="store_true", help="one JSON object per stable identification")
    w.set_defaults(func=cmd_watch)
    s = sub.add_parser("serve", help="HTTP API and web page (POST /identify, GET /health, collection)")
    _runtime_args(s)
    s.add_argument("--host", default=defaults.HOST,
                   help=f"bind address (default {defaults.HOST}; 0.0.0.0 exposes it)")
    s.add_argument("--port", type=int, default=defaults.PORT, help=f"TCP port (default: {defaults.PORT})")
    s.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on the API (visible to "
                   f"other users in `ps`: prefer --token-file or ${defaults.TOKEN_ENV})")
    s.add_argument("--token-file", metavar="PATH", help="read the access token from this file (first line)")
    s.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests for this host name (e.g. raspberrypi.local; repeatable; '*': any). "
                        "Other names are refused (DNS rebinding)")
    s.add_argument("--workers", type=int, default=None,
                   help="frames recognised in parallel (default: one per core)")
    s.add_argument("--queue", type=int, default=None, help="requests that may wait for a worker before the server "
                   f"answers 503 (default: {defaults.QUEUE_PER_WORKER} per worker)")
    s.add_argument("--db", default=defaults.DB, help=f"SQLite collection file (default: {defaults.DB})")
    s.add_argument("--max-upload-mb", type=float, default=defaults.MAX_UPLOAD_MB,
                   help=f"largest accepted upload (default: {defaults.MAX_UPLOAD_MB:g} MB)")
    s.set_defaults(func=cmd_serve)
    b = sub.add_parser("bench", help="per-stage latency and frames/s on images",
                       description="Runs the whole frame pipeline on the given images and reports p50/p90 per stage "
                                   "over all timed frames (0 ms where a frame did not run the stage) and the share "
                                   "of frames that ran it. --threads 1 measures one core.")
    b.add_argument("images", nargs="+", help="image files or directories (frames)")
    _runtime_args(b)
    b.add_argument("--runs", type=int, default=100, help="timed frames (default: 100)")
    b.add_argument("--warmup", type=int, default=5, help="untimed frames first (default: 5)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.set_defaults(func=cmd_bench)
    v = sub.add_parser("verify-bundle", help="check the manifest against its bundle_id and every file's sha256",
                       description="Prints the bundle_id (sha256 of the canonical manifest, which lists every "
                                   "file's sha256) and every problem found; exit status 1 when there is one.")
    v.add_argument("bundle", nargs="?", default="results/edge")
    v.set_defaults(func=cmd_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
