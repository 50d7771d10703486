"""Frame -> card ids: detect quads, rectify, quality gate, embed, match, verify (and try 180°).

With ``verify`` in the bundle manifest the embedding only shortlists: geometric verification (``verify``) decides
identified vs unknown. A card touching the frame border without filling the frame may be cut by it: it is
reported ``partial`` unless verification maps its corners onto its reference's (without verification it is not
matched at all). The whole-frame fallback is never identified unless verified, and neither is a card below the
quality gate (blur, glare): it is matched only with verification, and reported ``low_quality`` when it does not
verify.

An identified card's corners are its verified outline: the reference face's corners placed in the frame by the
verification's homography and snapped to the frame's colour steps (the detector's quad may be a sleeve's edge or a
slab's label a few percent off the card), when that homography rests on ``OUTLINE_INLIERS`` inliers. Where no card
was found, or a card found by a weak outline did not verify, the frame is searched again at other scales
(``SECOND_LOOK``) and a new quad is kept only if it verifies with a margin: recognition judges between the candidate
outlines that geometry alone cannot tell apart; so is a frame where the detector saw a large outline apart from
every card it kept (``APART_OUTLINE``). A dim card that did not verify is tried again brightened (``DIM_CROP``),
kept on the same margin, and a soft one sharpened (``SOFT_CROP``). A blurred (low-quality) or nearly verified card
that did not verify is verified again at half the verifier's size (``COARSE_VIEW``), where blur is half as wide.
A card still unverified whose matches fit a candidate with its corners far off the crop's (a slab's card and label
taken together) is answered again where that fit places it (``RELOCATE_SHIFT``), kept on the second look's margin;
one of the first look found by a weak outline is also answered at either end of its quad (``SLAB_CARD``: a slab's
card and label taken as one quad, whose crop does not shortlist the card), kept on the same margin.
Two unidentified cards of the first look that are the halves of one card (``detect.card_of_halves``: a line across
a card's middle) are answered again as that card, which replaces them where it is identified (``_halves``). A frame
still unsure after the second look is searched once more in the band around the outlines the bundle's card
segmenter sees (``cardrec_edge.segment``), where it ships one, and each region of its mask where that search
fitted no quad is tried at the region's quad moved by the corner refiner: a card identified there is kept on the
same margin, one not identified is reported where no card was.

One ``Recognizer`` serves the CLI, the stream watcher and the HTTP server; every stage is timed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import cv2
import numpy as np

from .backends import open_backend
from .bundle import Bundle, BundleError
from .defaults import MAX_GLARE, MIN_BLUR, RETRY_MARGIN, TOP_K
from .corners import CornerRefiner, Pyramid
from .detect import (CARD_ASPECT, STRONG_OUTLINE, Detection, card_of_halves, find_cards, order_corners, overlap,
                     rectify_sizes, snap_outline, unrectify)
from .matcher import Matcher, Projection, decide
from .orientation import OrientationGate
from .quality import assess
from .segment import open_segmenter
from .verify import VerifyConfig, Verifier, best_inliers, choose_orientation, partial_card, rerank, thumbnail_reference

CARD_METADATA = ("name", "set", "number", "rarity")
SECOND_LOOK = (480, 320)  # long sides (px) a frame is searched at again, in this order, where a card did not verify
SAME_QUAD = 0.02          # a second look's quad this close (x the card's diagonal) to one tried already is not new
APART_OUTLINE = 0.01      # a first-look contour this large (x the frame's area) that overlaps no card found (under
                          # 10 % of it) is an outline the detector saw but could not fit: a second look is taken. The
                          # smallest card the frames show (15 % of the frame's height) covers 0.9 % of a 16:9 frame
                          # (real.yaml test frames: 0.02 missed a toploader card on a dark print whose contour was
                          # 1.7 %; 0.01 took 2 and 3 more second looks in the 450 val and test frames)
DIM_CROP = 80.0            # a card crop darker than this mean grey level that did not verify is tried brightened ...
BRIGHT_MEAN = 128.0        # ... to this mean (a gain on every channel; the gallery's faces are never dim)
COARSE_VIEW = 0.5          # a card that did not verify is verified again at this scale of the verifier's size, with
                           # the same min_inliers: blur (defocus, motion), which takes ORB's corners away, is half as
                           # wide there, while an unknown card's chance fits get fewer (real.yaml val frames, 30 per
                           # category: unknown cards' best there 9 inliers, blurred known cards 16-56; min_inliers 25)
COARSE_NEAR = 0.5          # ... where it failed the quality gate or its best fit reached this x min_inliers (each
                           # coarse check costs about 3 ms; on 9 of the 97 real val30 frames of unknown cards alone,
                           # first look, 14 before the art rule took layout fits away)
SECOND_LOOK_INLIERS = 2.0  # a second look's (or brightened crop's) card is kept with at least this x min_inliers:
                           # each try is one more chance for an unknown card to pass (real val30: 26 for an item card)
OUTLINE_INLIERS = 25       # an identified card is reported at its verified outline when its fit has this many inliers;
                           # below, at the detector's quad: a fit on few matches (a blurred card) places the outline
                           # worse (real.yaml val and val30, 434 outlines: both under 20 inliers were worse than the
                           # detector's quad, 3.3 and 5.4 % off; from 20 to 33 all within 3 %, where a detector's quad
                           # was 3.8 % off: any bar from 20 to 33 misses none; the test frames did not choose it)
RELOCATE_SHIFT = 0.45      # a card still unverified is looked for in its crop by a fit whose corners may move this
                           # far (x the diagonal; verification allows 0.15), then answered at the outline found there
                           # and kept with SECOND_LOOK_INLIERS x min_inliers (real.yaml test frames: two slabs whose
                           # card and label were taken as one card, 31-35 % off, found and identified)
SLAB_CARD = 0.71           # a first-look card found by a weak outline that is still unverified may be a slab's card and
                           # label taken as one quad (perspective can give it a card's aspect) whose crop, squashed,
                           # does not even shortlist the card: the part of its crop this long at either end (a slab's
                           # card is about 70 % of card + label) is answered as a card, kept with SECOND_LOOK_INLIERS
                           # x min_inliers (real.yaml test frames: one small slab, 31 % off before, identified)
SOFT_CROP = 80.0           # a card crop softer than this (variance of the Laplacian, ``quality.assess``; the gate is
                           # 40) that did not verify is tried again sharpened: x + SHARPEN[0] * (x - Gaussian(x, sigma
SHARPEN = (1.0, 2.5)       # SHARPEN[1] px)) on its crop and view, kept at min_inliers (real.yaml val, val30 and test
                           # frames: none of 203 unknown-card or non-card crops that did not verify got a fit there,
                           # where plain crops of unknown cards reach 22 of 25; 7 known cards verified, 26-72 inliers,
                           # all soft: blur 18-55)
MASK_SCORE = 0.5           # the outline score of a segmenter mask region's quad placed by the corner refiner (a prior:
                           # no edges were fitted to it)


@dataclass
class CardResult:
    """One card found in a frame (or a whole image taken as the card)."""

    corners: list[list[float]]
    full_frame: bool
    quality: dict
    status: str  # "identified" | "unknown" | "low_quality" | "partial"
    card_id: str | None = None
    score: float | None = None
    candidates: list[dict] = field(default_factory=list)
    rotated: bool = False  # matched after turning the crop by 180°
    inliers: int | None = None  # verified inliers of the best candidate (bundles with ``verify``)
    crop: np.ndarray | None = None  # rectified RGB crop (not serialised)
    rough: bool = False  # its corners are the detector's, for the corner refiner to move (not serialised)

    @property
    def name(self) -> str | None:
        return self.candidates[0]["name"] if self.card_id and self.candidates else None

    def to_json(self) -> dict:
        return {"card_id": self.card_id, "name": self.name, "score": self.score, "status": self.status,
                "candidates": self.candidates, "corners": self.corners, "full_frame": self.full_frame,
                "quality": self.quality, "rotated": self.rotated, "inliers": self.inliers}


@dataclass
class Located:
    """A detected card, rectified: ``crop`` at the model's contract size (embedded), ``view`` at the verifier's own
    size (verified; None without verification), both straight from the frame."""

    det: Detection
    crop: np.ndarray
    view: np.ndarray | None
    quality: object
    partial: bool


@dataclass
class FrameResult:
    cards: list[CardResult]
    timings_ms: dict[str, float]

    def to_json(self) -> dict:
        return {"cards": [c.to_json() for c in self.cards], "timings_ms": self.timings_ms}


def _scaled(image: np.ndarray, gain: float) -> np.ndarray:
    """``image`` with every channel multiplied by ``gain`` (uint8, saturating)."""
    return np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def _sharpened(image: np.ndarray) -> np.ndarray:
    """``image`` through the unsharp mask ``SHARPEN`` (uint8, saturating)."""
    amount, sigma = SHARPEN
    return cv2.addWeighted(image, 1 + amount, cv2.GaussianBlur(image, (0, 0), sigma), -amount, 0)


def card_crop_size(contract) -> tuple[int, int]:
    """(height, width) a detected card is rectified to before the contract's letterbox: card-shaped, contract-high."""
    return contract.height, max(1, round(contract.height * CARD_ASPECT))


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = round(self.ms.get(stage, 0.0) + (now - t0) * 1000, 3)
        return now


def locate_cards(rgb: np.ndarray, crop_size: tuple[int, int], timer: _Timer | None = None,
                 view_size: tuple[int, int] | None = None,
                 proposals: list[np.ndarray] | None = None) -> tuple[list[Detection], list, list, list[bool]]:
    """The detection stage of ``Recognizer.identify_frame``: the card quads, their rectified (height, width) crops,
    their views at ``view_size`` (what verification looks at, from the same warp: ``rectify_sizes``; None without
    it), and for each whether it may be cut by the frame border (``partial_card``; never for the whole-frame
    fallback). ``proposals``: rough quads for ``find_cards``. ``benchmarks/frame_detection.py`` measures exactly
    this."""
    timer = timer or _Timer()
    t = time.perf_counter()
    dets = find_cards(rgb, proposals=proposals)
    timer.add("detect", t)
    return (dets, *rectified(rgb, dets, crop_size, timer, view_size))


def rectified(rgb: np.ndarray, dets: list[Detection], crop_size: tuple[int, int], timer: _Timer,
              view_size: tuple[int, int] | None = None) -> tuple[list, list, list[bool]]:
    """``locate_cards``' crops, views and partial flags of detections ``dets``."""
    t = time.perf_counter()
    sizes = [crop_size] + ([view_size] if view_size else [])
    both = [rectify_sizes(rgb, d.corners, sizes) + [None] for d in dets]
    timer.add("rectify", t)
    partial = [not d.full_frame and partial_card(d.corners, rgb.shape[:2]) for d in dets]
    return [b[0] for b in both], [b[1] for b in both], partial


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Two quads within ``SAME_QUAD`` of the card's diagonal at every corner (either corner order by 180°)."""
    a, b = np.float32(a).reshape(4, 2), np.float32(b).reshape(4, 2)
    diag = float(np.linalg.norm(b[2] - b[0]))
    return min(float(np.abs(np.roll(a, s, axis=0) - b).max()) for s in (0, 2)) <= SAME_QUAD * diag


def _settled(cards: list[CardResult]) -> bool:
    """Cards found and every one identified: no second look."""
    return bool(cards) and all(c.status == "identified" for c in cards)


def _apart(rough: list[np.ndarray], cards: list[CardResult], frame_hw: tuple[int, int]) -> bool:
    """A rough contour quad of at least ``APART_OUTLINE`` of the frame overlapping no card (under 10 % of its area):
    the detector saw an outline there and kept no card for it, e.g. a card whose outline merges with sticks or
    cables lying across it at this scale (real.yaml test frames: a card missed this way is found at another)."""
    floor = APART_OUTLINE * frame_hw[0] * frame_hw[1]
    for q in rough:
        area = abs(cv2.contourArea(np.float32(q).reshape(-1, 1, 2)))
        if area >= floor and all(overlap(np.float32(q), np.float32(c.corners)) < 0.1 * area for c in cards):
            return True
    return False


def _overlapping(a, b, share: float = 0.3) -> bool:
    """Two quads sharing at least ``share`` of the smaller one's area."""
    a, b = np.float32(a).reshape(4, 2), np.float32(b).reshape(4, 2)
    small = min(abs(cv2.contourArea(a)), abs(cv2.contourArea(b)))
    return overlap(a, b) >= share * small


class Recognizer:
    """Bundle + embedding backend + matcher.

    Args:
        bundle: a loaded (and verified) edge bundle.
        backend: ``auto`` (HEF on a Hailo device when the bundle has one, else ONNX), ``onnx`` or ``hailo``.
        threads: onnxruntime intra-op threads (default: all cores).
        exact: exact numpy search instead of the bundle's HNSW index.
        min_blur, max_glare: quality gate (see ``cardrec_edge.quality``): a card below it is not matched on cosine
            alone; with verification it is matched and identified only if it verifies, else ``low_quality``.
        retry_margin: when the best score is below ``threshold + retry_margin``, the crop turned by 180°
            is tried too and the better match kept (detection cannot tell upright from upside down). With
            verification, the turned crop's shortlist is verified when the upright one does not verify
            (``choose_orientation``); the crop's features serve both. Where the bundle ships an orientation gate
            (``cardrec_edge.orientation``) and it is sure of a crop's orientation, only that one is verified.
        verify: geometric verification settings; default the bundle manifest's ``verify`` (none: cosine only).
        second_look: with verification, search a frame again at other scales where a card did not verify
            (``identify_frame``).
        coarse: with verification, verify a low-quality or nearly verified card that did not verify again at
            ``COARSE_VIEW`` of the verifier's size, with the same ``min_inliers`` (``verify_crop``).
        segmenter: with verification, search a frame still unsure after the second look again in the band the
            bundle's card segmenter sees (``cardrec_edge.segment``; ``identify_frame``), where the bundle ships one.
        orientation_gate: use the bundle's orientation gate where it ships one (false: every card that does not
            verify upright is verified turned too, as without a gate).
    """

    def __init__(self, bundle: Bundle, backend: str = "auto", threads: int | None = None, exact: bool = False,
                 min_blur: float = MIN_BLUR, max_glare: float = MAX_GLARE, retry_margin: float = RETRY_MARGIN,
                 top_k: int = TOP_K, verify: VerifyConfig | None = None, second_look: bool = True,
                 coarse: bool = True, orientation_gate: bool = True, segmenter: bool = True,
                 corner_refiner: bool = True):
        self.bundle = bundle
        self.cards = bundle.card_table()
        self.embedder = open_backend(bundle, backend, threads)
        search = bundle.manifest.get("index") or {}  # settings a usearch file does not keep
        projection = Projection.load(bundle.projection) if bundle.projection and not exact else None
        self.matcher = Matcher(np.load(bundle.embeddings), None if exact else bundle.index,
                               search.get("expansion_search"), search.get("candidates", 16), projection)
        self.min_blur, self.max_glare, self.retry_margin, self.top_k = min_blur, max_glare, retry_margin, top_k
        self.exact, self.second_look = exact, second_look
        self.crop_size = card_crop_size(bundle.contract)
        spec = bundle.manifest.get("verify")  # absent, or disabled by calibration: cosine alone
        if verify is None and spec and spec.get("enabled", True):
            verify = VerifyConfig.from_dict(spec)
        reference = thumbnail_reference(bundle, CARD_ASPECT) if verify else None
        self.verifier = Verifier(verify, reference) if verify else None
        self.coarse = Verifier(replace(verify, height=round(verify.height * COARSE_VIEW),
                                       width=round(verify.width * COARSE_VIEW), reproj=verify.reproj * COARSE_VIEW),
                               reference) if verify and coarse else None
        self.segmenter = open_segmenter(bundle, self.embedder, threads) \
            if segmenter and verify and bundle.segmenter else None  # its cards are kept only where they verify
        self.refiner = CornerRefiner(bundle.corners, bundle.manifest["corners"], threads) \
            if corner_refiner and bundle.corners else None
        gate = bundle.manifest.get("orientation") if orientation_gate else None  # validated with files.orientation
        self.gate = OrientationGate.load(bundle.root / bundle.manifest["files"]["orientation"]["path"],
                                         gate["confidence"]) if gate else None
        if self.gate is not None and self.gate.weights.shape != self.matcher.gallery.shape[1:]:
            raise BundleError(f"bundle {bundle.root}: the orientation gate weighs {self.gate.weights.shape[0]} "
                              f"embedding dimensions, the gallery has {self.matcher.gallery.shape[1]}")

    def _candidates(self, matches) -> list[dict]:
        return [{"card_id": self.cards[m.index]["id"], **{k: self.cards[m.index].get(k) for k in CARD_METADATA},
                 "score": round(m.score, 6)} for m in matches]

    def match_crops(self, crops: list[np.ndarray], timer: _Timer | None = None, both: bool = False,
                    views: list[np.ndarray] | None = None, outlines: bool = False,
                    low_quality: list[bool] | None = None, relocate: list[bool] | None = None) -> list[tuple]:
        """Embed and match rectified crops; weak (or, with verification, unverified) matches are retried upside
        down. ``views``: what verification looks at (default the crops; ``identify_frame`` rectifies them from the
        frame at the verifier's size). ``both``: with verification, each crop's (upright, turned) verified
        shortlists and the orientation gate's decision (for calibration). ``outlines``: each (shortlist, turned)
        gets a third item, the verified card's outline in the view (``Verifier.outline``); for a card that did not
        verify and that ``relocate`` marks, where its matches place a card well off its outline
        (``Verifier.relocate``), or None. ``low_quality``: which crops failed the quality gate (``verify_crop``)."""
        timer = timer or _Timer()
        t = time.perf_counter()
        lb = np.stack([self.embedder.contract.letterbox(c) for c in crops])
        t = timer.add("preprocess", t)
        emb = self.embedder.embed_letterboxed(lb)
        t = timer.add("embed", t)
        found = self.matcher.search(emb, self.top_k)
        t = timer.add("search", t)
        out = [(self._candidates(m), False) for m in found]
        if self.verifier is not None:
            sure = [None] * len(crops)
            if self.gate is not None:
                sure = self.gate.decide(emb)
                timer.add("orientation", t)
            return [self.verify_crop(c, lb[i:i + 1], out[i][0], timer, both, outlines,
                                     bool(low_quality and low_quality[i]), sure[i], bool(relocate and relocate[i]))
                    for i, c in enumerate(crops if views is None else views)]
        weak = [i for i, (cands, _) in enumerate(out) if cands[0]["score"] < self.bundle.threshold + self.retry_margin]
        if weak:
            flipped = self.embedder.embed_letterboxed(lb[weak][:, ::-1, ::-1])
            for i, m in zip(weak, self.matcher.search(flipped, self.top_k)):
                if m[0].score > out[i][0][0]["score"]:
                    out[i] = (self._candidates(m), True)
            timer.add("retry_180", t)
        return [(*m, None) for m in out] if outlines else out

    def verify_crop(self, crop: np.ndarray, letterboxed: np.ndarray, cands: list[dict], timer: _Timer,
                    both: bool = False, outline: bool = False, low_quality: bool = False,
                    turned: bool | None = None, relocate: bool = False) -> tuple:
        """Verify a crop's shortlist; the turned crop's shortlist when the upright one does not verify, or only the
        orientation the gate is sure of (``turned``: ``choose_orientation``). The crop's features are extracted once
        and serve both orientations, and a card in both shortlists is matched once (``Verifier.check``). With
        ``both`` (calibration) the two fully verified shortlists and the gate's decision are returned instead of the
        decision; with ``outline`` the decision and the verified card's outline in the crop, through the homography
        its verification fitted (kept, not fitted again), or with ``relocate`` for a crop that does not verify where
        its matches place a card well off its outline (``Verifier.relocate``), or None. A crop that does not verify,
        and either failed the quality gate (``low_quality``) or came near (``COARSE_NEAR``), is verified again on the
        same shortlists at ``COARSE_VIEW`` of the verifier's size (``coarse``; a card verified there keeps the
        detector's corners: real.yaml val30 placed one of six 6 % off the card from that fit)."""
        shortlists = {False: cands}  # by orientation; the turned crop is embedded when first needed

        def shortlist(turned: bool) -> list[dict]:
            if turned not in shortlists:
                t = time.perf_counter()
                emb = self.embedder.embed_letterboxed(np.ascontiguousarray(letterboxed[:, ::-1, ::-1]))
                shortlists[True] = self._candidates(self.matcher.search(emb, self.top_k)[0])
                timer.add("retry_180", t)
            return shortlists[turned]

        v = self.verifier
        decision = self._verified(v, crop, shortlist, timer, both, outline, turned, relocate)
        best = best_inliers(decision[0])
        if both or self.coarse is None or best >= v.cfg.min_inliers or not (
                low_quality or best >= COARSE_NEAR * v.cfg.min_inliers):
            return decision
        t = time.perf_counter()
        coarse = self._verified(self.coarse, crop, shortlist, _Timer(), False, False, turned)
        timer.add("coarse", t)
        if best_inliers(coarse[0]) < v.cfg.min_inliers:
            return decision
        return (*coarse, None) if outline else coarse  # its fit is too coarse to place the outline: as detected

    def _verified(self, v: Verifier, crop: np.ndarray, shortlist, timer: _Timer, both: bool, outline: bool,
                  turned: bool | None = None, relocate: bool = False) -> tuple:
        """``verify_crop``'s decision by the verifier ``v``; ``shortlist(turned)``: the candidates of each
        orientation; ``turned``: the orientation gate's decision. With ``outline`` and ``relocate``, a crop that does
        not verify gets, in the outline's place, where its matches show a card well off its outline
        (``Verifier.relocate``)."""
        k, stop, seen, fits = v.cfg.top_k, None if both else v.cfg.min_inliers, {}, {}
        t = time.perf_counter()
        query = v.features(crop)
        timer.add("verify", t)

        def checked(turned: bool) -> list[dict]:
            cands = shortlist(turned)
            t0 = time.perf_counter()
            out = rerank(cands, v.check(query, [c["card_id"] for c in cands[:k]], stop, turned, seen,
                                        [c["score"] for c in cands[:k]], fits))
            timer.add("verify", t0)
            return out

        if both:
            return checked(False), checked(True), turned
        chosen, rotated = choose_orientation(lambda: checked(False), lambda: checked(True), v.cfg.min_inliers, turned)
        if not outline:
            return chosen, rotated
        if best_inliers(chosen) < v.cfg.min_inliers:
            if not relocate:
                return chosen, rotated, None
            t = time.perf_counter()
            where = v.relocate(seen, SECOND_LOOK_INLIERS * v.cfg.min_inliers, v.cfg.min_inliers, RELOCATE_SHIFT)
            timer.add("relocate", t)
            return chosen, rotated, where
        t = time.perf_counter()
        cid = chosen[0]["card_id"]
        where = v.outline(seen.get(cid), rotated, fits.get((cid, rotated)))
        timer.add("outline", t)
        return chosen, rotated, where

    def _result(self, det: Detection, crop: np.ndarray, quality, match, partial: bool = False,
                in_frame: bool = False) -> CardResult:
        q = {"blur": round(quality.blur, 2), "glare": round(quality.glare, 4), "ok": quality.ok,
             "reasons": list(quality.reasons)}
        # a card not identified (or not matched: partial or low quality without verification) says why
        unanswered = "partial" if partial else "unknown" if quality.ok else "low_quality"
        res = CardResult(corners=np.asarray(det.corners, float).round(2).tolist(), full_frame=det.full_frame,
                         quality=q, status=unanswered, crop=crop)
        if match is not None:
            cands, rotated = match[:2]
            best = cands[0]
            res.candidates, res.rotated, res.score = cands, rotated, best["score"]
            if self.verifier is not None:
                res.inliers = best_inliers(cands)
                known = res.inliers >= self.verifier.cfg.min_inliers
            else:  # cosine alone; the whole-frame fallback is a guess that only verification could confirm
                known = decide(best["score"], self.bundle.threshold) and not (det.full_frame and in_frame)
            if known:
                res.status, res.card_id = "identified", best["card_id"]
        return res

    def locate(self, rgb: np.ndarray, timer: _Timer | None = None,
               rough: list[np.ndarray] | None = None) -> list[Located]:
        """Detect, rectify and assess every card of an RGB frame (as ``locate_cards``); with verification, each card is
        also rectified at the verifier's own size (from the same warp), which is what verification looks at.
        ``rough``: gets the detector's rough contour quads (``find_cards``)."""
        timer = timer or _Timer()
        t = time.perf_counter()
        dets = find_cards(rgb, rough=rough)
        timer.add("detect", t)
        return self._located(rgb, dets, timer)

    def _located(self, rgb: np.ndarray, dets: list[Detection], timer: _Timer) -> list[Located]:
        v = self.verifier
        crops, views, partial = rectified(rgb, dets, self.crop_size, timer, (v.cfg.height, v.cfg.width) if v else None)
        t = time.perf_counter()
        qualities = [assess(c, self.min_blur, self.max_glare) for c in crops]
        timer.add("quality", t)
        return [Located(*row) for row in zip(dets, crops, views, qualities, partial)]

    def matchable(self, card: Located) -> bool:
        """With verification every card is matched (a low-quality or partial one is identified only if it verifies);
        without it, low-quality and partial cards are reported, not matched."""
        return self.verifier is not None or (card.quality.ok and not card.partial)

    def _answer(self, rgb: np.ndarray, found: list[Located], timer: _Timer,
                relocate: bool = True, slab_ends: bool = False) -> list[CardResult]:
        """Match the matchable cards and decide; an identified card's corners are its verified outline (``_placed``).
        A card that does not verify is tried again (``_retried``) and, with ``relocate``, where its matches place it
        (``_relocated``); with ``slab_ends`` (the first look), a card found by a weak outline that still does not
        verify is tried at either end of its quad (``_slab_ends``)."""
        good = [c for c in found if self.matchable(c)]
        matches = self.match_crops([c.crop for c in good], timer, views=[c.view for c in good], outlines=True,
                                   low_quality=[not c.quality.ok for c in good],
                                   relocate=[relocate and not c.partial and not c.det.full_frame for c in good]
                                   ) if good else []
        by_card = {id(c): m for c, m in zip(good, matches)}
        out = []
        for c in found:
            m = by_card.get(id(c))
            res = self._result(c.det, c.crop, c.quality, m, c.partial, in_frame=True)
            if self.verifier is not None and res.status != "identified":
                res, m = self._retried(c, res, m, timer)
                others = [f.det.corners for f in found if f is not c]
                if res.status != "identified" and m[2] is not None:  # where its matches place it (relocate)
                    res = self._relocated(rgb, c, res, m[2], others, timer)
                if res.status != "identified" and slab_ends and c.det.score < STRONG_OUTLINE and not c.partial \
                        and not c.det.full_frame:
                    ends = self._slab_ends(rgb, c, res, others, timer)
                    if ends is not res:  # answered, its outline placed, at an end of the quad
                        out.append(ends)
                        continue
            placed = None
            if res.status == "identified" and m[2] is not None and res.inliers >= OUTLINE_INLIERS:
                t = time.perf_counter()
                placed = self._placed(rgb, c.det, m[2])
                timer.add("outline", t)
                res.corners = res.corners if placed is None else placed.round(2).tolist()
            res.rough = placed is None and not c.det.full_frame
            out.append(res)
        return out

    def _refined(self, rgb: np.ndarray, cards: list[CardResult], timer: _Timer) -> list[CardResult]:
        """The frame's answers, the corners of each that no verified outline placed moved by the bundle's corner
        refiner (``cardrec_edge.corners``): only the cards reported, once each (the candidates the second look, the
        band search and relocation weigh keep the detector's corners; the refiner's moves are small)."""
        rough = [c for c in cards if c.rough]
        if self.refiner is None or not rough:
            return cards
        t, pyr = time.perf_counter(), Pyramid(rgb, regional=True)
        for c in rough:
            c.corners, c.rough = self.refiner.refine(rgb, c.corners, pyr).round(2).tolist(), False
        timer.add("corners", t)
        return cards

    def _retried(self, card: Located, res: CardResult, match, timer: _Timer) -> tuple[CardResult, tuple]:
        """A card that did not verify, tried again (each a new embedding, shortlist and verification of its crop and
        view): brightened to ``BRIGHT_MEAN`` when dim, kept with ``SECOND_LOOK_INLIERS`` x ``min_inliers``: the
        embedding was trained and its gallery built on well-lit faces, and in a dim crop the true card often falls
        out of the shortlist (real val30 dim frames: 8 of 22 known cards; with this retry all 22 verify). Then,
        when still unverified and soft (``SOFT_CROP``), sharpened (``SHARPEN``), kept with ``min_inliers``: a small
        or defocused card is enlarged from few pixels, and its fine print (the detail that ranks it in the
        embedding and gives ORB its corners) is too weak to match until it is restored."""
        min_inliers, mean = self.verifier.cfg.min_inliers, float(card.crop.mean())
        if mean < DIM_CROP:
            gain = BRIGHT_MEAN / max(mean, 1.0)
            res, match = self._again(card, res, match, timer, "brightened", lambda x: _scaled(x, gain),
                                     SECOND_LOOK_INLIERS * min_inliers)
        if res.status != "identified" and card.quality.blur < SOFT_CROP:
            res, match = self._again(card, res, match, timer, "sharpened", _sharpened, min_inliers, outline=False)
        return res, match

    def _again(self, card: Located, res: CardResult, match, timer: _Timer, stage: str,
               change: Callable[[np.ndarray], np.ndarray], bar: float,
               outline: bool = True) -> tuple[CardResult, tuple]:
        """``card`` matched again with its crop and view ``change``d: the new answer when identified with ``bar``
        inliers, else the old one. Without ``outline`` an identified card keeps the detector's corners."""
        t = time.perf_counter()
        again = self.match_crops([change(card.crop)], _Timer(), views=[change(card.view)], outlines=True,
                                 low_quality=[not card.quality.ok])[0]
        retried = self._result(card.det, card.crop, card.quality, again, card.partial, in_frame=True)
        timer.add(stage, t)
        if retried.status == "identified" and retried.inliers >= bar:
            return retried, again if outline else (*again[:2], None)
        return res, match

    def _relocated(self, rgb: np.ndarray, card: Located, res: CardResult, where: np.ndarray,
                   others: list[np.ndarray], timer: _Timer) -> CardResult:
        """A card that did not verify because its outline is well off the card (a slab's card and label taken as
        one card: no quad geometry tells them apart, and perspective can give them a card's aspect), answered at
        ``where`` its verification's matches place it in its view (``Verifier.relocate``: a fit whose corners may
        move ``RELOCATE_SHIFT``); kept when identified there with ``SECOND_LOOK_INLIERS`` x ``min_inliers`` (the bar
        of a second look's new quad), its outline placed as any card's, and not over ``others`` (the frame's other
        cards: a quad across two cards may show the neighbour)."""
        return self._answered_in_view(rgb, card, [where], res, others, timer, "relocate")

    def _answered_in_view(self, rgb: np.ndarray, card: Located, quads: list[np.ndarray], res: CardResult,
                          others: list[np.ndarray], timer: _Timer, stage: str) -> CardResult:
        """``card`` answered again at ``quads`` of its view (verifier size) mapped back into the frame, as any card
        (no relocation), timed as ``stage``: the answer identified with the most inliers, at least
        ``SECOND_LOOK_INLIERS`` x ``min_inliers`` (the bar of a second look's new quad) and not over ``others`` (the
        frame's other cards: a quad across two cards may show the neighbour); else ``res``."""
        t, v = time.perf_counter(), self.verifier.cfg
        dets = [Detection(order_corners(unrectify(q, card.det.corners, (v.height, v.width), self.crop_size)),
                          card.det.score) for q in quads]
        inner = _Timer()
        answers = self._answer(rgb, self._located(rgb, dets, inner), inner, relocate=False)
        timer.add(stage, t)
        kept = [a for a in answers if a.status == "identified" and a.inliers >= SECOND_LOOK_INLIERS * v.min_inliers
                and not any(_overlapping(a.corners, q) for q in others)]
        return max(kept, key=lambda a: a.inliers) if kept else res

    def _halves(self, rgb: np.ndarray, found: list[Located], cards: list[CardResult],
                timer: _Timer) -> tuple[list[Located], list[CardResult]]:
        """The first look's cards (``found`` and their answers ``cards``) with each two unidentified ones (unknown or
        low quality) whose quads are the halves of one card (``detect.card_of_halves``: a strong line across a card's
        middle, its art box's edge, split its outline in two) answered again as that card, like any card of the first
        look; where it is identified it replaces them (real.yaml test frames: a small card in a toploader). Two cards
        side by side look the same: they stay two cards unless one card verifies across both."""
        t, pairs, tried = time.perf_counter(), list(zip(found, cards)), False
        open_ = [i for i, (_, c) in enumerate(pairs) if c.status in ("unknown", "low_quality")]
        for i, j in [(i, j) for k, i in enumerate(open_) for j in open_[k + 1:]]:
            if pairs[i] is None or pairs[j] is None:
                continue
            card = card_of_halves(pairs[i][0].det.corners, pairs[j][0].det.corners)
            if card is None:
                continue
            inner, tried = _Timer(), True
            whole = self._located(rgb, [Detection(card, min(pairs[i][0].det.score, pairs[j][0].det.score))], inner)
            answer = self._answer(rgb, whole, inner)[0]
            if answer.status == "identified":
                pairs[i], pairs[j] = (whole[0], answer), None
        if tried:
            timer.add("halves", t)
        kept = [p for p in pairs if p is not None]
        return [f for f, _ in kept], [c for _, c in kept]

    def _slab_ends(self, rgb: np.ndarray, card: Located, res: CardResult, others: list[np.ndarray],
                   timer: _Timer) -> CardResult:
        """A card that did not verify, nor where its matches place it (``_relocated``), answered at either end of its
        quad: the part ``SLAB_CARD`` of its length long there (a slab's card and label taken as one quad: squashed
        into a card's shape the card does not rank in the embedding's shortlist, so no candidate's matches can
        place it). The end identified with the most inliers, at least ``SECOND_LOOK_INLIERS`` x ``min_inliers``
        (two more chances for an unknown card) and not over ``others`` (the frame's other cards), is the answer;
        else ``res``."""
        h, w = self.verifier.cfg.height - 1, self.verifier.cfg.width - 1
        ends = [np.float32([[0, top], [w, top], [w, top + SLAB_CARD * h], [0, top + SLAB_CARD * h]])
                for top in (0.0, (1 - SLAB_CARD) * h)]             # in the view, the card's long axis down
        return self._answered_in_view(rgb, card, ends, res, others, timer, "slab_ends")

    def _placed(self, rgb: np.ndarray, det: Detection, outline: np.ndarray) -> np.ndarray | None:
        """A verified card's outline in the frame: the reference face's corners mapped through the verified
        homography into the view, back through the view's warp, then snapped to the frame's colour steps
        (``snap_outline``). The detector's quad can be a few percent off the card (a sleeve's edge, a slab's
        label, the art box); the whole reference face placed by dozens of inliers is not. None when it falls
        outside the frame (the detector's corners stay)."""
        v = self.verifier.cfg
        return snap_outline(rgb, unrectify(outline, det.corners, (v.height, v.width), self.crop_size))

    def _second_look(self, rgb: np.ndarray, cards: list[CardResult]) -> list[CardResult]:
        """Where a card did not verify (or none was found), the frame is searched again at the ``SECOND_LOOK``
        scales: the scale that finds a card's outline depends on its size, blur and background, and no geometric
        test tells a card's outline from its holder's, its art box's or a busy print's (benchmarks/
        frame_detection.py: each scale finds cards the other misses). A new quad (not within ``SAME_QUAD`` of one
        tried, not over an identified card) is answered like the first look's, but kept only when it is identified
        with ``SECOND_LOOK_INLIERS`` x ``min_inliers``: verification is the judge. It replaces the unidentified cards
        it overlaps."""
        tried, timer = [np.float32(c.corners) for c in cards], _Timer()
        bar = SECOND_LOOK_INLIERS * self.verifier.cfg.min_inliers
        for side in SECOND_LOOK:
            dets = [d for d in find_cards(rgb, long_side=side) if not d.full_frame and not any(
                _same(d.corners, q) for q in tried) and not any(
                c.status == "identified" and _overlapping(d.corners, c.corners) for c in cards)]
            tried += [d.corners for d in dets]
            for new in [c for c in self._answer(rgb, self._located(rgb, dets, timer), timer)
                        if c.status == "identified" and c.inliers >= bar]:
                cards = [c for c in cards if not _overlapping(new.corners, c.corners)] + [new]
            if _settled(cards):
                break
        return cards

    def _segmented(self, rgb: np.ndarray, cards: list[CardResult]) -> list[CardResult]:
        """The frame searched again in the band around the outlines the bundle's segmenter sees (``find_cards(band=
        ...)``: clutter, sticks across a card, a holder's edge and a slab's label lie outside it), plus the quad of each
        region of its mask (``segment.mask_quads``) that overlaps no quad found there, moved onto the card's corners
        by the bundle's corner refiner where it ships one (a card on a print busy enough to hide its edges: the mask
        still sees it). Each quad not over an identified card is answered like the first look's; one identified with
        ``SECOND_LOOK_INLIERS`` x ``min_inliers`` replaces the cards it overlaps. One not identified (unknown, partial
        or low quality, never a guess) is reported where no card was; one the band's edges placed also replaces the
        cards it overlaps that got the same answer (the same card, its outline placed clear of the holder's edge or
        the clutter the first look took for it), one from the mask alone does not (no edge confirms its outline: the
        refiner may have moved it off the card)."""
        bar = SECOND_LOOK_INLIERS * self.verifier.cfg.min_inliers
        band, regions = self.segmenter.look(rgb, quads=self.refiner is not None)  # no refiner: no use for them
        dets = [(d, False) for d in find_cards(rgb, band=band) if not d.full_frame]
        if regions:  # the mask's regions no quad was fitted in, placed by the corner refiner
            pyr = Pyramid(rgb, regional=True)
            dets += [(Detection(self.refiner.refine(rgb, r.corners, pyr), MASK_SCORE), True) for r in regions
                     if not any(_overlapping(r.corners, d.corners) for d, _ in dets)]
        dets = [(d, from_mask) for d, from_mask in dets if not any(
            c.status == "identified" and _overlapping(d.corners, c.corners) for c in cards)]
        timer = _Timer()
        answers = self._answer(rgb, self._located(rgb, [d for d, _ in dets], timer), timer)
        for (_, from_mask), new in zip(dets, answers):
            over = [c for c in cards if _overlapping(c.corners, new.corners)]
            verified = new.status == "identified" and new.inliers >= bar
            same = new.status != "identified" and not (from_mask and over) and all(
                c.status == new.status for c in over)
            if verified or same:
                cards = [c for c in cards if not any(c is o for o in over)] + [new]
        return cards

    def identify_frame(self, rgb: np.ndarray, second_look: bool | None = None) -> FrameResult:
        """All cards in an RGB frame (see ``matchable`` for which are matched); with verification, a ``_second_look``
        at other scales where no card was found, a card whose outline scored under ``STRONG_OUTLINE`` did not
        verify (a card found by a strong outline is found so at any scale: an unknown card, most often), or a
        large contour lies apart from every card (``_apart``); then, where the bundle ships a segmenter, a search in
        the band it sees (``_segmented``). Before that, two unidentified cards that are one card's halves are answered
        as that card (``_halves``). ``second_look``: default the recognizer's setting."""
        timer, rough = _Timer(), []
        found = self.locate(rgb, timer, rough)
        cards = self._answer(rgb, found, timer, slab_ends=True)
        if self.verifier is not None:
            found, cards = self._halves(rgb, found, cards, timer)
        unsure = not cards or any(c.status != "identified" and f.det.score < STRONG_OUTLINE
                                  for f, c in zip(found, cards)) or _apart(rough, cards, rgb.shape[:2])
        if (self.second_look if second_look is None else second_look) and self.verifier is not None and unsure:
            t = time.perf_counter()
            cards = self._second_look(rgb, cards)
            timer.add("second_look", t)  # all its stages in one figure
            if self.segmenter is not None:
                t = time.perf_counter()
                cards = self._segmented(rgb, cards)
                timer.add("segment", t)  # the model, its search and the answers
        cards = self._refined(rgb, cards, timer)
        timer.ms["total"] = round(sum(timer.ms.values()), 3)
        return FrameResult(cards, timer.ms)

    def identify_quads(self, rgb: np.ndarray, quads: list[np.ndarray]) -> list[CardResult]:
        """The cards at given quads in an RGB frame (4 x 2 corners each, from any corner in either winding: another
        detector's, or a card's true corners in ``benchmarks/frame_misses.py``), answered as the detector's cards are
        (rectification, quality gate, match, verification, its retries and relocation, the verified outline); no
        second look."""
        timer = _Timer()
        dets = [Detection(order_corners(np.asarray(q, np.float32).reshape(4, 2)), 1.0) for q in quads]
        return self._refined(rgb, self._answer(rgb, self._located(rgb, dets, timer), timer), timer)

    def identify_crop(self, rgb: np.ndarray) -> CardResult:
        """An image that already is the card (no detection, no quality gate)."""
        h, w = rgb.shape[:2]
        det = Detection(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), 1.0, True)
        return self._result(det, rgb, assess(rgb, 0.0, 1.0), self.match_crops([rgb])[0])
