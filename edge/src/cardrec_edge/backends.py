"""Choosing the embedding backend of a bundle: a HEF on a Hailo device (HailoRT), else ONNX on the CPU.

The Hailo backend is written against HailoRT 4.23's Python API (``hailo_platform``: ``VDevice``,
``create_infer_model``, ``configure``, ``create_bindings``, ``run``), as in Hailo's hailo-apps. HailoRT is
not on PyPI (it comes with the Raspberry Pi AI Kit packages, ``hailo-all``); without it, or without a
device, ``auto`` uses ONNX and ``hailo`` fails with a message saying what is missing.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np

from .bundle import Bundle, BundleError
from .errors import CardrecError
from .matcher import l2_normalize
from .preprocess import Preprocess
from .runtime import OnnxEmbedder

BACKENDS = ("auto", "onnx", "hailo")


class HailoUnavailable(CardrecError):
    """HailoRT or a Hailo device is missing."""


def check_hailo_manifest(manifest: dict, hailort_version: str, device_arch: str) -> None:
    """Refuse a HEF built for another chip or another HailoRT major.minor (the HEF format follows it).

    Args:
        manifest: the bundle's ``hailo`` section (rule hailo_compile's manifest).
        hailort_version: ``hailo_platform.__version__`` on this machine.
        device_arch: the device's architecture as HailoRT reports it (e.g. ``HAILO8L``).
    """
    want_arch = str(manifest.get("hw_arch", "")).lower()
    have_arch = device_arch.lower().replace("_", "")
    if want_arch and want_arch != have_arch:
        raise BundleError(f"the HEF was compiled for {want_arch}, this device is {have_arch}: rebuild it with "
                          f"hailo.hw_arch: {have_arch}")
    want = str(manifest.get("hailort_version", ""))
    if want and want.split(".")[:2] != hailort_version.split(".")[:2]:
        raise BundleError(f"the HEF was built for HailoRT {want}, this machine has HailoRT {hailort_version}: "
                          f"install HailoRT {'.'.join(want.split('.')[:2])} or rebuild with the matching DFC")


class HefModel:
    """One HEF configured on a Hailo VDevice (HailoRT: ``create_infer_model``, ``configure``, ``create_bindings``,
    ``run``): one uint8 NHWC image in, its float32 output out, one at a time (the server runs several frames)."""

    def __init__(self, hp, vdevice, hef: Path):
        self.model = vdevice.create_infer_model(str(hef))
        self.model.set_batch_size(1)
        self.model.input().set_format_type(hp.FormatType.UINT8)
        self.model.output().set_format_type(hp.FormatType.FLOAT32)
        self._ctx = self.model.configure()
        self.configured = self._ctx.__enter__()
        self.out_shape = tuple(self.model.output().shape)
        self._lock = threading.Lock()

    def run(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            bindings = self.configured.create_bindings()
            bindings.input().set_buffer(np.ascontiguousarray(image, np.uint8))
            out = np.empty(self.out_shape, np.float32)
            bindings.output().set_buffer(out)
            self.configured.run([bindings], 1000)
            return out

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)


class HailoEmbedder:
    """A HEF on the Hailo NPU: uint8 NHWC letterboxed crops in, unit-norm embeddings out. Its VDevice (``vdevice``,
    HailoRT's model scheduler) also serves the bundle's segmenter HEF (``cardrec_edge.segment.HailoSegmenter``)."""

    def __init__(self, hef: Path, contract: Preprocess, manifest: dict):
        try:
            self.hp = hp = importlib.import_module("hailo_platform")
        except ImportError as e:
            raise HailoUnavailable("HailoRT's Python package hailo_platform is not installed (on a Raspberry Pi "
                                   "5: `sudo apt install hailo-all`, then a venv with --system-site-packages)") from e
        params = hp.VDevice.create_params()
        try:
            self.vdevice = hp.VDevice(params)
        except Exception as e:  # HailoRTException when no device is present
            raise HailoUnavailable(f"no Hailo device available: {e}") from e
        self.arch = str(self.vdevice.get_physical_devices()[0].control.identify().device_architecture)
        check_hailo_manifest(manifest, hp.__version__, self.arch)
        self.contract = contract
        self.net = HefModel(hp, self.vdevice, hef)

    def embed_letterboxed(self, nhwc: np.ndarray) -> np.ndarray:
        outs = [self.net.run(img).reshape(-1) for img in np.asarray(nhwc, np.uint8)]
        return l2_normalize(np.stack(outs))  # the HEF ends before the L2 normalisation

    def close(self) -> None:
        self.net.close()
        self.vdevice.release()


def open_backend(bundle: Bundle, backend: str = "auto", threads: int | None = None):
    """The bundle's embedder: ``hailo`` needs a HEF in the bundle, HailoRT and a device."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    hef = bundle.root / bundle.manifest["files"]["hef"]["path"] if "hef" in bundle.manifest["files"] else None
    if backend in ("auto", "hailo") and hef is not None:
        try:
            return HailoEmbedder(hef, bundle.contract, bundle.manifest.get("hailo", {}))
        except HailoUnavailable as e:
            if backend == "hailo":
                raise BundleError(f"--backend hailo: {e}") from None
    elif backend == "hailo":
        raise BundleError(f"--backend hailo: the bundle in {bundle.root} has no HEF (build it with export.targets: "
                          f"[int8, hef])")
    return OnnxEmbedder(bundle.model, bundle.contract, threads)
