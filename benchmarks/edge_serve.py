"""Throughput and latency of ``cardrec-edge serve`` under concurrent ``POST /identify``, on loopback only.

    python benchmarks/edge_serve.py [--bundle DIR] [--requests 40] [--concurrency 40] [--server-args "--workers 2"]
                                    [--server-pythonpath PATH] [--json out.json]

Starts the real server (``python -m cardrec_edge.cli serve --port 0`` on 127.0.0.1) on the bundle, sends three
warm-up frames, then ``--requests`` multipart uploads of synthetic 1280x720 JPEG frames (real sv1 card faces,
``cardrec.data.scenes``) from ``--concurrency`` client threads at once, and reports completed requests per
second (wall clock from the first send to the last answer), p50/p95/max latency of the 200 answers and how
many were refused with 503 (back-pressure; not retried). Without ``--bundle`` (or when DIR has no manifest) the
test bundle of edge/tests/edge_support.py is built (into DIR, or a temporary directory).
``--server-pythonpath`` runs the server from another checkout's code (e.g. an export of the previous commit's
``edge/src``) to compare before and after on the same machine, bundle and frames.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "edge" / "tests"))  # edge_support, serve_support: the test helpers

from serve_support import stop_group  # noqa: E402

FACES = REPO.parent / "shared" / "data" / "cards" / "sv1"


def frames(n: int = 8, seed: int = 0) -> list[bytes]:
    """``n`` JPEG-encoded synthetic 1280x720 scenes of real card faces."""
    from cardrec.data.scenes import load_face, synthetic_scene

    faces = [load_face(FACES / f"sv1-{i}.png") for i in range(1, 13)]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        rgb = synthetic_scene(faces, rng, n_cards=2).rgb
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        out.append(buf.tobytes())
    return out


def ensure_bundle(path: Path | None, work: Path) -> Path:
    if path is not None and (path / "manifest.json").exists():
        return path
    from edge_support import build_edge_bundle

    out = path.parent if path is not None else work
    return build_edge_bundle(out)  # writes <out>/edge


def start_server(bundle: Path, work: Path, extra: list[str], pythonpath: str | None):
    log = work / f"server-{uuid.uuid4().hex[:6]}.log"
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    cmd = [sys.executable, "-m", "cardrec_edge.cli", "serve", "--bundle", str(bundle), "--port", "0",
           "--db", str(work / f"{log.stem}.sqlite"), *extra]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", log.read_text())
        if m:
            return proc, int(m.group(1)), log
        time.sleep(0.2)
    stop_group(proc)
    sys.exit(f"server did not start:\n{log.read_text()[-3000:]}")


def identify(port: int, jpeg: bytes) -> tuple[int, float]:
    """(status, seconds) of one multipart POST /identify over a fresh connection."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="f.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n").encode() + jpeg + f"\r\n--{boundary}--\r\n".encode()
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request("POST", "/identify", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - t0
    finally:
        conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=None, help="edge bundle (default: build the test bundle)")
    ap.add_argument("--requests", type=int, default=40, help="timed requests (default 40)")
    ap.add_argument("--concurrency", type=int, default=40, help="client threads sending at once (default 40)")
    ap.add_argument("--server-args", default="", help="extra `cardrec-edge serve` arguments, e.g. '--workers 2'")
    ap.add_argument("--server-pythonpath", default=None, help="PYTHONPATH of the server process (other code)")
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()
    if not 1 <= args.requests <= 1000 or not 1 <= args.concurrency <= 200:
        ap.error("--requests must be 1..1000 and --concurrency 1..200 (a bounded load on loopback)")

    with tempfile.TemporaryDirectory(prefix="edge-serve-bench-") as tmp:
        work = Path(tmp)
        bundle = ensure_bundle(args.bundle, work)
        jpegs = frames()
        proc, port, log = start_server(bundle, work, shlex.split(args.server_args), args.server_pythonpath)
        try:
            for jpeg in jpegs[:3]:
                status, _ = identify(port, jpeg)
                if status != 200:
                    sys.exit(f"warm-up request answered {status}:\n{log.read_text()[-2000:]}")
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as ex:
                answers = list(ex.map(lambda i: identify(port, jpegs[i % len(jpegs)]), range(args.requests)))
            wall = time.perf_counter() - t0
        finally:
            stop_group(proc)
    ok = np.array([s for code, s in answers if code == 200]) * 1000
    codes = {str(c): sum(1 for code, _ in answers if code == c) for c in sorted({c for c, _ in answers})}
    report = {
        "server_args": args.server_args, "server_pythonpath": args.server_pythonpath, "bundle": str(args.bundle),
        "cores": len(os.sched_getaffinity(0)), "cpu": platform.processor() or platform.machine(),
        "requests": args.requests, "concurrency": args.concurrency, "status_counts": codes,
        "throughput_per_s": round(len(ok) / wall, 2), "wall_s": round(wall, 3),
        "p50_ms": round(float(np.percentile(ok, 50)), 1) if len(ok) else None,
        "p95_ms": round(float(np.percentile(ok, 95)), 1) if len(ok) else None,
        "max_ms": round(float(ok.max()), 1) if len(ok) else None,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report))
    print(f"{len(ok)}/{args.requests} answered 200 in {wall:.2f} s: {report['throughput_per_s']} requests/s, "
          f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms; status counts {codes} "
          f"({report['cores']} cores, server args {args.server_args!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
