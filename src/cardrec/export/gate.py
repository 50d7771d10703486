"""The edge-model quality gate shared by INT8 ONNX and the Hailo emulator: a compressed model must
stay close to its FP32 reference (mean cosine) and lose at most a little top-1, on the held-out query crops and on
the cards of the held-out test frames cut the way the runtime cuts a detection."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from cardrec_edge.detect import rectify
from cardrec_edge.pipeline import card_crop_size
from cardrec_edge.preprocess import Preprocess

from cardrec.evaluation.metrics import embedding_similarity, evaluate_similarity, unknown_ids
from cardrec.data.shards import EvalSet, load_gallery
from cardrec.errors import CardrecError

log = logging.getLogger(__name__)
Embed = Callable[[np.ndarray], np.ndarray]  # uint8 (N,H,W,3) letterboxed -> (N,D) unit-norm


class QualityGateError(CardrecError):
    """A compressed model drifted too far from FP32 on held-out queries."""


@dataclass
class FrameCrops:
    """Every fully visible card of rendered frames (``cardrec.data.frames``), rectified at its true corners as the
    runtime rectifies a detection, then letterboxed by the contract: the model's view of a camera frame."""

    crops: np.ndarray  # (N, H, W, 3) uint8
    expected: list[str]  # card id, or "unknown" for a card held out of the gallery

    @classmethod
    def load(cls, frames_dir: str | Path, contract: Preprocess) -> "FrameCrops":
        frames_dir = Path(frames_dir)
        size = card_crop_size(contract)
        crops, expected = [], []
        for frame in json.loads((frames_dir / "labels.json").read_text())["frames"]:
            cards = [c for c in frame["cards"] if c["fully_visible"]]
            if not cards:
                continue
            rgb = cv2.cvtColor(cv2.imread(str(frames_dir / frame["file"]), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for card in cards:
                crops.append(contract.letterbox(rectify(rgb, np.float32(card["corners"]), *size)))
                expected.append(card["expected"])
        return cls(np.stack(crops) if crops else np.zeros((0, contract.height, contract.width, 3), np.uint8),
                   expected)


def frame_drift_report(reference: Embed, candidate: Embed, card_ids: list[str], gallery: np.ndarray,
                       unknown_fraction: float, frames: FrameCrops) -> dict:
    """Cosine(reference, candidate) on every card of the test frames; each model's top-1 of the known cards against
    its own gallery less the held-out cards, as the frame evaluation's bundle has it (``frames_*`` keys; only
    ``frames_crops`` when the frames show no fully visible card)."""
    out: dict = {"frames_crops": len(frames.expected)}
    if not len(frames.expected):
        return out
    ids, unknown, in_gallery = np.asarray(card_ids), unknown_ids(card_ids, unknown_fraction), set(card_ids)
    known = [i for i, e in enumerate(frames.expected) if e != "unknown" and e in in_gallery]
    out["frames_known"] = len(known)
    embs = {}
    for name, fn in (("reference", reference), ("candidate", candidate)):
        embs[name] = fn(frames.crops)
        sims = embs[name][known] @ fn(gallery).T
        sims[:, np.isin(ids, list(unknown))] = -np.inf
        hits = ids[np.argmax(sims, axis=1)] == np.asarray(frames.expected)[known] if known else np.zeros(0, bool)
        out[f"frames_top1_{name}"] = float(hits.mean()) if known else None
    cos = np.sum(embs["reference"] * embs["candidate"], axis=1)
    out.update({"frames_mean_cosine": float(cos.mean()), "frames_min_cosine": float(cos.min()),
                "frames_top1_drop": (out["frames_top1_reference"] - out["frames_top1_candidate"]) if known else 0.0})
    return out


def drift_report(reference: Embed, candidate: Embed, data: EvalSet, unknown_fraction: float) -> dict:
    """Cosine(reference, candidate) on the test queries, and each model's top-1 against its own gallery.

    The gallery and the known/unknown split are those of rule ``evaluate``, so the figures match the
    evaluation summary.
    """
    rows, card_ids = data.rows, data.card_ids
    test = np.asarray([i for i, r in enumerate(rows) if r["split"] == "test"], int)
    unknown = unknown_ids(card_ids, unknown_fraction)
    out: dict = {"queries": int(len(test))}
    embs = {}
    for name, fn in (("reference", reference), ("candidate", candidate)):
        g, q = fn(data.gallery), fn(data.queries)
        embs[name] = q
        m = evaluate_similarity(embedding_similarity(g, q), card_ids, rows, unknown, 0.02, 1)
        out[f"top1_{name}"] = m["top1"]
    cos = np.sum(embs["reference"][test] * embs["candidate"][test], axis=1)
    out.update({"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
                "p05_cosine": float(np.percentile(cos, 5)),
                "top1_drop": out["top1_reference"] - out["top1_candidate"]})
    return out


def frame_gate(reference: Embed, candidate: Embed, gallery_files: list[str], frames_dir: str | Path,
               contract: Preprocess, unknown_fraction: float, gate: dict, what: str) -> dict:
    """The gate on the test frames' cards alone (rules ``frame_gate`` and ``hailo_frame_gate``: the frames show every
    set's cards, so a new set re-checks the gate without remaking the model; the crops were gated where it was
    made). Raises ``QualityGateError``."""
    cards, gallery = load_gallery(gallery_files)
    report = frame_drift_report(reference, candidate, [c["id"] for c in cards], gallery, unknown_fraction,
                                FrameCrops.load(frames_dir, contract))
    return enforce(report, gate["min_cosine"], gate["max_top1_drop"], what)


def enforce(report: dict, min_cosine: float, max_top1_drop: float, what: str) -> dict:
    """Record the thresholds in ``report``; raise ``QualityGateError`` with the figures when either fails."""
    report.update({"gate_min_mean_cosine": min_cosine, "gate_max_top1_drop": max_top1_drop})
    log.info("%s gate %s", what, {k: v for k, v in report.items() if not isinstance(v, (list, dict))})
    problems, sets = [], []
    if "mean_cosine" in report:
        sets.append(("", f"{report['queries']} held-out queries"))
    if "frames_mean_cosine" in report:
        sets.append(("frames_", f"{report['frames_crops']} cards of the test frames"))
    for key, name in sets:
        if report[f"{key}mean_cosine"] < min_cosine:
            problems.append(f"{name}: mean cosine(FP32, {what}) {report[f'{key}mean_cosine']:.4f} "
                            f"< gate.min_cosine={min_cosine}")
        if report[f"{key}top1_drop"] > max_top1_drop:
            problems.append(f"{name}: top-1 {report[f'{key}top1_reference']:.3f} -> "
                            f"{report[f'{key}top1_candidate']:.3f} drops {report[f'{key}top1_drop']:.3f} "
                            f"> gate.max_top1_drop={max_top1_drop}")
    if problems:
        raise QualityGateError(f"{what} quality gate failed: " + "; ".join(problems))
    return report
