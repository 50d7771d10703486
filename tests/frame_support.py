"""Held-out test frames of small synthetic cards, for the gates on what a camera frame gives the model."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.preprocess import Preprocess


def smooth_faces(n: int, seed: int = 2) -> np.ndarray:
    """Card faces with large structures (they survive the frames' blur and JPEG), 112x80."""
    small = np.random.default_rng(seed).integers(0, 255, (n, 7, 5, 3), dtype=np.uint8)
    return np.stack([cv2.resize(s, (80, 112), interpolation=cv2.INTER_CUBIC) for s in small])


def render_test_frames(out: Path, faces: np.ndarray, ids: list[str], unknown: set[str], contract: Preprocess):
    """Rule render_frames' test split of these cards (three categories), and its cards cut at their true corners."""
    from cardrec.data.frames import render_split
    from cardrec.export.gate import FrameCrops

    cfg = {"seed": 5, "size": [360, 480], "per_category": {"test": 3}, "categories": ["single", "upside_down", "multi"],
           "unknown_share": 0.3, "jpeg_quality": 90, "max_corner_error": 0.03}
    labels = render_split(faces, ids, unknown, cfg, "test", out)
    return labels, FrameCrops.load(out, contract)


def gallery_shard(out: Path, faces: np.ndarray, ids: list[str], contract: Preprocess) -> list[str]:
    """One preprocessed shard of these cards in the rule-input layout (gallery.npy beside cards.json)."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "gallery.npy", np.stack([contract.letterbox(f) for f in faces]))
    (out / "cards.json").write_text(json.dumps([{"id": i} for i in ids]))
    return [str(out / "gallery.npy")]
