"""A learned card segmenter against the classical detector, on the workflow's held-out whole frames.

    python benchmarks/learned_detector.py --shards results/preprocess --frames results/frames/val \
        [--config config/real.yaml ...] [--scenes 12000] [--steps 4000] [--widths 12 24 48 64] [--json OUT]

Issue 15 names the direction peer scanners took: a small network, trained on rendered scenes, that finds the cards,
with the classical quad fit refining its corners. This trains one and measures whether it earns its place:

1. scenes: ``--scenes`` frames rendered by the evaluation's own renderer (``cardrec.data.frames.render_frame``), every
   category in turn, in their own seed stream (``detector``: never a val or test frame), at half the config's frame
   size and in portrait and 4:3 too, from the gallery's faces only (the cards the frames hold out as unknown are
   left out);
2. model: a U-Net of four stride-2 levels (``--widths``) on the frame resized to ``--input`` (area averaging, the
   contract's mean and std), predicting each card's face (not its holder) at half that resolution; BCE + Dice,
   AdamW, one-cycle schedule, seeded; on a GPU when torch sees one;
3. detection: the model's mask at the search scale, its outline widened by ``--band`` px either side, restricts
   the classical search's edge map (``find_cards(band=...)``): clutter, holders and a slab's label lie outside it.
   ``band`` is that search alone; ``union`` adds every classical quad that overlaps none of its quads, ``fill``
   every banded quad that overlaps no classical one (the classical detector with the model filling in).

Printed per category: the share of fully visible cards detected (every corner within ``frames.max_corner_error`` of
the diagonal) by the classical detector, ``band``, ``union`` and ``fill``; then p50 CPU ms per frame at one thread of
the model (onnxruntime, the exported ONNX), the banded search and the classical one. That is the detector alone.

``--bundle`` (a run's ``results/frames/bundle``) then runs ``cardrec-edge identify`` on the frames as shipped (the
workflow's ``evaluate_frames``) and again with the banded quads it left open answered by the runtime itself, kept
where they verify (``verified``): the whole-frame figures of both, overall and in mixed scenes, and what answering
those quads costs per frame. With ``--unsettled`` only the frames the shipped runtime took a second look at get
the segmenter and the answers (as a runtime would run it), and the cost per frame counts all three there.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from cardrec_edge.bundle import Bundle
from cardrec_edge.detect import DETECT_LONG_SIDE, Detection, find_cards
from cardrec_edge.pipeline import SECOND_LOOK_INLIERS, Recognizer, _overlapping  # the runtime's own test
from cardrec_edge.sources import load_image
from frame_detection import card_faces, table
from torch import nn
from tqdm import tqdm

from cardrec.config import load_config
from cardrec.data.augment import stream_seed
from cardrec.data.frames import CATEGORIES, render_frame
from cardrec.errors import ConfigError
from cardrec.evaluation.frames import identify_frames, score
from cardrec.evaluation.metrics import unknown_ids

REPO = Path(__file__).resolve().parents[1]
METHODS = ("classical", "band", "union", "fill")
WHOLE = ("detection", "top1", "wrong", "false_reject", "abstain", "unknown_reject", "spurious")
SUPER = 4   # the mask is drawn at this x the model's input and area-averaged down: soft, sub-pixel edges


def _block(i: int, o: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(o),
                         nn.ReLU(inplace=True))


class Segmenter(nn.Module):
    """Card-face logits at half the input's resolution (plain convolutions, bilinear upsampling, concatenation:
    what ONNX, INT8 and the Hailo compiler all take)."""

    def __init__(self, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        a, b, c, d = widths
        self.e1 = _block(3, a, 2)
        self.e2 = nn.Sequential(_block(a, b, 2), _block(b, b))
        self.e3 = nn.Sequential(_block(b, c, 2), _block(c, c))
        self.e4 = nn.Sequential(_block(c, d, 2), _block(d, d, dilation=2), _block(d, d, dilation=4))
        self.d3, self.d2, self.d1 = _block(d + c, c), _block(c + b, b), _block(b + a, a)
        self.head = nn.Conv2d(a, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.e1(x)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        y = self.e4(x3)
        for dec, skip in ((self.d3, x3), (self.d2, x2), (self.d1, x1)):
            y = dec(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.head(y)


class Inputs:
    """The frame as the model sees it: resized to (height, width) by area averaging, RGB, the contract's mean/std."""

    def __init__(self, size: tuple[int, int], mean, std) -> None:
        self.size = size
        self.mean, self.std = np.float32(mean) * 255, np.float32(std) * 255

    def small(self, rgb: np.ndarray) -> np.ndarray:
        """The frame at the model's size (uint8 RGB: what the training scenes store)."""
        h, w = self.size
        return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return ((self.small(rgb).astype(np.float32) - self.mean) / self.std).transpose(2, 0, 1)


# --- training scenes (a worker process each; the faces are inherited by fork) ------------------------------

_SCENE: dict = {}


def _scene(n: int) -> tuple[np.ndarray, np.ndarray]:
    s = _SCENE
    rng = stream_seed(s["seed"], "detector", n)
    cats = list(CATEGORIES)
    h, w = s["frame"][0] // 2, s["frame"][1] // 2            # half the frames' size; a third of the scenes 4:3 or 3:4
    size = [(h, w), (h, w), (h, round(h * 4 / 3)), (round(h * 4 / 3), h)][int(rng.integers(4))]
    fr = render_frame(s["faces"], lambda r: s["known"][int(r.integers(len(s["known"])))],
                      CATEGORIES[cats[n % len(cats)]], rng, size)
    x = s["inputs"].small(fr.rgb)
    h, w = x.shape[:2]
    mask = np.zeros((h * SUPER, w * SUPER), np.uint8)
    scale = np.float32([w / size[1], h / size[0]]) * SUPER
    for c in fr.cards:
        q = (np.float32(c["corners"]) + 0.5) * scale - 0.5
        cv2.fillConvexPoly(mask, np.round(q * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    return x, cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)


def render_scenes(faces, known: list[int], count: int, seed: int, frame: tuple[int, int], inputs: Inputs,
                  workers: int) -> tuple[np.ndarray, np.ndarray]:
    _SCENE.update(faces=faces, known=known, seed=seed, frame=frame, inputs=inputs)
    with mp.get_context("fork").Pool(workers) as pool:
        out = list(tqdm(pool.imap(_scene, range(count), chunksize=16), total=count, desc="scenes", mininterval=5))
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def train(x: np.ndarray, y: np.ndarray, inputs: Inputs, widths, steps: int, batch: int, lr: float,
          seed: int) -> tuple[Segmenter, list[float]]:
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")   # a GPU when there is one
    net = Segmenter(widths).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    mean = torch.from_numpy(inputs.mean)[:, None, None].to(device)
    std = torch.from_numpy(inputs.std)[:, None, None].to(device)
    xs, ys = torch.from_numpy(x).permute(0, 3, 1, 2), torch.from_numpy(y)[:, None]
    g = torch.Generator().manual_seed(seed)
    losses = []
    for step in tqdm(range(steps), desc="segmenter", mininterval=5):
        i = torch.randint(len(xs), (batch,), generator=g)
        xb, yb = (xs[i].to(device).float() - mean) / std, ys[i].to(device).float() / 255
        if step % 2:
            xb, yb = xb.flip(-1), yb.flip(-1)
        logits = net(xb)
        yb = F.interpolate(yb, size=logits.shape[-2:], mode="area")
        p = torch.sigmoid(logits)
        dice = 1 - (2 * (p * yb).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + yb.sum((1, 2, 3)) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, yb) + dice.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
    return net.cpu().eval(), losses


# --- detection ----------------------------------------------------------------------------------------------

def band_of(logits: np.ndarray, frame_hw: tuple[int, int], radius: int) -> np.ndarray:
    """The model's card outlines, ``radius`` px either side, at the classical search's scale."""
    h, w = frame_hw
    s = DETECT_LONG_SIDE / max(h, w)
    mask = (cv2.resize(logits, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR) > 0).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.subtract(cv2.dilate(mask * 255, k), cv2.erode(mask * 255, k))


def union(first: list[Detection], then: list[Detection]) -> list[Detection]:
    """``first``'s quads and every one of ``then`` overlapping none of them (``_overlapping``: the runtime's test)."""
    out = list(first) + [d for d in then if not any(_overlapping(d.corners, b.corners) for b in first)]
    return sorted(out, key=lambda d: -d.area)


def evaluate(frames: Path, model: Path, inputs: Inputs, radius: int) -> tuple[dict, dict]:
    """Predictions per method (file -> {"cards": [...]}, as scored) and CPU ms per frame per stage."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    labels = json.loads((frames / "labels.json").read_text())
    preds: dict[str, dict] = {k: {} for k in METHODS}
    ms: dict[str, list[float]] = {k: [] for k in ("model", "banded search", "classical search")}
    for fr in tqdm(labels["frames"], desc="frames", mininterval=5):
        rgb = load_image(frames / fr["file"])
        t0 = time.process_time()
        logits = session.run(None, {"frame": inputs(rgb)[None]})[0][0, 0]
        band = band_of(logits, rgb.shape[:2], radius)
        t1 = time.process_time()
        banded = find_cards(rgb, band=band)
        t2 = time.process_time()
        classical = find_cards(rgb)
        t3 = time.process_time()
        for k, v in zip(ms, (t1 - t0, t2 - t1, t3 - t2)):
            ms[k].append(v * 1e3)
        for k, dets in zip(METHODS, (classical, banded, union(banded, classical), union(classical, banded))):
            preds[k][fr["file"]] = {"cards": [{"corners": d.corners.tolist(), "status": "found", "card_id": None,
                                               "full_frame": d.full_frame} for d in dets]}
    return preds, ms


def verified(bundle: Path, frames: Path, banded: dict[str, dict],
             unsettled: bool = False) -> tuple[dict, dict, dict[str, float]]:
    """``cardrec-edge identify`` on the frames as shipped, and with the banded quads it left open answered too: each
    banded quad overlapping no identified card goes through ``Recognizer.identify_quads`` (the runtime's answer at
    a given quad); one identified on ``SECOND_LOOK_INLIERS`` x ``min_inliers`` (the bar a second look's new quad
    meets) replaces what overlaps it, one not identified is added where nothing was reported. ``unsettled``: only
    in the frames the shipped runtime took a second look at (``second_look`` in its ``timings_ms``: no card found,
    or one found by a weak outline left unverified, or an outline apart from every card). Returns both predictions
    and, per frame whose banded quads were answered, the CPU ms answering them added."""
    shipped = identify_frames(bundle, frames, 1)
    rec = Recognizer(Bundle.load(bundle), threads=1)
    bar = SECOND_LOOK_INLIERS * rec.verifier.cfg.min_inliers if rec.verifier else 0
    combined, ms = {}, {}
    for name, found in tqdm(banded.items(), desc="verified", mininterval=5):
        cards = list(shipped.get(name, {}).get("cards", []))
        if unsettled and "second_look" not in shipped.get(name, {}).get("timings_ms", {}):
            combined[name] = {"cards": cards}
            continue
        quads = [d["corners"] for d in found["cards"]
                 if not any(c["status"] == "identified" and _overlapping(d["corners"], c["corners"]) for c in cards)]
        t0 = time.process_time()
        answers = [r.to_json() for r in rec.identify_quads(load_image(frames / name), quads)] if quads else []
        ms[name] = (time.process_time() - t0) * 1e3
        for a in answers:
            if a["status"] == "identified" and a["inliers"] >= bar:
                cards = [c for c in cards if not _overlapping(c["corners"], a["corners"])] + [a]
            elif a["status"] != "identified" and not any(_overlapping(c["corners"], a["corners"]) for c in cards):
                cards.append(a)
        combined[name] = {"cards": cards}
    return shipped, combined, ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--config", action="append", default=[], metavar="FILE",
                    help="config overlay(s) on config.yaml, as snakemake --configfile (repeatable)")
    ap.add_argument("--shards", type=Path, help="a workflow run's results/preprocess (default: the config's "
                    "synthetic sets, drawn in memory)")
    ap.add_argument("--frames", type=Path, required=True, help="a workflow run's results/frames/val (or test)")
    ap.add_argument("--scenes", type=int, default=12000, help="training scenes (default 12000)")
    ap.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
    ap.add_argument("--batch", type=int, default=16, help="scenes per step (default 16)")
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
    ap.add_argument("--widths", type=int, nargs=4, default=[12, 24, 48, 64], help="channels per level")
    ap.add_argument("--input", type=int, nargs=2, default=[144, 256], metavar=("H", "W"),
                    help="the model's input size (default 144 256)")
    ap.add_argument("--band", type=int, default=8, help="outline band half-width, px at the search scale")
    ap.add_argument("--seed", type=int, default=0, help="scene and training seed (default 0)")
    ap.add_argument("--workers", type=int, default=mp.cpu_count(), help="scene rendering processes")
    ap.add_argument("--onnx", type=Path, help="keep the exported model here")
    ap.add_argument("--model", type=Path, help="measure this exported segmenter (an earlier run's --onnx, trained with "
                    "the same --input) instead of training one")
    ap.add_argument("--bundle", type=Path, metavar="DIR", help="also answer the banded quads the shipped runtime "
                    "left open with this bundle (a run's results/frames/bundle) and compare the whole-frame figures")
    ap.add_argument("--unsettled", action="store_true", help="with --bundle: run the segmenter and answer its quads "
                    "only on the frames the shipped runtime took a second look at (the cost is then per frame of "
                    "all frames, 0 on the others)")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the figures here")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(REPO, args.config)
        if not (args.frames / "labels.json").exists():
            raise ConfigError(f"--frames {args.frames}: no labels.json (a workflow run's results/frames/<split>)")
        with tempfile.TemporaryDirectory() as tmp:
            p = cfg["preprocess"]
            inputs = Inputs(tuple(args.input), p["mean"], p["std"])
            t0 = time.time()
            trained = None
            if args.model is None:
                faces, ids = card_faces(cfg, args.shards, Path(tmp) / "cards")
                held = unknown_ids(ids, cfg["evaluate"]["unknown_fraction"])
                known = [i for i, c in enumerate(ids) if c not in held]
                x, y = render_scenes(faces, known, args.scenes, args.seed, tuple(cfg["frames"]["size"]), inputs,
                                     args.workers)
                t1 = time.time()
                torch.set_num_threads(args.workers)
                trained = train(x, y, inputs, tuple(args.widths), args.steps, args.batch, args.lr, args.seed)
                onnx = args.onnx or Path(tmp) / "segmenter.onnx"
                torch.onnx.export(trained[0], torch.zeros(1, 3, *inputs.size), str(onnx), input_names=["frame"],
                                  output_names=["logits"], opset_version=17, dynamo=False)
                t2 = time.time()
            onnx = args.model or onnx
            cv2.setNumThreads(1)
            preds, ms = evaluate(args.frames, onnx, inputs, args.band)
            model_bytes = onnx.stat().st_size
            whole = verified(args.bundle, args.frames, preds["band"], args.unsettled) if args.bundle else None
    except (ConfigError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    labels = json.loads((args.frames / "labels.json").read_text())
    mce = cfg["frames"]["max_corner_error"]
    rows = {k: table(score(labels, p, mce)) for k, p in preds.items()}
    record = {"model": str(args.model) if args.model else None, "onnx_bytes": model_bytes}
    if trained:
        net, losses = trained
        record.update(scenes=args.scenes, steps=args.steps, batch=args.batch, lr=args.lr, widths=args.widths,
                      seed=args.seed, device="cuda" if torch.cuda.is_available() else "cpu",
                      parameters=sum(t.numel() for t in net.parameters()),
                      final_loss=round(float(np.mean(losses[-100:])), 4), scene_seconds=round(t1 - t0, 1),
                      train_seconds=round(t2 - t1, 1))
        print(f"segmenter {args.widths} on {args.input[0]}x{args.input[1]} ({record['parameters']} parameters, "
              f"{model_bytes} bytes of ONNX): {args.scenes} scenes in {t1 - t0:.0f} s, {args.steps} steps x "
              f"{args.batch} in {t2 - t1:.0f} s on the {record['device']} (loss, mean of the last 100 steps: "
              f"{record['final_loss']})")
    print(f"{args.frames}: {len(labels['frames'])} frames, {args.model or 'the segmenter trained above'}")
    print(f"detected (every corner within {mce:.0%} of the diagonal), band {args.band} px:")
    print(f"{'category':16s} {'visible':>7s}" + "".join(f" {k:>9s}" for k in METHODS))
    for i, r in enumerate(rows["classical"]):
        rates = [rows[k][i]["detection"] for k in METHODS]
        print(f"{r['category']:16s} {r['visible']:7d}" + "".join(f" {'-' if v is None else f'{v:.3f}':>9s}"
                                                                for v in rates))
    p50 = {k: round(float(np.median(v)), 2) for k, v in ms.items()}
    figures = gated = None
    if whole:
        shipped, combined, answered = whole
        files = [fr["file"] for fr in labels["frames"]]
        extra = [answered.get(f, 0.0) for f in files]
        p50["answering banded quads"] = round(float(np.median(extra)), 2)   # most frames leave none open:
        p50["answering banded quads, mean"] = round(float(np.mean(extra)), 2)  # the mean says what they cost
        if args.unsettled:  # the model, its search and the answers cost only the frames they ran on
            added = [ms["model"][i] + ms["banded search"][i] + answered[f] for i, f in enumerate(files)
                     if f in answered]
            gated = {"frames": len(added), "mean_ms_all_frames": round(float(np.sum(added)) / len(files), 2),
                     "p50_ms_frames_run": round(float(np.median(added)), 2) if added else 0.0}
            print(f"segmenter run on {gated['frames']} of {len(files)} frames (second look taken): it adds "
                  f"{gated['mean_ms_all_frames']} CPU ms per frame on average, {gated['p50_ms_frames_run']} ms p50 "
                  "on the frames it ran on")
        figures = {k: score(labels, p, mce) for k, p in (("shipped", shipped), ("verified", combined))}
        print(f"cardrec-edge identify --bundle {args.bundle}: as shipped / with the banded quads it left open "
              "answered and kept where they verify")
        for group in ("overall", "mixed"):
            a, b = (figures[k]["overall"] if group == "overall" else figures[k]["categories"].get(group, {})
                    for k in ("shipped", "verified"))
            print(f"  {group}: " + ", ".join(f"{k} {a.get(k)} / {b.get(k)}" for k in WHOLE))
    print("p50 CPU ms per frame at 1 thread: " + ", ".join(f"{k} {v}" for k, v in p50.items()))
    if args.json:
        args.json.write_text(json.dumps({
            "frames": str(args.frames), "config": args.config, "input": args.input, "band": args.band, **record,
            "p50_cpu_ms": p50, "unsettled_only": gated,
            "torch": torch.__version__, "onnxruntime": ort.__version__, "opencv": cv2.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "detection": rows,
            "identify": figures and {"bundle": str(args.bundle), **{k: {"overall": f["overall"],
                                                                      "categories": f["categories"]}
                                                                  for k, f in figures.items()}}}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
