"""The one preprocessing contract: letterbox geometry, normalisation, round trips."""
import numpy as np
import pytest
from cardrec_edge.preprocess import Preprocess


def test_letterbox_keeps_aspect_and_centres():
    c = Preprocess(height=128, width=96)
    img = np.full((342, 245, 3), 200, np.uint8)  # card aspect, taller than the canvas
    out = c.letterbox(img)
    assert out.shape == (128, 96, 3) and out.dtype == np.uint8
    cols = np.where(out[64, :, 0] > 0)[0]
    width = cols.max() - cols.min() + 1
    assert abs(width / 128 - 245 / 342) < 0.02  # aspect preserved
    assert abs((cols.min() + cols.max()) / 2 - 47.5) <= 1  # centred


def test_wide_image_is_padded_top_and_bottom():
    c = Preprocess(height=64, width=64, pad_value=7)
    out = c.letterbox(np.full((50, 100, 3), 255, np.uint8))
    assert (out[0] == 7).all() and (out[-1] == 7).all() and (out[32] == 255).all()


def test_normalize_layout_and_values():
    c = Preprocess(height=32, width=16)
    x = c.normalize(np.full((2, 32, 16, 3), 255, np.uint8))
    assert x.shape == (2, 3, 32, 16) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], (1 - np.array(c.mean)) / np.array(c.std), rtol=1e-6)


def test_denormalize_inverts_normalize():
    c = Preprocess(height=16, width=16)
    img = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    np.testing.assert_array_equal(c.denormalize(c.normalize(img)), img)


def test_dict_round_trip_and_shape_check():
    c = Preprocess(height=48, width=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), pad_value=3)
    assert Preprocess.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="expected"):
        c.normalize(np.zeros((1, 3, 48, 32), np.uint8))
