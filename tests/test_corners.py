"""The corner refiner: the patches it sees, where a corner lies in them, its training and the runtime's use of it."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from cardrec_edge.corners import INPUT_NAME, CornerRefiner, Pyramid, corner_patches, from_patch, patch_input, to_patch
from cardrec_edge.detect import order_corners

from cardrec.export.gate import QualityGateError
from cardrec.export.quantize import quantize
from cardrec.training.corners import corner_shift, export, perturbed, shift_gate, train

CARD = order_corners(np.float32([[520, 140], [800, 190], [745, 590], [455, 535]]))  # tilted, in a 1280x720 frame
SPEC = {"size": 32, "span": 0.4, "iterations": 2}


def frame() -> np.ndarray:
    rgb = np.zeros((720, 1280, 3), np.uint8)
    cv2.fillPoly(rgb, [np.int32(np.round(CARD))], (230, 200, 60))
    return rgb


def test_each_patch_shows_its_corner_in_the_middle_and_the_card_towards_the_bottom_right():
    patches, px, a, b = corner_patches(Pyramid(frame()), CARD, SPEC["size"], SPEC["span"])
    assert patches.shape == (4, 32, 32, 3) and patches.dtype == np.uint8
    for p in patches.astype(np.float32).mean(axis=3):
        assert p[18:, 18:].mean() > 150 and p[:14].mean() < 5 and p[:, :14].mean() < 5
    np.testing.assert_allclose(to_patch(CARD, CARD, px, a, b), 0, atol=1e-5)   # a corner at its own patch's middle


def test_patch_coordinates_map_back_to_the_frame():
    q = perturbed(np.random.default_rng(0), CARD)
    assert np.abs(q - CARD).max() < 0.25 * float(np.linalg.norm(CARD[2] - CARD[0]))
    _, px, a, b = corner_patches(Pyramid(frame()), q, SPEC["size"], SPEC["span"])
    local = to_patch(CARD, q, px, a, b)
    assert np.abs(local).max() < 0.6                                              # inside the patch
    np.testing.assert_allclose(from_patch(local, q, px, a, b), CARD, atol=1e-3)


def test_a_regional_pyramid_cuts_the_same_patches_as_the_whole_one():
    """The runtime reduces only the parts of the frame its patches need; training cuts them from whole levels."""
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (717, 1279, 3), np.uint8)                   # odd sizes: levels rounded up
    rgb = cv2.GaussianBlur(rgb, (0, 0), 2)
    unit = np.float32([[-63, -88], [63, -88], [63, 88], [-63, 88]]) / 88
    for short in (6.0, 40.0, 150.0, 300.0, 600.0):                        # every pyramid level
        for centre in ([640, 360], [20, 700], [1300, -30], [-200, 400]):  # inside, at and past the frame's edges
            turn = rng.uniform(0, 2 * np.pi)
            rot = np.float32([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
            q = order_corners(np.float32(centre) + (unit * short / 0.716) @ rot.T)
            pyr = Pyramid(rgb, regional=True)
            for moved in (q, q + rng.normal(0, 0.01 * short, (4, 2)).astype(np.float32)):  # the next pass reuses
                whole = corner_patches(Pyramid(rgb), moved, SPEC["size"], SPEC["span"])[0]
                np.testing.assert_array_equal(corner_patches(pyr, moved, SPEC["size"], SPEC["span"])[0], whole)


@pytest.fixture(scope="module")
def refiner_onnx(tmp_path_factory) -> Path:
    """A refiner trained here on one card's corners seen from rough quads, exported as the rule exports it."""
    rng, pyr, x, y = np.random.default_rng(1), Pyramid(frame()), [], []
    for _ in range(256):
        q = perturbed(rng, CARD)
        p, px, a, b = corner_patches(pyr, q, SPEC["size"], SPEC["span"])
        x += list(p)
        y += list(to_patch(CARD, q, px, a, b))
    torch.set_num_threads(2)
    net, losses = train(np.stack(x), np.clip(np.float32(y), -0.6, 0.6),
                        {"size": 32, "batch": 64, "epochs": 12, "lr": 3e-3}, seed=0)
    assert losses[-1] < 0.5 * losses[0]
    path = tmp_path_factory.mktemp("corners") / "refiner.onnx"
    export(net, 32, path)
    return path


@pytest.fixture(scope="module")
def refiner(refiner_onnx) -> CornerRefiner:
    return CornerRefiner(refiner_onnx, SPEC, threads=1)


def rough_patches(n: int, seed: int) -> np.ndarray:
    rng, pyr = np.random.default_rng(seed), Pyramid(frame())
    return np.concatenate([corner_patches(pyr, perturbed(rng, CARD), SPEC["size"], SPEC["span"])[0] for _ in range(n)])


def test_the_int8_refiner_puts_corners_where_the_fp32_one_does(refiner_onnx, refiner, tmp_path):
    """Quantised as rule quantize_corner_refiner quantises it (static QDQ, calibrated on corner patches), held to FP32
    by the INT8 gate, and still moving rough quads onto the card."""
    int8 = tmp_path / "refiner_int8.onnx"
    settings = quantize(str(refiner_onnx), str(int8), rough_patches(32, 4), None, input_name=INPUT_NAME,
                        normalize=lambda p: patch_input(p[None]))
    assert settings["calibration_images"] == 128 and settings["int8_bytes"] < settings["fp32_bytes"]
    shift = corner_shift(refiner_onnx, int8, rough_patches(16, 5))        # patches it was not calibrated on
    assert shift.shape == (64,) and 0 < shift.mean() < 0.02
    shift_gate(shift, 0.02)
    with pytest.raises(QualityGateError, match="corners.max_int8_shift"):
        shift_gate(shift, shift.mean() / 2)
    rng, quantised = np.random.default_rng(7), CornerRefiner(int8, SPEC, threads=1)
    diag = float(np.linalg.norm(CARD[2] - CARD[0]))
    for _ in range(5):
        rough = perturbed(rng, CARD)
        assert np.abs(quantised.refine(frame(), rough) - refiner.refine(frame(), rough)).max() < 0.01 * diag


def test_the_exported_refiner_moves_a_rough_quad_onto_the_card(refiner):
    rng = np.random.default_rng(7)
    diag = float(np.linalg.norm(CARD[2] - CARD[0]))
    for _ in range(5):
        rough = perturbed(rng, CARD)
        before = np.abs(rough - CARD).max() / diag
        after = np.abs(refiner.refine(frame(), rough) - CARD).max() / diag
        assert after < min(before, 0.03)
    tiny = np.float32([[0, 0], [3, 0], [3, 4], [0, 4]])
    np.testing.assert_array_equal(refiner.refine(frame(), tiny), tiny)               # too small to look at
