"""``cardrec-edge``: identify cards with an edge bundle, verify a bundle."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from .bundle import Bundle, BundleError
from .matcher import Matcher, decide
from .runtime import OnnxEmbedder

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def read_rgb(path: Path) -> np.ndarray | None:
    """Decode an image file to RGB uint8, or None when it is not a readable image."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; directories expand to the images they contain, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


class Identifier:
    """Bundle + embedder + matcher: RGB crop -> ranked candidates and a decision."""

    def __init__(self, bundle: Bundle, threads: int | None = None, exact: bool = False):
        self.bundle = bundle
        self.cards = bundle.card_table()
        self.embedder = OnnxEmbedder(bundle.model, bundle.contract, threads)
        self.matcher = Matcher(np.load(bundle.embeddings), None if exact else bundle.index)

    def identify(self, rgb: np.ndarray, k: int = 5) -> dict:
        matches = self.matcher.search(self.embedder.embed([rgb]), k)[0]
        cands = [{"card_id": self.cards[m.index]["id"], "name": self.cards[m.index]["name"],
                  "score": round(m.score, 6)} for m in matches]
        best = cands[0]
        known = decide(best["score"], self.bundle.threshold)
        return {"card_id": best["card_id"] if known else None, "score": best["score"], "candidates": cands}


def cmd_identify(args: argparse.Namespace) -> int:
    ident = Identifier(Bundle.load(args.bundle), threads=args.threads, exact=args.exact)
    failures = 0
    for path in expand_inputs(args.images):
        rgb = read_rgb(path) if path.is_file() else None
        if rgb is None:
            failures += 1
            result = {"file": str(path), "error": "not a readable image"}
        else:
            result = {"file": str(path), **ident.identify(rgb, args.top_k)}
        if args.json:
            print(json.dumps(result), flush=True)
        elif "error" in result:
            print(f"{path}: error: {result['error']}")
        else:
            verdict = result["card_id"] or "unknown card"
            print(f"{path}: {verdict} (cosine {result['score']:.3f}, threshold {ident.bundle.threshold:.3f})")
            for c in result["candidates"]:
                print(f"    {c['score']:.3f}  {c['card_id']:<14} {c['name']}")
    return 1 if failures else 0


def cmd_verify(args: argparse.Namespace) -> int:
    bundle = Bundle.load(args.bundle)
    problems = bundle.verify()
    for p in problems:
        print(p)
    if not problems:
        print(f"{args.bundle}: {len(bundle.manifest['files'])} files verified")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cardrec-edge", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("identify", help="identify cards in image files or directories",
                       description="Each image is taken as a card crop, embedded and matched.")
    p.add_argument("images", nargs="+", help="image files or directories")
    p.add_argument("--bundle", default="results/edge", help="edge bundle directory (default: results/edge)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--top-k", type=int, default=5, help="candidates to report (default: 5)")
    p.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: all cores)")
    p.add_argument("--exact", action="store_true", help="exact numpy search instead of the HNSW index")
    p.set_defaults(func=cmd_identify)
    v = sub.add_parser("verify-bundle", help="check every sha256 in the bundle manifest")
    v.add_argument("bundle", nargs="?", default="results/edge")
    v.set_defaults(func=cmd_verify)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BundleError as e:
        print(f"cardrec-edge: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
