"""Held-out whole camera frames with known card corners: what the edge runtime is evaluated on.

Each frame belongs to one category (a kind of scene users point a camera at); every category draws its
cards, poses, background, holders and light from its own ranges, on the frames' own seed streams
(``stream_seed(frames.seed, split, FRAMES_KEY, frame)``), so no frame repeats a training view or a query.
Cards are seen through a pinhole camera: any in-plane rotation (upside down included) and a tilt of the
card plane (perspective) of up to ``tilt`` degrees. Corners are kept in the detector's convention: TL, TR,
BR, BL of the upright card, as the images of the face's corner pixel centres.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.detect import CARD_ASPECT

from cardrec.data.augment import holo_sheen, id_key, motion_blur, stream_seed
from cardrec.data.scenes import background, smooth_noise
from cardrec.errors import ConfigError

FRAMES_KEY = id_key("frames")  # keeps frame seeds apart from query seeds even when the base seeds match
HOLDERS = ("none", "sleeve", "toploader", "slab")
PLAIN_BACKGROUNDS = ("noise", "wood", "desk")
BUSY_BACKGROUNDS = ("fabric", "playmat", "pattern")


@dataclass(frozen=True)
class SceneSpec:
    """Ranges one category draws a frame from (sizes are fractions of the frame height)."""

    cards: tuple[int, int] = (1, 1)
    height: tuple[float, float] = (0.35, 0.7)  # the card's long side
    angle: tuple[float, float] = (0.0, 360.0)  # in-plane rotation, degrees
    tilt: tuple[float, float] = (0.0, 15.0)  # card plane against the image plane, degrees
    backgrounds: tuple[str, ...] = PLAIN_BACKGROUNDS
    holders: tuple[str, ...] = ("none",)
    glare: float = 0.0  # probability of a specular highlight per card
    blur: tuple[float, float] = (0.0, 0.8)  # defocus sigma, pixels at 720 lines
    motion: float = 0.0  # probability of motion blur
    light: tuple[float, float] = (0.85, 1.1)  # exposure gain
    noise: tuple[float, float] = (1.0, 4.0)
    partial: bool = False  # the first card is partly outside the frame


_BASE = SceneSpec()
CATEGORIES: dict[str, SceneSpec] = {
    "single": _BASE,
    "multi": replace(_BASE, cards=(2, 4), height=(0.25, 0.45)),
    "small": replace(_BASE, height=(0.15, 0.25)),
    "large": replace(_BASE, height=(0.8, 0.95)),
    "upside_down": replace(_BASE, angle=(160.0, 200.0)),
    "perspective": replace(_BASE, tilt=(20.0, 35.0)),
    "busy_background": replace(_BASE, cards=(1, 2), backgrounds=BUSY_BACKGROUNDS),
    "sleeve": replace(_BASE, holders=("sleeve",)),
    "toploader": replace(_BASE, holders=("toploader",)),
    "slab": replace(_BASE, holders=("slab",), height=(0.3, 0.55)),
    "glare": replace(_BASE, glare=1.0),
    "blur": replace(_BASE, blur=(1.5, 3.5), motion=0.4),
    "dim": replace(_BASE, light=(0.2, 0.45), noise=(5.0, 12.0)),
    "partial": replace(_BASE, cards=(1, 2), partial=True),
    "mixed": replace(_BASE, cards=(1, 3), height=(0.15, 0.8), tilt=(0.0, 35.0),
                     backgrounds=PLAIN_BACKGROUNDS + BUSY_BACKGROUNDS, holders=HOLDERS, glare=0.4,
                     blur=(0.0, 2.5), motion=0.2, light=(0.3, 1.15), noise=(1.0, 10.0)),
}


# --- backgrounds --------------------------------------------------------------------------------------------

def _fabric(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Printed fabric: a tiled motif of small shapes, slightly warped, with a fine weave."""
    t = int(rng.integers(18, 64))
    tile = np.empty((t, t, 3), np.uint8)
    tile[:] = rng.integers(0, 256, 3)
    for _ in range(int(rng.integers(2, 6))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        c = tuple(int(v) for v in rng.integers(0, t, 2))
        r = int(rng.integers(2, max(3, t // 3)))
        if rng.random() < 0.5:
            cv2.circle(tile, c, r, colour, -1, cv2.LINE_AA)
        else:
            cv2.ellipse(tile, c, (r, max(1, r // 2)), float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    big = np.tile(tile, (h // t + 2, w // t + 2, 1))
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x += (t // 2) * ((y // t) % 2)  # half-drop repeat
    amp = rng.uniform(2, 8)
    dx, dy = (amp * (smooth_noise(rng, h, w, (120, 30)) - 0.5) for _ in range(2))
    img = cv2.remap(big, x + dx, y + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    period = rng.uniform(2.5, 4.0)
    weave = np.sin(2 * np.pi * x / period) * np.sin(2 * np.pi * y / period)
    return np.clip(img + rng.uniform(6, 18) * weave[..., None], 0, 255).astype(np.uint8)


def _playmat(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A play mat: colourful artwork, strokes, and card-shaped zone outlines with no card in them."""
    n = smooth_noise(rng, h, w, (240, 80, 20))
    palette = rng.integers(0, 256, (4, 3)).astype(np.float32)
    idx = np.clip(n * 3.999, 0, 3.999)
    lo = np.floor(idx).astype(int)
    frac = (idx - lo)[..., None]
    img = palette[lo] * (1 - frac) + palette[np.minimum(lo + 1, 3)] * frac
    img = np.ascontiguousarray(img.astype(np.uint8))
    for _ in range(int(rng.integers(5, 15))):  # brush strokes
        p = [tuple(int(v) for v in rng.integers(0, [w, h])) for _ in range(2)]
        cv2.line(img, p[0], p[1], tuple(int(c) for c in rng.integers(0, 256, 3)), int(rng.integers(2, 12)),
                 cv2.LINE_AA)
    zone_h = rng.uniform(0.3, 0.6) * h
    zone_w = zone_h * CARD_ASPECT
    colour = tuple(int(c) for c in rng.integers(180, 256, 3))
    x0 = rng.uniform(0, max(1.0, w - 3 * zone_w))
    y0 = rng.uniform(0, max(1.0, h - zone_h))
    for k in range(int(rng.integers(1, 4))):  # zones in a row, as on a real mat
        tl = (int(x0 + k * 1.15 * zone_w), int(y0))
        cv2.rectangle(img, tl, (int(tl[0] + zone_w), int(tl[1] + zone_h)), colour, int(rng.integers(2, 5)),
                      cv2.LINE_AA)
    return img


def _pattern(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """High-frequency patterns: checks, stripes, halftone dots or plaid, at a random angle."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi)
    u, v = x * np.cos(a) + y * np.sin(a), -x * np.sin(a) + y * np.cos(a)
    p = rng.uniform(4, 18)
    kind = rng.integers(4)
    if kind == 0:
        m = ((np.floor(u / p) + np.floor(v / p)) % 2).astype(np.float32)
    elif kind == 1:
        m = (np.sin(2 * np.pi * u / p) > 0).astype(np.float32)
    elif kind == 2:
        m = ((np.mod(u, p) - p / 2) ** 2 + (np.mod(v, p) - p / 2) ** 2 < (p * rng.uniform(0.2, 0.45)) ** 2)
        m = m.astype(np.float32)
    else:
        m = 0.5 * (np.sin(2 * np.pi * u / p) > 0.3) + 0.5 * (np.sin(2 * np.pi * v / (p * 1.7)) > 0.3)
    c0, c1 = rng.integers(0, 256, 3).astype(np.float32), rng.integers(0, 256, 3).astype(np.float32)
    return np.clip(c0 + (c1 - c0) * m[..., None], 0, 255).astype(np.uint8)


def frame_background(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """RGB uint8 background of a kind in PLAIN_BACKGROUNDS or BUSY_BACKGROUNDS."""
    busy = {"fabric": _fabric, "playmat": _playmat, "pattern": _pattern}
    if kind in busy:
        return busy[kind](rng, h, w)
    half = background(rng, (h + 1) // 2, (w + 1) // 2, kind)  # smooth kinds: half resolution is 4x cheaper
    return cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)


# --- cards in holders ---------------------------------------------------------------------------------------

def holder_layer(face: np.ndarray, holder: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The face in its holder as premultiplied float32 RGB plus alpha, on a canvas around the face.

    Returns the layer (H', W', 4) and the face's offset (x, y) in it. Sleeves, toploaders and graded slabs are
    translucent plastic (a tinted, partly transparent border) with a reflected streak over everything; a
    slab also has its opaque grading label above the card.
    """
    fh, fw = face.shape[:2]
    margins = {"none": (0, 0, 0, 0), "sleeve": (0.025, 0.045, 0.025, 0.025), "toploader": (0.08, 0.14, 0.08, 0.08),
               "slab": (0.12, 0.55, 0.12, 0.1)}[holder]  # left, top, right, bottom; fractions of the face width
    ml, mt, mr, mb = (int(round(m * fw)) for m in margins)
    h, w = fh + mt + mb, fw + ml + mr
    alpha = np.zeros((h, w), np.float32)
    rgb = np.zeros((h, w, 3), np.float32)
    if holder != "none":
        alpha[:] = rng.uniform(0.15, 0.4)
        rgb[:] = rng.uniform(200, 255) * (1 - rng.uniform(0, 0.08, 3))  # faintly tinted plastic
        edge = max(1, int(0.012 * fw))
        alpha[:edge], alpha[-edge:], alpha[:, :edge], alpha[:, -edge:] = 0.7, 0.7, 0.7, 0.7  # the lit rim
        if holder == "slab":
            top = int(0.06 * fw)
            label = (slice(top, mt - int(0.06 * fw)), slice(ml, w - mr))
            alpha[label], rgb[label] = 1.0, rng.choice([[245, 245, 240], [200, 30, 40], [240, 235, 200]])
            lh = label[0].stop - label[0].start
            for k in range(int(rng.integers(2, 5))):  # lines of print on the label
                y = label[0].start + int((k + 0.7) * lh / 5)
                x1 = ml + int(rng.uniform(0.05, 0.2) * fw)
                rgb[y:y + max(1, lh // 10), x1:x1 + int(rng.uniform(0.3, 0.7) * fw)] = 20
    rgb *= alpha[..., None]
    alpha[mt:mt + fh, ml:ml + fw] = 1.0
    rgb[mt:mt + fh, ml:ml + fw] = face.astype(np.float32)
    if holder != "none":  # a reflected streak across the plastic and the card under it
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0.3, 1.3)
        d = gx * np.cos(ang) - gy * np.sin(ang) - rng.uniform(-0.3, 0.8) * max(h, w)
        rgb += (rng.uniform(25, 90) * np.exp(-(d / (rng.uniform(0.03, 0.1) * max(h, w))) ** 2))[..., None]
    return np.dstack([rgb, alpha]), np.float32([ml, mt])


def card_quad(rng: np.random.Generator, long_side: float, angle_deg: float, tilt_deg: float,
              focal: float) -> np.ndarray:
    """Image of an upright card (TL, TR, BR, BL), centred at the origin, after an in-plane rotation and a tilt
    of its plane about a random in-plane axis, through a pinhole camera at the distance where the untilted
    card's long side is ``long_side`` pixels."""
    hw, hh = long_side * CARD_ASPECT / 2, long_side / 2
    pts = np.float64([[-hw, -hh, 0], [hw, -hh, 0], [hw, hh, 0], [-hw, hh, 0]])
    a = np.deg2rad(angle_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    axis = np.array([*(lambda p: (np.cos(p), np.sin(p)))(rng.uniform(0, np.pi)), 0.0])
    t = np.deg2rad(tilt_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rt = np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k  # Rodrigues
    p = pts @ (rt @ rz).T + np.array([0, 0, focal])
    return (focal * p[:, :2] / p[:, 2:3]).astype(np.float32)


def _visible_fraction(quad: np.ndarray, h: int, w: int) -> float:
    frame = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    inter, _ = cv2.intersectConvexConvex(np.asarray(quad, np.float32), frame)
    return float(inter) / max(float(cv2.contourArea(np.asarray(quad, np.float32))), 1e-6)


def _grown(q: np.ndarray, f: float = 1.08) -> np.ndarray:
    return ((q - q.mean(0)) * f + q.mean(0)).astype(np.float32)


def _place(rng: np.random.Generator, quad: np.ndarray, h: int, w: int, partial: bool, taken: list[np.ndarray],
           tries: int = 100) -> np.ndarray | None:
    """Shift a centred quad into the frame: fully inside (3 px margin) without touching ``taken``, or, when
    ``partial``, with 15-50 % of its area outside."""
    lo, hi = quad.min(0), quad.max(0)
    for _ in range(tries):
        if partial:
            c = rng.uniform([-0.3 * (hi[0] - lo[0]), -0.3 * (hi[1] - lo[1])],
                            [w + 0.3 * (hi[0] - lo[0]), h + 0.3 * (hi[1] - lo[1])])
        else:
            if np.any(hi - lo > np.array([w, h]) - 6):
                return None
            c = rng.uniform([3 - lo[0], 3 - lo[1]], [w - 3 - hi[0], h - 3 - hi[1]])
        q = (quad + c).astype(np.float32)
        if partial and not 0.5 <= _visible_fraction(q, h, w) <= 0.85:
            continue
        if not any(cv2.intersectConvexConvex(_grown(q), _grown(o))[0] > 0 for o in taken):
            return q
    return None


def _composite(frame: np.ndarray, layer: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Premultiplied ``layer`` warped by ``homography`` over ``frame`` (float32), within its bounding box only."""
    h, w = frame.shape[:2]
    lh, lw = layer.shape[:2]
    box = cv2.perspectiveTransform(np.float32([[[0, 0], [lw, 0], [lw, lh], [0, lh]]]), homography)[0]
    x0, y0 = np.clip(np.floor(box.min(0)).astype(int) - 2, 0, [w, h])
    x1, y1 = np.clip(np.ceil(box.max(0)).astype(int) + 2, 0, [w, h])
    if x1 <= x0 or y1 <= y0:
        return frame
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(layer, shift @ homography, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT)
    roi = frame[y0:y1, x0:x1]
    frame[y0:y1, x0:x1] = roi * (1 - warped[..., 3:4]) + warped[..., :3]
    return frame


@dataclass
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    cards: list[dict]  # per card: index (into the faces given), corners, fully_visible, visible_fraction, holder


def render_frame(faces: list[np.ndarray], pick, spec: SceneSpec, rng: np.random.Generator,
                 size: tuple[int, int]) -> Frame:
    """One frame of ``spec``; ``pick(rng)`` chooses the index of each card's face in ``faces``."""
    h, w = size
    frame = frame_background(rng, h, w, str(rng.choice(spec.backgrounds))).astype(np.float32)
    focal = 1.1 * max(h, w)
    taken, cards = [], []
    for n in range(int(rng.integers(spec.cards[0], spec.cards[1] + 1))):
        i = pick(rng)
        face = np.asarray(faces[i])
        holder = str(rng.choice(spec.holders))
        layer, offset = holder_layer(face, holder, rng)
        fh, fw = face.shape[:2]
        src = np.float32([[0, 0], [fw - 1, 0], [fw - 1, fh - 1], [0, fh - 1]])
        for attempt in range(50):  # a pose that fits (large cards may need another angle, then a smaller size)
            height = rng.uniform(*spec.height) * h
            quad = card_quad(rng, height, rng.uniform(*spec.angle), rng.uniform(*spec.tilt), focal)
            m = cv2.getPerspectiveTransform(src, quad)
            lh, lw = layer.shape[:2]
            outline = cv2.perspectiveTransform(np.float32([[[0, 0], [lw - 1, 0], [lw - 1, lh - 1], [0, lh - 1]]])
                                               - offset, m)[0]  # the holder's outline
            placed = _place(rng, outline, h, w, spec.partial and n == 0, taken)
            if placed is not None:
                break
            if attempt % 10 == 9:
                spec = replace(spec, height=(spec.height[0] * 0.95, spec.height[1] * 0.95))
        else:
            if n == 0:
                raise RuntimeError(f"could not place a card in a {w}x{h} frame")
            break
        shift = placed[0] - outline[0]
        quad = quad + shift
        hm = cv2.getPerspectiveTransform(src + offset, quad.astype(np.float32))
        frame = _composite(frame, layer, hm)
        if rng.random() < spec.glare:
            frame = _glare(frame, quad, rng)
        taken.append(placed)
        vis = _visible_fraction(quad, h, w)
        inside = bool(np.all((quad >= 0) & (quad <= np.float32([w - 1, h - 1]))))
        cards.append({"index": int(i), "corners": quad.round(2).tolist(), "fully_visible": inside,
                      "visible_fraction": round(vis, 4), "holder": holder})
    return Frame(_camera(frame, spec, rng), cards)


def _glare(frame: np.ndarray, quad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A specular highlight (often clipping to white) and rainbow foil sheen over one card."""
    h, w = frame.shape[:2]
    size = float(np.linalg.norm(quad[2] - quad[0]))
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = quad.mean(0) + rng.uniform(-0.15, 0.15, 2) * size
    r = rng.uniform(0.06, 0.2) * size
    frame = frame + rng.uniform(120, 260) * np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * r * r))[..., None]
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1.0)
    return frame + holo_sheen(rng, gx, gy, int(size), int(size), 0.8) * mask[..., None]


def _camera(frame: np.ndarray, spec: SceneSpec, rng: np.random.Generator) -> np.ndarray:
    """Exposure, a light gradient, white balance, defocus or motion blur and sensor noise (float32 throughout)."""
    h, w = frame.shape[:2]
    d = rng.uniform(-0.25, 0.25, 2)
    ramp = (np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None] * d[1]
            + np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :] * d[0])
    gain = (rng.uniform(*spec.light) * (1 + rng.uniform(-0.08, 0.08, 3))).astype(np.float32)
    frame = np.clip(frame * (1 + ramp)[..., None] * gain, 0, 255)
    sigma = rng.uniform(*spec.blur) * h / 720
    if sigma > 0.3:
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    if rng.random() < spec.motion:
        frame = motion_blur(frame, rng, rng.uniform(4, 14) * h / 720)
    noise = np.empty_like(frame)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(noise, (0.0,) * 3, (float(rng.uniform(*spec.noise)),) * 3)  # much faster than numpy normal
    frame += noise
    return np.clip(frame, 0, 255).round().astype(np.uint8)


# --- the frames of a split ----------------------------------------------------------------------------------

def render_split(faces: np.ndarray, card_ids: list[str], unknown: set[str], cfg: dict, split: str,
                 out_dir: Path) -> dict:
    """Render ``cfg["per_category"][split]`` frames of every category into ``out_dir`` (``frame_NNNN.jpg``)
    and write ``labels.json``. Each card is one not in the evaluation gallery (``unknown``) with probability
    ``cfg["unknown_share"]``; its expected answer is then "unknown"."""
    known_idx = [i for i, c in enumerate(card_ids) if c not in unknown]
    unknown_idx = [i for i, c in enumerate(card_ids) if c in unknown]
    if not known_idx:
        raise ConfigError("frames: every card is held out as unknown; lower evaluate.unknown_fraction")

    def pick(rng: np.random.Generator) -> int:
        pool = unknown_idx if unknown_idx and rng.random() < cfg["unknown_share"] else known_idx
        return int(pool[int(rng.integers(len(pool)))])

    out_dir.mkdir(parents=True, exist_ok=True)
    rows, n = [], 0
    for cat in cfg["categories"]:
        for _ in range(cfg["per_category"][split]):
            rng = stream_seed(cfg["seed"], split, FRAMES_KEY, n)
            fr = render_frame(faces, pick, CATEGORIES[cat], rng, tuple(cfg["size"]))
            name = f"frame_{n:04d}.jpg"
            cv2.imwrite(str(out_dir / name), cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, int(cfg["jpeg_quality"])])
            cards = []
            for c in fr.cards:
                cid = card_ids[c.pop("index")]
                cards.append({"card_id": cid, "expected": "unknown" if cid in unknown else cid, **c})
            rows.append({"file": name, "category": cat, "cards": cards})
            n += 1
    labels = {"split": split, "size": list(cfg["size"]), "frames": rows}
    (out_dir / "labels.json").write_text(json.dumps(labels, indent=1))
    return labels
