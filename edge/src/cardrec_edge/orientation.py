"""Which way up a located card lies, read from the embedding the runtime computes anyway.

Detection finds a card's outline, not which of its short sides is the top: a crop comes out upright or turned by
180°. Without a gate the verified decision verifies the upright crop's shortlist first and, when that does not
verify, embeds the crop turned and verifies that shortlist too (``verify.choose_orientation``): every unknown card
and every card located upside down pays for both orientations. The gate is a logistic regression on the crop's
embedding, ``p(turned) = sigmoid(e . w + b)``, fitted by rule ``orientation_gate`` on photo-like views of the
gallery's faces (``cardrec.deploy.orientation``); where it is sure (``p`` beyond ``confidence`` either way) only
that orientation is verified. Calibration decides through the same gate (``cardrec.deploy.verification``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class OrientationGate:
    weights: np.ndarray  # (D,) float32, over unit-norm embeddings
    bias: float
    confidence: float  # a decision needs p(turned) above it, or below 1 - it

    @classmethod
    def load(cls, path: str | Path, confidence: float) -> "OrientationGate":
        with np.load(path) as z:
            return cls(np.asarray(z["weights"], np.float32), float(z["bias"]), float(confidence))

    def probability(self, emb: np.ndarray) -> np.ndarray:
        """p(the crop is upside down) per row of ``emb`` (N, D)."""
        return 1.0 / (1.0 + np.exp(-(np.asarray(emb, np.float32) @ self.weights + self.bias)))

    def decide(self, emb: np.ndarray) -> list[bool | None]:
        """Per crop: True (turned by 180°), False (upright) or None (not sure: both orientations are verified)."""
        p = self.probability(emb)
        return [True if q > self.confidence else False if q < 1.0 - self.confidence else None for q in p]
