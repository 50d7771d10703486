"""Safe decoding of untrusted card images: every failure becomes a reason, never a crash."""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cardrec_edge.sources import FORMAT_SUFFIXES
from PIL import Image


@dataclass
class Decoded:
    """Result of ``decode_card``: an RGB uint8 array, or a rejection reason; notes on conversions."""

    rgb: np.ndarray | None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def _to_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any Pillow mode to 8-bit RGB without wrapping or clipping surprises."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale by the real bit depth
        a = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        notes.append(f"{mode} {'16' if peak > 255 else '8'}-bit grey scaled to 8-bit RGB")
        g = np.clip(np.rint(a / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        notes.append(f"{mode} alpha composited on white")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode != "RGB":
        notes.append(f"{mode} converted to RGB")
    return np.asarray(im.convert("RGB"))


@contextlib.contextmanager
def _own_pixel_limit():
    """Pillow's decompression-bomb limit off while we enforce ``max_pixels`` from the header, then restored."""
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _png_bit_depth(path: Path) -> int:
    """Bit depth from the PNG IHDR chunk (Pillow opens 16-bit RGB as 8-bit RGB without saying so)."""
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 else 8


def decode_card(path: Path, max_pixels: int, min_side: int) -> Decoded:
    """Decode ``path`` defensively.

    Args:
        path: image file.
        max_pixels: declared width x height above which the file is refused before decoding.
        min_side: shorter side below which the image is refused.

    Returns:
        ``Decoded`` with ``rgb`` set, or ``reason`` explaining the rejection.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return Decoded(None, "empty file (0 bytes)")
        with warnings.catch_warnings(), _own_pixel_limit():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    return Decoded(None, f"declared size {w}x{h} exceeds max_pixels={max_pixels}")
                if min(w, h) < min_side:
                    return Decoded(None, f"size {w}x{h} below min_side={min_side}")
                expected = FORMAT_SUFFIXES.get(im.format or "", set())
                if path.suffix.lower() not in expected:
                    return Decoded(None, f"extension {path.suffix or '(none)'} but content is {im.format}")
                im.load()
                notes: list[str] = []
                if im.format == "PNG" and im.mode == "RGB" and _png_bit_depth(path) == 16:
                    notes.append("16-bit RGB PNG reduced to 8-bit")
                return Decoded(_to_rgb(im, notes), None, notes)
    except Image.UnidentifiedImageError:
        return Decoded(None, "not a decodable image")
    except (OSError, SyntaxError, ValueError) as e:  # truncated data, corrupt chunks, bad headers
        return Decoded(None, f"decode failed: {e}")
