"""Training the runtime's corner refiner (``cardrec_edge.corners``) on rendered frames (rule train_corner_refiner).

1. frames: ``scenes`` frames of the ``detector`` seed stream from ``FIRST_SCENE`` on (past the segmenter's scenes;
   never a val or test frame), every category in turn, at the config's frame size, from the training sets' faces less
   the cards the frames hold out as unknown; each fully visible card seen from ``perturb`` rough quads: its true
   corners scaled about its centre by up to ``SCALE`` (a border, a holder) in half of them, then each corner moved by
   ``JITTER`` of the diagonal (Gaussian);
2. model: ``CornerNet`` on each rough quad's four corner patches (``corner_patches``, the runtime's), where the true
   corner lies in each (``to_patch``), smooth L1, AdamW with a one-cycle schedule, patches mirrored about their
   diagonal every other step at random, seeded; on a GPU when torch sees one;
3. export: ONNX (input ``patches``, output ``corners``), what the bundle ships.

What it earns is measured on the held-out frames through the runtime (rule evaluate_frames) and, beside the
detector alone, by ``benchmarks/corner_refiner.py``.
"""
from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import torch
from cardrec_edge.corners import INPUT_NAME, OUTPUT_NAME, Pyramid, corner_patches, patch_input, to_patch
from cardrec_edge.detect import order_corners
from torch import nn
from tqdm import tqdm

from cardrec.data.augment import stream_seed
from cardrec.data.frames import CATEGORIES, render_frame
from cardrec.training.segmenter import STREAM, gallery_faces

FIRST_SCENE = 50_000   # the training frames' first index in the detector stream (the segmenter's scenes come before)
SCALE = 0.08           # a rough quad is scaled about the card's centre by up to this, in half of the quads ...
JITTER = 0.025         # ... and each corner moved by this x the diagonal (Gaussian sigma)
LIMIT = 0.6            # targets are clipped to this far from a patch's middle (units of its span)


def perturbed(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """A rough quad for the true corners ``t`` (the detector's kinds of error: a border or a holder, then noise)."""
    q = t.copy()
    if rng.random() < 0.5:
        c = t.mean(axis=0)
        q = c + (q - c) * (1 + rng.uniform(-SCALE, SCALE))
    return (q + rng.normal(0, JITTER, (4, 2)) * float(np.linalg.norm(t[2] - t[0]))).astype(np.float32)


_JOB: dict = {}  # what each rendering worker needs, inherited by fork


def _frame_samples(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    s = _JOB
    rng = stream_seed(s["seed"], STREAM, n)
    fr = render_frame(s["faces"], lambda r: s["known"][int(r.integers(len(s["known"])))],
                      CATEGORIES[s["categories"][n % len(s["categories"])]], rng, s["frame"])
    pyr, x, y = Pyramid(fr.rgb), [], []
    for card in fr.cards:
        if not card["fully_visible"]:
            continue
        t = order_corners(np.float32(card["corners"]))
        for _ in range(s["perturb"]):
            q = perturbed(rng, t)
            patches, px, a, b = corner_patches(pyr, q, s["size"], s["span"])
            x.append(patches)
            y.append(to_patch(t, q, px, a, b))
    return x, y


def training_patches(faces, known: list[int], cfg: dict, seed: int, frame: tuple[int, int],
                     workers: int, first: int = FIRST_SCENE, count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Corner patches (N, size, size, 3) uint8 and where the true corner lies in each (N, 2), from ``count``
    (default ``scenes``) frames of the stream from index ``first``."""
    _JOB.update(faces=faces, known=known, seed=seed, frame=frame, perturb=cfg["perturb"], size=cfg["size"],
                span=cfg["span"], categories=list(CATEGORIES))
    count = cfg["scenes"] if count is None else count
    with mp.get_context("fork").Pool(max(1, workers)) as pool:
        out = list(tqdm(pool.imap(_frame_samples, range(first, first + count), chunksize=8),
                        total=count, desc="frames", mininterval=5))
    x = [p for xs, _ in out for quad in xs for p in quad]
    y = [v for _, ys in out for quad in ys for v in quad]
    return np.stack(x), np.clip(np.stack(y), -LIMIT, LIMIT).astype(np.float32)


def _block(i: int, o: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class CornerNet(nn.Module):
    """Where the card's corner lies in each corner patch (N, 3, size, size; ``patch_input``): (N, 2), span units."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(_block(3, 24, 1), _block(24, 32, 2), _block(32, 48, 2), _block(48, 64, 2),
                                      _block(64, 64, 1))
        self.head = nn.Linear(64 * (size // 8) ** 2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def train(x: np.ndarray, y: np.ndarray, cfg: dict, seed: int) -> tuple[CornerNet, list[float]]:
    """The refiner fitted on patches ``x`` and targets ``y``; the mean loss of each epoch."""
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = CornerNet(cfg["size"]).to(device)
    xt, yt = torch.from_numpy(patch_input(x)), torch.from_numpy(y)
    batch = min(cfg["batch"], len(xt))
    steps = cfg["epochs"] * (len(xt) // batch)
    opt = torch.optim.AdamW(net.parameters(), cfg["lr"], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg["lr"], total_steps=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in tqdm(range(cfg["epochs"]), desc="epochs"):
        net.train()
        order, total = torch.randperm(len(xt), generator=gen), []
        for i in range(0, len(order) - batch + 1, batch):
            xb, yb = xt[order[i:i + batch]].to(device), yt[order[i:i + batch]].to(device)
            if torch.rand(1, generator=gen) < 0.5:                   # the corner mirrored about its diagonal
                xb, yb = xb.transpose(2, 3), yb.flip(1)
            loss = nn.functional.smooth_l1_loss(net(xb), yb, beta=0.02)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total.append(loss.item())
        losses.append(round(float(np.mean(total)), 5))
    return net.cpu().eval(), losses


def export(net: CornerNet, size: int, out: Path) -> None:
    """ONNX with one (N, 3, size, size) input ``patches`` and one (N, 2) output ``corners``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(4, 3, size, size), str(out), input_names=[INPUT_NAME],
                      output_names=[OUTPUT_NAME], opset_version=17, dynamo=False,
                      dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}})


def fit_corner_refiner(shard_dirs: list[Path], cfg: dict, frame: tuple[int, int], seed: int,
                       unknown_fraction: float, out: Path, workers: int) -> dict:
    """Render, train and export to ``out``; return the record (``manifest["corners"]`` in the bundle: what the
    runtime reads and what it was trained on; no timings: the same inputs give the same record)."""
    faces, known = gallery_faces(shard_dirs, unknown_fraction)
    x, y = training_patches(faces, known, cfg, seed, frame, workers)
    torch.set_num_threads(max(1, workers))
    net, losses = train(x, y, cfg, seed)
    export(net, cfg["size"], out)
    return {"size": cfg["size"], "span": cfg["span"], "iterations": cfg["iterations"], "scenes": cfg["scenes"],
            "scenes_first": FIRST_SCENE, "perturb": cfg["perturb"], "patches": len(x), "epochs": cfg["epochs"],
            "batch": cfg["batch"], "lr": cfg["lr"], "seed": seed, "loss": losses,
            "parameters": sum(p.numel() for p in net.parameters())}


def corner_shift(a: Path, b: Path, patches: np.ndarray) -> np.ndarray:
    """How far two exported refiners put each patch's corner apart (N,), in units of the patch span."""
    from cardrec_edge.runtime import cpu_session

    out = [cpu_session(m, 1).run([OUTPUT_NAME], {INPUT_NAME: patch_input(patches)})[0] for m in (a, b)]
    return np.hypot(*(out[0] - out[1]).T)


def shift_gate(shift: np.ndarray, maximum: float) -> None:
    """Raise ``QualityGateError`` when the INT8 refiner puts corners (``corner_shift`` on the calibration patches)
    further than ``maximum`` of a patch's span from where FP32 puts them, on average."""
    from cardrec.export.gate import QualityGateError

    if shift.mean() > maximum:
        raise QualityGateError(
            f"the INT8 corner refiner puts a corner {shift.mean():.4f} of its patch's span from where FP32 puts it on "
            f"average over {len(shift)} calibration patches, over corners.max_int8_shift={maximum}: calibrate on more "
            f"frames (corners.calibration), train longer (corners.epochs) or ship FP32 (deploy.model: fp32)")


def quantize_corner_refiner(fp32: Path, shard_dirs: list[Path], cfg: dict, frame: tuple[int, int], seed: int,
                            unknown_fraction: float, out: Path, workers: int, patches_out: Path) -> dict:
    """The refiner in INT8 (``cardrec.export.quantize``: static QDQ, as the embedder's and the segmenter's CPU
    models) calibrated on the corner patches of ``calibration`` frames of its stream that follow the training frames
    (kept in ``patches_out``, uint8 NHWC, for a HEF); gated on how far INT8 moves each corner from where FP32 puts it
    on those patches (mean under ``max_int8_shift`` of the patch span); returns the settings and the shift."""
    from cardrec.export.quantize import quantize

    faces, known = gallery_faces(shard_dirs, unknown_fraction)
    x, _ = training_patches(faces, known, cfg, seed, frame, workers, FIRST_SCENE + cfg["scenes"], cfg["calibration"])
    np.save(patches_out, x)
    settings = quantize(str(fp32), str(out), x, None, input_name=INPUT_NAME, normalize=lambda p: patch_input(p[None]))
    shift = corner_shift(fp32, out, x)
    shift_gate(shift, cfg["max_int8_shift"])
    return {**settings, "scenes_first": FIRST_SCENE + cfg["scenes"], "frames": cfg["calibration"],
            "int8_shift": round(float(shift.mean()), 5), "int8_shift_p99": round(float(np.percentile(shift, 99)), 5),
            "max_int8_shift": cfg["max_int8_shift"]}
