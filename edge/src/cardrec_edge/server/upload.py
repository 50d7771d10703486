"""Checking uploaded images before decoding them: format from magic bytes, dimensions from the header.

Nothing here decodes pixels until the header says the image is of an accepted format and of a size the
server is willing to allocate (a 100 kB PNG can declare 100000 x 100000 pixels: a decompression bomb).
"""
from __future__ import annotations

import base64

import cv2
import numpy as np

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "bmp": "image/bmp"}
DECLARED_OK = set(CONTENT_TYPES.values()) | {"image/jpg", "image/x-ms-bmp", "application/octet-stream", ""}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class UploadError(ValueError):
    """An upload the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def sniff_format(data: bytes) -> str | None:
    """``jpeg``, ``png``, ``webp`` or ``bmp`` from the first bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == PNG_MAGIC:
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM" and len(data) >= 26:
        return "bmp"
    return None


def _jpeg_scan(data: bytes) -> tuple[tuple[int, int] | None, int | None]:
    """Walk JPEG segments up to the first start-of-scan: (width, height) of the frame, offset of SOS."""
    i, n, dims = 2, len(data), None
    while i + 4 <= n:
        if data[i] != 0xFF:
            return dims, None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker == 0xD9:
            return dims, None
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2:
            return dims, None
        if marker in JPEG_SOF and dims is None and i + 9 <= n:
            h, w = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            dims = (w, h) if w and h else None
        if marker == 0xDA:
            return dims, i
        i += 2 + length
    return dims, None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared in a PNG, JPEG, WebP or BMP header, without decoding; None when unreadable."""
    fmt = sniff_format(data)
    dims: tuple[int, int] | None = None
    if fmt == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        dims = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    elif fmt == "jpeg":
        dims = _jpeg_scan(data)[0]
    elif fmt == "webp":
        dims = _webp_dimensions(data)
    elif fmt == "bmp":
        if int.from_bytes(data[14:18], "little") == 12:  # BITMAPCOREHEADER: 16-bit sizes
            dims = int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        else:
            dims = (abs(int.from_bytes(data[18:22], "little", signed=True)),
                    abs(int.from_bytes(data[22:26], "little", signed=True)))
    return dims if dims and dims[0] > 0 and dims[1] > 0 else None


def looks_truncated(data: bytes, fmt: str) -> bool:
    """A JPEG without end-of-image after its first scan, or a PNG without IEND (decoders may fill in grey)."""
    if fmt == "jpeg":
        sos = _jpeg_scan(data)[1]
        return sos is None or data.find(b"\xff\xd9", sos) < 0
    if fmt == "png":
        return data.rfind(b"IEND") < 0
    return False


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
