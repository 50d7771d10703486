"""The runtime's learned card segmenter against the classical detector alone, on the workflow's held-out frames.

    python benchmarks/learned_detector.py --frames results/frames/test [--bundle results/frames/bundle]
        [--model segmenter.onnx | --shards results/preprocess] [--config config/real.yaml ...] [--json OUT]

The segmenter (``cardrec_edge.segment``; rule train_segmenter, ``cardrec.training.segmenter``) is a small network
trained on rendered scenes that sees where the cards' faces are; the classical search then looks only in a band
around its outlines (``find_cards(band=...)``), where clutter, holders and a slab's label are not. Which segmenter:
``--model`` (an exported ONNX), else the bundle's (``--bundle``), else one trained here with the config's
``segmenter`` section on the faces of ``--shards`` (or the config's synthetic sets), as the rule trains it.

1. detection alone: per category, the share of fully visible cards detected (every corner within
   ``frames.max_corner_error`` of the diagonal) by the classical detector, ``band`` (the banded search alone),
   ``union`` (banded quads and every classical quad overlapping none of them) and ``fill`` (classical quads and
   every banded one overlapping none) and ``mask`` (quads from the segmenter's mask alone, ``mask_quads``: how far
   the mask places corners without the classical search); p50 CPU ms per frame at one thread of the model, the
   banded search and the classical one;
2. ``--bundle`` (a run's ``results/frames/bundle``): ``cardrec-edge identify`` on the frames (the workflow's
   ``evaluate_frames``) with ``--no-segmenter`` and with the segmenter, which the runtime runs only on frames still
   unsure after its second look; the whole-frame figures of both, overall and in mixed scenes, and what the
   ``segment`` stage costs: on average per frame, and p50 on the frames it ran on.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
from cardrec_edge.bundle import Bundle, sha256_file
from cardrec_edge.detect import Detection, find_cards
from cardrec_edge.pipeline import _overlapping  # the runtime's own test
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.segment import CardSegmenter, band_of, mask_quads
from cardrec_edge.sources import load_image
from frame_detection import card_faces, frames_parser, table
from tqdm import tqdm

from cardrec.config import load_config
from cardrec.deploy.bundle import add_to_manifest
from cardrec.errors import ConfigError
from cardrec.evaluation.frames import identify_frames, score
from cardrec.evaluation.metrics import unknown_ids
from cardrec.training.segmenter import export, render_scenes, train

REPO = Path(__file__).resolve().parents[1]
METHODS = ("classical", "band", "union", "fill", "mask")
WHOLE = ("detection", "top1", "wrong", "false_reject", "abstain", "unknown_reject", "spurious")


def union(first: list[Detection], then: list[Detection]) -> list[Detection]:
    """``first``'s quads and every one of ``then`` overlapping none of them (``_overlapping``: the runtime's test)."""
    out = list(first) + [d for d in then if not any(_overlapping(d.corners, b.corners) for b in first)]
    return sorted(out, key=lambda d: -d.area)


def evaluate(frames: Path, segmenter: CardSegmenter) -> tuple[dict, dict]:
    """Predictions per method (file -> {"cards": [...]}, as scored) and CPU ms per frame per stage."""
    labels = json.loads((frames / "labels.json").read_text())
    preds: dict[str, dict] = {k: {} for k in METHODS}
    ms: dict[str, list[float]] = {k: [] for k in ("model", "banded search", "classical search")}
    for fr in tqdm(labels["frames"], desc="frames", mininterval=5):
        rgb = load_image(frames / fr["file"])
        t0 = time.process_time()
        logits = segmenter.logits(rgb)
        band = band_of(logits, rgb.shape[:2], segmenter.radius)
        t1 = time.process_time()
        banded = find_cards(rgb, band=band)
        t2 = time.process_time()
        classical = find_cards(rgb)
        t3 = time.process_time()
        for k, v in zip(ms, (t1 - t0, t2 - t1, t3 - t2)):
            ms[k].append(v * 1e3)
        for k, dets in zip(METHODS, (classical, banded, union(banded, classical), union(classical, banded),
                                     mask_quads(logits, rgb))):
            preds[k][fr["file"]] = {"cards": [{"corners": d.corners.tolist(), "status": "found", "card_id": None,
                                               "full_frame": d.full_frame} for d in dets]}
    return preds, ms


def with_segmenter(bundle: Path, model: Path, spec: dict, out: Path) -> Path:
    """A copy of ``bundle`` at ``out`` shipping ``model`` as its segmenter (manifest re-signed)."""
    shutil.copytree(bundle, out)
    shutil.copyfile(model, out / "segmenter.onnx")
    files = json.loads((out / "manifest.json").read_text())["files"]
    files["segmenter"] = {"path": "segmenter.onnx", "sha256": sha256_file(out / "segmenter.onnx"),
                          "bytes": (out / "segmenter.onnx").stat().st_size}
    add_to_manifest(out, "files", files)
    add_to_manifest(out, "segmenter", spec)
    return out


def whole_frames(bundle: Path, frames: Path) -> tuple[dict, dict, list[float], int]:
    """``cardrec-edge identify`` on the frames without and with the bundle's segmenter; the ``segment`` stage's ms
    per frame (0 where it did not run) and on how many frames it ran."""
    plain = identify_frames(bundle, frames, 1, ["--no-segmenter"])
    shipped = identify_frames(bundle, frames, 1)
    seg = [shipped[f].get("timings_ms", {}).get("segment") for f in sorted(shipped)]
    return plain, shipped, [v or 0.0 for v in seg], sum(v is not None for v in seg)


def main(argv: list[str] | None = None) -> int:
    ap = frames_parser(__doc__)
    ap.add_argument("--frames", type=Path, required=True, help="a workflow run's results/frames/val (or test)")
    ap.add_argument("--bundle", type=Path, metavar="DIR", help="a run's results/frames/bundle: also compare "
                    "cardrec-edge identify on the frames without and with the segmenter")
    ap.add_argument("--model", type=Path, help="measure this exported segmenter (input size and band from the "
                    "config's segmenter section) instead of the bundle's")
    ap.add_argument("--shards", type=Path, help="without --model or a bundle's segmenter: train one on this run's "
                    "results/preprocess (default: the config's synthetic sets, drawn in memory)")
    ap.add_argument("--workers", type=int, default=mp.cpu_count(), help="scene rendering and training threads")
    ap.add_argument("--onnx", type=Path, help="keep the segmenter trained here at this path")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(REPO, args.config)
        if not (args.frames / "labels.json").exists():
            raise ConfigError(f"--frames {args.frames}: no labels.json (a workflow run's results/frames/<split>)")
        shipped = Bundle.load(args.bundle) if args.bundle else None
        p, seg_cfg = cfg["preprocess"], cfg["segmenter"]
        contract = Preprocess(mean=tuple(p["mean"]), std=tuple(p["std"]))
        spec = {"height": seg_cfg["input"][0], "width": seg_cfg["input"][1], "band": seg_cfg["band"]}
        with tempfile.TemporaryDirectory() as tmp:
            record = {}
            if args.model:
                model = args.model
            elif shipped and shipped.segmenter:
                model, spec = shipped.segmenter, shipped.manifest["segmenter"]
            else:
                faces, ids = card_faces(cfg, args.shards, Path(tmp) / "cards")
                held = unknown_ids(ids, cfg["evaluate"]["unknown_fraction"])
                known = [i for i, c in enumerate(ids) if c not in held]
                t0 = time.time()
                x, y = render_scenes(faces, known, seg_cfg["scenes"], cfg["seed"], tuple(cfg["frames"]["size"]),
                                     tuple(seg_cfg["input"]), args.workers)
                t1 = time.time()
                torch.set_num_threads(args.workers)
                net, losses = train(x, y, contract, seg_cfg["widths"], seg_cfg["steps"], seg_cfg["batch"],
                                    seg_cfg["lr"], cfg["seed"])
                model = args.onnx or Path(tmp) / "segmenter.onnx"
                export(net, tuple(seg_cfg["input"]), model)
                record = {"trained": {**seg_cfg, "seed": cfg["seed"], "final_loss": round(float(np.mean(
                    losses[-100:])), 4), "scene_seconds": round(t1 - t0, 1), "train_seconds": round(time.time() - t1,
                                                                                                    1)}}
                print(f"segmenter trained here: {record['trained']}")
            cv2.setNumThreads(1)
            preds, ms = evaluate(args.frames, CardSegmenter(model, spec, contract, threads=1))
            record.update(model=str(model), onnx_bytes=model.stat().st_size, **spec)
            whole = None
            if shipped:
                bundle = args.bundle if model == shipped.segmenter else with_segmenter(
                    args.bundle, model, spec, Path(tmp) / "bundle")
                whole = whole_frames(bundle, args.frames)
    except (ConfigError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    labels = json.loads((args.frames / "labels.json").read_text())
    mce = cfg["frames"]["max_corner_error"]
    rows = {k: table(score(labels, p, mce)) for k, p in preds.items()}
    print(f"{args.frames}: {len(labels['frames'])} frames, segmenter {record['model']}")
    print(f"detected (every corner within {mce:.0%} of the diagonal), band {spec['band']} px:")
    print(f"{'category':16s} {'visible':>7s}" + "".join(f" {k:>9s}" for k in METHODS))
    for i, r in enumerate(rows["classical"]):
        rates = [rows[k][i]["detection"] for k in METHODS]
        print(f"{r['category']:16s} {r['visible']:7d}" + "".join(f" {'-' if v is None else f'{v:.3f}':>9s}"
                                                                for v in rates))
    p50 = {k: round(float(np.median(v)), 2) for k, v in ms.items()}
    print("detection alone, p50 CPU ms per frame at 1 thread: " + ", ".join(f"{k} {v}" for k, v in p50.items()))
    figures = cost = None
    if whole:
        plain, with_seg, seg_ms, ran = whole
        figures = {k: score(labels, v, mce) for k, v in (("no_segmenter", plain), ("segmenter", with_seg))}
        run = [v for v in seg_ms if v]
        cost = {"frames_run": ran, "frames": len(seg_ms), "mean_ms_all_frames": round(float(np.mean(seg_ms)), 2),
                "p50_ms_frames_run": round(float(np.median(run)), 2) if run else 0.0}
        print(f"cardrec-edge identify --bundle {args.bundle}: --no-segmenter / with the segmenter")
        for group in ("overall", "mixed"):
            a, b = (figures[k]["overall"] if group == "overall" else figures[k]["categories"].get(group, {})
                    for k in ("no_segmenter", "segmenter"))
            print(f"  {group}: " + ", ".join(f"{k} {a.get(k)} / {b.get(k)}" for k in WHOLE))
        print(f"segment stage (wall ms, 1 thread): ran on {ran} of {len(seg_ms)} frames, "
              f"{cost['mean_ms_all_frames']} ms per frame on average, {cost['p50_ms_frames_run']} ms p50 where it ran")
    if args.json:
        args.json.write_text(json.dumps({
            "frames": str(args.frames), "config": args.config, **record, "p50_cpu_ms": p50, "segment_stage": cost,
            "torch": torch.__version__, "onnxruntime": ort.__version__, "opencv": cv2.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "detection": rows,
            "identify": figures and {"bundle": str(args.bundle), **{k: {"overall": f["overall"],
                                                                      "categories": f["categories"]}
                                                                  for k, f in figures.items()}}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
