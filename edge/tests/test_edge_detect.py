"""Model-free card detection, rectification and the quality gate of the edge runtime, on real images:
16 phone photos, and synthetic scenes of real sv1 card faces with known corners (cardrec.data.scenes)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from cardrec_edge.detect import (CARD_ASPECT, FULL_FRAME_SCORE, Detection, _resolve, card_of_halves, find_cards,
                                 order_corners, rectify, rectify_sizes, side_ratio, snap_outline, unrectify)
from cardrec_edge.quality import assess
from edge_support import SHARED

from cardrec.data.frames import CATEGORIES, render_frame
from cardrec.data.scenes import background, load_face, on_white, paste, synthetic_scene

PHOTOS = SHARED / "photos"
SV1 = SHARED / "cards" / "sv1"
PHOTO_FILES = [PHOTOS / f"photo_{i:02d}.jpg" for i in range(1, 17)]
TOL = 0.15                    # aspect tolerance (relative)
MAX_CORNER_ERROR = 0.03       # of the card diagonal

needs_photos = pytest.mark.skipif(not all(p.is_file() for p in PHOTO_FILES),
                                  reason=f"the 16 phone photos are not in {PHOTOS}")
needs_cards = pytest.mark.skipif(not (SV1 / "sv1-1.png").is_file(), reason=f"sv1 card faces are not in {SV1}")


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def corner_error(found: np.ndarray, true: np.ndarray) -> float:
    """Largest corner distance / card diagonal, best over the 4 cyclic corner orders (orientation is ambiguous)."""
    diag = float(np.linalg.norm(true[2] - true[0]))
    return min(float(np.linalg.norm(np.roll(found, k, axis=0) - true, axis=1).max()) for k in range(4)) / diag


def best_error(dets: list[Detection], true: np.ndarray) -> float:
    return min((corner_error(d.corners, true) for d in dets), default=np.inf)


@pytest.fixture(scope="module")
def faces() -> list[np.ndarray]:
    """40 sv1 card faces, RGBA (rounded corners in the alpha)."""
    return [load_face(SV1 / f"sv1-{i}.png") for i in range(1, 200, 5)]


# --- real phone photos ---------------------------------------------------------------------------------------

@needs_photos
@pytest.mark.parametrize("path", PHOTO_FILES, ids=lambda p: p.stem)
def test_photo_has_a_card_shaped_detection_that_passes_the_quality_gate(path):
    rgb = read_rgb(path)
    dets = find_cards(rgb)
    assert dets, f"no card found in {path.name}"
    for d in dets:
        assert d.corners.shape == (4, 2) and d.corners.dtype == np.float32
        assert 0.0 <= d.score <= 1.0
        assert abs(side_ratio(d.corners) / CARD_ASPECT - 1) <= TOL, f"{path.name}: side ratio {side_ratio(d.corners)}"
    if path.stem not in ("photo_01", "photo_12"):                       # tight shots: the card fills the frame
        assert len(dets) == 1 and dets[0].area >= 0.6 * rgb.shape[0] * rgb.shape[1], f"{path.name}: {dets}"
    crop = rectify(rgb, dets[0].corners, 352, 252)
    assert crop.shape == (352, 252, 3) and crop.dtype == np.uint8
    q = assess(crop)
    assert q.ok, f"{path.name}: {q.reasons}"


@needs_photos
def test_photo_12_finds_both_graded_cards_inside_their_slabs():
    """photo_12: a card in a magnetic case plus two graded slabs. The slab cards (not the slabs) must be found;
    the cased card (dark border on the case's printed art) is not found by this detector."""
    dets = find_cards(read_rgb(PHOTOS / "photo_12.jpg"))
    eevee = np.float32([[318, 1621], [860, 1627], [842, 2384], [295, 2383]])      # hand-checked corners
    arbok = np.float32([[1016, 1636], [1535, 1647], [1525, 2348], [1000, 2348]])
    for name, true in (("Eevee", eevee), ("Arbok", arbok)):
        assert best_error(dets, true) <= MAX_CORNER_ERROR, f"{name} card not found: {[d.corners for d in dets]}"
    assert all(d.area < 0.12 * 2560 * 1920 for d in dets), "a slab, the case or the desk was taken for a card"


@needs_photos
def test_photo_01_card_in_a_toploader_is_found_below_the_keyboard():
    rgb = read_rgb(PHOTOS / "photo_01.jpg")
    dets = find_cards(rgb)
    assert len(dets) == 1 and not dets[0].full_frame
    top = dets[0].corners[:, 1].min()
    assert top > 0.15 * rgb.shape[0], "the keyboard above the card is part of the quad"


# --- synthetic scenes with known corners ---------------------------------------------------------------------

@needs_cards
@pytest.mark.parametrize("seed", range(24))
def test_single_card_corners_within_3_percent_of_the_diagonal(faces, seed):
    scene = synthetic_scene(faces, np.random.default_rng(seed))
    dets = find_cards(scene.rgb)
    err = best_error(dets, scene.corners[0])
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal, {len(dets)} detections"


@needs_cards
@pytest.mark.parametrize("seed", range(10))
def test_every_card_of_a_multi_card_scene_is_found(faces, seed):
    """Seed 5 was a known miss until the closed edge map (CLOSE_SIZE): the Ultra Ball card's silver bottom edge on a
    grey-blue mat is under Canny's threshold in places, and its dashed outline made no contour."""
    rng = np.random.default_rng(100 + seed)
    scene = synthetic_scene(faces, rng, n_cards=2 + seed % 3, height_range=(0.25, 0.45))
    dets = find_cards(scene.rgb)
    errors = [best_error(dets, true) for true in scene.corners]
    assert max(errors) <= MAX_CORNER_ERROR, f"seed {seed}: per-card corner errors {np.round(errors, 3)}"
    assert len(dets) == len(scene.corners)


def one_card_scene_error(faces: list[np.ndarray], category: str, seed: int) -> float:
    """Corner error (share of the diagonal) of the best detection in a one-card scene of rule render_frames'
    ``category``, drawn with ``seed``, at 1280x720."""
    spec = replace(CATEGORIES[category], cards=(1, 1))
    frame = render_frame([f[..., :3] for f in faces], lambda r: int(r.integers(len(faces))), spec,
                         np.random.default_rng(seed), (720, 1280))
    return best_error(find_cards(frame.rgb), np.float32(frame.cards[0]["corners"]))


@needs_cards
@pytest.mark.parametrize("seed", [17, 29])
def test_card_on_a_busy_print_is_found(faces, seed):
    """Held-out-frame scenes (rule render_frames' busy_background) whose print floods the edge map at the search's
    resolution: no quad there, or only the card's weak art box (seed 17 at 640 px), and the card is found by the
    coarse retry (missed without it)."""
    err = one_card_scene_error(faces, "busy_background", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("category, seed", [("busy_background", 77), ("blur", 61), ("busy_background", 76)])
def test_card_is_found_around_its_art_box(faces, category, seed):
    """Held-out-frame scenes where the card's outline is lost (a busy print; a blurred card on a pale mat) and only
    its art box, card-shaped but lying across the card, is a quad: the card is re-found around the box (at 42-43 %
    of the diagonal off without that, the box taken for a card turned by 90 degrees). The card guessed from the
    box is re-found twice: busy_background seed 76's first fit put a side on the card's text box (3.6 % off)."""
    err = one_card_scene_error(faces, category, seed)
    assert err <= MAX_CORNER_ERROR, f"{category} seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("seed", [6, 28, 33])
def test_card_in_dim_light_is_found(faces, seed):
    """Held-out-frame scenes (rule render_frames' dim: exposure 0.2-0.45, heavy noise) whose card edges fall below
    the Canny floors of a normally lit frame: the floors scale with the frame's brightness (missed without)."""
    err = one_card_scene_error(faces, "dim", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("seed", [26, 100])
def test_real_card_in_a_sleeve_is_cut_inside_its_rim(faces, seed):
    """rule render_frames' sleeve scenes with sv1 faces: the sleeve's plastic haze lifts the margin inside its lit
    rim to within 10 % of the rim's brightness; the rim (4 grey levels above both sides) is still seen and the card
    inside it reported, not the sleeve (over 3 % of the diagonal off with the former 10 % margin)."""
    err = one_card_scene_error(faces, "sleeve", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("seed", [26, 60])
def test_small_card_is_not_cut_inside_its_silver_border_as_if_sleeved(faces, seed):
    """rule render_frames' small scenes (cards 15-25 % of the frame height) with sv1 faces: a bare card's silver
    border, 4-5 px wide at that size, passed for a sleeve's lit rim when the level inside was read a fixed 4 px in
    (at the border's inner edge) and the card was cut inside its border (3.2-3.4 % of the diagonal off). The level
    is read 2.5 % of the card's short side in (RIM_INSIDE), still on the border."""
    err = one_card_scene_error(faces, "small", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("seed", [5, 18])
def test_sleeve_margin_is_tested_clear_of_its_soft_edges(faces, seed):
    """rule render_frames' sleeve scenes with sv1 faces: the margin between the sleeve's lit rim and the card is
    8-15 px wide, and a quarter of the way in from either edge its colour still carries the rim's or the card's
    soft edge, so the plastic test failed there and the sleeve was reported (3.3 % of the diagonal off; 13 of 100
    such scenes). The test is made SLEEVE_CLEAR px clear of both edges."""
    err = one_card_scene_error(faces, "sleeve", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("category, seed", [("blur", 37), ("dim", 26)])
def test_card_whose_outline_is_only_dashed_is_found(faces, category, seed):
    """rule render_frames' blur and dim scenes of sv1 faces whose card was missed (dim) or found 3.1 % of the
    diagonal off (blur) without the closed edge map's outer contours (CLOSE_SIZE px), which give the card's rough
    quad where no card was found: an outline the edge map has only in dashes makes no contour of its own."""
    err = one_card_scene_error(faces, category, seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
@pytest.mark.parametrize("seed", [37, 96])
def test_card_in_a_slab_whose_own_outline_was_not_found(faces, seed):
    """rule render_frames' slab scenes of sv1 faces where the contour search found only the slab's outline (the
    card's own outline gave no candidate): the slab was reported (over 30 % of the diagonal off). A quad
    longer than a card is tried as a slab: a card at either end of it, taken out if the band is clear plastic."""
    err = one_card_scene_error(faces, "slab", seed)
    assert err <= MAX_CORNER_ERROR, f"seed {seed}: corner error {err:.3f} of the diagonal"


@needs_cards
def test_card_in_a_slab_too_long_to_be_a_card_is_taken_out_of_it(faces, monkeypatch):
    """rule render_frames' mixed scene of sv1 faces, one card, seed 117: a silver-bordered card in a slab whose label
    gives the slab's strong outline a side ratio 23 % under a card's, past the aspect tolerance (20 %; the real.yaml
    val frames had one more such slab, 22 % under): the slab was no candidate, so no card was looked for in it, and
    the slab was reported, 41 % of the diagonal off. A strong outline up to SLAB_MAX longer is tried as a slab: the
    card is found, its silver border a few percent off on grey plastic (the runtime's verified outline or corner
    refiner take it from there)."""
    import cardrec_edge.detect as detect

    spec = replace(CATEGORIES["mixed"], cards=(1, 1))
    frame = render_frame([f[..., :3] for f in faces], lambda r: int(r.integers(len(faces))), spec,
                         np.random.default_rng(117), (720, 1280))
    assert frame.cards[0]["holder"] == "slab"
    true = np.float32(frame.cards[0]["corners"])
    assert best_error(find_cards(frame.rgb), true) <= 0.1
    monkeypatch.setattr(detect, "SLAB_MAX", 0.0)                # only quads a card's aspect allows are slabs
    assert best_error(find_cards(frame.rgb), true) > 0.3


@needs_cards
def test_card_taken_out_of_its_holder_is_not_unwrapped_again(faces):
    """rule render_frames' slab scene of sv1 faces, seed 55: the card replaces the slab's outline as the card in
    a holder, and then a quad inside the card whose band passed the plastic test too (a silver border can) replaced
    the card as if the card were a second holder (16 % of the diagonal off). A quad replaces its holder once."""
    err = one_card_scene_error(faces, "slab", 55)
    assert err <= MAX_CORNER_ERROR, f"corner error {err:.3f} of the diagonal"


@needs_cards
def test_proposed_quads_are_refined_not_taken_as_they_are(faces):
    """``find_cards(proposals=...)``: rough quads from elsewhere (a learned model; the benchmark's true corners) are
    fitted to the frame's edges like the contour search's own. A busy-print scene where the search finds nothing
    (rule render_frames' busy_background, seed 4): the card's corners, 2 % of its diagonal off, are refined onto
    the card; on a blank frame (no edges to fit) the quad is not reported."""
    spec = replace(CATEGORIES["busy_background"], cards=(1, 1))
    frame = render_frame([f[..., :3] for f in faces], lambda r: int(r.integers(len(faces))), spec,
                         np.random.default_rng(4), (720, 1280))
    true = np.float32(frame.cards[0]["corners"])
    assert best_error(find_cards(frame.rgb), true) > MAX_CORNER_ERROR          # missed without a proposal
    rough = true + np.float32([[1, -1], [1, 1], [-1, 1], [-1, -1]]) * 0.02 * np.linalg.norm(true[2] - true[0]) / 1.5
    assert best_error(find_cards(frame.rgb, proposals=[rough]), true) <= MAX_CORNER_ERROR / 2
    plain = np.full_like(frame.rgb, 128)                                       # no edges: nothing to fit to
    assert find_cards(plain, proposals=[rough]) == []


@needs_cards
def test_a_band_keeps_only_the_edges_inside_it(faces):
    """``find_cards(band=...)``: the edge map outside a mask is ignored (``benchmarks/learned_detector.py`` draws it
    around a learned segmenter's outlines). The busy-print scene above, missed without help: a band 3 % of the
    diagonal wide along the card's outline frees it from the print; an empty band leaves nothing to find."""
    spec = replace(CATEGORIES["busy_background"], cards=(1, 1))
    frame = render_frame([f[..., :3] for f in faces], lambda r: int(r.integers(len(faces))), spec,
                         np.random.default_rng(4), (720, 1280))
    true = np.float32(frame.cards[0]["corners"])
    assert best_error(find_cards(frame.rgb), true) > MAX_CORNER_ERROR
    band = np.zeros(frame.rgb.shape[:2], np.uint8)
    cv2.polylines(band, [np.int32(np.round(true))], True, 255, int(0.03 * np.linalg.norm(true[2] - true[0])))
    assert best_error(find_cards(frame.rgb, band=band), true) <= MAX_CORNER_ERROR
    assert find_cards(frame.rgb, band=np.zeros_like(band)) == []


def test_a_panel_off_a_cards_aspect_does_not_replace_the_card_as_if_in_a_holder():
    """The plastic test can take a card's printed border on a pale mat for clear plastic; the panel inside the
    border then replaced the card as "the card in a holder" (real-face val frames of the real.yaml run: a card in a
    toploader and one in a sleeve). A quad replaces its holder only with a card's aspect: the panel (12 % off the
    card's aspect, the card 0.2 %) is dropped and the card kept."""
    def rect(x: float, y: float, w: float, h: float) -> np.ndarray:
        return order_corners(np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]))
    toploader, card, panel = rect(0, 0, 116, 162), rect(8, 14, 100, 140), rect(14, 24, 88, 110)
    kept = _resolve([(toploader, 0.98), (card, 0.77), (panel, 0.48)], 8, lambda outer, inner: True)
    assert len(kept) == 1 and np.allclose(kept[0][0], card), "the panel (or the toploader) was kept"


@needs_cards
def test_upright_card_corners_start_at_its_top_left(faces):
    frame = np.full((720, 1280, 3), (60, 90, 70), np.uint8)
    true = np.float32([[500, 150], [750, 150], [750, 500], [500, 500]])
    dets = find_cards(paste(frame, faces[0], true))
    assert len(dets) == 1
    assert np.abs(dets[0].corners - true).max() <= MAX_CORNER_ERROR * np.linalg.norm(true[2] - true[0])


@needs_cards
def test_landscape_card_is_reported_as_a_portrait_quad(faces):
    frame = np.full((720, 1280, 3), (40, 40, 40), np.uint8)
    true = np.float32([[900, 200], [900, 500], [470, 500], [470, 200]])   # face TL at the top right: rotated 90
    d = find_cards(paste(frame, faces[3], true))[0]
    sides = np.linalg.norm(d.corners - np.roll(d.corners, -1, axis=0), axis=1)
    assert sides[0] < sides[1] and sides[2] < sides[3], "TL->TR must be a short side"
    assert corner_error(d.corners, true) <= MAX_CORNER_ERROR


# --- tight shots, blank and noise frames ---------------------------------------------------------------------

@needs_cards
def test_card_face_filling_the_frame_is_a_full_or_near_full_frame_detection(faces):
    for face in (on_white(faces[1]), cv2.resize(on_white(faces[2]), (500, 700), interpolation=cv2.INTER_CUBIC)):
        dets = find_cards(face)
        assert len(dets) == 1
        d, (h, w) = dets[0], face.shape[:2]
        assert d.full_frame or d.area >= 0.75 * h * w, d


@needs_cards
def test_slightly_cropped_card_photo_is_a_full_or_near_full_frame_detection(faces):
    rng = np.random.default_rng(7)
    card = np.float32([[40, 30], [720, 45], [712, 965], [28, 952]])
    photo = paste(background(rng, 1000, 760, "desk"), faces[4], card)
    crop = np.ascontiguousarray(photo[55:930, 50:705])                   # the card's edges are cut off
    dets = find_cards(crop)
    assert dets and (dets[0].full_frame or dets[0].area >= 0.75 * crop.shape[0] * crop.shape[1]), dets


def test_blank_frames_have_no_detections():
    assert find_cards(np.full((720, 1280, 3), 128, np.uint8)) == []
    assert find_cards(np.zeros((880, 630, 3), np.uint8)) == []             # card-shaped, but blank


def test_noise_frames_have_no_card_quads():
    rng = np.random.default_rng(0)
    assert find_cards(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)) == []
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 3)
    assert find_cards(smooth) == []
    dets = find_cards(rng.integers(0, 256, (880, 630, 3), dtype=np.uint8))  # card-shaped frame: fallback only
    assert all(d.full_frame and d.score <= FULL_FRAME_SCORE for d in dets)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        find_cards(np.zeros((100, 100), np.uint8))


def test_a_model_detector_replaces_the_contour_search():
    small = Detection(np.float32([[0, 0], [7, 0], [7, 10], [0, 10]]), 0.9)
    big = Detection(np.float32([[0, 0], [70, 0], [70, 100], [0, 100]]), 0.8)
    seen = []
    dets = find_cards(np.zeros((200, 200, 3), np.uint8), max_cards=1,
                      detector=lambda rgb: seen.append(rgb.shape) or [small, big])
    assert seen == [(200, 200, 3)] and len(dets) == 1 and dets[0] is big


# --- rectify and the quality gate ----------------------------------------------------------------------------

@needs_cards
def test_rectifying_the_true_corners_gives_back_the_card_face(faces):
    for seed in range(3):
        rng = np.random.default_rng(200 + seed)
        scene = synthetic_scene(faces[:1], rng, height_range=(0.7, 0.8))
        face = on_white(faces[0]).astype(np.float32)
        crop = rectify(scene.rgb, scene.corners[0], face.shape[0], face.shape[1]).astype(np.float32)
        inner = (slice(12, -12), slice(12, -12))           # skip the rounded corners (background shows there)
        mad = float(np.abs(crop[inner] - face[inner]).mean())
        assert mad < 12, f"seed {seed}: mean abs diff {mad:.1f}"
        other = rectify(scene.rgb, np.roll(scene.corners[0], 2, axis=0), face.shape[0], face.shape[1])
        assert float(np.abs(other.astype(np.float32)[inner] - face[inner]).mean()) > 2 * mad   # upside down


@needs_cards
@pytest.mark.parametrize("card_height", [0.2, 0.8], ids=["small", "large"])
def test_one_warp_gives_the_model_crop_and_the_verifier_view(faces, card_height):
    """``rectify_sizes``: the first size is exactly ``rectify``'s crop; the second comes from the same warp and is
    close to a warp of its own (exact when the card is larger than both in the frame)."""
    rng = np.random.default_rng(7)
    scene = synthetic_scene(faces[:1], rng, height_range=(card_height, card_height + 0.05))
    q = scene.corners[0]
    crop, view = rectify_sizes(scene.rgb, q, [(128, 92), (224, 160)])
    assert np.array_equal(crop, rectify(scene.rgb, q, 128, 92))
    own = rectify(scene.rgb, q, 224, 160).astype(np.float32)
    diff = float(np.abs(view.astype(np.float32) - own).mean())
    assert view.shape == (224, 160, 3) and view.dtype == np.uint8
    assert diff == 0.0 if card_height > 0.5 else diff < 4, f"mean abs diff {diff:.2f}"


@needs_cards
@pytest.mark.parametrize("size", [(128, 92), (224, 160)])
def test_points_of_a_rectified_view_map_back_onto_the_frame(faces, size):
    """``unrectify`` inverts ``rectify_sizes`` at either size: the view's corner pixels land on the quad's corners,
    and a feature of the face (a dark square pasted into it) on its place in the frame."""
    face = faces[3].copy()
    face[200:230, 150:180, :3] = 0
    rng = np.random.default_rng(11)
    scene = synthetic_scene([face], rng, height_range=(0.5, 0.55))
    q = scene.corners[0]
    h, w = size
    back = unrectify(np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]), q, size, (128, 92))
    assert np.abs(back - q).max() < 0.6 * max(np.linalg.norm(q[1] - q[0]) / w, np.linalg.norm(q[3] - q[0]) / h)
    view = rectify_sizes(scene.rgb, q, [(128, 92), size])[-1]
    ys, xs = np.nonzero(view.max(axis=2) < 20)
    fh, fw = face.shape[:2]
    centre = unrectify(np.float32([[xs.mean(), ys.mean()]]), q, size, (128, 92))[0]
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [fw - 1, 0], [fw - 1, fh - 1], [0, fh - 1]]), q)
    truth = cv2.perspectiveTransform(np.float32([[[164.5, 214.5]]]), m)[0, 0]
    assert np.linalg.norm(centre - truth) < 2.0, (centre, truth)


@needs_cards
def test_an_outline_about_right_is_snapped_onto_the_card(faces):
    """``snap_outline``: an outline a little off the card (as a verified homography places it) moves onto the
    card's edges; one reaching outside the frame is not placed."""
    rng = np.random.default_rng(4)
    scene = synthetic_scene(faces[5:6], rng, height_range=(0.5, 0.55))
    q = scene.corners[0]
    off = q + np.float32([2.0, -2.0])  # 2 px off: about 0.5 % of the diagonal
    snapped = snap_outline(scene.rgb, off)
    assert corner_error(snapped, q) < 0.5 * corner_error(off, q) and corner_error(snapped, q) < 0.004
    assert snap_outline(scene.rgb, q - q.min(axis=0) - 10) is None


def rotated(q: np.ndarray, degrees: float, centre=(640.0, 360.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    return np.float32(cv2.transform(np.float32(q).reshape(-1, 1, 2), m).reshape(-1, 2))


@pytest.mark.parametrize("degrees", [0.0, 33.0, 90.0, 200.0])
def test_two_halves_of_a_card_make_the_card(degrees):
    """``card_of_halves``: the two card-shaped halves a line across a card's middle splits it into give back the
    card's corners, in either order and whichever corners they start at; quads apart, of different sizes, or meeting
    at a short side (two cards end to end) give none."""
    h = 140 / CARD_ASPECT
    card = rotated(np.float32([[570, 220], [710, 220], [710, 220 + h], [570, 220 + h]]), degrees)
    mid = (card[0] + card[3]) / 2, (card[1] + card[2]) / 2
    top, bottom = np.float32([card[0], card[1], mid[1], mid[0]]), np.float32([mid[0], mid[1], card[2], card[3]])
    assert abs(side_ratio(order_corners(top)) / CARD_ASPECT - 1) < 0.05          # each half is card-shaped too
    for a, b in ((top, bottom), (bottom, top), (top[[2, 3, 0, 1]], bottom[[1, 2, 3, 0]])):
        whole = card_of_halves(a, b)
        assert whole is not None and corner_error(whole, card) < 1e-4
    nudged = bottom + 0.05 * (card[3] - card[0])                                   # a gap of 5 % of the height
    assert card_of_halves(top, nudged) is not None
    assert card_of_halves(top, bottom + 0.5 * (card[3] - card[0])) is None          # apart
    small = mid[0] + 0.4 * (bottom - mid[0])
    assert card_of_halves(top, small) is None                                       # a quarter of the size
    assert card_of_halves(card, card + (card[3] - card[0])) is None               # two cards end to end


@needs_cards
def test_sharp_card_faces_pass_the_quality_gate(faces):
    for face in faces:
        q = assess(on_white(face))
        assert q.ok and q.reasons == [], q


@needs_cards
def test_blurred_card_fails_on_blur(faces):
    q = assess(cv2.GaussianBlur(on_white(faces[5]), (0, 0), 4))
    assert not q.ok and len(q.reasons) == 1 and q.reasons[0].startswith("blurry"), q
    assert q.glare <= 0.25


@needs_cards
def test_card_with_blown_out_glare_fails_on_glare(faces):
    card = on_white(faces[5]).copy()
    h, w = card.shape[:2]
    cv2.ellipse(card, (w // 2, h // 2), (w // 3, h // 3), 30, 0, 360, (255, 255, 255), -1)
    q = assess(cv2.GaussianBlur(card, (0, 0), 1.0))
    assert not q.ok and [r.split(":")[0] for r in q.reasons] == ["glare"], q
    assert q.glare > 0.25
