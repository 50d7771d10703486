"""Geometric verification of the embedding shortlist: is the rectified crop really this card?

Cards of one set share frame, fonts and layout, so the best cosine of a card that is not in the gallery overlaps
that of a known card. A second, independent check decides *identified* vs *unknown*: ORB features of the crop are
matched to each candidate's reference face (Lowe ratio test), a homography is fitted with USAC MAGSAC, and the
inliers are counted. Both images are rectified cards, so a true match is close to the identity, or to a turn by
180° when the crop is upside down (detection cannot tell): ORB descriptors do not change when the image turns, so
one feature extraction of the crop and one descriptor match per candidate serve both orientations (the turned
crop's keypoints are the upright ones mirrored through the centre). A fit whose mapped crop corners land far from
the reference's corners, or with its inliers at fewer than ``art_inliers`` distinct places on the reference's
artwork, counts 0 (it matched the set's shared layout, not this card).

Reference features are computed on demand from the bundle's thumbnails (the letterboxed gallery faces it already
ships, so no bytes per card are added) and kept in a bounded cache (benchmarks/verify_cost.py measured both this
and features stored in the bundle). ``manifest["verify"]`` (see ``VerifyConfig``) carries the settings and the
calibrated ``min_inliers``; a bundle without it is matched on cosine alone.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from itertools import count
from typing import Callable, Iterable

import cv2
import numpy as np

from .manifest import BundleError

METHOD = "orb+ratio+usac_magsac"
DISTINCT_PX = 2.0  # inliers on the artwork closer than this (px at the verifier's size) are one place
MIN_FIT = 5  # matches a homography is fitted on at least (4 determine it: no evidence)
Matches = tuple[np.ndarray, np.ndarray]  # (n, 2) crop and (n, 2) reference positions of matched features


@dataclass(frozen=True)
class VerifyConfig:
    """Verification settings, stored in the bundle manifest under ``verify``.

    Args:
        min_inliers: inliers a candidate needs to be accepted (calibrated, see ``cardrec.deploy.verification``).
        height, width: size crop and reference faces are compared at (the card, without letterbox padding;
            the 128 px crops and thumbnails are enlarged to it: ORB finds more repeatable corners there).
        features: ORB keypoints per image (200 verified as well as 300 did on benchmarks/verify_cost.py's frames,
            at 0.44 of the matching cost).
        ratio: Lowe ratio test threshold.
        reproj: MAGSAC reprojection threshold in pixels at ``height``.
        max_corner_shift: a fit mapping a crop corner further than this fraction of the card's diagonal from the
            reference's corner is not this card (inliers 0).
        top_k: candidates verified per shortlist (the crop's embedding upright, and turned by 180°).
        tie_margin: candidates whose cosine is within this of the first verified one's are verified too and the most
            inliers among them wins: the embedding cannot tell variants of one artwork apart (reverse holo, gold,
            reprints: their cosines tie), the exact reference face's features can. A candidate the embedding
            ranks clearly higher is never displaced by one with more inliers.
        art_box: the artwork's region of a card (x0, y0, x1, y1 as fractions of its width and height; a Pokémon
            card's art window, a little inside its frame).
        art_inliers: a fit with fewer inliers than this on the reference's ``art_box`` counts 0: it matched the
            set's shared layout (frame, fonts, energy symbols, attack rows), not this card. Real val frames (real.yaml
            val and val30): an unknown Chansey fitted Greedent's layout with 34 inliers, none in the art; of the
            true cards' fits with at least 25 inliers 1 in 493 has fewer than 3 in the art. Inliers are counted
            at distinct places (``DISTINCT_PX``): an unknown Indeedee fitted Lechonk's layout with 3 art inliers, all
            one corner of the art window found at three ORB pyramid levels. Bundles calibrated before this rule (no
            ``art_inliers`` in their manifest) keep deciding without it (0).
    """

    min_inliers: int = 0
    height: int = 224
    width: int = 160
    features: int = 200
    ratio: float = 0.85
    reproj: float = 3.0
    max_corner_shift: float = 0.15
    top_k: int = 3
    tie_margin: float = 0.02
    art_box: tuple[float, float, float, float] = (0.07, 0.12, 0.93, 0.50)
    art_inliers: int = 3
    method: str = METHOD

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VerifyConfig":
        if d.get("method", METHOD) != METHOD:
            raise BundleError(f"manifest.json: verify.method {d.get('method')!r} is not supported by this runtime "
                              f"({METHOD})")
        known = set(cls.__dataclass_fields__)
        kept = {"art_inliers": 0, **{k: v for k, v in d.items() if k in known}}
        return cls(**{**kept, "art_box": tuple(kept.get("art_box", cls.art_box))})


@dataclass(frozen=True)
class Features:
    xy: np.ndarray    # (n, 2) float32 keypoint positions at the config's size
    desc: np.ndarray  # (n, 32) uint8 ORB descriptors


def card_region(letterboxed: np.ndarray, aspect: float) -> np.ndarray:
    """The card inside a letterboxed image (the thumbnails and query renders): the centred region of ``aspect``
    (width / height) that the letterbox scaled the card into."""
    h, w = letterboxed.shape[:2]
    if w / h > aspect:
        cw = max(1, round(h * aspect))
        left = (w - cw) // 2
        return letterboxed[:, left:left + cw]
    ch = max(1, round(w / aspect))
    top = (h - ch) // 2
    return letterboxed[top:top + ch]


def _distinct(points: np.ndarray, apart: float = DISTINCT_PX) -> int:
    """How many of ``points`` (n x 2) lie more than ``apart`` px from every earlier one: ORB finds one corner at
    several pyramid levels, each a keypoint at the same place, which are one piece of evidence."""
    if len(points) < 2:
        return len(points)
    d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return int((np.tril(d <= apart, -1).sum(1) == 0).sum())


class Verifier:
    """Counts verified inliers between rectified crops and reference faces (one per card id).

    ``reference(card_id) -> RGB uint8 card image or None`` supplies reference faces (e.g. decoded thumbnails);
    their features are cached (``cache`` entries, least recently used dropped).
    """

    def __init__(self, cfg: VerifyConfig, reference: Callable[[str], np.ndarray | None], cache: int = 4096):
        self.cfg = cfg
        self.reference = reference
        self.cache: OrderedDict[str, Features | None] = OrderedDict()
        self.cache_size = cache
        self.orb = cv2.ORB_create(nfeatures=cfg.features, scaleFactor=1.25, nlevels=4, edgeThreshold=9,
                                  patchSize=15, fastThreshold=10)
        self.box = np.float32([[0, 0], [cfg.width - 1, 0], [cfg.width - 1, cfg.height - 1], [0, cfg.height - 1]])
        self.far = self.box[2]  # a point (x, y) of the crop turned by 180° is far - (x, y)
        self.diag = float(np.hypot(cfg.height, cfg.width))
        self.shift = cfg.max_corner_shift * self.diag
        self.art = np.float32(cfg.art_box) * np.float32([cfg.width, cfg.height] * 2)  # x0, y0, x1, y1 in pixels

    def features(self, rgb: np.ndarray) -> Features:
        """ORB features of an RGB card image, resized (area averaging when shrinking) to the config's size."""
        c = self.cfg
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        if grey.shape != (c.height, c.width):
            shrink = grey.shape[0] > c.height
            grey = cv2.resize(grey, (c.width, c.height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        kps, desc = self.orb.detectAndCompute(grey, None)
        if desc is None:
            return Features(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
        return Features(np.float32([k.pt for k in kps]), desc)

    def reference_features(self, card_id: str) -> Features | None:
        if card_id in self.cache:
            self.cache.move_to_end(card_id)
            return self.cache[card_id]
        img = self.reference(card_id)
        feats = None if img is None else self.features(img)
        self.cache[card_id] = feats
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return feats

    def match(self, query: Features, ref: Features | None) -> Matches | None:
        """A crop's features matched to a reference face's (Lowe's ratio test on the two nearest descriptors): the
        ``(crop, reference)`` positions of each match, None when too few. ORB descriptors do not change when the
        image turns, so these matches serve both orientations (``fit``)."""
        if ref is None or len(query.desc) < 2 or len(ref.desc) < 2:
            return None
        dist, nearest = cv2.batchDistance(query.desc, ref.desc, cv2.CV_32S, normType=cv2.NORM_HAMMING, K=2)
        good = dist[:, 0] < self.cfg.ratio * dist[:, 1]
        return (query.xy[good], ref.xy[nearest[good, 0]]) if good.sum() >= MIN_FIT else None

    def fit(self, matches: Matches | None, turned: bool = False, gate: int = MIN_FIT) -> int:
        """Verified inliers of ``matches`` with the crop upright or ``turned`` by 180°: a USAC MAGSAC homography
        fitted on the matches that moved no further than an accepted fit can move them (``max_corner_shift`` plus
        ``reproj``), which must map the card's corners near the reference's and have ``art_inliers`` places on the
        reference's artwork (0 otherwise: it matched layout, not this card). With fewer such matches than ``gate``
        it is not fitted (0): it cannot reach ``gate``."""
        return self._fit(matches, turned, gate)[0]

    def outline(self, matches: Matches | None, turned: bool = False,
                hom: np.ndarray | None = None) -> np.ndarray | None:
        """Where the reference face's corners lie in the crop (4x2, crop pixels at the config's size, in the
        crop's own corner order), through the fit ``fit`` accepts (``hom``: that fit, kept by ``check``, is not
        made again); None without one. A verified card's outline: the reference is the whole card, so it corrects
        a crop cut from a quad a little off the card."""
        if hom is None:
            _, hom = self._fit(matches, turned, MIN_FIT)
        if hom is None:
            return None
        pts = cv2.perspectiveTransform(self.box.reshape(-1, 1, 2), np.linalg.inv(hom)).reshape(4, 2)
        return self.far - pts if turned else pts

    def _fit(self, matches: Matches | None, turned: bool, gate: int,
             shift: float | None = None) -> tuple[int, np.ndarray | None]:
        """(inliers, homography from the crop to the reference) as ``fit`` accepts it; ``shift``: the corner shift
        it may make (px; default ``max_corner_shift``), and the matches moved further than it are not fitted."""
        if matches is None:
            return 0, None
        shift = self.shift if shift is None else shift
        src, dst = matches
        if turned:
            src = self.far - src
        near = np.abs(src - dst).max(axis=1) <= shift + self.cfg.reproj
        if near.sum() < max(gate, MIN_FIT):
            return 0, None
        src, dst = src[near], dst[near]
        hom, mask = cv2.findHomography(src.reshape(-1, 1, 2), dst.reshape(-1, 1, 2), cv2.USAC_MAGSAC, self.cfg.reproj)
        if hom is None or mask is None:
            return 0, None
        moved = cv2.perspectiveTransform(self.box.reshape(-1, 1, 2), hom).reshape(4, 2)
        if not np.all(np.isfinite(moved)) or np.abs(moved - self.box).max() > shift:
            return 0, None
        on_art = dst[mask.ravel().astype(bool)]  # the reference's inlier points
        x0, y0, x1, y1 = self.art
        art = (on_art[:, 0] >= x0) & (on_art[:, 0] <= x1) & (on_art[:, 1] >= y0) & (on_art[:, 1] <= y1)
        if _distinct(on_art[art]) < self.cfg.art_inliers:
            return 0, None
        return int(mask.sum()), hom

    def relocate(self, seen: dict[str, Matches | None], gate: int, min_inliers: int,
                 shift: float) -> np.ndarray | None:
        """Where a card lies in a crop cut from an outline well off it (a slab's card and label taken together), from
        the crop's matches ``seen`` by ``check`` (card id -> matches; nothing is matched again): the reference face's
        corners in the crop (``outline``) through the fit with the most inliers, at least ``min_inliers``, in either
        orientation, its corners allowed to move ``shift`` x the diagonal (instead of ``max_corner_shift``), of a
        candidate with ``gate`` matches or more there. None without one. The crop cut there must verify anew."""
        best, where = min_inliers - 1, None
        for matches in seen.values():
            for turned in (False, True):
                n, hom = self._fit(matches, turned, gate, shift * self.diag)
                if n > best:
                    best, where = n, self.outline(matches, turned, hom)
        return where

    def check(self, query: Features, card_ids: list[str], stop: int | None = None, turned: bool = False,
              seen: dict[str, Matches | None] | None = None, scores: list[float] | None = None,
              fits: dict[tuple[str, bool], np.ndarray] | None = None) -> list[int]:
        """Inliers of a crop's features (the crop ``turned`` by 180° or not) against ``card_ids``' reference faces,
        in that (the embedding's) order, up to the first reaching ``stop`` and the candidates whose cosine
        (``scores``) ties it within ``tie_margin`` (``verified_prefix``); below ``stop`` a candidate may count 0
        (not fitted). ``seen`` keeps this crop's matches already made (a card in both orientations' shortlists is
        matched once). ``fits`` keeps each accepted homography by (card id, ``turned``), for ``outline``."""
        seen = {} if seen is None else seen

        def one(cid: str) -> int:
            if cid not in seen:
                seen[cid] = self.match(query, self.reference_features(cid))
            n, hom = self._fit(seen[cid], turned, MIN_FIT if stop is None else stop)
            if fits is not None and hom is not None:
                fits[cid, turned] = hom
            return n

        return verified_prefix((one(cid) for cid in card_ids), stop, scores, self.cfg.tie_margin)

    def verify(self, crop: np.ndarray, card_ids: list[str], stop: int | None = None, turned: bool = False) -> list[int]:
        """Inliers of a rectified crop against ``card_ids``' reference faces (``check``)."""
        return self.check(self.features(crop), card_ids, stop, turned)


def thumbnail_reference(bundle, aspect: float) -> Callable[[str], np.ndarray | None]:
    """Reference faces from the bundle's thumbnails.zip (letterboxed gallery faces as JPEG), zip kept open."""
    import zipfile

    if bundle.thumbnails is None:
        raise ValueError(f"bundle {bundle.root} ships no thumbnails: verification needs reference faces")
    zf = zipfile.ZipFile(bundle.thumbnails)

    def load(card_id: str) -> np.ndarray | None:
        try:
            data = zf.read(f"{card_id}.jpg")
        except KeyError:
            return None
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        return None if bgr is None else card_region(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), aspect)

    return load


def partial_card(corners: np.ndarray, frame_hw: tuple[int, int], margin: float = 0.01, tight: float = 0.5) -> bool:
    """A detected card touching or crossing the frame border (within ``margin`` x the frame's short side) that does
    not fill the frame: part of it may be outside the frame, so it is reported as partial, never matched as if
    whole. A quad covering at least ``tight`` of the frame is a tight shot (the card was aimed at and fills the
    picture, as with the whole-frame fallback), not flagged."""
    h, w = frame_hw
    m = max(2.0, margin * min(h, w))
    q = np.asarray(corners, np.float64).reshape(4, 2)
    touches = bool((q[:, 0] < m).any() or (q[:, 1] < m).any() or (q[:, 0] > w - 1 - m).any()
                   or (q[:, 1] > h - 1 - m).any())
    area = abs(float(cv2.contourArea(q.astype(np.float32).reshape(-1, 1, 2))))
    return touches and area < tight * h * w


def verified_prefix(inliers: Iterable[int], stop: int | None, scores: list[float] | None = None,
                    margin: float = 0.0) -> list[int]:
    """Inliers in the embedding's order, up to and including the first reaching ``stop``, and the candidates after
    it whose cosine (``scores``) ties its own within ``margin`` (only then are they fitted): the best-cosine
    candidate that verifies is taken without verifying the rest (most cards cost one verification) unless
    variants tie it, and then the most inliers win (``rerank``). Calibration applies the same cut to fully
    verified shortlists."""
    out, inliers, tie = [], iter(inliers), None  # tie: the cosine a candidate needs to be verified after the stop
    for i in count():
        if tie is not None and (scores is None or i >= len(scores) or scores[i] < tie):
            break
        n = next(inliers, None)
        if n is None:
            break
        out.append(n)
        if tie is None and stop is not None and n >= stop:
            tie = scores[i] - margin if scores is not None else float("inf")
    return out


def best_inliers(cands: list[dict]) -> int:
    return int(cands[0].get("inliers") or 0) if cands else 0


def rerank(cands: list[dict], inliers: list[int]) -> list[dict]:
    """Candidates with their verified ``inliers`` (the first ``len(inliers)``; the rest unverified, None), most
    inliers first; the embedding's order breaks ties."""
    out = [{**c, "inliers": int(n) if i < len(inliers) else None}
           for i, (c, n) in enumerate(zip(cands, list(inliers) + [None] * len(cands)))]
    return sorted(out, key=lambda c: 1 if c["inliers"] is None else -c["inliers"])


def choose_orientation(upright: Callable[[], list[dict]], flipped: Callable[[], list[dict]], min_inliers: int,
                       turned: bool | None = None) -> tuple[list[dict], bool]:
    """The verified decision's orientation (detection cannot tell upright from 180°). ``turned``: the orientation
    gate's decision (``cardrec_edge.orientation``); where it is sure only that orientation's shortlist is verified.
    Otherwise the upright shortlist when its best candidate verifies, else whichever orientation's shortlist verified
    more inliers. ``upright`` and ``flipped`` verify a shortlist when called. Calibration evaluates this same function
    at every threshold (``cardrec.deploy.verification``)."""
    if turned is not None:
        return (flipped(), True) if turned else (upright(), False)
    up = upright()
    if best_inliers(up) >= min_inliers:
        return up, False
    other = flipped()
    return (other, True) if best_inliers(other) > best_inliers(up) else (up, False)
