"""Shared training machinery: seeded view batches, the optimisation loop, checkpoints and resume.

Determinism: the card choice of step ``s`` comes from ``stream_seed(seed, "train", s)``, each image
of the global batch from its own stream, and torch's RNG (dropout) is re-seeded every step; with the
model, optimiser and schedule restored from a checkpoint, a resumed run is bit-identical to an
uninterrupted one. Checkpoints are written atomically every ``checkpoint_every`` steps and when the
process receives SIGTERM/SIGINT; a rerun of the rule resumes from the newest one whose fingerprint
(config + inputs) matches.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess
from tqdm import tqdm

from cardrec.data.augment import AugmentParams, render_view, stream_seed
from cardrec.records import package_versions
from cardrec.training.dist import Dist
from cardrec.training.profiling import StepProfiler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """The ``training`` config section: processes, checkpoints, profiling."""

    processes: int = 1
    checkpoint_dir: str = "checkpoints"
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    keep_after_success: bool = False
    profile_trace: bool = False
    trace_steps: int = 3


@dataclass(frozen=True)
class Schedule:
    """One training stage's optimisation settings (from the teacher/student stage config)."""

    name: str
    steps: int
    lr: float
    weight_decay: float
    seed: int
    steps_per_epoch: int
    images_per_step: int  # global batch: cards x views


def seed_everything(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.set_num_threads(max(1, threads))
    torch.use_deterministic_algorithms(True, warn_only=True)


def batch_cards(seed: int, step: int) -> np.random.Generator:
    """The RNG that chooses step ``step``'s cards (identical on every rank)."""
    return stream_seed(seed, "train", step)


def view_batch(faces: np.ndarray, card_idx: np.ndarray, views: int, contract: Preprocess, params: AugmentParams,
               seed: int, step: int, part: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch is ``views`` renders of each card in ``card_idx``; render the items in ``part``.

    Returns (normalised NCHW images of ``part``, labels of the *whole* global batch). Image ``i`` of
    step ``step`` always comes from the same seed, whichever rank renders it.
    """
    labels = np.repeat(card_idx, views)
    items = range(len(labels))[part]
    imgs = [contract.letterbox(render_view(np.asarray(faces[labels[i]]), stream_seed(seed, "train", step, i + 1),
                                           params)) for i in items]
    return torch.from_numpy(contract.normalize(np.stack(imgs))), torch.from_numpy(labels.astype(np.int64))


def fingerprint(cfg: dict, *arrays) -> str:
    """Content hash of a stage's config and inputs: a checkpoint only resumes the run it belongs to."""
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype)).encode())
        flat = a.reshape(-1).view(np.uint8) if a.size else a.reshape(-1)
        for i in range(0, flat.size, 1 << 26):
            h.update(flat[i:i + (1 << 26)].tobytes())
    return h.hexdigest()


class Checkpoints:
    """``<dir>/step_000123.pt`` files holding model, optimiser, schedule and per-step records."""

    def __init__(self, directory: str | Path, fp: str, keep: int):
        self.dir, self.fp, self.keep = Path(directory), fp, max(1, keep)

    def latest(self) -> dict | None:
        for path in sorted(self.dir.glob("step_*.pt"), reverse=True):
            try:
                state = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as e:  # a torn file from a crash mid-write (should not happen: writes are atomic)
                log.warning("ignoring unreadable checkpoint %s: %s", path, e)
                continue
            if state.get("fingerprint") == self.fp:
                return state
            log.info("ignoring checkpoint %s from another config or input", path)
        return None

    def save(self, state: dict) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"step_{state['step']:06d}.pt"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({**state, "fingerprint": self.fp}, tmp)
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
        for old in sorted(self.dir.glob("step_*.pt"))[:-self.keep]:
            old.unlink()
        return path

    def clear(self) -> None:
        for p in self.dir.glob("step_*.pt"):
            p.unlink()
        if self.dir.is_dir() and not any(self.dir.iterdir()):
            self.dir.rmdir()


class _StopRequest:
    """Turns SIGTERM/SIGINT into a flag checked between steps (checkpoint, then exit)."""

    def __init__(self):
        self.signum = 0
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGTERM, signal.SIGINT)}

    def _handle(self, signum, frame):
        self.signum = signum

    def restore(self):
        for s, h in self._old.items():
            signal.signal(s, h)


def fit(model: torch.nn.Module, step_loss: Callable[[int, torch.nn.Module], dict[str, torch.Tensor]],
        sched: Schedule, run: RunOptions, fp: str, profile_dir: str | Path, ctx: Dist = Dist()) -> list[dict]:
    """AdamW + warm-up/cosine over ``sched.steps``; ``step_loss(step, net)`` returns weighted loss terms.

    ``model`` holds every trained parameter (the embedder and any training-only head); ``net`` is
    the module to call (``model``, or its DDP wrapper). Returns one row per epoch (mean loss terms,
    lr, throughput) and writes the profile under ``profile_dir``.
    """
    steps = sched.steps
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=sched.lr,
                            weight_decay=sched.weight_decay)
    warmup = max(1, steps // 10)
    lr_at = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    ckpts = Checkpoints(Path(run.checkpoint_dir) / sched.name, fp, run.keep_checkpoints)
    records: list[dict] = []
    start = 0
    if (state := ckpts.latest()) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        lr_at.load_state_dict(state["scheduler"])
        records, start = state["records"], state["step"]
        log.info("%s: resuming from step %d (%s)", sched.name, start, ckpts.dir)
    model.train()
    prof = StepProfiler(profile_dir, run.profile_trace and ctx.is_main, run.trace_steps, start)
    net = ctx.wrap(model)
    stop = _StopRequest()

    def checkpoint(step: int) -> None:
        if ctx.is_main:
            path = ckpts.save({"step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
                               "scheduler": lr_at.state_dict(), "records": records})
            log.info("%s: checkpoint %s", sched.name, path)
        ctx.barrier()

    try:
        bar = tqdm(range(start, steps), desc=sched.name, mininterval=5, disable=not ctx.is_main,
                   initial=start, total=steps)
        for step in bar:
            torch.manual_seed(sched.seed * 1_000_003 + step)  # dropout etc.: same per step, resumed or not
            with prof.step() as timing:
                terms = step_loss(step, net)
                loss = sum(terms.values())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
            records.append({"step": step, "lr": lr_at.get_last_lr()[0], "loss": float(loss),
                            **{k: float(v) for k, v in terms.items()}, "seconds": timing.seconds})
            lr_at.step()
            bar.set_postfix(loss=f"{records[-1]['loss']:.3f}")
            if (step + 1) % sched.steps_per_epoch == 0 or step + 1 == steps:
                log.info("%s epoch %s", sched.name,
                         _epoch_rows(records, sched.steps_per_epoch, sched.images_per_step)[-1])
            done = step + 1
            if ctx.any(stop.signum != 0):
                checkpoint(done)
                raise SystemExit(f"{sched.name}: stopped by signal after step {done}; rerun to resume")
            if run.checkpoint_every and done % run.checkpoint_every == 0 and done < steps:
                checkpoint(done)
    finally:
        stop.restore()
    if ctx.is_main:
        prof.write(records, sched.images_per_step, ctx.world)
        if not run.keep_after_success:
            ckpts.clear()
    return _epoch_rows(records, sched.steps_per_epoch, sched.images_per_step)


def _epoch_rows(records: list[dict], per_epoch: int, images: int) -> list[dict]:
    rows = []
    for e in range(0, len(records), per_epoch):
        chunk = records[e:e + per_epoch]
        terms = [k for k in chunk[0] if k not in ("step", "lr", "seconds")]
        secs = sum(r["seconds"] for r in chunk)
        rows.append({"epoch": e // per_epoch + 1, "step": chunk[-1]["step"] + 1, "lr": round(chunk[-1]["lr"], 8),
                     **{k: round(float(np.mean([r[k] for r in chunk])), 6) for k in terms},
                     "seconds": round(secs, 3), "images_per_s": round(len(chunk) * images / secs, 2) if secs else None})
    return rows


def steps_per_epoch(n_cards: int, batch: int) -> int:
    """One epoch = enough steps to draw every card once in expectation."""
    return max(1, -(-n_cards // max(1, batch)))


def run_record(cfg: dict, seed: int, world: int) -> dict:
    """What a checkpoint records for reproducibility: config, seed, processes, versions (no clock)."""
    return {"config": cfg, "seed": seed, "processes": world, "versions": package_versions(("torch", "timm", "numpy"))}


def write_metrics(path: str | Path, rows: list[dict]) -> None:
    """Per-epoch metrics CSV (the report plots it)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
