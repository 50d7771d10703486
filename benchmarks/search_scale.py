"""usearch HNSW (index config from config.yaml) against exact search: latency and recall@1 at several sizes.

    python benchmarks/search_scale.py                              # sizes 20000,100000,1000000; dim from config
    python benchmarks/search_scale.py --sizes 20000,100000 --dim 768 --queries 500

Vectors are random unit vectors; queries are gallery vectors plus noise (a photo of a known card), so the exact
top-1 is the card itself in almost every case. Recall@1 = fraction of queries whose HNSW top-1 equals the exact
(numpy brute-force) top-1. The index is built with cardrec.index.build_index (one thread, deterministic).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from cardrec.index import build_index  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top1(gallery: np.ndarray, queries: np.ndarray, chunk: int = 256) -> np.ndarray:
    parts = np.array_split(queries, max(1, len(queries) // chunk))
    return np.concatenate([np.argmax(q @ gallery.T, axis=1) for q in parts])


def search_stats(index, queries: np.ndarray, exact: np.ndarray) -> tuple[float, float, float]:
    """(p50 ms, p95 ms, recall@1 against exact) of one query at a time, as the edge runtime searches."""
    lat = []
    hits = np.empty(len(queries), dtype=np.int64)
    for i, q in enumerate(queries):
        t = time.perf_counter()
        hits[i] = int(np.asarray(index.search(q, 1).keys).reshape(-1)[0])
        lat.append((time.perf_counter() - t) * 1e3)
    return statistics.median(lat), float(np.percentile(lat, 95)), float(np.mean(hits == exact))


def run_size(n: int, dim: int, n_queries: int, noise: float, cfg: dict, rng: np.random.Generator,
             ef: list[int]) -> list[dict]:
    gallery = unit(rng.standard_normal((n, dim), dtype=np.float32))
    picks = rng.choice(n, size=n_queries, replace=False)
    queries = unit(gallery[picks] + noise * rng.standard_normal((n_queries, dim), dtype=np.float32) / np.sqrt(dim))
    t0 = time.perf_counter()
    index = build_index(gallery, cfg)
    build_s = time.perf_counter() - t0
    t = time.perf_counter()
    exact = exact_top1(gallery, queries)
    exact_ms = (time.perf_counter() - t) * 1e3 / n_queries
    rows = []
    for e in ef or [cfg["expansion_search"]]:
        index.expansion_search = e
        p50, p95, recall = search_stats(index, queries, exact)
        rows.append({"n": n, "ef": e, "build_s": build_s, "p50_ms": p50, "p95_ms": p95, "recall_at_1": recall,
                     "exact_ms_per_query_batched": exact_ms})
    return rows


def main() -> int:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,100000,1000000", help="comma-separated gallery sizes")
    ap.add_argument("--dim", type=int, default=config["teacher"]["embed_dim"])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--noise", type=float, default=0.5, help="query noise norm relative to the unit vector")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ef", default="", help="comma-separated expansion_search values to sweep (default: config)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print(f"index config: {config['index']}  dim {args.dim}  queries {args.queries}")
    ef = [int(e) for e in args.ef.split(",") if e]
    print(f"{'n':>9} {'ef':>5} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'recall@1':>9} {'exact ms/q (batched)':>21}")
    for n in (int(s) for s in args.sizes.split(",")):
        for r in run_size(n, args.dim, min(args.queries, n), args.noise, config["index"], rng, ef):
            print(f"{r['n']:>9} {r['ef']:>5} {r['build_s']:>8.1f} {r['p50_ms']:>7.3f} {r['p95_ms']:>7.3f} "
                  f"{r['recall_at_1']:>9.4f} {r['exact_ms_per_query_batched']:>21.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
