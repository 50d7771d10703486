"""Where a learned segmenter sees cards in a frame: a band around their outlines for the classical search.

The bundle's segmenter (rule train_segmenter, ``cardrec.training.segmenter``) is a small U-Net trained on rendered
scenes. It takes the whole frame resized to its input size (area averaging, RGB, the bundle contract's mean and
std: ``segmenter_input``, also what it was trained on) and predicts each card's face, not its holder, at half that
resolution. Its outlines, widened by ``band`` px either side at the detector's search scale (``band_of``), restrict
the classical search's edge map (``find_cards(band=...)``): clutter, sticks lying across a card, a holder's edge
and a slab's label fall outside it, and the quad fit still places the corners. The runtime runs it only on frames
it is unsure of after its second look (``Recognizer.identify_frame``): a card identified there must verify with a
margin; one not identified is reported where no card was, or in place of the first look's answer at the same card
(``Recognizer._segmented``). Where the bundle ships its HEF (rule hailo_segmenter) and the embedding model runs on
the Hailo NPU, the segmenter runs there too (``HailoSegmenter``); else on the CPU (``CardSegmenter``).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detect import DETECT_LONG_SIDE
from .preprocess import Preprocess
from .runtime import cpu_session

INPUT_NAME = "frame"    # the ONNX graph's input and output names (rule train_segmenter exports them)
OUTPUT_NAME = "logits"


def small_frame(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame at the segmenter's (height, width), area-averaged: uint8 RGB (what training scenes store)."""
    h, w = size
    return cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA)


def normalized(small: np.ndarray, contract: Preprocess) -> np.ndarray:
    """uint8 (..., H, W, 3) -> float32 (..., 3, H, W) with the contract's mean and std."""
    mean, std = np.float32(contract.mean) * 255, np.float32(contract.std) * 255
    return np.moveaxis((small.astype(np.float32) - mean) / std, -1, -3)


def segmenter_input(rgb: np.ndarray, size: tuple[int, int], contract: Preprocess) -> np.ndarray:
    """An RGB frame -> the segmenter's (1, 3, H, W) float32 input."""
    return np.ascontiguousarray(normalized(small_frame(rgb, size), contract)[None])


def band_of(logits: np.ndarray, frame_hw: tuple[int, int], radius: int) -> np.ndarray:
    """The outlines of the mask ``logits > 0`` (any resolution), ``radius`` px either side, as a uint8 mask of the
    frame at the classical search's scale (``DETECT_LONG_SIDE``)."""
    h, w = frame_hw
    s = DETECT_LONG_SIDE / max(h, w)
    mask = (cv2.resize(np.float32(logits), (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR) > 0)
    mask = mask.astype(np.uint8) * 255
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.subtract(cv2.dilate(mask, k), cv2.erode(mask, k))


class _Segmenter:
    size: tuple[int, int]   # its input (height, width)
    radius: int             # the band's half width (px at the search's scale)

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def band(self, rgb: np.ndarray) -> np.ndarray:
        """The band ``find_cards(band=...)`` searches in (``band_of``)."""
        return band_of(self.logits(rgb), rgb.shape[:2], self.radius)


class CardSegmenter(_Segmenter):
    """The bundle's segmenter on the CPU (onnxruntime).

    Args:
        path: its ONNX file.
        spec: the manifest's ``segmenter`` section (``height``, ``width``: its input; ``band``: px).
        contract: the bundle's preprocessing contract (mean, std).
        threads: onnxruntime intra-op threads (default: all cores).
    """

    def __init__(self, path: Path, spec: dict, contract: Preprocess, threads: int | None = None):
        self.session = cpu_session(path, threads)
        self.size = (int(spec["height"]), int(spec["width"]))
        self.radius = int(spec["band"])
        self.contract = contract

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        """Card-face logits of an RGB frame, at half the input size."""
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: segmenter_input(rgb, self.size, self.contract)})[0][0, 0]


class HailoSegmenter(_Segmenter):
    """The bundle's segmenter HEF (rule hailo_segmenter) on the Hailo NPU, beside the embedding HEF on its VDevice:
    the frame area-resized to the input size as uint8 NHWC (the HEF normalises), logits at half that size.

    Args:
        hef: its HEF file.
        spec: the manifest's ``segmenter`` section; its ``hailo`` part is checked against the device and HailoRT.
        embedder: the bundle's ``HailoEmbedder`` (its HailoRT module, VDevice and device architecture).
    """

    def __init__(self, hef: Path, spec: dict, embedder):
        from .backends import HefModel, check_hailo_manifest

        check_hailo_manifest(spec["hailo"], embedder.hp.__version__, embedder.arch)
        self.size = (int(spec["height"]), int(spec["width"]))
        self.radius = int(spec["band"])
        self.net = HefModel(embedder.hp, embedder.vdevice, hef)

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        out = self.net.run(small_frame(rgb, self.size))
        return out.reshape(out.shape[:2])   # NHWC, one channel


def open_segmenter(bundle, embedder, threads: int | None = None) -> _Segmenter:
    """The bundle's segmenter: its HEF on the NPU where the bundle ships one and the embedding model runs there
    (``backends.HailoEmbedder``), else its ONNX model on the CPU."""
    spec = bundle.manifest["segmenter"]
    if bundle.segmenter_hef is not None and hasattr(embedder, "vdevice"):
        return HailoSegmenter(bundle.segmenter_hef, spec, embedder)
    return CardSegmenter(bundle.segmenter, spec, bundle.contract, threads)
