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
_A = np.linspace(0.0, 0.6, 13)      # plastic opacities tried
HAZE_FLOOR = 8.0                    # grey levels: a residual below this is noise, whatever the band's texture
HAZE_RATIO = 1.5                    # ... or below this many times the band's own variation


def _pairs(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Colours (4, S, 3) inside the outer outline (a third of the way into the band towards ``inner``) and as far
    outside it; both quads ordered alike (corner k of ``inner`` nearest corner k of ``outer``)."""
    o, i = outer.astype(np.float64), inner.astype(np.float64)
    ts = np.linspace(0.15, 0.85, samples)[None, :, None]
    po = o[:, None] + ts * (o[_NEXT] - o)[:, None]                     # (4, S, 2) on the outer sides
    pi = i[:, None] + ts * (i[_NEXT] - i)[:, None]                     # matching points on the inner sides
    step = (pi - po) / 3
    pts = np.concatenate([po + step, po - step]).astype(np.float32)  # inside, outside
    px = cv2.remap(rgb, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    px = px.astype(np.float64)
    return px[:4], px[4:]


def haze_fit(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, samples: int = 24) -> tuple[float, float]:
    """(RMS residual of the best haze model, RMS of the band's own variation about its per-side mean colour), in
    grey levels, over the two best-fitting sides (a slab's opaque label or a reflection may spoil the others)."""
    inside, outside = _pairs(rgb, outer, inner, samples)
    best = np.inf
    for a in _A:
        r = inside - (1 - a) * outside                                  # = a P for plastic
        ap = np.median(r, axis=(1, 2), keepdims=True)                   # one level per side (a streak varies it)
        best = min(best, float(np.sqrt(np.sort(np.mean((r - ap) ** 2, axis=(1, 2)))[:2].mean())))
    spread = float(np.sqrt(np.median(np.mean((inside - inside.mean(1, keepdims=True)) ** 2, axis=(1, 2)))))
    return best, spread


def is_holder(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray) -> bool:
    """The band between ``outer`` and the card-shaped ``inner`` quad (input pixels, ordered alike) is translucent
    plastic over the background (a sleeve, toploader or slab around the card), not the card's printed border."""
    res, spread = haze_fit(rgb, outer, inner)
    return res < max(HAZE_FLOOR, HAZE_RATIO * spread)
