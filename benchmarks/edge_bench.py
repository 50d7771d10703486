"""Whole-frame latency at 1280x720 on one core, per stage, measured by ``cardrec-edge bench --threads 1``.

    python benchmarks/edge_bench.py [--frames 40] [--runs 200] [--json out.json] [--keep DIR]
    python benchmarks/edge_bench.py --bundle results/frames/bundle [--without-gate]

The sv1 INT8 bundle is built the way benchmarks/verify_cost.py builds its bundle (edge/tests/edge_support: the
real sv1 faces in ../shared/data, every 9th card held out as an unknown card), at the workflow's shapes: the
default/real contract (128x96), EfficientNet-Lite0 with a 768-d head on ImageNet weights, not trained (the latency
of an INT8 network does not depend on its weights having been trained), quantised to INT8 as rule quantize_onnx
does, indexed as rule reference_index does (config.yaml's ``index``: projection + HNSW), its ``min_inliers``
calibrated on val frames through ``Recognizer.match_crops`` (cardrec.deploy.verification). Then ``--frames``
1280x720 synthetic scenes of one card each (cardrec.data.scenes: textured backgrounds, any rotation, mild
perspective) are written, of gallery cards and of held-out cards, and ``cardrec-edge bench`` runs on each set in
its own process. Prints the per-stage p50/p90 table for the README. Target: whole frame p50 <= 15 ms.

``--bundle``: bench a bundle the workflow built instead (a trained model with its calibration and its orientation
gate; ``results/frames/bundle`` of a real.yaml run holds the unknown cards out): known cards are its own, unknown
ones the sv1 faces it lacks. ``--without-gate``: each set is benched with the bundle as it is and with a copy
without its orientation gate, alternately, twice each (an A/B on one machine at one time).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "edge" / "tests"))  # edge_support: the test bundle builder

from cardrec_edge.bundle import Bundle  # noqa: E402
from cardrec_edge.pipeline import Recognizer  # noqa: E402
from cardrec_edge.verify import VerifyConfig  # noqa: E402
from verify_cost import frame_crops  # noqa: E402

from cardrec.data.scenes import load_face, synthetic_scene  # noqa: E402
from cardrec.deploy.bundle import add_to_manifest  # noqa: E402
from cardrec.deploy.verification import calibrate  # noqa: E402
from edge_support import CONTRACT, SV1_CARDS, build_edge_bundle  # noqa: E402

STAGES = ("detect", "rectify", "quality", "preprocess", "embed", "search", "orientation", "verify", "retry_180",
          "coarse", "brightened", "sharpened", "relocate", "slab_ends", "outline", "halves", "corners", "second_look",
          "segment", "total")
TARGET_MS = 15.0


def sv1_int8_bundle(out: Path, gallery: list[str], unknown: list[str]) -> Path:
    index_cfg = yaml.safe_load((REPO / "config.yaml").read_text())["index"]
    d = build_edge_bundle(out, gallery, threshold=0.5, embed_dim=768, int8=True, index_cfg=index_cfg)
    rec = Recognizer(Bundle.load(d), threads=1, verify=VerifyConfig())
    known, truth, _ = frame_crops(rec, gallery, 120, seed=100)
    unk, _, _ = frame_crops(rec, unknown, 60, seed=200)
    add_to_manifest(d, "verify", calibrate(rec, known, truth, unk, max_false_reject=0.02))
    return d


def without_gate(bundle: Path, out: Path) -> Path:
    """A copy of ``bundle`` without its orientation gate (both orientations verified where one does not verify)."""
    copy = shutil.copytree(bundle, out)
    m = json.loads((copy / "manifest.json").read_text())
    add_to_manifest(copy, "orientation", None)
    (copy / m["files"].pop("orientation")["path"]).unlink()
    add_to_manifest(copy, "files", m["files"])
    return copy


def write_frames(out: Path, card_ids: list[str], n: int, seed: int) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        cid = card_ids[int(rng.integers(len(card_ids)))]
        rgb = synthetic_scene([load_face(SV1_CARDS / f"{cid}.png")], rng, size=(720, 1280)).rgb
        cv2.imwrite(str(out / f"{i:03d}_{cid}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return out


def bench(bundle: Path, frames: Path, runs: int) -> tuple[str, dict]:
    args = ["bench", "--bundle", str(bundle), "--threads", "1", "--runs", str(runs), "--warmup", "10", "--json",
            str(frames)]
    out = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", *args], capture_output=True, text=True,
                         check=True, timeout=1800)
    return "cardrec-edge " + " ".join(args), json.loads(out.stdout)


def table(reports: dict[str, dict]) -> str:
    names = list(reports)
    rows = ["| stage | " + " | ".join(f"{n} p50 / p90 ms (share of frames)" for n in names) + " |",
            "|---|" + "---|" * len(names)]
    for s in STAGES:
        cells = []
        for n in names:
            v = reports[n]["stages"].get(s)
            cells.append("–" if v is None else f"{v['p50_ms']:.2f} / {v['p90_ms']:.2f} ({v['share']:.2f})")
        rows.append(f"| {s} | " + " | ".join(cells) + " |")
    rows.append("| frames/s | " + " | ".join(f"{reports[n]['fps']:.1f}" for n in names) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40, help="distinct 1280x720 frames per set (default: 40)")
    ap.add_argument("--runs", type=int, default=200, help="timed frames per set (default: 200)")
    ap.add_argument("--keep", type=Path, help="keep the bundle and frames in this directory")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--bundle", type=Path, help="bench this workflow-built bundle instead of building one")
    ap.add_argument("--without-gate", action="store_true",
                    help="A/B: also bench a copy of --bundle without its orientation gate")
    args = ap.parse_args()
    ids = sorted((p.stem for p in SV1_CARDS.glob("*.png")), key=lambda s: int(s.split("-")[1]))
    if args.bundle:
        gallery = [c["id"] for c in Bundle.load(args.bundle).card_table() if c["id"] in ids]
        unknown = [c for c in ids if c not in set(gallery)]
    else:
        unknown = ids[3::9]
        gallery = [c for c in ids if c not in unknown]
    tmp = Path(tempfile.mkdtemp()) if args.keep is None else args.keep
    try:
        bundle = args.bundle or sv1_int8_bundle(tmp, gallery, unknown)
        bundles = {"": bundle}
        if args.without_gate:
            bundles = {", gate": bundle, ", no gate": without_gate(bundle, tmp / "no_gate")}
        sets = {"known cards": write_frames(tmp / "frames_known", gallery, args.frames, seed=500),
                "unknown cards": write_frames(tmp / "frames_unknown", unknown, args.frames, seed=600)}
        commands, reports = {}, {}
        for name, frames in sets.items():
            for rep in range(2 if args.without_gate else 1):
                for tag, b in bundles.items():
                    key = f"{name}{tag}" + (f" #{rep + 1}" if args.without_gate else "")
                    commands[key], reports[key] = bench(b, frames, args.runs)
        manifest = json.loads((bundle / "manifest.json").read_text())
        res = {"contract": CONTRACT.to_dict(), "cards": len(gallery), "model_variant": manifest["model_variant"],
               "min_inliers": manifest["verify"]["min_inliers"], "commands": commands, "reports": reports,
               "target_total_p50_ms": TARGET_MS}
        print(json.dumps(res, indent=1))
        print(table(reports))
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
