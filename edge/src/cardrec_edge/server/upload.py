"""Checking uploaded images before decoding them: format from magic bytes, dimensions from the header.

Nothing here decodes pixels until the header says the image is of an accepted format and of a size the
server is willing to allocate (a 100 kB PNG can declare 100000 x 100000 pixels: a decompression bomb).
"""
from __future__ import annotations

import base64

import cv2
import numpy as np

from ..imageheader import image_dimensions, looks_truncated, sniff_format

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp"}
DECLARED_OK = set(CONTENT_TYPES.values()) | {"image/jpg", "image/x-ms-bmp", "application/octet-stream", ""}


class UploadError(ValueError):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def check_image(data: bytes, declared_type: str, max_pixels: int) -> str:
    """Validate an upload before decoding; returns its format or raises ``UploadError`` (400, 413 or 415)."""
    if not data:
        raise UploadError(400, "the uploaded image is empty (0 bytes)")
    declared = declared_type.split(";")[0].strip().lower()
    if declared not in DECLARED_OK:
        raise UploadError(415, f"content type {declared!r} is not accepted: send JPEG, PNG, WebP or BMP")
    fmt = sniff_format(data)
    if fmt is None:
        raise UploadError(415, "not a JPEG, PNG, WebP or BMP image (unrecognised file signature)")
    dims = image_dimensions(data)
    if dims is None:
        raise UploadError(400, f"corrupt {fmt.upper()}: its header has no readable image size")
    if dims[0] * dims[1] > max_pixels:
        raise UploadError(413, f"image of {dims[0]}x{dims[1]} pixels is larger than the {max_pixels:,} allowed")
    if looks_truncated(data, fmt):
        raise UploadError(400, f"truncated or corrupt {fmt.upper()}: the image data ends early")
    return fmt


def decode_rgb(data: bytes, fmt: str) -> np.ndarray:
    """Decode a checked upload to RGB uint8 (alpha composited on white; JPEG EXIF orientation applied)."""
    flags = cv2.IMREAD_UNCHANGED if fmt in ("png", "webp") else cv2.IMREAD_COLOR
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img is None or img.size == 0:
        raise UploadError(400, f"corrupt {fmt.upper()}: it could not be decoded")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def to_data_url(rgb: np.ndarray, quality: int = 88, max_side: int | None = None) -> str:
    """An RGB image as a ``data:image/jpeg;base64,...`` URL, optionally downscaled to ``max_side``."""
    h, w = rgb.shape[:2]
    if max_side and max(h, w) > max_side:
        s = max_side / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")
