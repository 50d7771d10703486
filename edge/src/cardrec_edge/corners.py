"""The bundle's corner refiner: where a card's corners are, seen from patches around a rough quad's corners.

The classical detector's quad of a hard card is often a few percent off: on a holder's edge, on the inner edge of
the card's printed border, on a busy print. A small CNN (rule train_corner_refiner, ``cardrec.training.corners``)
looks at each corner of a quad in a patch of the frame cut in the quad's own frame (``corner_patches``: ``span`` x
the quad's short side, ``size`` px, the corner in the middle, the card towards the bottom right, from the level of the
frame's pyramid nearest that scale) and says where the card's corner lies in it (``to_patch`` coordinates); the quad
moves there, ``iterations`` times. The runtime moves the corners of the cards it reports that no verified outline
places (``Recognizer._answer``); crops, embeddings and verification are the detector's.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detect import order_corners
from .runtime import cpu_session

INPUT_NAME = "patches"   # the ONNX graph's input (N, 3, size, size) and output (N, 2) names
OUTPUT_NAME = "corners"
LEVELS = 4               # pyramid levels a patch is cut from
MIN_SIDE = 8.0           # a quad with a shorter side (px) is left as it is


def short_side(q: np.ndarray) -> float:
    s = np.hypot(*(np.roll(q, -1, axis=0) - q).T)
    return float(min(s[0] + s[2], s[1] + s[3]) / 2)


class Pyramid:
    """The frame's Gaussian pyramid (``cv2.pyrDown`` steps), ``levels`` deep, each level made when first asked for
    (a small card's patches come from the frame itself)."""

    def __init__(self, rgb: np.ndarray, levels: int = LEVELS):
        self._levels, self.levels = [rgb], levels

    def __len__(self) -> int:
        return self.levels

    def __getitem__(self, i: int) -> np.ndarray:
        while len(self._levels) <= i:
            self._levels.append(cv2.pyrDown(self._levels[-1]))
        return self._levels[i]


def corner_axes(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (4, 2) from each corner of a clockwise quad to the next corner and to the previous one."""
    nxt, prv = np.roll(q, -1, axis=0) - q, np.roll(q, 1, axis=0) - q
    return nxt / np.linalg.norm(nxt, axis=1, keepdims=True), prv / np.linalg.norm(prv, axis=1, keepdims=True)


def corner_patches(pyr: Pyramid, q: np.ndarray, size: int, span: float
                   ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Patches (4, size, size, 3) uint8 of a frame (its ``Pyramid``) around the corners of the clockwise quad ``q``
    (frame px), each spanning ``span`` x its short side along the corner's two sides (x: to the next corner, y: to
    the previous), the corner in the middle; and that span in px with the axes (``corner_axes``)."""
    px = span * short_side(q)
    level = int(np.clip(np.floor(np.log2(max(px / size, 1.0))), 0, len(pyr) - 1))
    img, f = pyr[level], 2.0 ** level
    a, b = corner_axes(q)
    g = (np.arange(size) + 0.5) / size - 0.5
    out = []
    for i in range(4):
        pts = q[i] + px * (g[None, :, None] * a[i] + g[:, None, None] * b[i])
        pts = ((pts + 0.5) / f - 0.5).astype(np.float32)
        out.append(cv2.remap(img, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return np.stack(out), px, a, b


def to_patch(points: np.ndarray, q: np.ndarray, px: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frame points (4, 2), one per corner, in their corner's patch coordinates (units of the span, 0 the middle)."""
    return np.float32([np.linalg.solve(np.stack([a[i], b[i]], axis=1) * px, points[i] - q[i]) for i in range(4)])


def from_patch(local: np.ndarray, q: np.ndarray, px: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The inverse of ``to_patch``."""
    return (q + px * (local[:, :1] * a + local[:, 1:] * b)).astype(np.float32)


def patch_input(patches: np.ndarray) -> np.ndarray:
    """uint8 patches (N, size, size, 3) -> the network's float32 (N, 3, size, size) input: x / 255 - 0.5."""
    return np.ascontiguousarray(np.moveaxis(patches.astype(np.float32) / 255 - 0.5, -1, 1))


class CornerRefiner:
    """The bundle's refiner on the CPU (onnxruntime).

    Args:
        path: its ONNX file.
        spec: the manifest's ``corners`` section (``size``, ``span``, ``iterations``).
        threads: onnxruntime intra-op threads (default: all cores).
    """

    def __init__(self, path: Path, spec: dict, threads: int | None = None):
        self.session = cpu_session(path, threads)
        self.size, self.span, self.iterations = int(spec["size"]), float(spec["span"]), int(spec["iterations"])

    def refine(self, rgb: np.ndarray, quad, pyr: Pyramid | None = None) -> np.ndarray:
        """The quad (any corner order) moved onto the card's corners the network sees, clipped to the frame."""
        q = order_corners(np.asarray(quad, np.float32).reshape(4, 2))
        if not np.isfinite(q).all() or short_side(q) < MIN_SIDE:
            return q
        pyr = pyr or Pyramid(rgb)
        for _ in range(self.iterations):
            patches, px, a, b = corner_patches(pyr, q, self.size, self.span)
            local = self.session.run([OUTPUT_NAME], {INPUT_NAME: patch_input(patches)})[0]
            q = order_corners(from_patch(local, q, px, a, b))
        h, w = rgb.shape[:2]
        return np.clip(q, 0, np.float32([w - 1, h - 1]))
