"""Photo-like views of a card face: what a camera + rectification hands the model.

One renderer serves training views, held-out queries and calibration images; each caller uses
its own seed stream (``stream_seed``) so query and calibration renders never repeat training ones.
No horizontal flips (text would mirror); the card's aspect is preserved.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

STREAMS = {"train": 1, "val": 2, "test": 3, "calibration": 4}


def id_key(card_id: str) -> int:
    """Stable integer key of a card id (seeds must not depend on Python's salted hash)."""
    return int(hashlib.sha256(card_id.encode()).hexdigest()[:15], 16)


def stream_seed(base: int, stream: str, *keys: int) -> np.random.Generator:
    """Independent RNG per (seed, stream, keys): training never draws a query's or calibration's seed."""
    return np.random.default_rng([base, STREAMS[stream], *keys])


@dataclass(frozen=True)
class AugmentParams:
    """Ranges of the photo effects; ``strength`` scales the geometric and photometric ones."""

    strength: float = 1.0
    max_corner_jitter: float = 0.06  # fraction of card size: residual rectification error
    max_rotation_deg: float = 4.0
    margin: float = 0.04  # background visible around the card
    glare_prob: float = 0.5
    blur_prob: float = 0.5
    max_blur_sigma: float = 1.6
    noise_sigma: float = 6.0
    jpeg_quality: tuple[int, int] = (35, 90)
    light_gradient: float = 0.35
    white_balance: float = 0.12


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.integers(0, 255, 3).astype(np.float32)
    small = rng.normal(0, 40, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
    tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + tex, 0, 255).astype(np.uint8)


def render_view(face: np.ndarray, rng: np.random.Generator, p: AugmentParams = AugmentParams()) -> np.ndarray:
    """A photo-like, roughly rectified view of ``face`` (RGB uint8), same size as ``face``."""
    h, w = face.shape[:2]
    s = p.strength
    m = int(round(p.margin * max(h, w)))
    canvas = _background(rng, h + 2 * m, w + 2 * m)
    canvas[m:m + h, m:m + w] = face
    src = np.float32([[m, m], [m + w, m], [m + w, m + h], [m, m + h]])
    jitter = rng.uniform(-1, 1, (4, 2)) * p.max_corner_jitter * s * np.float32([w, h])
    ang = np.deg2rad(rng.uniform(-1, 1) * p.max_rotation_deg * s)
    rot = np.float32([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    centre = src.mean(axis=0)
    dst_card = (src - centre) @ rot.T + centre + jitter
    pad = rng.uniform(0, p.margin * s) * np.float32([w, h])
    out_quad = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    # map the (jittered) card quad onto the output with a little background showing
    target = out_quad + np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]]) * pad
    H = cv2.getPerspectiveTransform(dst_card.astype(np.float32), target.astype(np.float32))
    H = H @ cv2.getPerspectiveTransform(src, dst_card.astype(np.float32))
    img = cv2.warpPerspective(canvas, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    img = img.astype(np.float32)
    # lighting gradient and white balance
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = rng.uniform(-1, 1, 2)
    grad = 1 + p.light_gradient * s * ((gx / w - 0.5) * d[0] + (gy / h - 0.5) * d[1])
    img *= grad[..., None] * (1 + rng.uniform(-1, 1, 3) * p.white_balance * s)
    if rng.random() < p.glare_prob:  # specular glare blob
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.08, 0.3) * max(h, w)
        img += (rng.uniform(80, 220) * s) * np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * r * r))[..., None]
    img = np.clip(img, 0, 255)
    if rng.random() < p.blur_prob:
        sigma = rng.uniform(0.3, p.max_blur_sigma * s)
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.normal(0, p.noise_sigma * s * rng.random(), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    q = int(rng.integers(*p.jpeg_quality))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img
