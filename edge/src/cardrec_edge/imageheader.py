"""Reading an image file's format and declared size from its first bytes, without decoding pixels.

A 100 kB PNG can declare 100000 x 100000 pixels (a decompression bomb): the server (uploads) and the CLI (files)
check the header against ``defaults.MAX_PIXELS`` before any decoder allocates the image.
"""
from __future__ import annotations

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are not frames
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}



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
