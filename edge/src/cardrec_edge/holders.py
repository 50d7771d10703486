"""Is the band between two nested card-shaped quads a clear plastic holder, or the card's own border?

A sleeve, toploader or graded slab is translucent: what lies under its margin is the background, seen through a
faint haze (a fraction ``a`` of grey-white plastic at level ``P``). Just inside the holder's outline each pixel is
then ``(1 - a) x`` the background pixel just outside it ``+ a x P``, the same ``a`` and ``P`` along the whole
outline and in every colour channel, so the margin follows the background's texture and colour. A card's printed
border (the band around its artwork panel) is opaque: its colour does not follow the background's. ``haze_fit``
measures how well the haze model explains the pairs of samples across the outer outline.
"""
from __future__ import annotations

import cv2
import numpy as np

_NEXT = [1, 2, 3, 0]
_A = np.linspace(0.0, 0.45, 10)     # plastic opacities tried
HAZE_TOL = 0.07                     # plastic: the haze model's residual is below this x the samples' level
DEPTHS = (0.25, 0.5, 0.75)          # where across the band the model is tested
_ALONG = np.arange(-3.0, 4.0)       # each sample: the mean of 7 pixels along the side (against sensor noise)


def _pairs(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, samples: int,
           depth: float) -> tuple[np.ndarray, np.ndarray]:
    """Colours (4, S, 3) inside the outer outline (``depth`` of the way into the band towards ``inner``) and as far
    outside it; both quads ordered alike (corner k of ``inner`` nearest corner k of ``outer``)."""
    o, i = outer.astype(np.float64), inner.astype(np.float64)
    ts = np.linspace(0.15, 0.85, samples)[None, :, None]
    po = o[:, None] + ts * (o[_NEXT] - o)[:, None]                     # (4, S, 2) on the outer sides
    pi = i[:, None] + ts * (i[_NEXT] - i)[:, None]                     # matching points on the inner sides
    step = (pi - po) * depth
    u = o[_NEXT] - o
    u /= np.hypot(u[:, 0], u[:, 1])[:, None]
    along = _ALONG[None, None, :, None] * u[:, None, None, :]          # (4, 1, T, 2): averaged against noise
    pts = np.concatenate([(po + step)[:, :, None] + along, (po - step)[:, :, None] + along])  # inside, outside
    pts = pts.reshape(8, -1, 2).astype(np.float32)
    px = cv2.remap(rgb, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    px = px.reshape(8, samples, len(_ALONG), 3).astype(np.float64).mean(2)
    return px[:4], px[4:]


def haze_fit(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, depth: float, samples: int = 24,
             sides: np.ndarray | None = None) -> tuple[float, float, float]:
    """(RMS residual of the best haze model on the sides' mean colours in grey levels, and that relative to the
    samples' median level: the light's gain scales both; and the plastic's opacity ``a``), over the two best-fitting sides (a slab's opaque label or a reflection may spoil others)
    or over all the ``sides`` (a mask) given.
    Plastic brightens towards its level ``P`` (at most white): ``a P`` is capped at ``a x 255``."""
    inside, outside = _pairs(rgb, outer, inner, samples, depth)
    mi, mo = inside.mean(1), outside.mean(1)                            # (4, 3)
    best, best_a = np.inf, 0.0
    for a in _A:
        r = mi - (1 - a) * mo                                           # = a P for plastic, in every channel
        ap = np.clip(r.mean(1, keepdims=True), -5.0, a * 255 + 5.0)     # one level per side (a streak varies it)
        mse = np.mean((r - ap) ** 2, axis=1)
        res = float(np.sqrt(np.sort(mse)[:2].mean() if sides is None else mse[sides].mean()))
        if res < best:
            best, best_a = res, float(a)
    level = float(max(np.median(mi), np.median(mo), 1.0))
    return best, best / level, best_a


def is_holder(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, sides: np.ndarray | None = None) -> bool:
    """The band between ``outer`` and the card-shaped ``inner`` quad (input pixels, ordered alike) is translucent
    plastic over the background (a sleeve, toploader or slab around the card), not the card's printed border:
    the haze model holds a quarter, half and three quarters of the way across the band."""
    return all(haze_fit(rgb, outer, inner, depth, sides=sides)[1] < HAZE_TOL for depth in DEPTHS)
