"""Is the band between two nested card-shaped quads a clear plastic holder, or the card's own border?

A sleeve, toploader or graded slab is translucent: what lies under its margin is the background, seen through a
faint haze (a fraction ``a`` of grey-white plastic at level ``P``). Just inside the holder's outline the colour is
then ``(1 - a) x`` the background's just outside it ``+ a x P``, with one ``a`` for the whole holder and in every
colour channel. A card's printed border (the band around its artwork panel) is opaque: its colour does not
follow the background's. ``haze_fit`` measures how well the haze model explains the mean colours of each side's
band against those just outside the outer outline.
"""
from __future__ import annotations

import cv2
import numpy as np

_NEXT = [1, 2, 3, 0]
_A = np.linspace(0.0, 0.45, 10)     # plastic opacities tried
HAZE_TOL = 0.07                     # plastic: the haze model's residual is below this x the samples' level
DEPTHS = (0.25, 0.5, 0.75)          # where across the band the model is tested


def side_means(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray,
               samples: int = 24, depths: tuple[float, ...] = DEPTHS) -> tuple[np.ndarray, np.ndarray]:
    """Mean colours (len(depths), 4, 3) along each side inside the outer outline (each depth of the way into the
    band towards ``inner``) and as far outside it; both quads ordered alike (corner k of ``inner`` nearest
    corner k of ``outer``), input pixels."""
    o, i = outer.astype(np.float64), inner.astype(np.float64)
    ts = np.linspace(0.15, 0.85, samples)[None, :, None]
    po = o[:, None] + ts * (o[_NEXT] - o)[:, None]                     # (4, S, 2) on the outer sides
    step = (i[:, None] + ts * (i[_NEXT] - i)[:, None]) - po            # to the matching points on the inner sides
    d = np.asarray(depths)[:, None, None, None]
    pts = np.concatenate([po + d * step, po - d * step]).astype(np.float32)   # (2D, 4, S, 2): inside, outside
    px = cv2.remap(rgb, pts[..., 0].reshape(-1, samples), pts[..., 1].reshape(-1, samples), cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    means = px.reshape(2 * len(depths), 4, samples, 3).astype(np.float64).mean(2)
    return means[:len(depths)], means[len(depths):]


def haze_fit(inside: np.ndarray, outside: np.ndarray, sides: np.ndarray | None = None) -> tuple[float, float]:
    """(RMS residual of the best haze model on the sides' mean colours (4, 3) in grey levels, and that relative to
    the samples' median level: the light's gain scales both), over the two best-fitting sides (a slab's opaque
    label or a reflection may spoil the others) or over all the ``sides`` (a mask) given. Plastic brightens
    towards its level ``P`` (at most white): ``a P`` is capped at ``a x 255``."""
    r = inside[None] - (1 - _A)[:, None, None] * outside[None]        # (A, 4, 3) = a P for plastic, every channel
    ap = np.clip(r.mean(2, keepdims=True), -5.0, _A[:, None, None] * 255 + 5.0)   # one level per side (streaks)
    mse = ((r - ap) ** 2).mean(2)                                      # (A, 4)
    per_a = np.sort(mse, axis=1)[:, :2].mean(1) if sides is None else mse[:, sides].mean(1)
    best = float(np.sqrt(per_a.min()))
    return best, best / float(max(np.median(inside), np.median(outside), 1.0))


def is_holder(rgb: np.ndarray, outer: np.ndarray, inner: np.ndarray, sides: np.ndarray | None = None,
              clear: float = 0.0) -> bool:
    """The band between ``outer`` and the card-shaped ``inner`` quad (input pixels, ordered alike) is translucent
    plastic over the background (a sleeve, toploader or slab around the card), not the card's printed border:
    the haze model holds a quarter, half and three quarters of the way across the band; of those, only the depths
    at least ``clear`` px from both outlines (by the median distance of matching corners) when there are any."""
    width = float(np.median(np.hypot(*(inner - outer).T)))
    depths = tuple(d for d in DEPTHS if min(d, 1 - d) * width >= clear) or DEPTHS
    inside, outside = side_means(rgb, outer, inner, depths=depths)
    return all(haze_fit(i, o, sides)[1] < HAZE_TOL for i, o in zip(inside, outside))
