"""Per-stage latency and frames/s of the edge runtime at 1 thread, with a 20,000-card index.

    make run                                               # results/edge: the INT8 bundle
    python benchmarks/edge_pipeline.py [--bundle results/edge] [--cards 20000] [--frames 200] [--json out.json]

The bundle's model, contract and threshold are used as shipped. Its gallery is padded to ``--cards``
entries with random unit vectors (labelled ``pad-N``) and re-indexed as the workflow does (projection +
usearch graph, config.yaml's index section, written into the manifest), so search runs at
production scale; the padding never matches a real card better than the card itself, it only makes
the index bigger. Frames are synthetic 1280x720 scenes (``cardrec.data.scenes``) of real sv1 card faces
(../shared/data/cards/sv1) on textured backgrounds. Targets: detect + rectify <= 5 ms, the whole frame
<= 25 ms, search <= 0.5 ms (p50).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml
from cardrec_edge.bundle import Bundle
from cardrec_edge.pipeline import Recognizer

from cardrec.data.scenes import load_face, synthetic_scene
from cardrec.deploy.bundle import write_bundle
from cardrec.deploy.index import write_reference

REPO = Path(__file__).resolve().parents[1]
FACES = REPO.parent / "shared" / "data" / "cards" / "sv1"
TARGETS = {"detect+rectify": 5.0, "total": 25.0, "search": 0.5}


def scaled_bundle(bundle: Bundle, cards: int, out: Path) -> Path:
    """A copy of ``bundle`` whose gallery is padded with random unit vectors to ``cards`` entries."""
    emb = np.load(bundle.embeddings)
    table = bundle.card_table()
    extra = max(0, cards - len(emb))
    pad = np.random.default_rng(0).normal(size=(extra, emb.shape[1])).astype(np.float32)
    emb = np.concatenate([emb, pad / np.linalg.norm(pad, axis=1, keepdims=True)])
    table = table + [{"id": f"pad-{i}", "name": f"padding {i}"} for i in range(extra)]
    np.save(out / "padded.npy", emb)
    index_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["index"]
    write_reference(table, [str(out / "padded.npy")], index_cfg, out / "embeddings.npy", out / "gallery.usearch",
                    out / "cards.json", out / "projection.npz")  # as rule reference_index
    files = {"model": str(bundle.model), "embeddings": str(out / "embeddings.npy"),
             "index": str(out / "gallery.usearch"), "cards": str(out / "cards.json"),
             "projection": str(out / "projection.npz")}
    m = bundle.manifest
    write_bundle(out / "edge", files, m["preprocess"], m["threshold"], m.get("model_variant", "?"), None,
                 {"index": index_cfg})
    return out / "edge"


def measure(bundle_dir: Path, cards: int, frames: int, seed: int) -> dict:
    cv2.setNumThreads(1)
    bundle = Bundle.load(bundle_dir)
    faces = [load_face(p) for p in sorted(FACES.glob("*.png"))[:40]]
    rng = np.random.default_rng(seed)
    scenes = [synthetic_scene(faces, rng).rgb for _ in range(20)]
    with tempfile.TemporaryDirectory() as tmp:
        rec = Recognizer(Bundle.load(scaled_bundle(bundle, cards, Path(tmp))), backend="onnx", threads=1)
        for s in scenes[:5]:
            rec.identify_frame(s)
        rows = [rec.identify_frame(scenes[i % len(scenes)]).timings_ms for i in range(frames)]
    stages = sorted({k for r in rows for k in r})
    for r in rows:
        r["detect+rectify"] = r["detect"] + r["rectify"]
    stats = {k: {"p50_ms": float(np.percentile([r.get(k, 0.0) for r in rows], 50)),
                 "p90_ms": float(np.percentile([r.get(k, 0.0) for r in rows], 90))}
             for k in stages + ["detect+rectify"]}
    return {"bundle": str(bundle_dir), "model_variant": bundle.manifest.get("model_variant"), "index_cards": cards,
            "frames": frames, "threads": 1, "stages": stats, "fps": 1000.0 / np.mean([r["total"] for r in rows])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=Path("results/edge"), help="edge bundle (default: results/edge)")
    ap.add_argument("--cards", type=int, default=20_000, help="index size after padding (default: 20000)")
    ap.add_argument("--frames", type=int, default=200, help="timed frames (default: 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()
    if not (args.bundle / "manifest.json").is_file() or not FACES.is_dir():
        print(f"needs a bundle at {args.bundle} (make run) and card faces in {FACES}", file=sys.stderr)
        return 2
    m = measure(args.bundle, args.cards, args.frames, args.seed)
    print(f"{m['model_variant']} model, {m['index_cards']} cards in the index, {m['frames']} frames of 1280x720, "
          f"1 thread")
    for k, v in m["stages"].items():
        print(f"  {k:<15} p50 {v['p50_ms']:7.2f} ms   p90 {v['p90_ms']:7.2f} ms")
    print(f"  frames/s        {m['fps']:.1f}")
    for k, limit in TARGETS.items():
        got = m["stages"][k]["p50_ms"]
        print(f"{'met ' if got <= limit else 'MISS'}  {k} p50 <= {limit} ms: {got:.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(m, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
