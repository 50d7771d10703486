"""One preprocessing contract through every path.

The same card photo goes through training batches, the calibration set, the HEF's normalisation
layer, index building, both ONNX models and the edge runtime; each must see the contract's input
(letterboxed, RGB, mean/std, NCHW) and produce the same embedding. A path that resized differently,
swapped colour order or normalised twice fails here.
"""
import re

import numpy as np
import pytest
import torch
from cardrec_edge.detect import rectify
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder
from cardrec_edge.sources import read_rgb
from PIL import Image

from cardrec.data import calibration

from cardrec.hailo import dfc as hailo
from cardrec.data.augment import AugmentParams
from cardrec.models.embed import embed_images, open_embedder
from cardrec.export.onnx import export_with_parity
from cardrec.hailo.dfc import HailoConfig
from cardrec.data.decode import decode_card
from cardrec.models.embedder import create_embedder, load_checkpoint, save_checkpoint
from cardrec.training import loop

C = Preprocess(height=64, width=48, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), pad_value=0)


def _photo() -> np.ndarray:
    """A 150x101 RGB 'card' whose channels differ strongly, so a BGR mix-up changes the input."""
    rng = np.random.default_rng(7)
    img = np.zeros((150, 101, 3), np.uint8)
    img[..., 0] = np.linspace(20, 235, 101)[None, :]
    img[..., 1] = rng.integers(60, 120, (150, 101))
    img[..., 2] = np.linspace(230, 10, 150)[:, None]
    return img


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    torch.manual_seed(0)
    model, _ = create_embedder("efficientnet_lite0", 16, (C.height, C.width))
    save_checkpoint(d / "m.pt", model.eval(), {"arch": "efficientnet_lite0", "embed_dim": 16,
                                               "img_size": (C.height, C.width)})
    export_with_parity(str(d / "m.pt"), str(d / "fixed.onnx"), str(d / "dyn.onnx"), C.letterbox(_photo())[None],
                       C, 17, 1e-4)
    return d


@pytest.fixture(scope="module")
def reference(models):
    """What the contract says the model sees, and the embedding that gives."""
    x = C.normalize(C.letterbox(_photo()))
    model, _ = load_checkpoint(models / "m.pt")
    with torch.inference_mode():
        return x, model(torch.from_numpy(x)).numpy()


def test_decoders_agree_on_rgb(tmp_path):
    path = tmp_path / "card.png"
    Image.fromarray(_photo()).save(path)
    ingest = decode_card(path, max_pixels=10**7, min_side=32).rgb
    np.testing.assert_array_equal(ingest, _photo())
    np.testing.assert_array_equal(read_rgb(path), _photo())  # the edge CLI's reader


def test_training_batches(monkeypatch, reference):
    monkeypatch.setattr(loop, "render_view", lambda face, rng, params: face)  # no augmentation
    x, y = loop.view_batch(_photo()[None], np.array([0]), 1, C, AugmentParams(), seed=0, step=0)
    np.testing.assert_array_equal(x.numpy(), reference[0])
    assert y.tolist() == [0]


def test_calibration_set_and_hef_normalisation(monkeypatch, reference):
    monkeypatch.setattr(calibration, "render_view", lambda face, rng, params: face)
    calib, _ = calibration.build_calibration([{"id": "s-1", "set": "s"}], _photo()[None], 1, 0, C, AugmentParams())
    np.testing.assert_array_equal(C.normalize(calib), reference[0])  # raw 0-255, normalised by the consumer
    dfc_input = hailo.calibration_for_dfc(calib)  # what ClientRunner.optimize and the emulator receive
    alls = hailo.model_script(HailoConfig(), C, "net/fc1")
    mean, std = (np.array([float(v) for v in g.split(",")]) for g in
                 re.search(r"normalization\(\[(.*?)\], \[(.*?)\]\)", alls).groups())
    on_chip = ((dfc_input - mean) / std).transpose(0, 3, 1, 2)  # the HEF's normalisation layer
    np.testing.assert_allclose(on_chip, reference[0], atol=1e-4)


def test_index_building_and_onnx_models(models, reference):
    letterboxed = C.letterbox(_photo())[None]
    want = reference[1]
    for model in ("m.pt", "dyn.onnx", "fixed.onnx"):  # rule embed_gallery / reference_index path
        got = embed_images(open_embedder(str(models / model), C), letterboxed, desc=model)
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=model)


def test_edge_runtime_from_a_file(models, reference, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(path)
    manifest_contract = Preprocess.from_dict(C.to_dict())  # as the bundle manifest carries it
    assert manifest_contract == C
    for model in ("dyn.onnx", "fixed.onnx"):
        got = OnnxEmbedder(models / model, manifest_contract, threads=1).embed([read_rgb(path)])
        np.testing.assert_allclose(got, reference[1], atol=1e-4, err_msg=model)
    swapped = OnnxEmbedder(models / "dyn.onnx", C).embed([_photo()[..., ::-1]])
    assert np.abs(swapped - reference[1]).max() > 1e-3  # the check above would catch a BGR mix-up


def test_edge_rectify_resamples_like_the_contract():
    """The runtime cuts cards out of frames with ``rectify``: an axis-aligned card must come out as the
    contract's own resize of its crop (area averaging when shrinking), not a differently filtered image."""
    card = _photo()
    frame = np.full((300, 260, 3), 90, np.uint8)
    frame[70:220, 80:181] = card
    corners = np.float32([[80, 70], [180, 70], [180, 219], [80, 219]])  # corner pixel centres, TL TR BR BL
    want = C.letterbox(card)  # 150x101 -> 64x43, centred in the 64x48 canvas
    left = (C.width - 43) // 2
    got = rectify(frame, corners, C.height, 43)
    assert np.abs(got.astype(int) - want[:, left:left + 43]).max() <= 1
    np.testing.assert_array_equal(C.letterbox(got), want)  # and the runtime's letterbox then changes nothing
