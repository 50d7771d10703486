"""Model-free card detection and rectification (numpy + OpenCV only).

``find_cards`` looks for card-shaped quadrilaterals in a frame:

1. downscale (2x INTER_AREA steps to a long side below 2x ``DETECT_LONG_SIDE``, then INTER_LINEAR to it); Canny
   on the grey and on a chroma channel (max - min of R, G, B: a silver border on a coloured mat of equal grey),
   thresholds from the median Sobel magnitude (their floors lower in a dim frame, whose card edges are dim too);
2. every contour (``RETR_LIST``: cards inside toploaders/slabs and several cards are all seen) -> convex hull ->
   4-gon (``approxPolyDP`` while it fits the hull, else ``minAreaRect``). For a concave loop (clutter touching the
   outline: wood grain, a cable) also the hull of the filled loop after a morphological opening. Then, where no
   card was found, the outer contours of the edge map after a morphological closing (``CLOSE_SIZE``): an outline
   the edge map has only in dashes (a pale card on a pale background, a small or blurred card, glare on a side);
3. each side is re-found among the edge pixels near it by a small Hough search (9 tilts x 0.5 px offsets; within a
   narrow band the outermost strong line wins, as a card's border and art edges lie inside its outline; else the
   nearest within a wide band), refit on the side's middle 80 % (rounded corners do not bias the corners) and
   scored by its edge coverage minus that of a parallel line just outside (texture and noise score ~0); an
   accepted quad whose aspect is off by more than LENGTHEN_ABOVE (one side on inner structure, e.g. the band under
   a full-art card's name) is also tried with one side moved out by the missing length and re-found there; a quad
   no other one contains may be a card's art box (card-shaped, lying across the card) whose card was missed: the
   card around it is tried too, fitted twice (``_around_art_box``); a quad longer than a card (SLAB_LONG; up to
   SLAB_MAX when its outline is strong, a slab with a tall label, too long to be a card itself) with no
   card found inside it may be a graded slab: a card at either end of it is tried too (``_in_a_slab``);
4. nested/overlapping quads are resolved: a same-orientation quad inside a bigger one, with a margin on every side
   that is clear plastic over the background (``holders.is_holder``) and a card's aspect, is a card in a
   sleeve/toploader/slab (the inner quad wins); any other quad inside a card is its border panel, art box or text
   box (the outer quad stays unless the inner one scores clearly better); the rest are taken largest first without
   overlap;
5. each kept side is snapped (twice) to the nearest strong step of full-resolution colour profiles across it; a
   side that is a sleeve's lit plastic rim moves in to the card's edge just inside it (``_out_of_sleeve``), and a
   side fitted to a graded slab's label (another colour beyond it than beyond the other sides) moves in across the
   plastic gap to the card (``_off_the_label``); corners are clipped to the frame.

A camera frame (1280x720: halved once) is searched at ``DETECT_LONG_SIDE``; a card-shaped frame (a tight shot, the
card large in it) at the coarser ``TIGHT_LONG_SIDE``, where the print's texture does not make quads of its own. A
frame that is not card-shaped and has no quad scoring WEAK_SCORE or more is searched once more at
``RETRY_LONG_SIDE``: a busy high-frequency print (fabric, a play mat) floods the edge map with its own edges (only the
card's art box may be found), and averages out to flat colour at that scale (``_merge_retry``).

When no quad is found and the frame itself has a card's aspect (a tight phone shot), one ``full_frame``
detection with the image corners is returned (not for a blank frame); it also replaces a lone large quad whose
aspect is clearly worse than the frame's (a bar across a card that fills the frame). A learned detector can
replace all of this: pass ``detector=callable(rgb) -> list[Detection]``, or propose rough quads to steps 3-5
(``proposals=``; ``benchmarks/frame_detection.py --propose-true-corners`` measures what they make of the true
corners: the most a proposing model could gain), or restrict the edge map to a band around the outlines a model
sees (``band=``): the bundle's card segmenter does that on frames the runtime is still unsure of
(``cardrec_edge.segment``; ``benchmarks/learned_detector.py`` measures it against this search alone).

``unrectify`` maps points of a rectified image back into the frame, ``snap_outline`` snaps an outline placed
from elsewhere (a verified homography: ``cardrec_edge.pipeline``) onto the card's edges, and ``card_of_halves`` gives
the card two found quads may be the halves of (a strong line across a card's middle, e.g. its art box's edge, splits
it into two card-shaped halves; two cards side by side look the same, so the pipeline keeps it only if it verifies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .holders import is_holder

CARD_ASPECT = 63 / 88
DETECT_LONG_SIDE = 640      # long side (px) of the downscaled frame the search runs on (a 1280x720 frame: halved) ...
TIGHT_LONG_SIDE = 480       # ... of a card-shaped frame (a tight shot: the card is large, its print texture too) ...
RETRY_LONG_SIDE = 240       # ... and of a frame searched again when no quad is strong (a busy print blurs out)
FULL_FRAME_SCORE = 0.5      # score of the full-frame fallback (a prior, not a measurement)
MIN_SCORE = 0.45            # quads scoring below this are dropped
WEAK_SCORE = 0.6            # a frame whose quads all score below this is searched again at RETRY_LONG_SIDE
ART_BOX = 0.6               # a quad under this share of a card's area inside it is part of its print
MIN_SIDE_SUPPORT = 0.2      # net edge coverage every side needs (0..1)
BLUR = 5                    # Gaussian kernel before Sobel/Canny (0: none)
EDGE_K = 3.0                # Canny high threshold = EDGE_K x median Sobel magnitude ...
EDGE_CAP = 150.0            # ... clipped to [floor, EDGE_CAP]; the low one is 0.4 x the high one
DIM_LEVEL = 60.0            # in a frame darker than this mean grey level the floors scale with its brightness ...
DIM_GAIN_MIN = 0.3          # ... down to this share of themselves
STRONG_LINE = 0.6           # a side's candidate lines: those with >= this fraction of the best line's pixels
STRONG_OUTLINE = 0.85       # a fitted quad scoring this much is not re-fitted from near copies inside it
CLEARLY_BETTER = 0.15       # score margin for a nested near-identical quad to replace the outer one
TIGHT_SHOT_AREA = 0.5       # a lone quad above this fraction of a card-shaped frame may be a partial outline
OPEN_AREA = 0.02            # the opening that frees a card's outline from clutter is sized for a card this large
MAX_ROUGH = 40              # at most this many rough quads are refined per frame (largest first)
HOLDER_ASPECT = 0.08        # a card in a holder has a card's aspect: at most this much worse than the holder's
HOLDER_MARGIN = 0.008      # a holder's margin is at least this x the card's size (sqrt of its area) on every side
RIM = 4.0                   # a lit plastic edge is this many grey levels brighter than both its sides (the plastic's
                            # haze lifts the margin inside it: a relative margin missed real cards' sleeves) ...
RIM_INSIDE = (0.025, 2.5, 4.0)  # ... and than the level this far inside it: x the card's short side, within [2.5, 4] px
                            # (a rim is about 1 % of the short side wide, a printed border 4 % or more)
LABEL_CONTRAST = 0.4        # beyond a slab's label side: a colour this far (relative) from beyond the other sides ...
LABEL_DEPTH = 0.15          # ... there and this far (x the short side) beyond it (a label is wide) ...
LABEL_BAND = 0.6            # ... and inside it a band this close (relative) to the plastic beyond the other sides
SLEEVE_MARGIN = (0.015, 0.07)  # a sleeve's margin, past its rim, x the card's short side
SLEEVE_CLEAR = 4.0          # ... its plastic tested this many px clear of the rim and the card (blur) where it can be
ART_WIDTH = 0.88            # a card's art box: this share of its width, across it ...
ART_ENDS = (0.1, 0.45)      # ... the card reaching this share of its height beyond either end of the box ...
ART_SUPPORT = 0.7           # ... and a card re-found around such a quad needs this much side support
CLOSE_SIZE = 5              # a card outline broken into dashes is joined by a morphological closing this wide (px)
SLAB_LONG = 0.12            # a quad this much longer than a card's aspect may be a graded slab (card + label) ...
SLAB_MARGIN = 0.1           # ... whose card lies about this share of its width in from its sides and one end; a
SLAB_MAX = 0.4              # strong outline up to this much longer, too long to be a card itself, is tried as a slab
OUTLINE_SNAP = 0.006         # a verified card's outline is snapped to colour steps this close (x its diagonal)
LENGTHEN_ABOVE = 0.08       # a fitted quad this far from the card's aspect is also tried with one side moved out
HALVES_JOIN = 0.15          # two quads whose long sides meet end to end this close (x the short side) may be halves


@dataclass(frozen=True, eq=False)              # eq=False: identity equality/hash (corners is an array)
class Detection:
    """A card: ``corners`` (4, 2) float32 TL, TR, BR, BL of the portrait card (TL->TR a short side; upright vs
    180 degrees is ambiguous), in input pixel coordinates (pixel centres at integers); ``score`` 0..1 (edge
    support x aspect fit); ``full_frame`` when it is the frame itself (a tight shot, no quad found)."""

    corners: np.ndarray
    score: float
    full_frame: bool = False

    @property
    def area(self) -> float:
        return abs(_shoelace(self.corners))


Detector = Callable[[np.ndarray], "list[Detection]"]


# --- quad geometry -------------------------------------------------------------------------------------------

_ROTS = np.array([[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]])   # the 4 cyclic corner orders
_NEXT = _ROTS[1]


def _shoelace(q: np.ndarray) -> float:
    """Signed area, positive for a clockwise quad in image coordinates (y down)."""
    return float(cv2.contourArea(np.asarray(q, np.float32).reshape(-1, 1, 2), oriented=True))


def _sides(q: np.ndarray) -> np.ndarray:
    d = q[_NEXT] - q
    return np.hypot(d[:, 0], d[:, 1])


def side_ratio(q: np.ndarray) -> float:
    """Mean short side / mean long side of a quad (opposite sides averaged)."""
    s = _sides(np.asarray(q, np.float64))
    a, b = s[0] + s[2], s[1] + s[3]
    return float(min(a, b) / max(a, b)) if max(a, b) > 0 else 0.0


def _squareish(q: np.ndarray, max_cos: float = 0.57) -> bool:
    """Every corner angle within about 90 +- 35 degrees (a card seen in perspective, not a sliver)."""
    e = q[_NEXT] - q
    e = e / np.maximum(np.hypot(e[:, 0], e[:, 1]), 1e-9)[:, None]
    return bool(np.abs((e * e[_ROTS[3]]).sum(1)).max() <= max_cos)


def _short_side(q: np.ndarray) -> float:
    """The short side of a card of the quad's area (px): what depths across a card's sides are scaled by."""
    return float(np.sqrt(abs(_shoelace(q)) * CARD_ASPECT))


def aspect_error(q: np.ndarray) -> float:
    """Relative deviation of ``side_ratio(q)`` from the card's 63/88."""
    return abs(side_ratio(q) / CARD_ASPECT - 1)


def order_corners(q: np.ndarray) -> np.ndarray:
    """Clockwise (image coordinates) TL, TR, BR, BL with TL->TR a short side; of the two short sides the one
    nearer the top-left starts (an upright portrait card gets its real TL; 180 degrees stays ambiguous)."""
    q = np.asarray(q, np.float32).reshape(4, 2)
    if _shoelace(q) < 0:
        q = q[::-1]
    s = _sides(q)
    if s[0] + s[2] > s[1] + s[3]:
        q = q[_ROTS[1]]
    if q[2].sum() + q[3].sum() < q[0].sum() + q[1].sum():
        q = q[_ROTS[2]]
    return np.ascontiguousarray(q, dtype=np.float32)


def _intersect(l1: np.ndarray, l2: np.ndarray) -> np.ndarray | None:
    """Intersection of two lines given as (vx, vy, x0, y0)."""
    det = l1[1] * l2[0] - l1[0] * l2[1]
    if abs(det) < 1e-6:
        return None
    dx, dy = l2[2] - l1[2], l2[3] - l1[3]
    t = (l2[0] * dy - l2[1] * dx) / det
    return np.array([l1[2] + t * l1[0], l1[3] + t * l1[1]])


def _corners_of(lines: list[np.ndarray]) -> np.ndarray | None:
    """Corners from 4 side lines (side k runs from corner k to corner k+1)."""
    pts = [_intersect(lines[k - 1], lines[k]) for k in range(4)]
    return None if any(p is None for p in pts) else np.array(pts, np.float32)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection area of two convex quads."""
    return float(cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))[0])


def _long_axis(q: np.ndarray) -> np.ndarray:
    v = (q[3] - q[0]) + (q[2] - q[1])          # TL->BL plus TR->BR: the long sides of an ordered quad
    return v / (float(np.hypot(v[0], v[1])) + 1e-9)


# --- edge maps -----------------------------------------------------------------------------------------------

def _small_channels(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Grey and chroma (max - min of R, G, B), downscaled to a long side of about ``long_side``:
    2x INTER_AREA steps (OpenCV's fast path) on RGB, then INTER_LINEAR on the two single channels."""
    img = rgb
    while max(img.shape[:2]) >= 2 * long_side:
        h, w = img.shape[:2]
        img = cv2.resize(img[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    r, g, b = cv2.split(img)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    chroma = cv2.subtract(cv2.max(cv2.max(r, g), b), cv2.min(cv2.min(r, g), b))
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    if s < 0.87:
        size = (round(w * s), round(h * s))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
        chroma = cv2.resize(chroma, size, interpolation=cv2.INTER_LINEAR)
    return grey, chroma


def _median_u8(a: np.ndarray) -> float:
    """``np.median`` of a uint8 array from its histogram (the mean of the two middle values when their count is
    even), without sorting."""
    rank = np.cumsum(np.bincount(a.ravel(), minlength=256))
    return float(np.searchsorted(rank, (a.size - 1) // 2, side="right")
                 + np.searchsorted(rank, a.size // 2, side="right")) / 2


def _edge_map(channel: np.ndarray, floor: float) -> np.ndarray:
    """Canny edges of one channel, thresholds from its median Sobel magnitude (see EDGE_K, EDGE_CAP)."""
    blur = cv2.GaussianBlur(channel, (BLUR, BLUR), 0) if BLUR > 1 else channel
    dx, dy = cv2.Sobel(blur, cv2.CV_16S, 1, 0), cv2.Sobel(blur, cv2.CV_16S, 0, 1)
    mag = cv2.add(cv2.convertScaleAbs(dx[::4, ::4]), cv2.convertScaleAbs(dy[::4, ::4]))
    high = float(np.clip(EDGE_K * _median_u8(mag), floor, EDGE_CAP))
    return cv2.Canny(dx, dy, 0.4 * high, high)


# --- rough quads from contours -------------------------------------------------------------------------------

def hull_quad(hull: np.ndarray, hull_area: float) -> np.ndarray:
    """A 4-gon for a convex hull: approxPolyDP with a growing tolerance while it fits the hull, else the
    min-area rectangle (the side fit then absorbs perspective and small bumps)."""
    peri = cv2.arcLength(hull, True)
    for eps in (0.02, 0.035, 0.05, 0.08):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            if 0.87 < hull_area / max(abs(_shoelace(quad)), 1e-6) < 1.15:
                return quad
            break
        if len(approx) < 4:
            break
    return cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)


def _opened_quad(contour: np.ndarray, min_area: float, frame_area: float) -> np.ndarray | None:
    """The hull quad of a filled contour after a morphological opening: thin strands attached to a card's
    outline (wood grain, cables, a table edge) are removed, the solid card region stays. The kernel scales with
    OPEN_AREA of the frame's area ``frame_area`` (or ``min_area`` if larger)."""
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), np.uint8)
    cv2.drawContours(mask, [contour], 0, 255, cv2.FILLED, offset=(-x, -y))
    k = max(5, int(0.2 * np.sqrt(max(min_area, OPEN_AREA * frame_area) * CARD_ASPECT)) | 1)  # under a card's side
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    parts, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not parts:
        return None
    hull = cv2.convexHull(max(parts, key=cv2.contourArea))
    hull_area = cv2.contourArea(hull)
    quad = hull_quad(hull, hull_area)
    qa = abs(_shoelace(quad))
    if qa < min_area or not 0.8 < hull_area / qa < 1.2:
        return None
    return quad + np.float32([x, y])


def _rough_quads(edges: np.ndarray, min_area: float, tol: float, mode: int = cv2.RETR_LIST) -> list[np.ndarray]:
    """Rough card quads (small-image pixels, clockwise) from the contours of the edge map (``mode``: which ones,
    as ``cv2.findContours`` takes it), deduplicated."""
    contours, _ = cv2.findContours(edges, mode, cv2.CHAIN_APPROX_SIMPLE)
    found: list[tuple[float, np.ndarray]] = []
    for c in contours:
        if len(c) < 8:
            continue
        _, _, w, h = cv2.boundingRect(c)
        if w * h < min_area:
            continue
        hull = cv2.convexHull(c)
        hull_area = cv2.contourArea(hull)
        if hull_area < min_area:
            continue
        quad = hull_quad(hull, hull_area)
        qa = abs(_shoelace(quad))
        if qa > 0 and 0.8 < hull_area / qa < 1.2 and aspect_error(quad) <= tol + 0.1:
            found.append((qa, quad))
        if 0.3 * hull_area < cv2.contourArea(c) < 0.95 * hull_area:   # a concave loop: clutter on the outline?
            q = _opened_quad(c, min_area, edges.size)
            if q is not None and aspect_error(q) <= tol + 0.1:
                found.append((abs(_shoelace(q)), q))
    found.sort(key=lambda f: -f[0])
    out = np.empty((MAX_ROUGH, 4, 2), np.float32)
    n = 0
    for _, q in found:                       # not within 3 % of a larger one's corners (any rotation)
        q = order_corners(q)
        if n == 0 or (np.abs(q[_ROTS] - out[:n, None]).max(axis=(2, 3)).min(axis=1)
                      > 0.03 * np.sqrt(abs(_shoelace(q)))).all():
            out[n] = q
            n += 1
            if n == MAX_ROUGH:
                break
    return list(out[:n])


def _broken_outlines(edges: np.ndarray, min_area: float, tol: float) -> list[np.ndarray]:
    """Rough quads of outlines that the edge map has only in dashes (a pale card on a pale background, a small
    card, glare along a side): the outer contours of the map after a morphological closing (CLOSE_SIZE)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (CLOSE_SIZE, CLOSE_SIZE))
    return _rough_quads(cv2.morphologyEx(edges, cv2.MORPH_CLOSE, kernel), min_area, tol, cv2.RETR_EXTERNAL)


# --- side fitting on the edge map ----------------------------------------------------------------------------

_TILTS2 = 2 * np.linspace(-0.1, 0.1, 9, dtype=np.float32)   # 2 x tan of the tilts tried per side (+-6 deg)
_TILT_ROWS = np.arange(len(_TILTS2))[:, None]


def _ring_points(q: np.ndarray, edges: np.ndarray, d: float) -> np.ndarray:
    """Edge pixels (x, y) as float32 within about ``d`` px of the outline of the quad ``q``."""
    h, w = edges.shape
    r = int(np.ceil(d)) + 1
    x0, y0 = np.maximum(np.floor(q.min(0)).astype(int) - r, 0)
    x1, y1 = np.minimum(np.ceil(q.max(0)).astype(int) + r + 1, [w, h])
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 2), np.float32)
    ring = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.polylines(ring, [np.round(q - (x0, y0)).astype(np.int32)], True, 255, 2 * r + 1)
    nz = cv2.findNonZero(cv2.bitwise_and(edges[y0:y1, x0:x1], ring))
    return np.zeros((0, 2), np.float32) if nz is None else nz.reshape(-1, 2).astype(np.float32) + (x0, y0)


def _fit_quad(q: np.ndarray, edges: np.ndarray, only: int | None = None) -> tuple[np.ndarray, float]:
    """Re-find each side of the ordered quad ``q`` among nearby edge pixels; returns (quad, mean side support).
    Sides are first searched within ``band`` (outermost line), then within ``wide`` (nearest line). With ``only``
    just that side is re-found (the others keep their lines) and the support is that side's."""
    q = q.astype(np.float32)
    size = float(np.sqrt(abs(_shoelace(q))))
    band, wide = max(3.0, 0.05 * size), max(4.0, 0.15 * size)
    u = q[_NEXT] - q
    length = np.hypot(u[:, 0], u[:, 1])
    if length.min() < 8:
        return q, 0.0
    u /= length[:, None]
    n_out = np.stack([u[:, 1], -u[:, 0]], axis=1)              # outward normals of a clockwise quad
    frames = np.concatenate([u, n_out]).T                       # (2, 8): t and offset of each side

    def project(pts: np.ndarray) -> np.ndarray:
        return pts @ frames - np.concatenate([(q * u).sum(1), (q * n_out).sum(1)])

    near, far = project(_ring_points(q, edges, band + 2)), None
    lines, support = [], 0.0
    for k in range(4):
        if only is not None and k != only:
            lines.append(np.concatenate([u[k], q[k]]))
            continue
        fit = _fit_side(near[:, k], near[:, 4 + k], float(length[k]), band, True)
        if fit is None:
            far = project(_ring_points(q, edges, wide + 2)) if far is None else far
            fit = _fit_side(far[:, k], far[:, 4 + k], float(length[k]), wide, False)
        if fit is None:
            return q, 0.0
        a, b, s = fit                                           # offset = a + b * (t - length / 2)
        direction = u[k] + b * n_out[k]
        point = q[k] + u[k] * length[k] / 2 + a * n_out[k]
        lines.append(np.concatenate([direction / np.hypot(direction[0], direction[1]), point]))
        support += s if only is not None else s / 4
    new = _corners_of(lines)
    if new is None:
        return q, 0.0
    return new, support


def _fit_side(t: np.ndarray, off: np.ndarray, length: float, band: float,
              outermost: bool) -> tuple[float, float, float] | None:
    """One side from its edge pixels' positions ``t`` along it and ``off`` outward from it: a local Hough
    (tilt x 0.5 px offset bins) over those within ``band`` along its middle 80 % picks the outermost (or the
    nearest) line with >= STRONG_LINE of the best count at the dominant tilt; least squares on its inliers give
    ``off = a + b * (t - length / 2)``. Support: the side's coverage by the line minus that by a parallel line
    2.5 px outside (texture and noise cover both), 0..1; None below MIN_SIDE_SUPPORT or without a line."""
    m = (t > 0.1 * length) & (t < 0.9 * length) & (np.abs(off) < band + 1.5)
    t, off = t[m], off[m]
    if len(t) < 0.3 * length:
        return None
    tc = t - length / 2
    nb = int(4 * band) + 3                                      # 0.5 px bins plus one spill bin at each end
    bins = np.clip(np.rint((off + band) * 2 - tc * _TILTS2[:, None]).astype(np.intp) + 1, 0, nb - 1)
    hist = np.bincount((bins + _TILT_ROWS * nb).ravel(), minlength=len(_TILTS2) * nb).reshape(-1, nb)[:, 1:-1]
    hist = hist[:, :-1] + hist[:, 1:]                           # a line between two bins counts once
    row_max = hist.max(axis=1)
    ti = int(np.argmax(row_max))                                # the dominant tilt: parallel edges stay apart
    best = row_max[ti]
    if best < 0.3 * length:
        return None
    offs = (np.flatnonzero(hist[ti] >= STRONG_LINE * best) + 0.5) * 0.5 - band
    o = offs[-1] if outermost else offs[np.argmin(np.abs(offs))]
    inl = np.abs(off - o - tc * (_TILTS2[ti] / 2)) < 1.0
    if np.count_nonzero(inl) < 0.3 * length:
        return None
    ti_, oi = tc[inl], off[inl]
    mt, mo = ti_.mean(), oi.mean()
    var = float(((ti_ - mt) ** 2).mean())
    b = float(((ti_ - mt) * (oi - mo)).mean()) / var if var > 0 else 0.0
    a = float(mo - b * mt)
    res = off - a - b * tc                                      # > 0: outside the fitted line
    steps = t.astype(np.intp)
    on = np.count_nonzero(np.bincount(steps[np.abs(res) < 1.0], minlength=1))
    out = np.count_nonzero(np.bincount(steps[np.abs(res - 2.5) < 1.0], minlength=1))
    support = min(1.0, max(0.0, (on - out) / (0.8 * length)))
    return (a, b, support) if support >= MIN_SIDE_SUPPORT else None


def _card_shaped(q: np.ndarray, tol: float) -> bool:
    """A fitted quad that may be a card: its aspect within ``tol``, corners near right angles, convex."""
    return aspect_error(q) <= tol and _squareish(q) and bool(cv2.isContourConvex(q))


def _in_a_card(q: np.ndarray, cands: list[tuple[np.ndarray, float]]) -> bool:
    """``q`` lies (85 % of its area) inside a larger quad of ``cands`` scoring MIN_SCORE: a part of a card found
    whole, not a card missing its outline."""
    area = abs(_shoelace(q))
    return any(cs >= MIN_SCORE and abs(_shoelace(c)) > area and overlap(c, q) >= 0.85 * area for c, cs in cands)


def _lengthened(q: np.ndarray, edges: np.ndarray, support: float) -> list[tuple[np.ndarray, float]]:
    """A quad too short for a card along one axis (the band under a full-art card's name taken for its top edge)
    with one side moved outward by the missing length and re-found there: (quad, support) per side that fits."""
    s = _sides(q.astype(np.float64))
    short, long_ = (s[0] + s[2]) / 2, (s[1] + s[3]) / 2
    if short > CARD_ASPECT * long_:
        d, ks = short / CARD_ASPECT - long_, (0, 2)               # too short: a short side moves out
    else:
        d, ks = long_ * CARD_ASPECT - short, (1, 3)               # too narrow: a long side moves out
    u = q[_NEXT] - q
    u /= np.hypot(u[:, 0], u[:, 1])[:, None]
    n_out = np.stack([u[:, 1], -u[:, 0]], axis=1)
    out = []
    for k in ks:
        lines = [np.concatenate([u[i], q[i] + (d * n_out[i] if i == k else 0)]) for i in range(4)]
        moved = _corners_of(lines)
        if moved is None:
            continue
        fit, s_k = _fit_quad(moved.astype(np.float32), edges, only=k)
        if s_k > 0:
            out.append((fit, (3 * support + s_k) / 4))
    return out


def _around_art_box(q: np.ndarray, edges: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """A card's art box is card-shaped too, but lies across the card: its long sides run along the card's short
    ones, about ART_WIDTH of the card's width, and the card reaches further beyond one end of the box than the
    other (ART_ENDS of its height). The card around the ordered quad ``q`` under each of the two ends, re-found
    among the edge pixels near it, twice: (quad, support) for each that fits."""
    q = q.astype(np.float64)
    a, b = (q[1] - q[0] + q[2] - q[3]) / 2, (q[3] - q[0] + q[2] - q[1]) / 2   # the box's short and long side
    la, lb = float(np.hypot(*a)), float(np.hypot(*b))
    ua, ub = a / la, b / lb                                                   # card height along a, width along b
    width = lb / ART_WIDTH
    height = width / CARD_ASPECT
    centre = q.mean(0)
    out = []
    for near, far in (ART_ENDS, ART_ENDS[::-1]):
        lo, hi = -la / 2 - near * height, la / 2 + far * height               # along a, from the box's centre
        corners = [centre + ua * t + ub * s * width / 2 for t, s in ((lo, -1), (lo, 1), (hi, 1), (hi, -1))]
        fit, support = _fit_quad(order_corners(np.float32(corners)), edges)
        if support >= ART_SUPPORT:                  # re-found once more from there: a side guessed far inside
            again, s = _fit_quad(order_corners(fit), edges)       # the card lands on its text box or border
            out.append((again, s) if s >= ART_SUPPORT else (fit, support))   # panel, whose edge lies just inside
    return out


def _in_a_slab(q: np.ndarray, edges: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """A graded slab holds the card at one end and its label at the other, so its outline is longer than a card's
    (SLAB_LONG) and may be all that the contour search found. The card at either end of the ordered quad ``q``:
    a card-shaped quad SLAB_MARGIN of its width in from its long sides and that end, re-found among the edge
    pixels near it: (quad, support) for each that fits. ``_resolve`` then takes it out of the slab only if the
    band between them is clear plastic (``holders.is_holder``)."""
    q = q.astype(np.float64)
    a, b = (q[1] - q[0] + q[2] - q[3]) / 2, (q[3] - q[0] + q[2] - q[1]) / 2   # short side (width), long side
    la, lb = float(np.hypot(*a)), float(np.hypot(*b))
    ua, ub = a / la, b / lb
    width = la * (1 - 2 * SLAB_MARGIN)
    height = width / CARD_ASPECT
    centre = q.mean(0)
    out = []
    for end in (-1, 1):
        near = end * (lb / 2 - SLAB_MARGIN * la)                              # the card's edge at that end
        far = near - end * height
        corners = [centre + ua * s * width / 2 + ub * t for t, s in ((near, -1), (near, 1), (far, 1), (far, -1))]
        fit, support = _fit_quad(order_corners(np.float32(corners)), edges)
        if support > 0:
            out.append((fit, support))
    return out


# --- nested / overlapping quads ------------------------------------------------------------------------------

def _moved_sides(inner: np.ndarray, outer: np.ndarray, tol: float) -> int:
    """How many sides of ``inner`` lie more than ``tol`` px from the matching side of ``outer`` (both ordered)."""
    q = inner[_ROTS[int(np.argmin(np.abs(inner[_ROTS] - outer).sum(axis=(1, 2))))]]
    u = outer[_NEXT] - outer
    n = np.stack([-u[:, 1], u[:, 0]], axis=1) / np.hypot(u[:, 0], u[:, 1])[:, None]
    mid = (q + q[_NEXT]) / 2
    return int(np.count_nonzero(np.abs(((mid - outer) * n).sum(1)) > tol))


def _needs_no_fit(q: np.ndarray, card: np.ndarray, score: float) -> bool:
    """``q`` (ordered) lies inside the fitted ``card`` and is much smaller or cross-oriented (an art box), or a
    near copy inside a strongly supported outline (its inner border): _resolve would drop it anyway."""
    area, card_area = abs(_shoelace(q)), abs(_shoelace(card))
    if area > 1.05 * card_area or overlap(card, q) < 0.85 * area:
        return False
    if area > 0.8 * card_area:
        return score >= STRONG_OUTLINE
    return area < 0.2 * card_area or abs(float(_long_axis(card) @ _long_axis(q))) < 0.5


def _resolve(cands: list[tuple[np.ndarray, float]], max_cards: int,
             holder: Callable[[np.ndarray, np.ndarray], bool]) -> list[tuple[np.ndarray, float]]:
    """Outermost first, each quad is compared with the smallest kept quad containing it:

    * same orientation, 20 % of its area or more, a margin on all four sides, and ``holder(outer, inner)`` (the
      band between them is clear plastic over the background, ``cardrec_edge.holders``): a card in a sleeve /
      toploader / slab: the inner one replaces it, once (a card's silver border can pass the plastic test too:
      the panel inside it must not replace the card taken out of its holder);
    * else near-identical (>= 80 % of its area): the inner one snapped some sides to the card's inner structure
      (or is its border panel), so the outer one stays unless the inner one scores CLEARLY_BETTER;
    * otherwise the card's own border panel, art box or other feature of the card: dropped.

    Quads partly overlapping a kept one are dropped; at most ``max_cards`` are returned, largest first."""
    kept: list[tuple[np.ndarray, float]] = []
    unwrapped: set[int] = set()
    for q, s in sorted(cands, key=lambda c: -abs(_shoelace(c[0]))):
        if s < MIN_SCORE:
            continue
        area = abs(_shoelace(q))
        over = [(overlap(k, q), i) for i, (k, _) in enumerate(kept)]
        if any(0.1 * min(area, abs(_shoelace(kept[i][0]))) < o < 0.85 * area for o, i in over):
            continue                                          # partly overlaps a kept card
        holders = [i for o, i in over if o >= 0.85 * area]
        if not holders:
            kept.append((q, s))
            continue
        i = min(holders, key=lambda i: abs(_shoelace(kept[i][0])))
        k, sk = kept[i]
        ratio = area / abs(_shoelace(k))
        if i not in unwrapped and ratio >= 0.2 and abs(float(_long_axis(k) @ _long_axis(q))) > 0.85 \
                and aspect_error(q) <= aspect_error(k) + HOLDER_ASPECT \
                and _moved_sides(q, k, HOLDER_MARGIN * np.sqrt(area)) == 4 and holder(k, q):
            kept[i] = (q, s)
            unwrapped.add(i)
        elif ratio >= 0.8:
            if s > sk + CLEARLY_BETTER:
                kept[i] = (q, s)
    return sorted(kept, key=lambda c: -abs(_shoelace(c[0])))[:max_cards]


# --- full-resolution snapping --------------------------------------------------------------------------------

def _step_lines(rgb: np.ndarray, q: np.ndarray, lo: float, hi: float, samples: int = 24, inward: bool = False,
                sides: np.ndarray | None = None) -> np.ndarray | None:
    """Each side of the ordered quad ``q`` (input pixels) moved onto a strong colour step between ``lo`` and ``hi``
    px along its outward normal, sampled at full resolution (a robust line fit over ``samples`` profiles per
    side): the step nearest the side, or with ``inward`` the outermost one (lo < hi <= 0); only the ``sides``
    (a mask) if given. Returns the new corners, None when a side has no clear step (with ``inward``) or the
    lines do not meet; without ``inward`` sides without clear steps stay put."""
    ts = np.linspace(0.12, 0.88, samples)
    ds = np.arange(np.floor(lo) - 2, np.ceil(hi) + 3, dtype=np.float64)
    p0 = q.astype(np.float64)
    e = p0[_NEXT] - p0
    u = e / np.hypot(e[:, 0], e[:, 1])[:, None]
    n_out = np.stack([u[:, 1], -u[:, 0]], axis=1)
    base = p0[:, None, :] + ts[None, :, None] * e[:, None, :]                      # (4, S, 2)
    grid = (base[:, :, None, :] + ds[None, None, :, None] * n_out[:, None, None, :]).astype(np.float32)
    grid = grid.reshape(4 * samples, len(ds), 2)
    prof = cv2.remap(rgb, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    prof = prof.astype(np.float32)
    g = np.abs(prof[:, 2:] - prof[:, :-2]).sum(-1)                                # (4S, D-2), at ds[1:-1]
    mid = g[:, 1:-1]
    d_mid = ds[2:-2]
    inside = (d_mid >= lo) & (d_mid <= hi)
    peak = np.where(inside, mid, 0).max(1, keepdims=True)
    is_max = (mid >= g[:, :-2]) & (mid >= g[:, 2:]) & (mid >= 0.5 * peak) & (peak >= 30) & inside
    if inward:
        i = np.argmax(np.where(is_max, d_mid, -np.inf), axis=1)                   # the outermost step
    else:
        i = np.argmin(np.where(is_max, np.abs(d_mid), np.inf), axis=1)            # the step nearest the side
    rows = np.arange(len(g))
    a, b, c = g[rows, i], g[rows, i + 1], g[rows, i + 2]
    den = a - 2 * b + c
    frac = np.clip(0.5 * (a - c) / np.where(np.abs(den) > 1e-6, den, np.inf), -0.5, 0.5)
    off = (ds[i + 2] + frac).reshape(4, samples)                                   # per side and profile
    w = is_max.any(1).reshape(4, samples).astype(np.float64)
    tt = ts - 0.5
    for _ in range(2):                                                             # fit, drop outliers, refit
        n = np.maximum(w.sum(1), 1e-9)
        mt, mo = (w * tt).sum(1) / n, (w * off).sum(1) / n
        var = (w * (tt - mt[:, None]) ** 2).sum(1)
        slope = (w * (tt - mt[:, None]) * (off - mo[:, None])).sum(1) / np.maximum(var, 1e-9)
        res = np.abs(off - mo[:, None] - slope[:, None] * (tt - mt[:, None]))
        mres = (w * res).sum(1) / n
        w = w * (res < np.maximum(1.5, 2.5 * mres)[:, None])
    move = np.ones(4, bool) if sides is None else sides
    good = (w.sum(1) >= samples // 3) & move
    if inward and not good[move].all():
        return None
    icpt = np.where(good, mo - slope * mt, 0.0)                                    # offset at the side's middle
    slope = np.where(good, slope, 0.0)
    dirs = e + slope[:, None] * n_out
    dirs /= np.hypot(dirs[:, 0], dirs[:, 1])[:, None]
    points = p0 + 0.5 * e + icpt[:, None] * n_out
    return _corners_of(list(np.concatenate([dirs, points], axis=1)))


def _snap(rgb: np.ndarray, q: np.ndarray, radius: int) -> np.ndarray:
    """Each side of the ordered quad ``q`` (input pixels) onto the strong colour step nearest to it within
    ``radius`` px (see ``_step_lines``), twice: a side tilted off the card's edge is partly corrected by the first
    pass (its far end lies beyond ``radius``) and finished by the second. A pass that moves a corner by more than
    3 x ``radius`` is not taken."""
    for _ in range(2):
        new = _step_lines(rgb, q, -radius, radius)
        if new is None or np.abs(new - q).max() > 3 * radius:
            break
        q = new
    return q


def _inside(q: np.ndarray, shape: tuple[int, ...], margin: float) -> bool:
    """Every corner at least ``margin`` px inside the frame: what lies just outside the quad was seen."""
    h, w = shape[:2]
    return bool((q.min() >= margin) & (q[:, 0].max() <= w - 1 - margin) & (q[:, 1].max() <= h - 1 - margin))


def _lit_rims(rgb: np.ndarray, q: np.ndarray, samples: int = 24) -> np.ndarray:
    """Which sides of the ordered quad ``q`` are a lit plastic edge: a bright ridge within 2 px inside the
    outline, RIM grey levels above both the level 3 px outside and the level RIM_INSIDE inside it (median grey
    profile across the side). A card's printed border is wider than a rim: it is still bright there (on a small card
    a fixed 4 px reached past a silver border, which then passed for a rim). A (4,) bool mask."""
    frac, lo, hi = RIM_INSIDE
    inside = float(np.clip(frac * _short_side(q), lo, hi))
    ds = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -inside])             # +3 (outside) ... inside
    p0 = q.astype(np.float64)
    e = p0[_NEXT] - p0
    u = e / np.hypot(e[:, 0], e[:, 1])[:, None]
    n_out = np.stack([u[:, 1], -u[:, 0]], axis=1)
    base = p0[:, None, :] + np.linspace(0.15, 0.85, samples)[None, :, None] * e[:, None, :]
    grid = (base[:, :, None, :] + ds[None, None, :, None] * n_out[:, None, None, :]).astype(np.float32)
    v = cv2.remap(rgb, *np.moveaxis(grid.reshape(-1, len(ds), 2), -1, 0), cv2.INTER_LINEAR,
                  borderMode=cv2.BORDER_REPLICATE).astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
    v = _median(v.reshape(4, samples, len(ds)), axis=1)
    peak = v[:, 3:6].max(1)                                                     # 0 ... -2 px
    return peak - np.maximum(v[:, 0], v[:, -1]) >= RIM


def _side_colours(rgb: np.ndarray, q: np.ndarray, offset: float, samples: int = 24) -> np.ndarray:
    """Mean colour (4, 3) along each side of the ordered quad ``q`` (middle 70 %), ``offset`` px outward."""
    p0 = q.astype(np.float64)
    e = p0[_NEXT] - p0
    u = e / np.hypot(e[:, 0], e[:, 1])[:, None]
    pts = p0[:, None, :] + np.linspace(0.15, 0.85, samples)[None, :, None] * e[:, None, :]
    pts = (pts + offset * np.stack([u[:, 1], -u[:, 0]], axis=1)[:, None, :]).astype(np.float32)
    px = cv2.remap(rgb, pts[..., 0], pts[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return px.astype(np.float64).mean(1)


def _median(a: np.ndarray, axis: int) -> np.ndarray:
    """``np.median(a, axis)`` by a sort (the same values: the middle one, or the mean of the two middle ones), without
    its overhead, which dominates on the few samples taken here."""
    s = np.sort(a, axis=axis)
    n = s.shape[axis]
    mid = np.take(s, n // 2, axis=axis)
    return mid if n % 2 else (np.take(s, n // 2 - 1, axis=axis) + mid) / 2


def _apart(colour: np.ndarray, ref: np.ndarray) -> float:
    """Distance of a colour from a reference colour, relative to the reference's level."""
    return float(np.linalg.norm(colour - ref)) / max(float(ref.mean()), 1.0)


def _off_the_label(rgb: np.ndarray, q: np.ndarray) -> np.ndarray:
    """A card in a graded slab: its side next to the slab's opaque label may be fitted to the label's edge, one
    narrow gap of plastic beyond the card's. A side with another colour beyond it than beyond the other three
    (LABEL_CONTRAST), both just outside and LABEL_DEPTH further out (a label is wide; a neighbouring border or a
    streak is not), moves to the strong step SLEEVE_MARGIN inside it if the band it leaves is the colour of the
    plastic just beyond the other sides (within LABEL_BAND, and nearer to it than to the label's). Only for a quad
    inside the frame. (The quad's aspect does not tell: in perspective a card's own aspect error is as large.)"""
    if not _inside(q, rgb.shape, 4.0):
        return q
    short = _short_side(q)
    outside = _side_colours(rgb, q, 3.0)
    beyond = _side_colours(rgb, q, LABEL_DEPTH * short)
    best, best_d = q, np.inf
    for k in range(4):
        sides = np.arange(4) == k
        plastic = _median(outside[~sides], axis=0)
        if min(_apart(outside[k], plastic), _apart(beyond[k], _median(beyond[~sides], axis=0))) < LABEL_CONTRAST:
            continue
        inner = _step_lines(rgb, q, -SLEEVE_MARGIN[1] * short, -SLEEVE_MARGIN[0] * short - 1.5, inward=True,
                            sides=sides)
        if inner is None or not _squareish(inner):
            continue
        band = _side_colours(rgb, (q + inner) / 2, 0.0)[k]
        d = _apart(band, plastic)
        if d < LABEL_BAND and np.linalg.norm(band - plastic) < np.linalg.norm(band - outside[k]) and d < best_d:
            best, best_d = inner, d
    return best


def _out_of_sleeve(rgb: np.ndarray, q: np.ndarray) -> np.ndarray:
    """A card in a tight sleeve: its outline may merge with the sleeve's in the downscaled edge map, so some or
    all sides are the sleeve's. Each side that is a lit plastic edge (``_lit_rims``) moves to the strong step
    SLEEVE_MARGIN inside it (past the rim) if the band up to it is clear plastic over the background
    (``holders.is_holder`` on those sides, SLEEVE_CLEAR px clear of both edges where the band is wide enough: the
    soft edges of the lit rim and of the card bleed into a band of 8-15 px, which then failed the test). Only for
    a quad inside the frame (the background outside it seen)."""
    if not _inside(q, rgb.shape, 4.0):
        return q
    rims = _lit_rims(rgb, q)
    if not rims.any():
        return q
    short = _short_side(q)
    inner = _step_lines(rgb, q, -SLEEVE_MARGIN[1] * short, -SLEEVE_MARGIN[0] * short - 1.5, inward=True, sides=rims)
    if inner is None or not _squareish(inner) or not cv2.isContourConvex(inner) or \
            not is_holder(rgb, q, inner, sides=rims, clear=SLEEVE_CLEAR):
        return q
    return inner


# --- public API ----------------------------------------------------------------------------------------------

def _full_frame(rgb: np.ndarray, tol: float) -> Detection | None:
    h, w = rgb.shape[:2]
    err = abs(min(h, w) / max(h, w) / CARD_ASPECT - 1)
    if err > tol:
        return None
    if float(rgb[:: max(1, h // 64), :: max(1, w // 64)].std()) < 4.0:     # a blank frame is not a card
        return None
    q = order_corners(np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]))
    return Detection(q, FULL_FRAME_SCORE * (1 - 0.5 * err / max(tol, 1e-6)), True)


def _search(rgb: np.ndarray, long_side: int, max_cards: int, aspect_tolerance: float,
            min_area_fraction: float, proposals: list[np.ndarray],
            rough: list[np.ndarray] | None = None, band: np.ndarray | None = None) -> list[Detection]:
    """Steps 1-5 of the module docstring on the frame downscaled to ``long_side``; the ``proposals`` (input
    pixels) are refined ahead of the contours' rough quads, which are appended to ``rough`` (input pixels). A
    ``band`` (uint8 mask of the frame at any size) keeps only the edges inside it."""
    h, w = rgb.shape[:2]
    grey, chroma = _small_channels(rgb, long_side)
    sh, sw = grey.shape
    gain = float(np.clip(cv2.mean(grey)[0] / DIM_LEVEL, DIM_GAIN_MIN, 1.0))  # a dim frame's edges are dim too
    edges = cv2.bitwise_or(_edge_map(grey, 40.0 * gain), _edge_map(chroma, 80.0 * gain))
    if band is not None:
        edges = cv2.bitwise_and(edges, cv2.resize(band, (sw, sh), interpolation=cv2.INTER_NEAREST))
    min_area = min_area_fraction * sh * sw
    cands: list[tuple[np.ndarray, float]] = []
    supports: list[float] = []
    small, scale = np.float32([sw / w, sh / h]), np.float32([w / sw, h / sh])

    def full(q: np.ndarray) -> np.ndarray:
        return (q + 0.5) * scale - 0.5                      # small-pixel centres -> input pixel centres

    ahead = [order_corners((np.asarray(p, np.float32) + 0.5) * small - 0.5) for p in proposals]
    contours = _rough_quads(edges, min_area, aspect_tolerance)
    if rough is not None:
        rough += [full(q) for q in contours]

    slabs: list[tuple[np.ndarray, float]] = []  # strong outlines too long for a card (a slab with a tall label)

    def fit(quad: np.ndarray) -> None:
        q, support = _fit_quad(quad, edges)
        if support <= 0 or _shoelace(q) < min_area:
            return
        if _card_shaped(q, aspect_tolerance):
            cands.append((order_corners(q), _score(q, support, aspect_tolerance)))
            supports.append(support)
        elif support >= STRONG_OUTLINE and _squareish(q) and cv2.isContourConvex(q) and \
                CARD_ASPECT * (1 - SLAB_MAX) <= side_ratio(q) < CARD_ASPECT * (1 - SLAB_LONG):
            slabs.append((order_corners(q), support))

    for q in ahead + contours:                                     # then the contours', largest first
        if not any(_needs_no_fit(q, c, score) for c, score in cands):
            fit(q)
    for q in _broken_outlines(edges, min_area, aspect_tolerance):  # dashed outlines, where no card was found:
        area = abs(_shoelace(q))                                   # none overlaps it (an art box inside may)
        if not any(cs >= MIN_SCORE and abs(_shoelace(c)) >= ART_BOX * area
                   and overlap(c, q) > 0.1 * min(area, abs(_shoelace(c))) for c, cs in cands):
            fit(q)
    for (q, score), support in list(zip(cands, supports)):         # a card with one side on inner structure?
        if score >= MIN_SCORE and aspect_error(q) > LENGTHEN_ABOVE and not _in_a_card(q, cands):
            cands += [(order_corners(f), _score(f, fs, aspect_tolerance)) for f, fs in _lengthened(q, edges, support)
                      if _card_shaped(f, aspect_tolerance)]
    found = list(cands)
    for q, score in found:                          # an art box without its card? (a strong outline is a card)
        if not MIN_SCORE <= score < STRONG_OUTLINE or _in_a_card(q, found):
            continue
        area = abs(_shoelace(q))
        others = [c for c, cs in found if cs >= MIN_SCORE and overlap(c, q) < 0.5 * min(abs(_shoelace(c)), area)]
        cands += [(order_corners(f), _score(f, fs, aspect_tolerance)) for f, fs in _around_art_box(q, edges)
                  if _card_shaped(f, aspect_tolerance) and _shoelace(f) <= 0.9 * sh * sw
                  and not any(overlap(f, c) > 0.2 * abs(_shoelace(c)) for c in others)]   # no other card inside
    found = list(cands)
    for q, score in found + slabs:                  # a graded slab (card + label) whose card was not found?
        area = abs(_shoelace(q))
        if score < MIN_SCORE or side_ratio(q) > CARD_ASPECT * (1 - SLAB_LONG) or any(
                c is not q and 0.3 * area <= abs(_shoelace(c)) < area and overlap(c, q) >= 0.85 * abs(_shoelace(c))
                for c, _ in found):
            continue
        cands += [(order_corners(f), _score(f, fs, aspect_tolerance)) for f, fs in _in_a_slab(q, edges)
                  if _card_shaped(f, aspect_tolerance)]
    radius = int(np.ceil(float(scale.max()))) + 1
    def holder(outer: np.ndarray, inner: np.ndarray) -> bool:
        inner = inner[_ROTS[int(np.argmin(np.abs(inner[_ROTS] - outer).sum(axis=(1, 2))))]]
        return is_holder(rgb, full(outer), full(inner))

    dets = []
    for q, score in _resolve(cands, max_cards, holder):
        full_q = full(q)
        corners = np.clip(order_corners(_off_the_label(rgb, _out_of_sleeve(rgb, _snap(rgb, full_q, radius)))),
                          0, np.float32([w - 1, h - 1]))  # in the frame
        dets.append(Detection(corners, float(np.clip(score, 0, 1)), False))
    return dets


def find_cards(rgb: np.ndarray, max_cards: int = 8, aspect_tolerance: float = 0.2,
               min_area_fraction: float = 0.008, detector: Detector | None = None,
               proposals: list[np.ndarray] | None = None, long_side: int | None = None,
               rough: list[np.ndarray] | None = None, band: np.ndarray | None = None) -> list[Detection]:
    """Card quads in an RGB uint8 frame, largest first and non-overlapping.

    Args:
        rgb: (H, W, 3) uint8 RGB frame.
        max_cards: at most this many detections.
        aspect_tolerance: accepted relative deviation of a quad's short/long side ratio from 63/88.
        min_area_fraction: smallest card area as a fraction of the frame area.
        detector: optional ``rgb -> list[Detection]`` (e.g. a learned model) used instead of the contour
            search; its detections are sorted by area and truncated to ``max_cards``.
        proposals: rough card quads (4x2, input pixels) from elsewhere, e.g. a learned model's or the true
            corners (``benchmarks/frame_detection.py --propose-true-corners``: what the refinement makes of them);
            each is refined, scored and resolved like the contour search's own.
        long_side: search at this scale instead of ``DETECT_LONG_SIDE`` / ``TIGHT_LONG_SIDE`` (a second look at
            another scale: the pipeline's ``SECOND_LOOK``).
        rough: if given, the search's rough contour quads (input pixels, before fitting; not the coarse retry's)
            are appended to it: outlines it saw, card or not (the pipeline looks again where a large one lies
            apart from every card found).
        band: if given, a uint8 mask of the frame (any size: resized to each search's scale) outside which edges
            are ignored, e.g. a band around the outlines a learned segmenter sees (``benchmarks/learned_detector.py``
            measures that against this search alone).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    if detector is not None:
        return sorted(detector(rgb), key=lambda d: -d.area)[:max_cards]
    h, w = rgb.shape[:2]
    ff = _full_frame(rgb, aspect_tolerance)
    proposals = list(proposals or [])
    dets = _search(rgb, long_side or (DETECT_LONG_SIDE if ff is None else TIGHT_LONG_SIDE), max_cards,
                   aspect_tolerance, min_area_fraction, proposals, rough, band)
    if ff is None and all(d.score < WEAK_SCORE for d in dets):   # a busy print (fabric, play mat) can hide every
        again = _search(rgb, RETRY_LONG_SIDE, max_cards, aspect_tolerance, min_area_fraction,  # outline: it blurs
                        proposals, band=band)
        dets = _merge_retry(dets, again, max_cards)
    if ff is not None and _partial_outline(dets, h * w, ff):
        return [ff]
    return dets if dets or ff is None else [ff]


def _merge_retry(first: list[Detection], again: list[Detection], max_cards: int) -> list[Detection]:
    """The coarse search's quads added to the first search's: one containing a first quad much smaller than itself
    replaces it (that was the card's art or text box), one overlapping a first quad otherwise is dropped (a card in
    a holder: the holder's outline contains the card)."""
    out = list(first)
    for a in again:
        inside = [d for d in out if overlap(a.corners, d.corners) >= 0.85 * d.area and d.area < ART_BOX * a.area]
        rest = [d for d in out if d not in inside]
        if not any(overlap(a.corners, d.corners) > 0 for d in rest):
            out = rest + [a]
    return sorted(out, key=lambda d: -d.area)[:max_cards]


def _score(q: np.ndarray, support: float, tol: float) -> float:
    """Edge support times aspect fit (1 at the card's aspect, 0.5 at the tolerance)."""
    return support * (1 - 0.5 * aspect_error(q) / max(tol, 1e-6))


def _partial_outline(dets: list[Detection], frame_area: float, ff: Detection) -> bool:
    """Tight-shot prior: a lone quad covering most of a card-shaped frame, but with a clearly worse aspect than
    the frame, is a card's inner structure (a bar across it plus the frame-side edges): the frame wins."""
    return (len(dets) == 1 and dets[0].area > TIGHT_SHOT_AREA * frame_area
            and aspect_error(dets[0].corners) > aspect_error(ff.corners) + 0.03)


def rectify(rgb: np.ndarray, corners: np.ndarray, height: int, width: int, max_side: int = 1024) -> np.ndarray:
    """Perspective-warp the quad ``corners`` (TL, TR, BR, BL) to an upright (height, width, 3) uint8 image.

    Resampled as training and the gallery are (``Preprocess.letterbox``: area averaging when shrinking): the quad
    is warped at about its own size in the frame (corner pixel centres onto corner pixel centres, at most
    ``max_side``), then shrunk with INTER_AREA; an axis-aligned card is exactly the contract's resize of its crop."""
    return rectify_sizes(rgb, corners, [(height, width)], max_side)[0]


def _warp(corners: np.ndarray, first: tuple[int, int], max_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """``rectify_sizes``' perspective transform of the quad and the (height, width) it warps to."""
    src = np.asarray(corners, np.float32).reshape(4, 2)
    sides = np.hypot(*(src[[1, 2, 3, 0]] - src).T)
    height, width = first
    ih = min(max_side, max(height, int(round(max(sides[1], sides[3]))) + 1))
    iw = min(max_side, max(width, int(round(max(sides[0], sides[2]))) + 1))
    dst = np.float32([[0, 0], [iw - 1, 0], [iw - 1, ih - 1], [0, ih - 1]])
    return cv2.getPerspectiveTransform(src, dst), (ih, iw)


def unrectify(points: np.ndarray, corners: np.ndarray, size: tuple[int, int], first: tuple[int, int],
              max_side: int = 1024) -> np.ndarray:
    """Frame positions of ``points`` (n x 2) of an image ``rectify_sizes`` made at ``size`` from the quad
    ``corners`` (with ``first`` its first size): the inverse of its warp and resize."""
    m, (ih, iw) = _warp(corners, first, max_side)
    h, w = size
    warped = (np.asarray(points, np.float64).reshape(-1, 2) + 0.5) * (iw / w, ih / h) - 0.5  # pixel centres
    return cv2.perspectiveTransform(warped.reshape(-1, 1, 2), np.linalg.inv(m)).reshape(-1, 2).astype(np.float32)


def snap_outline(rgb: np.ndarray, q: np.ndarray) -> np.ndarray | None:
    """A card outline placed from elsewhere (a verified homography: about 1 % off) snapped onto the frame's colour
    steps within ``OUTLINE_SNAP`` of its diagonal (``_snap``); None when it does not lie inside the frame."""
    h, w = rgb.shape[:2]
    q = order_corners(np.asarray(q, np.float32).reshape(4, 2))
    if not np.all(np.isfinite(q)) or not _inside(q, rgb.shape, -2.0):  # (a card at the border: as detected)
        return None
    radius = max(2, int(np.ceil(OUTLINE_SNAP * float(np.linalg.norm(q[2] - q[0])))))
    return np.clip(order_corners(_snap(rgb, q, radius)), 0, np.float32([w - 1, h - 1]))


def card_of_halves(a: np.ndarray, b: np.ndarray, aspect_tolerance: float = 0.2) -> np.ndarray | None:
    """The card (ordered corners) that the quads ``a`` and ``b`` are the halves of, or None: half a card is card-shaped
    too (44 x 63 mm against 63 x 88 mm), so a strong line across a card's middle can make the detector fit two quads
    instead of one. They must be of similar size (areas within 2x), share a long side (its ends within
    ``HALVES_JOIN`` x the short side of ``a``), and their far long sides must make a convex card-shaped quad."""
    a, b = order_corners(a), order_corners(b)
    area_a, area_b = abs(_shoelace(a)), abs(_shoelace(b))
    if not 0.5 * area_b <= area_a <= 2 * area_b:
        return None
    join = HALVES_JOIN * float(np.linalg.norm(a[1] - a[0]))
    for i in (1, 3):                                   # the long sides: TR-BR and BL-TL
        for j in (1, 3):
            meet = max(np.linalg.norm(a[i] - b[(j + 1) % 4]), np.linalg.norm(a[(i + 1) % 4] - b[j]))
            if meet > join:
                continue
            card = order_corners(np.float32([a[(i + 2) % 4], a[(i + 3) % 4], b[(j + 2) % 4], b[(j + 3) % 4]]))
            if _card_shaped(card, aspect_tolerance):
                return card
    return None


def rectify_sizes(rgb: np.ndarray, corners: np.ndarray, sizes: list[tuple[int, int]],
                  max_side: int = 1024) -> list[np.ndarray]:
    """``rectify`` to several (height, width) sizes from one perspective warp (the runtime needs the model's crop
    and the verifier's view of each card: the warp is most of the cost). The warp is at the quad's own size, at
    least the first size (the model's crop, which is then exactly ``rectify``'s); each size is resized from it,
    by area averaging when shrinking."""
    m, (ih, iw) = _warp(corners, sizes[0], max_side)
    out = cv2.warpPerspective(rgb, m, (iw, ih), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def general(h: int, w: int) -> bool:  # a shrink OpenCV does by its general area path (not in integer steps)
        return h <= ih and w <= iw and (ih % h != 0 or iw % w != 0)

    as_float = out.astype(np.float32) if any(general(h, w) for h, w in sizes) else None
    return [out if (h, w) == (ih, iw) else
            # the same sums as on uint8, faster in float32, rounded alike
            np.rint(cv2.resize(as_float, (w, h), interpolation=cv2.INTER_AREA)).astype(np.uint8) if general(h, w)
            else cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA if h <= ih and w <= iw else cv2.INTER_LINEAR)
            for h, w in sizes]
