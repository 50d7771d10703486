"""`cardrec-edge identify` on bad input: a PNG declaring a huge size, a missing path, an empty directory, corrupt
files. Each gets its own one-line message and a non-zero exit status; nothing else reaches stderr."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest
from cardrec_edge.cli import main
from cardrec_edge.defaults import MAX_PIXELS

from edge_support import REPO as ROOT, build_edge_bundle, card_face



def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR declaring ``width`` x ``height`` RGB pixels, with 10 rows of data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (3 * width + 1) * 10, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def corrupt_png() -> bytes:
    """A real PNG with part of its compressed data zeroed (libpng: "IDAT: incorrect data check")."""
    ok, png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8))
    data = bytearray(png.tobytes())
    data[60:80] = bytes(20)
    return bytes(data)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return build_edge_bundle(tmp_path_factory.mktemp("edge"), card_ids=["sv1-1", "sv1-2", "sv1-3"])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "edge" / "src"), str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "cardrec_edge.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_png_declaring_more_pixels_than_allowed_is_refused_before_decoding(bundle_dir, tmp_path, capsys):
    side = int(np.sqrt(MAX_PIXELS)) + 1000            # 7324 x 7324: 54 M pixels, a 5 kB file
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(side, side))
    assert bomb.stat().st_size < 20_000
    assert main(["identify", "--bundle", str(bundle_dir), "--threads", "1", str(bomb)]) == 1
    captured = capsys.readouterr()
    assert f"{side}x{side} pixels is larger than the {MAX_PIXELS:,} allowed" in captured.err
    assert captured.out == ""


def test_the_header_check_never_decodes_a_30000_by_30000_png(tmp_path):
    from cardrec_edge.sources import ImageFileError, load_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(30000, 30000))
    with pytest.raises(ImageFileError, match="30000x30000 pixels is larger than"):
        load_image(bomb)
    card = tmp_path / "card.png"
    cv2.imwrite(str(card), cv2.cvtColor(card_face("sv1-1"), cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(load_image(card), card_face("sv1-1"))


def test_missing_path_empty_directory_and_corrupt_files_each_get_their_own_message(bundle_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.png").write_bytes(corrupt_png())
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "zero.png").write_bytes(b"")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(card_face("sv1-2"), cv2.COLOR_RGB2BGR))
    inputs = ["missing.jpg", "empty", "corrupt.png", "text.jpg", "zero.png", "good.png"]
    res = run_cli("identify", "--bundle", str(bundle_dir), "--threads", "1", "--crop",
                  *(str(tmp_path / p) for p in inputs))
    assert res.returncode == 1, res
    errors = res.stderr.splitlines()
    assert errors == [
        f"{tmp_path / 'missing.jpg'}: error: no such file or directory",
        f"{tmp_path / 'empty'}: error: no images (.bmp, .jpeg, .jpg, .png, .webp) in this directory",
        f"{tmp_path / 'corrupt.png'}: error: corrupt PNG: it could not be decoded",
        f"{tmp_path / 'text.jpg'}: error: not a JPEG, PNG, WebP or BMP image (unrecognised file signature)",
        f"{tmp_path / 'zero.png'}: error: empty file (0 bytes)",
    ], res.stderr                                     # only our lines: no "libpng error", no OpenCV warnings
    assert res.stdout.startswith(f"{good}: sv1-2"), res.stdout


def test_an_empty_directory_alone_is_an_error_not_silence(bundle_dir, tmp_path):
    res = run_cli("identify", "--bundle", str(bundle_dir), "--threads", "1", str(tmp_path))
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr == f"{tmp_path}: error: no images (.bmp, .jpeg, .jpg, .png, .webp) in this directory\n"


def test_json_mode_reports_each_reason_on_stdout(bundle_dir, tmp_path, capsys):
    (tmp_path / "corrupt.png").write_bytes(corrupt_png())
    code = main(["identify", "--bundle", str(bundle_dir), "--json", "--threads", "1",
                 str(tmp_path / "nope.png"), str(tmp_path / "corrupt.png")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out == [f'{{"file": "{tmp_path / "nope.png"}", "error": "no such file or directory"}}',
                   f'{{"file": "{tmp_path / "corrupt.png"}", "error": "corrupt PNG: it could not be decoded"}}']
