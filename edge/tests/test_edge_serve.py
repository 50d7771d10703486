"""``cardrec_edge.server`` for real: uvicorn in a subprocess on 127.0.0.1, requests over TCP, a headless browser."""
from __future__ import annotations

import base64
import html
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from cardrec_edge.collection import CSV_HEADER
from cardrec_edge.server.upload import image_dimensions
from edge_support import build_edge_bundle, card_face, on_mat
from serve_support import call, chromium, encode, multipart, post_image, running_server

TOKEN = "s3cret-token"


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A ~100-byte PNG whose IHDR declares ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


def jpeg_bomb() -> bytes:
    """A real JPEG whose SOF0 header is patched to claim 60000 x 60000 pixels."""
    data = bytearray(encode(card_face("sv1-1"), ".jpg"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data)


def error_of(status_headers_body) -> str:
    status, headers, body = status_headers_body
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body[:200])
    message = json.loads(body)["error"]
    assert isinstance(message, str) and message
    return message


def crop_image(card: dict) -> np.ndarray:
    head, b64 = card["crop"].split(",", 1)
    assert head == "data:image/jpeg;base64"
    img = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


@pytest.mark.parametrize("ext", [".png", ".jpg", ".webp", ".bmp"])
def test_image_dimensions_from_header(ext):
    data = encode(np.zeros((23, 37, 3), np.uint8), ext)
    assert image_dimensions(data) == (37, 23)
    assert image_dimensions(data[:8]) is None


def test_image_dimensions_of_bombs_and_garbage():
    assert image_dimensions(png_bomb(100_000, 90_000)) == (100_000, 90_000)
    assert image_dimensions(jpeg_bomb()) == (60_000, 60_000)
    assert image_dimensions(b"GIF89a" + b"\x00" * 40) is None and image_dimensions(b"") is None


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_edge_bundle(tmp_path_factory.mktemp("serve_bundle"))


@pytest.fixture(scope="module")
def server(bundle, tmp_path_factory):
    with running_server(bundle, tmp_path_factory.mktemp("serve_open")) as served:
        yield served.url


@pytest.fixture(scope="module")
def pikachu_scan(server) -> dict:
    status, _, body = post_image(server, encode(on_mat("sv1-5"), ".png"))
    assert status == 200, body
    return json.loads(body)


def the_card(scan: dict, card_id: str = "sv1-5") -> dict:
    found = [c for c in scan["cards"] if c["card_id"] == card_id]
    assert found, [(c["card_id"], c["status"], c["score"]) for c in scan["cards"]]
    return found[0]


def test_health(server):
    status, _, body = call(server + "/health")
    assert status == 200
    h = json.loads(body)
    assert h["status"] == "ok" and h["cards"] == 12 and h["threshold"] == 0.5
    assert h["backend"] == "onnx" and h["model_variant"] == "fp32" and h["auth_required"] is False


def test_identify_png(pikachu_scan):
    card = the_card(pikachu_scan)
    assert card["status"] == "identified" and card["score"] >= pikachu_scan["threshold"] and card["name"]
    assert card["candidates"][0]["card_id"] == "sv1-5" and len(card["corners"]) == 4
    assert crop_image(card).std() > 10  # a real picture, not a blank
    assert card["ref_image"].startswith("data:image/jpeg;base64,")  # the matched card's reference image
    assert pikachu_scan["scan_id"] and pikachu_scan["frame_size"] == [325, 422]
    assert pikachu_scan["timings_ms"]["total"] > 0 and "embed" in pikachu_scan["timings_ms"]


def test_identify_jpeg_and_raw_body(server):
    jpg = encode(on_mat("sv1-5"), ".jpg")
    scans = [post_image(server, jpg, "image/jpeg"),
             call(server + "/identify", "POST", jpg, {"Content-Type": "image/jpeg"})]
    for status, _, body in scans:
        assert status == 200, body
        scan = json.loads(body)
        assert the_card(scan)["crop"].startswith("data:image/jpeg;base64,")
    assert json.loads(scans[0][2])["scan_id"] != json.loads(scans[1][2])["scan_id"]


@pytest.mark.parametrize("case, status", [
    ("text", 415), ("declared_text", 415), ("gif", 415), ("truncated_jpeg", 400), ("truncated_png", 400),
    ("zero_bytes", 400), ("empty_body", 400), ("no_image_field", 400), ("png_bomb", 413), ("jpeg_bomb", 413),
    ("fifty_mb", 413), ("not_multipart", 415),
])
def test_bad_uploads_answer_json_4xx(server, case, status):
    jpg, png = encode(card_face("sv1-2"), ".jpg"), encode(card_face("sv1-2"), ".png")
    if case == "text":
        resp = post_image(server, b"these are not the pixels you are looking for\n" * 20)
    elif case == "declared_text":
        resp = post_image(server, png, "text/plain")
    elif case == "gif":
        resp = post_image(server, b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 30, "image/gif")
    elif case == "truncated_jpeg":
        resp = post_image(server, jpg[:len(jpg) // 2], "image/jpeg")
    elif case == "truncated_png":
        resp = post_image(server, png[:len(png) // 2])
    elif case == "zero_bytes":
        resp = post_image(server, b"")
    elif case == "empty_body":
        resp = call(server + "/identify", "POST", b"", {"Content-Type": "multipart/form-data; boundary=x"})
    elif case == "no_image_field":
        body, h = multipart(png, field="file")
        resp = call(server + "/identify", "POST", body, h)
    elif case == "png_bomb":
        resp = post_image(server, png_bomb())
    elif case == "jpeg_bomb":
        resp = post_image(server, jpeg_bomb(), "image/jpeg")
    elif case == "fifty_mb":
        resp = post_image(server, b"\xff\xd8\xff" + b"\x00" * (50 * 2**20))
    else:
        resp = call(server + "/identify", "POST", b"image=abc", {"Content-Type": "application/x-www-form-urlencoded"})
    assert resp[0] == status, (case, resp[0], resp[2][:300])
    message = error_of(resp)
    if case.endswith("bomb"):
        assert "pixels" in message
    assert call(server + "/health")[0] == 200  # still serving


def test_cards_endpoint(server):
    status, _, body = call(server + "/cards/sv1-5")
    assert status == 200 and json.loads(body)["id"] == "sv1-5"
    resp = call(server + "/cards/nope-1")
    assert resp[0] == 404 and "nope-1" in error_of(resp)
    status, headers, jpg = call(server + "/cards/sv1-5/image")
    assert status == 200 and jpg[:2] == b"\xff\xd8"  # the bundle's thumbnail of that card
    assert call(server + "/cards/nope-1/image")[0] == 404


def test_collection_api_and_csv(server):
    name = json.loads(call(server + "/cards/sv1-5")[2])["name"]
    add = {"card_id": "sv1-5", "quantity": 2, "condition": "Lightly Played", "printing": "Holofoil"}
    hdr = {"Content-Type": "application/json"}
    status, _, body = call(server + "/collection", "POST", json.dumps(add).encode(), hdr)
    assert status == 201, body
    row = json.loads(body)
    assert (row["card_id"], row["name"], row["quantity"], row["language"]) == ("sv1-5", name, 2, "English")
    assert any(r["id"] == row["id"] for r in json.loads(call(server + "/collection")[2]))

    status, headers, body = call(server + "/collection.csv")
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    lines = body.decode().splitlines()
    assert lines[0] == ",".join(CSV_HEADER) == "Quantity,Name,Set,Card Number,Rarity,Printing,Condition,Language"
    assert any(name in line and "Holofoil" in line and line.startswith("2,") for line in lines[1:])

    resp = call(server + "/collection", "POST", json.dumps({**add, "card_id": "zz-9"}).encode(), hdr)
    assert resp[0] == 404 and "zz-9" in error_of(resp)
    resp = call(server + "/collection", "POST", json.dumps({**add, "condition": "Pristine"}).encode(), hdr)
    assert resp[0] == 400 and "Pristine" in error_of(resp)
    resp = call(server + "/collection", "POST", b"{not json", hdr)
    assert resp[0] == 400 and error_of(resp)

    assert call(server + f"/collection/{row['id']}", "DELETE")[0] == 200
    resp = call(server + f"/collection/{row['id']}", "DELETE")
    assert resp[0] == 404 and error_of(resp)
    assert all(r["id"] != row["id"] for r in json.loads(call(server + "/collection")[2]))


def test_token_mode(bundle, tmp_path):
    with running_server(bundle, tmp_path, "--token", TOKEN) as served:
        url = served.url
        health = json.loads(call(url + "/health")[2])
        assert health["auth_required"] is True
        assert call(url + "/")[0] == 200  # the page asks for the token itself
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            resp = call(url + "/collection", headers=headers)
            assert resp[0] == 401 and "token" in error_of(resp)
            resp = post_image(url, encode(card_face("sv1-5"), ".png"), headers=headers)
            assert resp[0] == 401 and error_of(resp)
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert call(url + "/collection", headers=good)[0] == 200
        status, _, body = post_image(url, encode(card_face("sv1-5"), ".png"), headers=good)
        assert status == 200
        scan_id = json.loads(body)["scan_id"]
        assert call(f"{url}/scans/{scan_id}")[0] == 401
        assert call(f"{url}/scans/{scan_id}?token={TOKEN}")[0] == 200


def test_pages_in_headless_chromium(server, pikachu_scan, tmp_path):
    if shutil.which("chromium") is None:
        pytest.skip("Debian chromium not installed (make installs it)")
    card = the_card(pikachu_scan)
    url = f"{server}/scans/{pikachu_scan['scan_id']}"
    dom = chromium("--dump-dom", url, profile=tmp_path / "p1")
    assert html.escape(card["name"]) in dom and f"{card['score']:.3f}" in dom and "identified" in dom

    shot_path = tmp_path / "scan.png"
    chromium(f"--screenshot={shot_path}", url, profile=tmp_path / "p2")
    shot = cv2.imread(str(shot_path), cv2.IMREAD_COLOR)
    assert shot is not None and shot.shape == (900, 1280, 3)
    assert shot.std() > 20 and len(np.unique(shot.reshape(-1, 3), axis=0)) > 1000  # not a blank page
    crop = crop_image(card)  # shown 200 px high on the page
    h, w = crop.shape[:2]
    template = cv2.resize(crop, (round(200 * w / h), 200), interpolation=cv2.INTER_AREA)
    match = cv2.matchTemplate(shot, template, cv2.TM_CCOEFF_NORMED).max()
    assert match > 0.8, f"the crop is not visible in the screenshot (best match {match:.2f})"

    add = json.dumps({"card_id": "sv1-9", "quantity": 3}).encode()
    assert call(server + "/collection", "POST", add, {"Content-Type": "application/json"})[0] == 201
    name = json.loads(call(server + "/cards/sv1-9")[2])["name"]
    # the page's script ran: server status in the header, the collection table filled from GET /collection
    index = chromium("--virtual-time-budget=5000", "--dump-dom", server + "/", profile=tmp_path / "p3")
    assert 'id="upload-form"' in index and 'name="image"' in index and 'type="file"' in index
    assert "camera-btn" in index and "Download CSV" in index
    assert "12 cards · onnx" in index and f"<td>{html.escape(name)}</td>" in index


def test_wheel_ships_the_page(tmp_path):
    """The page's files are package data: a regular (non-editable) wheel install serves them too."""
    edge = tmp_path / "edge"  # a clean copy: no build/ left over from earlier builds, none left in the checkout
    shutil.copytree(Path(__file__).resolve().parents[1], edge,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "w"), str(edge)], capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next((tmp_path / "w").glob("cardrec_edge-*.whl"))
    target = tmp_path / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-3000:]
    code = ("import cardrec_edge.server.page as p; print(p.__file__); print(len(p.static_file('app.js')), "
            "len(p.static_file('style.css')), 'id=\"upload-form\"' in p.index_html())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(target)})
    assert out.returncode == 0, out.stderr[-3000:]
    where, sizes = out.stdout.splitlines()
    assert Path(where).is_relative_to(target)
    js, css, has_form = sizes.split()
    assert int(js) > 1000 and int(css) > 1000 and has_form == "True"
