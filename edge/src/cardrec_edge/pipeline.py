"""Frame -> card ids: detect quads, rectify, quality gate, embed, match (and try 180° when weak).

One ``Recognizer`` serves the CLI, the stream watcher and the HTTP server; every stage is timed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .backends import open_backend
from .bundle import Bundle
from .defaults import MAX_GLARE, MIN_BLUR, RETRY_MARGIN, TOP_K
from .detect import CARD_ASPECT, Detection, find_cards, rectify
from .matcher import Matcher, Projection, decide
from .quality import assess

CARD_METADATA = ("name", "set", "number", "rarity")


@dataclass
class CardResult:
    """One card found in a frame (or a whole image taken as the card)."""

    corners: list[list[float]]
    full_frame: bool
    quality: dict
    status: str  # "identified" | "unknown" | "low_quality"
    card_id: str | None = None
    score: float | None = None
    candidates: list[dict] = field(default_factory=list)
    rotated: bool = False  # matched after turning the crop by 180°
    crop: np.ndarray | None = None  # rectified RGB crop (not serialised)

    @property
    def name(self) -> str | None:
        return self.candidates[0]["name"] if self.card_id and self.candidates else None

    def to_json(self) -> dict:
        return {"card_id": self.card_id, "name": self.name, "score": self.score, "status": self.status,
                "candidates": self.candidates, "corners": self.corners, "full_frame": self.full_frame,
                "quality": self.quality, "rotated": self.rotated}


@dataclass
class FrameResult:
    cards: list[CardResult]
    timings_ms: dict[str, float]

    def to_json(self) -> dict:
        return {"cards": [c.to_json() for c in self.cards], "timings_ms": self.timings_ms}


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    def add(self, stage: str, t0: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = round(self.ms.get(stage, 0.0) + (now - t0) * 1000, 3)
        return now


class Recognizer:
    """Bundle + embedding backend + matcher.

    Args:
        bundle: a loaded (and verified) edge bundle.
        backend: ``auto`` (HEF on a Hailo device when the bundle has one, else ONNX), ``onnx`` or ``hailo``.
        threads: onnxruntime intra-op threads (default: all cores).
        exact: exact numpy search instead of the bundle's HNSW index.
        min_blur, max_glare: quality gate (see ``cardrec_edge.quality``).
        retry_margin: when the best score is below ``threshold + retry_margin``, the crop turned by 180°
            is tried too and the better match kept (detection cannot tell upright from upside down).
    """

    def __init__(self, bundle: Bundle, backend: str = "auto", threads: int | None = None, exact: bool = False,
                 min_blur: float = MIN_BLUR, max_glare: float = MAX_GLARE, retry_margin: float = RETRY_MARGIN,
                 top_k: int = TOP_K):
        self.bundle = bundle
        self.cards = bundle.card_table()
        self.embedder = open_backend(bundle, backend, threads)
        search = bundle.manifest.get("index") or {}  # settings a usearch file does not keep
        projection = Projection.load(bundle.projection) if bundle.projection and not exact else None
        self.matcher = Matcher(np.load(bundle.embeddings), None if exact else bundle.index,
                               search.get("expansion_search"), search.get("candidates", 16), projection)
        self.min_blur, self.max_glare, self.retry_margin, self.top_k = min_blur, max_glare, retry_margin, top_k
        self.exact = exact
        c = bundle.contract
        self.crop_size = (c.height, max(1, round(c.height * CARD_ASPECT)))

    def _candidates(self, matches) -> list[dict]:
        return [{"card_id": self.cards[m.index]["id"], **{k: self.cards[m.index].get(k) for k in CARD_METADATA},
                 "score": round(m.score, 6)} for m in matches]

    def match_crops(self, crops: list[np.ndarray], timer: _Timer | None = None) -> list[tuple[list[dict], bool]]:
        """Embed and match rectified crops; weak matches are retried upside down."""
        timer = timer or _Timer()
        t = time.perf_counter()
        lb = np.stack([self.embedder.contract.letterbox(c) for c in crops])
        t = timer.add("preprocess", t)
        emb = self.embedder.embed_letterboxed(lb)
        t = timer.add("embed", t)
        found = self.matcher.search(emb, self.top_k)
        t = timer.add("search", t)
        out = [(self._candidates(m), False) for m in found]
        weak = [i for i, (cands, _) in enumerate(out) if cands[0]["score"] < self.bundle.threshold + self.retry_margin]
        if weak:
            flipped = self.embedder.embed_letterboxed(lb[weak][:, ::-1, ::-1])
            for i, m in zip(weak, self.matcher.search(flipped, self.top_k)):
                if m[0].score > out[i][0][0]["score"]:
                    out[i] = (self._candidates(m), True)
            timer.add("retry_180", t)
        return out

    def _result(self, det: Detection, crop: np.ndarray, quality, match) -> CardResult:
        q = {"blur": round(quality.blur, 2), "glare": round(quality.glare, 4), "ok": quality.ok,
             "reasons": list(quality.reasons)}
        res = CardResult(corners=np.asarray(det.corners, float).round(2).tolist(), full_frame=det.full_frame,
                         quality=q, status="low_quality", crop=crop)
        if match is not None:
            cands, rotated = match
            best = cands[0]
            res.candidates, res.rotated, res.score = cands, rotated, best["score"]
            known = decide(best["score"], self.bundle.threshold)
            res.status, res.card_id = ("identified", best["card_id"]) if known else ("unknown", None)
        return res

    def identify_frame(self, rgb: np.ndarray) -> FrameResult:
        """All cards in an RGB frame; low-quality crops are reported, not matched."""
        timer = _Timer()
        t = time.perf_counter()
        dets = find_cards(rgb)
        t = timer.add("detect", t)
        crops = [rectify(rgb, d.corners, *self.crop_size) for d in dets]
        t = timer.add("rectify", t)
        qualities = [assess(c, self.min_blur, self.max_glare) for c in crops]
        timer.add("quality", t)
        good = [i for i, q in enumerate(qualities) if q.ok]
        matches = dict(zip(good, self.match_crops([crops[i] for i in good], timer))) if good else {}
        cards = [self._result(d, c, q, matches.get(i)) for i, (d, c, q) in enumerate(zip(dets, crops, qualities))]
        timer.ms["total"] = round(sum(timer.ms.values()), 3)
        return FrameResult(cards, timer.ms)

    def identify_crop(self, rgb: np.ndarray) -> CardResult:
        """An image that already is the card (no detection, no quality gate)."""
        h, w = rgb.shape[:2]
        det = Detection(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), 1.0, True)
        return self._result(det, rgb, assess(rgb, 0.0, 1.0), self.match_crops([rgb])[0])
