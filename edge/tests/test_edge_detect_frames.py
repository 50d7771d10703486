"""Detection on rendered whole frames (cardrec.data.frames) per scene category, through the runtime's detection
stage, scored as the workflow's frame evaluation scores it (benchmarks/frame_detection.py measures all of them)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from cardrec_edge.pipeline import locate_cards
from cardrec_edge.preprocess import Preprocess

from cardrec.data.frames import CATEGORIES, SceneSpec, render_frame
from cardrec.data.synthesize import SynthSet, make_set
from cardrec.evaluation.frames import corner_error, match

SIZE = (720, 1280)
FRAMES = 8


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    """Synthetic card faces as the workflow stores them (letterboxed to 224x160)."""
    face = Preprocess(height=224, width=160)
    return [face.letterbox(np.asarray(img.convert("RGB"))) for _, img in make_set(7, 0, SynthSet("t", "T", 12), 0)]


def detected(faces: list[np.ndarray], category: str | SceneSpec, frames: int = FRAMES) -> tuple[int, int]:
    """(fully visible cards found within 3 % of the diagonal, fully visible cards) over ``frames`` frames."""
    spec = CATEGORIES[category] if isinstance(category, str) else category
    found = total = 0
    for seed in range(frames):
        rng = np.random.default_rng([2024, seed])
        fr = render_frame(faces, lambda r: int(r.integers(len(faces))), spec, rng, SIZE)
        dets, _, _, _ = locate_cards(fr.rgb, (128, 92))
        preds = [{"corners": d.corners.tolist()} for d in dets]
        for card, j in zip(fr.cards, match(fr.cards, preds, SIZE)):
            if card["fully_visible"]:
                total += 1
                found += j is not None and corner_error(preds[j]["corners"], card["corners"]) <= 0.03
    return found, total


@pytest.mark.parametrize("category", ["single", "large", "toploader", "glare"])
def test_card_not_its_printed_border_panel(faces, category):
    """A card's border around its inner panel is opaque print, not a clear holder: the card's outline is the
    card, not the panel inside it (the panel was taken as "a card in a holder" before the haze test)."""
    found, total = detected(faces, category)
    assert found >= total - 1, f"{category}: {found} of {total} cards found"


def test_small_cards_are_found(faces):
    """Cards 15-25 % of the frame height (about 1 % of its area) are above the smallest quad searched for."""
    found, total = detected(faces, "small")
    assert found >= total - 1, f"small: {found} of {total} cards found"


def test_card_in_a_tight_sleeve_not_the_sleeve(faces):
    """A sleeve's outline lies a few pixels outside the card's and merges with it in the downscaled edge map: the
    card inside the sleeve's lit plastic edge is reported, not the sleeve (3 % of the diagonal off)."""
    found, total = detected(faces, "sleeve", 12)
    assert found >= total - 2, f"sleeve: {found} of {total} cards found"


@pytest.mark.parametrize("tilt", [None, (15.0, 30.0)])
def test_card_in_a_slab_not_the_gap_under_its_label(faces, tilt):
    """In a graded slab the card's top edge lies a narrow gap of plastic below the label's: the card's side is
    reported, not the label's edge (3.5 % of the diagonal off), also in perspective, where the quad's aspect does
    not show the gap (told by the label's colour beyond it: 13 and 10 of 16 found when the aspect decided)."""
    spec = CATEGORIES["slab"] if tilt is None else replace(CATEGORIES["slab"], tilt=tilt)
    found, total = detected(faces, spec, 16)
    assert found >= total - (1 if tilt is None else 3), f"slab, tilt {tilt}: {found} of {total} cards found"
