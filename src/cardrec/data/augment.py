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

STREAMS = {"train": 1, "val": 2, "test": 3, "calibration": 4, "orientation": 5, "detector": 6}


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
    max_scale: float = 0.08  # the card fills 1 -/+ this of the frame (imperfect crop)
    margin: float = 0.04  # background visible around the card
    glare_prob: float = 0.5
    holo_prob: float = 0.3  # rainbow sheen of holo / reverse-holo foil
    sleeve_prob: float = 0.3  # a plastic sleeve: low-contrast haze plus a reflected streak
    blur_prob: float = 0.5
    max_blur_sigma: float = 1.6
    motion_blur_prob: float = 0.2
    max_motion_px: float = 5.0
    noise_sigma: float = 6.0
    jpeg_quality: tuple[int, int] = (35, 90)
    light_gradient: float = 0.35
    white_balance: float = 0.12


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A desk, mat or playmat: a base colour plus either a smooth texture or 1/f ("natural image") noise."""
    base = rng.integers(0, 255, 3).astype(np.float32)
    if rng.random() < 0.5:
        small = rng.normal(0, 40, (max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    else:  # pink noise: amplitude ~ 1/f, the spectrum of natural photographs
        fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
        amp = 1.0 / np.maximum(np.hypot(fy, fx), 1.0 / max(h, w))
        spec = amp[..., None] * np.exp(2j * np.pi * rng.random((h, w, 3)))
        tex = np.real(np.fft.ifft2(spec, axes=(0, 1))).astype(np.float32)
        tex *= rng.uniform(30, 70) / (tex.std() + 1e-6)
    return np.clip(base + tex, 0, 255).astype(np.uint8)


def holo_sheen(rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray, h: int, w: int, s: float) -> np.ndarray:
    """Rainbow bands across the card, as a holo foil catches the light at an angle."""
    ang = rng.uniform(0, np.pi)
    phase = (gx * np.cos(ang) + gy * np.sin(ang)) / max(h, w) * rng.uniform(2, 6) * 2 * np.pi + rng.uniform(0, 6.3)
    rgb = np.stack([np.sin(phase), np.sin(phase + 2.1), np.sin(phase + 4.2)], axis=-1)
    return rgb * rng.uniform(10, 45) * s


def _sleeve(img: np.ndarray, rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray, h: int, w: int,
            s: float) -> np.ndarray:
    """A plastic sleeve: lower contrast (haze) and a soft diagonal reflected streak."""
    haze = rng.uniform(0.04, 0.15) * s
    img = img * (1 - haze) + 255 * haze * rng.uniform(0.6, 1.0)
    ang = rng.uniform(0.3, 1.2)
    d = (gx * np.cos(ang) - gy * np.sin(ang)) - rng.uniform(-0.2, 1.0) * max(h, w)
    width = rng.uniform(0.03, 0.1) * max(h, w)
    return img + (rng.uniform(30, 120) * s * np.exp(-(d / width) ** 2))[..., None]


def motion_blur(img: np.ndarray, rng: np.random.Generator, length: float) -> np.ndarray:
    n = max(2, int(round(length)))
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0 / n
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), rng.uniform(0, 180), 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))


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
    pad = (rng.uniform(0, p.margin * s) + rng.uniform(-1, 1) * p.max_scale * s / 2) * np.float32([w, h])
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
    if rng.random() < p.holo_prob:
        img += holo_sheen(rng, gx, gy, h, w, s)
    if rng.random() < p.sleeve_prob:
        img = _sleeve(img, rng, gx, gy, h, w, s)
    img = np.clip(img, 0, 255)
    if rng.random() < p.blur_prob:  # defocus
        sigma = rng.uniform(0.3, max(0.31, p.max_blur_sigma * s))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < p.motion_blur_prob:
        img = motion_blur(img, rng, rng.uniform(2, max(2.01, p.max_motion_px * s)))
    img += rng.normal(0, p.noise_sigma * s * rng.random(), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    q = int(rng.integers(*p.jpeg_quality))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img
