"""Training the runtime's card segmenter (``cardrec_edge.segment``) on rendered scenes (rule train_segmenter).

1. scenes: ``scenes`` frames rendered by the frame evaluation's own renderer (``cardrec.data.frames.render_frame``),
   every category in turn, from the ``detector`` seed stream (never a val or test frame), at half the config's
   frame size and a third of them 4:3 or 3:4, from the training sets' faces (``data.train_sets``) less the cards
   the frames hold out as unknown; each stored at the segmenter's input size with its cards' faces (not their
   holders) as a soft mask (drawn at ``SUPER`` x and area-averaged: sub-pixel edges);
2. model: ``cardrec.models.segmenter.Segmenter`` on the frame resized by ``segmenter_input``'s rule (the runtime's),
   BCE + Dice against the mask at its output's resolution, AdamW with a one-cycle schedule, mirrored every other
   step, seeded; on a GPU when torch sees one;
3. export: ONNX (input ``frame``, output ``logits``), what the bundle ships.

Whether it earns its place is measured on the held-out frames through the runtime (rule evaluate_frames) and, beside
the classical detector alone, by ``benchmarks/learned_detector.py``.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.segment import INPUT_NAME, OUTPUT_NAME, normalized, small_frame
from tqdm import tqdm

from cardrec.data.augment import stream_seed
from cardrec.data.frames import CATEGORIES, render_frame
from cardrec.data.shards import Shard
from cardrec.errors import ConfigError
from cardrec.evaluation.metrics import unknown_ids
from cardrec.models.segmenter import Segmenter

SUPER = 4       # masks are drawn at this x the input and area-averaged down
STREAM = "detector"

_SCENE: dict = {}  # what each rendering worker needs, inherited by fork


def _scene(n: int) -> tuple[np.ndarray, np.ndarray]:
    s = _SCENE
    rng = stream_seed(s["seed"], STREAM, n)
    h, w = s["frame"][0] // 2, s["frame"][1] // 2
    size = [(h, w), (h, w), (h, round(h * 4 / 3)), (round(h * 4 / 3), h)][int(rng.integers(4))]
    fr = render_frame(s["faces"], lambda r: s["known"][int(r.integers(len(s["known"])))],
                      CATEGORIES[s["categories"][n % len(s["categories"])]], rng, size)
    x = small_frame(fr.rgb, s["size"])
    h, w = x.shape[:2]
    mask = np.zeros((h * SUPER, w * SUPER), np.uint8)
    scale = np.float32([w / size[1], h / size[0]]) * SUPER
    for c in fr.cards:
        q = (np.float32(c["corners"]) + 0.5) * scale - 0.5
        cv2.fillConvexPoly(mask, np.round(q * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    return x, cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)


def render_scenes(faces, known: list[int], count: int, seed: int, frame: tuple[int, int], size: tuple[int, int],
                  workers: int, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scenes ``first`` to ``first + count`` of the stream at the segmenter's ``size``: uint8 frames (N, H, W, 3)
    and face masks (N, H, W)."""
    _SCENE.update(faces=faces, known=known, seed=seed, frame=frame, size=size, categories=list(CATEGORIES))
    with mp.get_context("fork").Pool(max(1, workers)) as pool:
        out = list(tqdm(pool.imap(_scene, range(first, first + count), chunksize=16), total=count, desc="scenes",
                        mininterval=5))
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def train(x: np.ndarray, y: np.ndarray, contract: Preprocess, widths, steps: int, batch: int, lr: float,
          seed: int) -> tuple[Segmenter, list[float]]:
    """The segmenter fitted on scenes ``x`` and masks ``y``; its loss at every step."""
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = Segmenter(tuple(widths)).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=max(0.1, 2 / steps))
    ys = torch.from_numpy(y)[:, None]
    g = torch.Generator().manual_seed(seed)
    losses = []
    for step in tqdm(range(steps), desc="segmenter", mininterval=5):
        i = torch.randint(len(x), (batch,), generator=g)
        xb = torch.from_numpy(normalized(x[i.numpy()], contract)).to(device)  # the runtime's normalisation
        yb = ys[i].to(device).float() / 255
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
        losses.append(loss.item())
    return net.cpu().eval(), losses


def export(net: Segmenter, size: tuple[int, int], out: Path) -> None:
    """ONNX with one (1, 3, H, W) input ``frame`` and one output ``logits``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, *size), str(out), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      opset_version=17, dynamo=False)


def gallery_faces(shard_dirs: list[Path], unknown_fraction: float) -> tuple[list[np.ndarray], list[int]]:
    """The shards' faces and the indices of those not held out as unknown."""
    shards = [Shard.load(d) for d in shard_dirs]
    faces = [row for s in shards for row in s.faces]
    ids = [c["id"] for s in shards for c in s.cards]
    held = unknown_ids(ids, unknown_fraction)
    known = [i for i, c in enumerate(ids) if c not in held]
    if not known:
        raise ConfigError("no card to render scenes of: evaluate.unknown_fraction holds every card out")
    return faces, known


def fit_segmenter(shard_dirs: list[Path], contract: Preprocess, cfg: dict, frame: tuple[int, int], seed: int,
                  unknown_fraction: float, out: Path, workers: int, log=print) -> dict:
    """Render, train and export to ``out``; return the record (``manifest["segmenter"]`` in the bundle: the input
    size and band the runtime reads, and what it was trained on; no timings: the same inputs give the same record)."""
    faces, known = gallery_faces(shard_dirs, unknown_fraction)
    size = tuple(cfg["input"])
    t0 = time.time()
    x, y = render_scenes(faces, known, cfg["scenes"], seed, frame, size, workers)
    log(f"{len(x)} scenes of {len(known)} cards rendered in {time.time() - t0:.0f} s")
    t0 = time.time()
    torch.set_num_threads(max(1, workers))
    net, losses = train(x, y, contract, cfg["widths"], cfg["steps"], cfg["batch"], cfg["lr"], seed)
    export(net, size, out)
    log(f"{cfg['steps']} steps x {cfg['batch']} in {time.time() - t0:.0f} s")
    every = max(1, len(losses) // 100)  # the loss curve in the record: means of up to 100 windows of steps
    curve = [round(float(np.mean(losses[i:i + every])), 4) for i in range(0, len(losses), every)]
    return {"height": size[0], "width": size[1], "band": cfg["band"], "widths": list(cfg["widths"]),
            "scenes": cfg["scenes"], "steps": cfg["steps"], "batch": cfg["batch"], "lr": cfg["lr"], "seed": seed,
            "stream": STREAM, "frame": list(frame), "cards": len(known), "unknown_fraction_held_out": unknown_fraction,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "parameters": sum(t.numel() for t in net.parameters()),
            "final_loss": round(float(np.mean(losses[-100:])), 4) if losses else None, "loss_every": every,
            "loss": curve}


def quantize_segmenter(fp32: Path, shard_dirs: list[Path], contract: Preprocess, cfg: dict, frame: tuple[int, int],
                       seed: int, unknown_fraction: float, out: Path, workers: int, scenes_out: Path) -> dict:
    """The segmenter in INT8 (``cardrec.export.quantize``: static QDQ, as the embedder's CPU model) calibrated on
    ``calibration`` scenes of its stream that follow the training scenes (kept in ``scenes_out``, uint8 NHWC: the
    HEF is calibrated and gated on them too); returns the settings and how often the INT8 mask agrees with the FP32
    one on those scenes (``cardrec.export.segmenter``)."""
    from cardrec.export.segmenter import agreement, mask_gate, onnx_logits
    from cardrec.export.quantize import quantize

    faces, known = gallery_faces(shard_dirs, unknown_fraction)
    size = tuple(cfg["input"])
    x, _ = render_scenes(faces, known, cfg["calibration"], seed, frame, size, workers, first=cfg["scenes"])
    np.save(scenes_out, x)
    at_size = Preprocess(height=size[0], width=size[1], mean=contract.mean, std=contract.std)
    settings = quantize(str(fp32), str(out), x, at_size, input_name=INPUT_NAME)
    agree = agreement(onnx_logits(out, x, contract), onnx_logits(fp32, x, contract))
    mask_gate(agree, cfg["min_mask_agreement"], len(x))
    return {**settings, "scenes_first": cfg["scenes"], "mask_agreement": round(agree, 5),
            "min_mask_agreement": cfg["min_mask_agreement"]}
