"""Where frames come from: image files and directories, a video file, an OpenCV camera, Picamera2.

Every source yields ``(name, rgb)`` pairs, RGB uint8; unreadable files yield ``(name, None)``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

FORMAT_SUFFIXES = {"PNG": {".png"}, "JPEG": {".jpg", ".jpeg"}, "WEBP": {".webp"}, "BMP": {".bmp"}}  # image formats read
IMAGE_SUFFIXES = set().union(*FORMAT_SUFFIXES.values())
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm"}
Frame = tuple[str, "np.ndarray | None"]


def read_rgb(path: Path) -> np.ndarray | None:
    """Decode an image file to RGB uint8, or None when it is not a readable image."""
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files as given; directories expand to the images they contain, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def image_frames(paths: list[str]) -> Iterator[Frame]:
    for path in expand_inputs(paths):
        yield str(path), read_rgb(path) if path.is_file() else None


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
