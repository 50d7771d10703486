"""Synthetic card scenes with known corners, for detector tests and benchmarks (numpy + OpenCV only).

Card faces (RGBA, rounded corners in the alpha) are warped with a random rotation (any angle), scale and
mild perspective onto a textured background (smooth noise, wood grain or a lit desk), then the frame gets
a little blur and sensor noise. Corners are returned in the detector's order: TL, TR, BR, BL of the
portrait card, as the images of the face's corner pixel centres.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.detect import CARD_ASPECT


@dataclass(frozen=True)
class Scene:
    rgb: np.ndarray              # (H, W, 3) uint8
    corners: list[np.ndarray]    # one (4, 2) float32 per card: TL, TR, BR, BL of the portrait face


def load_face(path: str | Path) -> np.ndarray:
    """A card face as (H, W, 4) uint8 RGBA (opaque alpha added when the file has none)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(path)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 3:
        return np.dstack([cv2.cvtColor(img, cv2.COLOR_BGR2RGB), np.full(img.shape[:2], 255, np.uint8)])
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)


def on_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA -> RGB uint8 with the alpha composited on white."""
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    return (rgba[..., :3].astype(np.float32) * a + 255.0 * (1.0 - a)).round().astype(np.uint8)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...]) -> np.ndarray:
    """Sum of bicubically upsampled random grids (coarse to fine), float32 in about [0, 1]."""
    out = np.zeros((h, w), np.float32)
    for i, c in enumerate(cells):
        grid = rng.random((max(2, h // c), max(2, w // c))).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / (2 ** i)
    return out / sum(1 / 2 ** i for i in range(len(cells)))


def background(rng: np.random.Generator, height: int = 720, width: int = 1280, kind: str | None = None) -> np.ndarray:
    """A textured RGB uint8 background: "noise" (coloured smooth noise), "wood" (grain) or "desk" (lit)."""
    kind = kind or str(rng.choice(["noise", "wood", "desk"]))
    if kind == "noise":
        n = smooth_noise(rng, height, width, (160, 40, 10))
        c0, c1 = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
        img = c0 + (c1 - c0) * n[..., None]
    elif kind == "wood":
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        phi = rng.uniform(0, np.pi)
        warp = smooth_noise(rng, height, width, (200, 50)) * rng.uniform(4, 10)
        grain = 0.5 + 0.5 * np.sin((x * np.cos(phi) + y * np.sin(phi)) / rng.uniform(6, 20) + warp)
        light = np.array([190, 140, 90]) * rng.uniform(0.5, 1.15)
        dark = light * rng.uniform(0.7, 0.85)                 # real grain is subtle next to a card's edge
        fine = 8.0 * smooth_noise(rng, height, width, (4,))
        img = dark + (light - dark) * (grain ** 2)[..., None] + fine[..., None]
    elif kind == "desk":
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        light = 0.75 + 0.25 * np.cos((x - x0) * 2.0 / width) * np.cos((y - y0) / height)
        img = rng.uniform(30, 220, 3) * light[..., None] + 6.0 * smooth_noise(rng, height, width, (8, 3))[..., None]
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    return np.clip(img, 0, 255).astype(np.uint8)


def random_quad(rng: np.random.Generator, frame_hw: tuple[int, int], long_side: float,
                perspective: float = 0.05, margin: int = 6, tries: int = 200) -> np.ndarray | None:
    """A card quad (TL, TR, BR, BL of the portrait card) fully inside the frame: random angle, position and
    per-corner jitter of up to ``perspective * long_side`` (kept when its side ratio stays near the card's)."""
    h, w = frame_hw
    half = np.array([[-CARD_ASPECT, -1], [CARD_ASPECT, -1], [CARD_ASPECT, 1], [-CARD_ASPECT, 1]], np.float32)
    half *= long_side / 2
    for _ in range(tries):
        a = rng.uniform(0, 2 * np.pi)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
        q = half @ rot.T + rng.uniform(-perspective, perspective, (4, 2)).astype(np.float32) * long_side
        lo, hi = q.min(0), q.max(0)
        if np.any(hi - lo > np.array([w, h]) - 2 * margin):
            continue
        q += rng.uniform([margin - lo[0], margin - lo[1]], [w - margin - hi[0], h - margin - hi[1]]).astype(np.float32)
        s = np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1)
        if abs((s[0] + s[2]) / (s[1] + s[3]) / CARD_ASPECT - 1) < 0.08 and cv2.isContourConvex(q):
            return q
    return None


def _overlaps(q: np.ndarray, others: list[np.ndarray], grow: float = 1.12) -> bool:
    c = q.mean(0)
    big = ((q - c) * grow + c).astype(np.float32)
    return any(cv2.intersectConvexConvex(big, ((o - o.mean(0)) * grow + o.mean(0)).astype(np.float32))[0] > 0
               for o in others)


def paste(frame: np.ndarray, face_rgba: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Composite an RGBA face onto ``frame`` so that its corner pixel centres land on ``quad`` (TL, TR, BR, BL)."""
    fh, fw = face_rgba.shape[:2]
    src = np.float32([[0, 0], [fw - 1, 0], [fw - 1, fh - 1], [0, fh - 1]])
    m = cv2.getPerspectiveTransform(src, np.asarray(quad, np.float32))
    h, w = frame.shape[:2]
    warped = cv2.warpPerspective(face_rgba, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = warped[..., 3:4].astype(np.float32) / 255.0
    return (frame.astype(np.float32) * (1 - a) + warped[..., :3].astype(np.float32) * a).round().astype(np.uint8)


def synthetic_scene(faces: list[np.ndarray], rng: np.random.Generator, n_cards: int = 1,
                    size: tuple[int, int] = (720, 1280), height_range: tuple[float, float] = (0.25, 0.8),
                    perspective: float = 0.05, noise: float = 3.0, bg_kind: str | None = None) -> Scene:
    """``n_cards`` non-overlapping cards (faces drawn from ``faces``, RGBA) on a random background.

    Each card's long side is drawn from ``height_range`` x the frame height (redrawn until it fits).
    """
    h, w = size
    frame = background(rng, h, w, bg_kind)
    quads: list[np.ndarray] = []
    for _ in range(n_cards):
        for _attempt in range(200):
            q = random_quad(rng, size, rng.uniform(*height_range) * h, perspective)
            if q is not None and not _overlaps(q, quads):
                break
        else:
            raise RuntimeError(f"could not place {n_cards} cards in a {w}x{h} frame")
        frame = paste(frame, faces[int(rng.integers(len(faces)))], q)
        quads.append(q)
    frame = cv2.GaussianBlur(frame, (0, 0), 0.7)
    if noise > 0:
        frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
    return Scene(frame, quads)
