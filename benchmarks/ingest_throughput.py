"""Throughput of the per-set data rules (ingest, preprocess) and the reference-index build time, on this machine.

    python benchmarks/ingest_throughput.py                     # one synthetic set of 500 cards, 20,000 vectors
    python benchmarks/ingest_throughput.py --cards 60 --vectors 2000 --repeats 3

Input: one set drawn with cardrec.data.synthesize.write_dataset (config.yaml's synthetic seed and first set, n_cards set
by --cards) into a temporary directory; generation is not timed. Each stage calls the library function its
rule's script calls, with config.yaml's values:
  ingest      cardrec.data.ingest.set_images + ingest_set (decode, validate, quarantine, sha256, cards.json/rejected.csv)
  preprocess  cardrec.data.shards.write_set_shard (decode again, letterbox to the face size, then to the model
              contract; faces.npy, gallery.npy, cards.json); the contract is config.yaml's preprocess section
  index       cardrec.deploy.index.build_reference_index (projection fit + graph, as rule reference_index) over
              --vectors random unit vectors of teacher.embed_dim (index section)
None of them takes a thread count: ingest and preprocess are single-process Python loops (PIL decode on one
thread, cv2.resize on cv2's own thread pool), and the index inserts with threads=1 (deterministic graph).
torch is not used by these stages; its thread count is printed for reference. Files are read from the page
cache (just written), as in the workflow right after synthesize_cards. The median over --repeats is reported.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # the library's progress bars; read when tqdm is imported

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cardrec_edge.preprocess import Preprocess  # noqa: E402

from cardrec.deploy.index import build_reference_index  # noqa: E402
from cardrec.data.ingest import IngestConfig, ingest_set, set_images  # noqa: E402
from cardrec.data.shards import write_set_shard  # noqa: E402
from cardrec.data.synthesize import SynthSet, write_dataset  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``fn``."""
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs)


def png_megabytes(images: Path) -> float:
    return sum(p.stat().st_size for p in images.iterdir()) / 1e6


def thread_settings() -> str:
    import torch  # only to report its setting; imported after the timed stages' imports

    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
           if k in os.environ}
    return (f"python {platform.python_version()}  cpus {len(os.sched_getaffinity(0))}  "
            f"torch {torch.__version__} threads {torch.get_num_threads()}  numpy {np.__version__}  "
            f"cv2 {cv2.__version__} threads {cv2.getNumThreads()}  env {env or '(no *_NUM_THREADS set)'}")


def main() -> int:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cards", type=int, default=500, help="cards in the synthetic set")
    ap.add_argument("--vectors", type=int, default=20_000, help="gallery size of the index build")
    ap.add_argument("--dim", type=int, default=config["teacher"]["embed_dim"])
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per stage (median reported)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random index vectors")
    args = ap.parse_args()

    spec = SynthSet(**{**config["synthetic"]["sets"][0], "n_cards": args.cards})
    contract = Preprocess.from_dict(config["preprocess"])
    face_size = (config["preprocess"]["face_height"], config["preprocess"]["face_width"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="cardrec-ingest-") as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        n = write_dataset(config["synthetic"]["seed"], [spec], spec.id, d / "cards.json", d / "images" / spec.id)
        print(f"generated {n} cards ({spec.id}, {png_megabytes(d / 'images' / spec.id):.1f} MB PNG) in "
              f"{time.perf_counter() - t0:.1f} s (not timed below)")
        ingest_cfg = IngestConfig(**config["ingest"])
        ingest_out = d / "ingest" / "cards.json"

        def ingest() -> None:
            ingest_set(spec.id, d / "cards.json", set_images(d / "images", spec.id), ingest_cfg,
                       ingest_out, d / "ingest" / "rejected.csv")

        rows.append(("ingest", n, timed(ingest, args.repeats)))
        rows.append(("preprocess", n, timed(lambda: write_set_shard(ingest_out, d / "shard", contract, face_size),
                                            args.repeats)))
    rng = np.random.default_rng(args.seed)
    emb = rng.standard_normal((args.vectors, args.dim), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows.append((f"index build (dim {args.dim})", args.vectors,
                 timed(lambda: build_reference_index(emb, config["index"]), args.repeats)))

    print(f"contract {contract.height}x{contract.width}, faces {face_size[0]}x{face_size[1]}, "
          f"ingest {config['ingest']}, index {config['index']}, repeats {args.repeats}")
    print(f"{'stage':<24} {'images':>7} {'seconds':>8} {'images/s':>9}")
    for stage, count, secs in rows:
        print(f"{stage:<24} {count:>7} {secs:>8.2f} {count / secs:>9.1f}")
    print("(index build: images = vectors)")
    print(thread_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
