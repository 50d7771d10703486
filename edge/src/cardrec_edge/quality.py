"""Quality gate for a rectified card crop: sharpness (variance of the Laplacian) and specular glare.

Both are measured on a fixed-size copy of the crop (``SIZE``, INTER_AREA), so the thresholds do not depend on
the camera resolution or on how large the card was in the frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .defaults import MAX_GLARE, MIN_BLUR

SIZE = (128, 176)            # (width, height) the crop is resized to before measuring
GLARE_VALUE = 250            # HSV value at or above which a pixel is near-saturated ...
GLARE_SATURATION = 25        # ... and at or below which saturation (0-255) it is colourless: specular glare


@dataclass(frozen=True)
class Quality:
    blur: float                                   # variance of the Laplacian of the grey crop (higher = sharper)
    glare: float                                  # fraction of near-saturated, low-saturation pixels
    ok: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"blur": round(self.blur, 2), "glare": round(self.glare, 4), "ok": self.ok,
                "reasons": list(self.reasons)}


def assess(crop_rgb: np.ndarray, min_blur: float = MIN_BLUR, max_glare: float = MAX_GLARE) -> Quality:
    """Sharpness and glare of an RGB uint8 card crop; ``ok`` when blur >= min_blur and glare <= max_glare."""
    if crop_rgb.ndim != 3 or crop_rgb.shape[2] != 3 or crop_rgb.size == 0:
        raise ValueError(f"expected an HxWx3 RGB crop, got shape {crop_rgb.shape}")
    small = cv2.resize(crop_rgb, SIZE, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    blur = float(cv2.Laplacian(grey, cv2.CV_32F).var())
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    glare = float(np.count_nonzero((hsv[..., 2] >= GLARE_VALUE) & (hsv[..., 1] <= GLARE_SATURATION)) / grey.size)
    reasons = []
    if blur < min_blur:
        reasons.append(f"blurry: variance of Laplacian {blur:.1f} < {min_blur:g}")
    if glare > max_glare:
        reasons.append(f"glare: {glare:.0%} of the card > {max_glare:.0%}")
    return Quality(blur, glare, not reasons, reasons)
