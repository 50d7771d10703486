"""Photo-like renders: seeded, aspect-preserving, never mirrored, streams independent."""
import numpy as np

from cardrec.data.augment import AugmentParams, render_view, stream_seed


def face():
    f = np.zeros((112, 80, 3), np.uint8)
    f[:, :40] = 255  # left half white: a horizontal flip would move it right
    return f


def test_same_seed_same_view_other_stream_differs():
    a = render_view(face(), stream_seed(1, "train", 5))
    b = render_view(face(), stream_seed(1, "train", 5))
    c = render_view(face(), stream_seed(1, "test", 5))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1


def test_shape_kept_and_no_mirroring():
    for k in range(20):
        v = render_view(face(), stream_seed(2, "train", k), AugmentParams(glare_prob=0, noise_sigma=0))
        assert v.shape == (112, 80, 3)
        g = v.mean(axis=(0, 2))
        assert g[:30].mean() > g[-30:].mean() + 40  # the white half stays on the left
