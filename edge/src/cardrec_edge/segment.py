"""Where a learned segmenter sees cards in a frame: a band around their outlines for the classical search.

The bundle's segmenter (rule train_segmenter, ``cardrec.training.segmenter``) is a small U-Net trained on rendered
scenes. It takes the whole frame resized to its input size (area averaging, RGB, the bundle contract's mean and
std: ``segmenter_input``, also what it was trained on) and predicts each card's face, not its holder, at half that
resolution. Its outlines, widened by ``band`` px either side at the detector's search scale (``band_of``), restrict
the classical search's edge map (``find_cards(band=...)``): clutter, sticks lying across a card, a holder's edge
and a slab's label fall outside it, and the quad fit still places the corners. Where that fit finds no quad in a
region of the mask (a print busy enough to hide the card's edges), the region's own quad (``mask_quads``), moved by
the bundle's corner refiner, is tried instead. The runtime runs it only on frames it is unsure of after its second
look (``Recognizer.identify_frame``): a card identified there must verify with a margin; one not identified is
reported where no card was, or (from the band's edges, not the mask alone) in place of the first look's answer at the
same card (``Recognizer._segmented``). Where the bundle ships its HEF (rule hailo_segmenter) and the embedding model
runs on the Hailo NPU, the segmenter runs there too (``HailoSegmenter``); else on the CPU (``CardSegmenter``).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .detect import DETECT_LONG_SIDE, Detection, _corners_of, _snap, hull_quad, order_corners
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


def mask_quads(logits: np.ndarray, rgb: np.ndarray, min_height: float = 0.1) -> list[Detection]:
    """Quads from the mask alone: each component of ``logits > 0`` (upsampled to the frame) as the 4-gon of its
    hull, each side then a line fitted to the outline points along its middle 70 %, snapped to the frame's colour
    step within 3 px (the classical search's ``_snap``)."""
    h, w = rgb.shape[:2]
    mask = (cv2.resize(np.float32(logits), (w, h), interpolation=cv2.INTER_LINEAR) > 0).astype(np.uint8)
    out = []
    for c in cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]:
        hull = cv2.convexHull(c)
        area = cv2.contourArea(hull)
        if area < 0.5 * (min_height * h) ** 2:
            continue
        q, pts, lines = hull_quad(hull, area), c[:, 0].astype(np.float32), []
        for a, b in zip(q, np.roll(q, -1, axis=0)):
            length = float(np.linalg.norm(b - a))
            u = (b - a) / length
            t, off = (pts - a) @ u, (pts - a) @ np.float32([-u[1], u[0]])
            near = pts[(t > 0.15 * length) & (t < 0.85 * length) & (np.abs(off) < 0.08 * length + 3)]
            lines.append(cv2.fitLine(near, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel() if len(near) >= 5 else None)
        if all(line is not None for line in lines) and (fit := _corners_of(lines)) is not None:
            q = fit
        out.append(Detection(order_corners(_snap(rgb, order_corners(q), 3)), 1.0))
    return out


class _Segmenter:
    size: tuple[int, int]   # its input (height, width)
    radius: int             # the band's half width (px at the search's scale)

    def logits(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def look(self, rgb: np.ndarray, quads: bool = True) -> tuple[np.ndarray, list[Detection]]:
        """The band ``find_cards(band=...)`` searches in (``band_of``) and, with ``quads``, the mask's own quads
        (``mask_quads``; else none), from one run of the model."""
        logits = self.logits(rgb)
        return band_of(logits, rgb.shape[:2], self.radius), mask_quads(logits, rgb) if quads else []


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
