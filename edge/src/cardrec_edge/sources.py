"""Where frames come from: image files and directories, a video file, an OpenCV camera, Picamera2.

Every source yields ``(name, rgb)`` pairs, RGB uint8; unreadable files yield ``(name, None)``
(``image_files`` also says why).
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .defaults import MAX_PIXELS
from .imageheader import image_dimensions, looks_truncated, sniff_format

FORMAT_SUFFIXES = {"PNG": {".png"}, "JPEG": {".jpg", ".jpeg"}, "WEBP": {".webp"}, "BMP": {".bmp"}}  # image formats read
IMAGE_SUFFIXES = set().union(*FORMAT_SUFFIXES.values())
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
Frame = tuple[str, "np.ndarray | None"]


class ImageFileError(ValueError):
    """A path that is not a readable image; the message says why (one line)."""


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 points at /dev/null meanwhile: libpng and OpenCV print their own complaints about a
    corrupt file there, and the caller reports one line of its own instead."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:                 # no fd 2 at all: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_image(path: Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file to RGB uint8 after the checks the server makes on uploads (format from the magic
    bytes, declared size at most ``max_pixels``, not truncated); raises ``ImageFileError`` saying why not."""
    if not path.exists():
        raise ImageFileError("no such file or directory")
    if not path.is_file():
        raise ImageFileError("not a regular file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageFileError(f"cannot read it: {e.strerror}") from None
    if not data:
        raise ImageFileError("empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageFileError("not a JPEG, PNG, WebP or BMP image (unrecognised file signature)")
    dims = image_dimensions(data)
    if dims is None:
        raise ImageFileError(f"corrupt {fmt.upper()}: its header has no readable image size")
    if dims[0] * dims[1] > max_pixels:
        raise ImageFileError(f"image of {dims[0]}x{dims[1]} pixels is larger than the {max_pixels:,} allowed")
    if looks_truncated(data, fmt):
        raise ImageFileError(f"truncated or corrupt {fmt.upper()}: the image data ends early")
    with _stderr_silenced():
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageFileError(f"corrupt {fmt.upper()}: it could not be decoded")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_rgb(path: Path) -> np.ndarray | None:
    """Decode an image file to RGB uint8, or None when it is not a readable image (see ``load_image``)."""
    try:
        return load_image(Path(path))
    except ImageFileError:
        return None


def image_files(paths: list[str]) -> Iterator[tuple[str, "np.ndarray | None", str | None]]:
    """``(name, rgb, None)`` per image, or ``(name, None, why)``: a missing path, a directory without images, a
    file that is not a readable image. Directories expand to the images they contain, sorted."""
    for p in map(Path, paths):
        if p.is_dir():
            try:
                files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            except OSError as e:
                yield str(p), None, f"cannot list the directory: {e.strerror}"
                continue
            if not files:
                yield str(p), None, f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this directory"
        else:
            files = [p]
        for f in files:
            try:
                yield str(f), load_image(f), None
            except ImageFileError as e:
                yield str(f), None, str(e)


def image_frames(paths: list[str]) -> Iterator[Frame]:
    for name, rgb, _ in image_files(paths):
        yield name, rgb


def video_frames(source: str | int, every: int = 1) -> Iterator[Frame]:
    """Frames of a video file or an OpenCV camera index (``every``: keep one frame in N)."""
    cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        raise OSError(f"cannot open video source {source!r}")
    try:
        n = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            if n % every == 0:
                yield f"{source}#{n}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            n += 1
    finally:
        cap.release()


def picamera_frames(size: tuple[int, int] = (1280, 720)) -> Iterator[Frame]:
    """Frames of the Raspberry Pi camera through Picamera2 (``pip install 'cardrec-edge[camera]'``)."""
    try:
        from picamera2 import Picamera2
    except ImportError as e:
        raise OSError("Picamera2 is not installed: on Raspberry Pi OS `sudo apt install python3-picamera2` "
                      "(use a venv with --system-site-packages)") from e
    cam = Picamera2()
    cam.configure(cam.create_video_configuration(main={"size": size, "format": "RGB888"}))
    cam.start()
    try:
        n = 0
        while True:
            # Picamera2's "RGB888" is B,G,R in memory (libcamera naming); reverse to RGB.
            yield f"picamera#{n}", np.ascontiguousarray(cam.capture_array()[..., ::-1])
            n += 1
    finally:
        cam.stop()


def open_stream(spec: str, every: int = 1) -> Iterator[Frame]:
    """``picamera``, a camera index (``0``), or a video file path."""
    if spec == "picamera":
        return picamera_frames()
    if spec.isdigit():
        return video_frames(int(spec), every)
    if not Path(spec).is_file():
        raise OSError(f"no such video file: {spec}")
    return video_frames(spec, every)
