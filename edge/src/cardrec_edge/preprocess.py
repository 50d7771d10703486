"""The one preprocessing contract shared by training, calibration, ONNX, HEF, index and runtime.

An image of any size and aspect becomes a model input in two steps:

1. ``letterbox``: aspect-preserving resize to fit ``height x width`` (INTER_AREA when
   shrinking, INTER_LINEAR when enlarging), centred, padded with ``pad_value``; RGB uint8 HWC.
   This is what calibration sets store and what a HEF receives (normalisation in the model script).
2. ``normalize``: ``(x / 255 - mean) / std`` as float32, NCHW. This is what ONNX models receive.

The contract is serialised into every artifact's manifest (``to_dict``) and read back with
``from_dict``, so nothing downstream re-declares sizes or statistics.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """Model input contract.

    Args:
        height: input height in pixels.
        width: input width in pixels.
        mean: per-channel mean in 0-1 units, RGB order.
        std: per-channel standard deviation in 0-1 units, RGB order.
        pad_value: grey level (0-255) of the letterbox padding.
    """

    height: int = 224
    width: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pad_value: int = 0
    resize: str = field(default="letterbox", init=False)
    color_order: str = field(default="RGB", init=False)
    layout: str = field(default="NCHW float32 normalised (ONNX); NHWC uint8 0-255 (HEF, calibration)", init=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocess":
        return cls(height=int(d["height"]), width=int(d["width"]), mean=tuple(d["mean"]),
                   std=tuple(d["std"]), pad_value=int(d.get("pad_value", 0)))

    def letterbox(self, rgb: np.ndarray) -> np.ndarray:
        """Resize an RGB uint8 HxWx3 image into the contract's canvas, keeping its aspect."""
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
        h, w = rgb.shape[:2]
        scale = min(self.height / h, self.width / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(np.ascontiguousarray(rgb), (nw, nh), interpolation=interp)
        canvas = np.full((self.height, self.width, 3), self.pad_value, dtype=np.uint8)
        top, left = (self.height - nh) // 2, (self.width - nw) // 2
        canvas[top:top + nh, left:left + nw] = resized
        return canvas

    def normalize(self, nhwc_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N,H,W,3) or (H,W,3) letterboxed images -> float32 (N,3,H,W) model input."""
        x = np.asarray(nhwc_uint8)
        if x.ndim == 3:
            x = x[None]
        if x.shape[1:] != (self.height, self.width, 3):
            raise ValueError(f"expected (N,{self.height},{self.width},3), got {x.shape}")
        mean = np.asarray(self.mean, np.float32) * 255.0
        std = np.asarray(self.std, np.float32) * 255.0
        return ((x.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2).copy()

    def denormalize(self, nchw: np.ndarray) -> np.ndarray:
        """Inverse of ``normalize`` (float NCHW -> uint8 NHWC), for checks and previews."""
        mean = np.asarray(self.mean, np.float32)[:, None, None] * 255.0
        std = np.asarray(self.std, np.float32)[:, None, None] * 255.0
        x = np.asarray(nchw, np.float32) * std + mean
        return np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """One RGB image -> (1,3,H,W) float32 model input."""
        return self.normalize(self.letterbox(rgb))
