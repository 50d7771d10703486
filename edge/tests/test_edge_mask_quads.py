"""``cardrec_edge.segment.mask_quads``: quads placed from a segmenter's mask alone (the runtime's starting points
for the corner refiner where the banded search fits none; ``benchmarks/learned_detector.py``'s ``mask`` column)."""
from __future__ import annotations

import cv2
import numpy as np
from cardrec_edge.detect import hull_quad, order_corners
from cardrec_edge.segment import mask_quads

from cardrec.evaluation.frames import corner_error

CARD = np.float32([[520, 140], [800, 190], [745, 590], [455, 535]])  # a tilted card in a 1280x720 frame


def blob_logits(shape: tuple[int, int], rounding: int = 30, out: tuple[int, int] = (72, 128)) -> np.ndarray:
    """The card's face as a segmenter sees it: corners rounded off by ``rounding`` px, at 128x72 (half its 256x144
    input), as logits."""
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.int32(np.round(CARD))], 1.0)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rounding + 1,) * 2))
    return (cv2.resize(mask, out[::-1], interpolation=cv2.INTER_AREA) - 0.5) * 8


def test_fitted_sides_recover_the_corners_a_rounded_mask_cuts_off():
    """The hull's 4-gon of a blob with rounded corners cuts them (over 3 % of the diagonal off); lines fitted to the
    middle of its sides meet at the card's corners, with or without the card's edge in the frame to snap to. An
    empty mask gives no quad."""
    frame = np.full((720, 1280, 3), (60, 90, 70), np.uint8)
    logits = blob_logits(frame.shape[:2])
    blob = (cv2.resize(logits, (1280, 720), interpolation=cv2.INTER_LINEAR) > 0).astype(np.uint8)
    hull = cv2.convexHull(cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0][0])
    assert corner_error(order_corners(hull_quad(hull, cv2.contourArea(hull))), CARD) > 0.03
    (flat,) = mask_quads(logits, frame)
    assert corner_error(flat.corners, CARD) <= 0.005
    cv2.fillPoly(frame, [np.int32(np.round(CARD))], (230, 210, 120))
    (on_card,) = mask_quads(logits, frame)
    assert corner_error(on_card.corners, CARD) <= 0.005
    assert mask_quads(np.full_like(logits, -4.0), frame) == []
