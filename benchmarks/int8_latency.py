"""Batch-1 latency of the FP32 and INT8 ONNX students on this machine, at 1 thread and all threads.

    snakemake --cores all results/export/quantize.json      # the models being measured
    python benchmarks/int8_latency.py [--workdir .] [--runs 200] [--json out.json]

Each model runs one letterboxed held-out query at a time through onnxruntime's CPU provider (as the
edge runtime does), in alternating blocks of 100 runs after warm-ups, so both see the same machine load. Reports p50/p90 milliseconds, the INT8 speed-up and file
sizes, and judges the target: INT8 >= 1.8x faster than FP32 at 1 thread.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from cardrec_edge.preprocess import Preprocess

TARGET_SPEEDUP = 1.8
MODELS = {"fp32": "results/export/student_dynamic.onnx", "int8": "results/export/student_int8.onnx"}


def _session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def blocked_ms(paths: dict[str, Path], x: np.ndarray, threads: int, runs: int, block: int = 100,
               warmup: int = 20) -> dict:
    """Per-model latency in alternating blocks (each after a short warm-up): the models share the
    machine's load drift, while each block keeps its own weights in cache as a deployed model would."""
    sessions = {k: _session(p, threads) for k, p in paths.items()}
    feeds = {k: {s.get_inputs()[0].name: x} for k, s in sessions.items()}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for _ in range(max(1, runs // block)):
        for k, sess in sessions.items():
            for i in range(warmup + block):
                t = time.perf_counter()
                sess.run(None, feeds[k])
                if i >= warmup:
                    times[k].append((time.perf_counter() - t) * 1000)
    return {k: {"p50_ms": float(np.percentile(v, 50)), "p90_ms": float(np.percentile(v, 90)),
                "mean_ms": float(np.mean(v))} for k, v in times.items()}


def measure(workdir: Path, runs: int, overrides: dict[str, Path | None] | None = None) -> dict:
    contract = Preprocess.from_dict(json.loads((workdir / "results/preprocess/contract.json").read_text()))
    query = np.load(next((workdir / "results/queries").glob("*/images.npy")), mmap_mode="r")[0]
    x = contract.normalize(np.asarray(query))
    cores = os.cpu_count() or 1
    paths = {name: (overrides or {}).get(name) or workdir / rel for name, rel in MODELS.items()}
    out: dict = {"machine": platform.processor() or platform.machine(), "cores": cores,
                 "onnxruntime": ort.__version__, "runs": runs, "input": list(x.shape),
                 "models": {k: {"bytes": p.stat().st_size} for k, p in paths.items()}}
    for t in sorted({1, cores}):
        for name, r in blocked_ms(paths, x, t, runs).items():
            out["models"][name][f"threads_{t}"] = r
    m = out["models"]
    out["speedup"] = {k: m["fp32"][k]["p50_ms"] / m["int8"][k]["p50_ms"] for k in m["fp32"] if k.startswith("threads")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=Path("."), help="directory holding results/")
    ap.add_argument("--runs", type=int, default=200, help="timed runs per model and thread count (blocks of 100)")
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    ap.add_argument("--fp32", type=Path, help=f"FP32 model instead of <workdir>/{MODELS['fp32']}")
    ap.add_argument("--int8", type=Path, help=f"INT8 model instead of <workdir>/{MODELS['int8']}")
    args = ap.parse_args()
    try:
        m = measure(args.workdir, args.runs, {"fp32": args.fp32, "int8": args.int8})
    except (FileNotFoundError, StopIteration) as e:
        print(f"missing {getattr(e, 'filename', None) or 'query images'}: run the workflow first (see the module "
              f"help)", file=sys.stderr)
        return 2
    print(f"{m['machine']}, {m['cores']} cores, onnxruntime {m['onnxruntime']}, input {m['input']}, "
          f"{m['runs']} runs each")
    print(f"{'model':<6} {'MB':>6} " + " ".join(f"{k + ' p50/p90 ms':>22}" for k in m["speedup"]))
    for name, r in m["models"].items():
        cols = " ".join(f"{r[k]['p50_ms']:>10.2f} / {r[k]['p90_ms']:<9.2f}" for k in m["speedup"])
        print(f"{name:<6} {r['bytes'] / 1e6:>6.2f} {cols}")
    for k, s in m["speedup"].items():
        print(f"INT8 speed-up at {k.replace('_', ' ')}: {s:.2f}x")
    one = m["speedup"]["threads_1"]
    print(f"{'met ' if one >= TARGET_SPEEDUP else 'MISS'}  INT8 >= {TARGET_SPEEDUP}x faster than FP32 at 1 thread: "
          f"{one:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(m, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
