"""Gallery search as the edge runtime does it (usearch HNSW + float32 rescoring) against exact search:
latency and recall@1 at several gallery sizes.

    python benchmarks/search_scale.py                                   # 20k, 100k, 1M card-like vectors
    python benchmarks/search_scale.py --sizes 20000 --ef 32,64,128 --connectivity 16,32
    python benchmarks/search_scale.py --data random --sizes 20000      # i.i.d. random unit vectors

Data. ``mixture`` (default): the rows of a real embeddings file (``--embeddings``, by default the
workflow's results/index/embeddings.npy) plus, up to the gallery size, convex mixtures of three of them
with a little noise: vectors with the low-dimensional structure of card embeddings, and near neighbours
closer than any two real cards. ``random``: i.i.d. unit vectors, which have no neighbourhood structure
at all (a point's nearest neighbour is almost orthogonal to it): the worst case for any graph index.
Queries are gallery vectors plus noise (a photo of a known card). Recall@1 = fraction of queries whose
top-1 equals the exact (numpy brute-force) top-1; "own card" = how often that exact top-1 is the card the
query was made from (1.0: the task is unambiguous). Index settings come from config.yaml unless swept;
``--pca-dim`` puts the graph in the gallery's leading principal directions: the index is built by
cardrec.deploy.index.build_reference_index, as in rule reference_index, and the projection fit is timed as part of
the build. The graph is built with all cores (the workflow uses one, for a reproducible file).
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from cardrec_edge.matcher import Matcher, l2_normalize

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cardrec.deploy.index import build_reference_index  # noqa: E402


def gallery_vectors(n: int, kind: str, real: np.ndarray | None, dim: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return l2_normalize(rng.standard_normal((n, dim), dtype=np.float32))
    real = l2_normalize(real)
    picks = rng.integers(0, len(real), (n, 3))
    weights = rng.dirichlet([1.0, 1.0, 1.0], n).astype(np.float32)
    out = np.empty((n, real.shape[1]), np.float32)
    for s in range(0, n, 65536):  # chunks keep the (n, 3, dim) intermediate small at 1M
        e = min(n, s + 65536)
        mix = np.einsum("nk,nkd->nd", weights[s:e], real[picks[s:e]])
        out[s:e] = l2_normalize(mix + 0.3 * rng.standard_normal(mix.shape, dtype=np.float32) / np.sqrt(mix.shape[1]))
    out[: min(n, len(real))] = real[:n]
    return out


def exact_top1(gallery: np.ndarray, queries: np.ndarray, chunk: int = 128) -> np.ndarray:
    return np.concatenate([np.argmax(queries[s:s + chunk] @ gallery.T, axis=1) for s in range(0, len(queries), chunk)])


def timed_search(matcher: Matcher, queries: np.ndarray, exact: np.ndarray) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, recall@1) of one query at a time, as the edge runtime searches."""
    lat, top = [], np.empty(len(queries), np.int64)
    for i, q in enumerate(queries):
        t = time.perf_counter()
        top[i] = matcher.search(q, 1)[0][0].index
        lat.append((time.perf_counter() - t) * 1e3)
    return statistics.median(lat), float(np.percentile(lat, 95)), float(np.mean(top == exact))


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    icfg = config["index"]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="20000,100000,1000000", help="comma-separated gallery sizes")
    ap.add_argument("--data", choices=("mixture", "random"), default="mixture")
    ap.add_argument("--embeddings", type=Path, default=REPO / "results" / "index" / "embeddings.npy",
                    help="real embeddings for --data mixture (run `make run` first for the default)")
    ap.add_argument("--dim", type=int, default=config["teacher"]["embed_dim"], help="--data random only")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.5, help="query noise norm relative to the unit vector")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default=icfg["dtype"], help="comma-separated usearch storage types to sweep")
    ap.add_argument("--connectivity", default=str(icfg["connectivity"]), help="comma-separated values to sweep")
    ap.add_argument("--ef", default=str(icfg["expansion_search"]), help="comma-separated expansion_search values")
    ap.add_argument("--candidates", type=int, default=icfg.get("candidates", 16), help="hits rescored in float32")
    ap.add_argument("--pca-dim", default=str(icfg.get("pca_dim", 0)),
                    help="comma-separated graph dimensions to sweep (0 = the full embedding)")
    args = ap.parse_args()
    real = None
    if args.data == "mixture":
        if not args.embeddings.is_file():
            ap.error(f"{args.embeddings} not found: run `make run` first, or pass --embeddings or --data random")
        real = np.load(args.embeddings).astype(np.float32)
    rng = np.random.default_rng(args.seed)
    print(f"data {args.data}{f' ({len(real)} real rows of {args.embeddings})' if real is not None else ''}  "
          f"queries {args.queries}  noise {args.noise}  candidates {args.candidates}  "
          f"expansion_add {icfg['expansion_add']}")
    print(f"{'n':>9} {'pca':>4} {'dtype':>5} {'M':>3} {'ef':>4} {'build s':>8} {'index MB':>8} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'recall@1':>9} {'exact ms/q':>10} {'own card':>8}", flush=True)
    for n in ints(args.sizes):
        gallery = gallery_vectors(n, args.data, real, args.dim, rng)
        picks = rng.choice(n, size=min(args.queries, n), replace=False)
        noise = rng.standard_normal((len(picks), gallery.shape[1]), dtype=np.float32)
        queries = l2_normalize(gallery[picks] + args.noise * noise / np.sqrt(gallery.shape[1]))
        t = time.perf_counter()
        exact = exact_top1(gallery, queries)
        exact_ms = (time.perf_counter() - t) * 1e3 / len(queries)
        own = float(np.mean(exact == picks))  # the exact top-1 is the card the query was made from
        for pca, dtype, m in itertools.product(ints(args.pca_dim), args.dtype.split(","), ints(args.connectivity)):
            t = time.perf_counter()
            cfg = {**icfg, "dtype": dtype, "connectivity": m, "pca_dim": pca}
            index, projection = build_reference_index(gallery, cfg, threads=0)  # projection fit included
            build_s = time.perf_counter() - t
            for ef in ints(args.ef):
                matcher = Matcher(gallery, index, ef, args.candidates, projection)
                p50, p95, recall = timed_search(matcher, queries, exact)
                print(f"{n:>9} {pca:>4} {dtype:>5} {m:>3} {ef:>4} {build_s:>8.1f} {index.memory_usage / 2**20:>8.1f} "
                      f"{p50:>7.3f} {p95:>7.3f} {recall:>9.4f} {exact_ms:>10.2f} {own:>8.3f}", flush=True)
            del index
    return 0


if __name__ == "__main__":
    sys.exit(main())
