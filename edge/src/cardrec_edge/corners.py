"""The bundle's corner refiner: where a card's corners are, seen from patches around a rough quad's corners.

The classical detector's quad of a hard card is often a few percent off: on a holder's edge, on the inner edge of
the card's printed border, on a busy print. A small CNN (rule train_corner_refiner, ``cardrec.training.corners``)
looks at each corner of a quad in a patch of the frame cut in the quad's own frame (``corner_patches``: ``span`` x
the quad's short side, ``size`` px, the corner in the middle, the card towards the bottom right, from the level of the
frame's pyramid nearest that scale) and says where the card's corner lies in it (``to_patch`` coordinates); the quad
moves there, ``iterations`` times. The runtime moves the corners of the cards it reports that no verified outline
places, once the frame's answers are final (``Recognizer._refined``); crops, embeddings and verification are the
detector's. It cuts its patches from a regional pyramid (``Pyramid(regional=True)``: only the parts of each level its
patches need, the same pixels as the whole level's); training cuts many quads' patches from each frame's whole levels.
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
REGION_MARGIN = 4        # level pixels a regional pyramid's image reaches past the pixels it keeps exact ...
REGION_PAD = 0.25        # ... which reach this share of the box asked for past it


def short_side(q: np.ndarray) -> float:
    s = np.hypot(*(np.roll(q, -1, axis=0) - q).T)
    return float(min(s[0] + s[2], s[1] + s[3]) / 2)


class Pyramid:
    """The frame's Gaussian pyramid (``cv2.pyrDown`` steps), ``levels`` deep, each level made when first asked for
    (a small card's patches come from the frame itself). ``regional``: ``region`` makes only the parts of a level the
    patches need (the runtime refines a few quads per frame; training cuts many from each frame's whole levels)."""

    def __init__(self, rgb: np.ndarray, levels: int = LEVELS, regional: bool = False):
        self._levels, self.levels, self.regional = [rgb], levels, regional
        self._regions: list[tuple] = []  # (level, x0, y0, x1, y1: the pixels it keeps exact, image, its offset)

    def __len__(self) -> int:
        return self.levels

    def __getitem__(self, i: int) -> np.ndarray:
        while len(self._levels) <= i:
            self._levels.append(cv2.pyrDown(self._levels[-1]))
        return self._levels[i]

    def region(self, level: int, x0: int, y0: int, x1: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
        """Level ``level``'s pixels x0..x1, y0..y1 (inclusive, clipped to the level) within an image and that
        image's offset (x, y) in the level: the same pixels as the whole level's, and the same border beyond the
        frame's edges. A regional image covers the box ``REGION_PAD`` of its size wider on each side (the next
        refinement pass, whose quad moved a little, cuts its patch from it too) and is cut from the frame
        ``REGION_MARGIN`` level pixels wider still, at multiples of the level's scale, and reduced as the whole frame
        is (each reduction spoils at most 2 pixels at a cut edge)."""
        if not self.regional or level < len(self._levels):
            return self[level], np.zeros(2, np.float32)
        f, (h, w) = 2 ** level, self._levels[0].shape[:2]
        lw, lh = -(-w // f), -(-h // f)                                  # a level's size: halved, rounded up
        x0, x1, y0, y1 = min(max(x0, 0), lw - 1), min(max(x1, 0), lw - 1), min(max(y0, 0), lh - 1), \
            min(max(y1, 0), lh - 1)
        for lv, cx0, cy0, cx1, cy1, img, offset in self._regions:
            if lv == level and cx0 <= x0 and cy0 <= y0 and x1 <= cx1 and y1 <= cy1:
                return img, offset
        pad = int(REGION_PAD * max(x1 - x0, y1 - y0))
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(lw - 1, x1 + pad), min(lh - 1, y1 + pad)
        ox, oy = max(0, x0 - REGION_MARGIN), max(0, y0 - REGION_MARGIN)
        ex, ey = min(lw, x1 + REGION_MARGIN + 1), min(lh, y1 + REGION_MARGIN + 1)
        img = self._levels[0][oy * f: min(h, ey * f), ox * f: min(w, ex * f)]
        for _ in range(level):
            img = cv2.pyrDown(img)
        self._regions.append((level, x0, y0, x1, y1, img, np.float32([ox, oy])))
        return img, self._regions[-1][-1]


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
    f = 2.0 ** level
    a, b = corner_axes(q)
    g = (np.arange(size) + 0.5) / size - 0.5
    along, across = g[None, None, :, None] * a[:, None, None], g[None, :, None, None] * b[:, None, None]  # x, y
    grid = q[:, None, None] + px * (along + across)
    grid = ((grid + 0.5) / f - 0.5).astype(np.float32)                 # (4, size, size, 2) level px
    ends = grid[:, ::size - 1, ::size - 1].reshape(4, 4, 2)             # an affine grid's extremes: its corners
    lo, hi = np.floor(ends.min(axis=1)).astype(int).tolist(), np.floor(ends.max(axis=1)).astype(int).tolist()
    out = np.empty((4, size, size, 3), np.uint8)
    for i, pts in enumerate(grid):
        img, offset = pyr.region(level, lo[i][0], lo[i][1], hi[i][0] + 1, hi[i][1] + 1)
        pts -= offset                                                    # exact: whole pixels off float32 points
        cv2.remap(img, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, out[i], borderMode=cv2.BORDER_REPLICATE)
    return out, px, a, b


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
        pyr = pyr or Pyramid(rgb, regional=True)
        for _ in range(self.iterations):
            patches, px, a, b = corner_patches(pyr, q, self.size, self.span)
            local = self.session.run([OUTPUT_NAME], {INPUT_NAME: patch_input(patches)})[0]
            q = order_corners(from_patch(local, q, px, a, b))
        h, w = rgb.shape[:2]
        return np.clip(q, 0, np.float32([w - 1, h - 1]))
