"""Temporal smoothing for streams: follow each card across frames and report an id only after it wins
a vote over its last N frames."""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the axis-aligned boxes around two quads (enough to associate a card between frames)."""
    (ax0, ay0), (ax1, ay1) = np.min(a, 0), np.max(a, 0)
    (bx0, by0), (bx1, by1) = np.min(b, 0), np.max(b, 0)
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


@dataclass
class Track:
    track_id: int
    corners: np.ndarray
    votes: deque = field(default_factory=deque)  # card id (or None: unknown / low quality) per frame
    missed: int = 0
    reported: str | None = None  # the id last announced for this track


@dataclass(frozen=True)
class StableId:
    """A card id that won the vote of a track; emitted once per change."""

    track_id: int
    card_id: str
    votes: int
    window: int


class Tracker:
    """Greedy IoU association of detections to tracks, majority vote over a sliding window.

    Args:
        window: the last N frames of a track that vote.
        min_votes: votes the winning id needs within the window (default: a strict majority).
        iou: minimum box IoU to continue a track.
        max_missed: frames a track survives without a detection.
    """

    def __init__(self, window: int = 5, min_votes: int | None = None, iou: float = 0.3, max_missed: int = 5):
        self.window, self.iou, self.max_missed = window, iou, max_missed
        self.min_votes = min_votes or window // 2 + 1
        self.tracks: list[Track] = []
        self._next = 0

    def update(self, observations: list[tuple[np.ndarray, str | None]]) -> list[StableId]:
        """Feed one frame's (corners, card id or None) pairs; returns ids that became stable this frame."""
        unmatched = set(range(len(self.tracks)))
        pairs = sorted(((quad_iou(t.corners, np.asarray(c)), ti, oi) for ti, t in enumerate(self.tracks)
                        for oi, (c, _) in enumerate(observations)), reverse=True)
        used_obs: set[int] = set()
        for score, ti, oi in pairs:
            if score < self.iou or ti not in unmatched or oi in used_obs:
                continue
            unmatched.discard(ti)
            used_obs.add(oi)
            self._observe(self.tracks[ti], *observations[oi])
        for oi, obs in enumerate(observations):
            if oi not in used_obs:
                self.tracks.append(Track(self._next, np.asarray(obs[0])))
                self._next += 1
                self._observe(self.tracks[-1], *obs)
        for ti in unmatched:
            self.tracks[ti].missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return [s for s in (self._decide(t) for t in self.tracks if t.missed == 0) if s is not None]

    def _observe(self, track: Track, corners, card_id: str | None) -> None:
        track.corners, track.missed = np.asarray(corners), 0
        track.votes.append(card_id)
        while len(track.votes) > self.window:
            track.votes.popleft()

    def _decide(self, track: Track) -> StableId | None:
        counts = Counter(v for v in track.votes if v is not None)
        if not counts:
            return None
        card_id, n = counts.most_common(1)[0]
        if n < self.min_votes or card_id == track.reported:
            return None
        track.reported = card_id
        return StableId(track.track_id, card_id, n, len(track.votes))
