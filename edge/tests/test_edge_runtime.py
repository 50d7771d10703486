"""The edge runtime end to end on a real bundle: frame -> detection -> rectification -> quality -> embedding
-> match; the 180° retry; stream tracking; the CLI (identify, --annotate, watch on a video file, bench);
backend selection and the HEF manifest checks."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from cardrec_edge.backends import check_hailo_manifest, open_backend
from cardrec_edge.bundle import Bundle, BundleError
from cardrec_edge.cli import main
from cardrec_edge.pipeline import Recognizer
from cardrec_edge.runtime import OnnxEmbedder
from cardrec_edge.tracking import Tracker
from edge_support import SHARED, build_edge_bundle, card_face

PHOTOS = SHARED / "photos"


def scene(card_id: str, turn: bool = False, blur: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 1280x720 frame: the card face warped onto a textured desk, corners known."""
    rng = np.random.default_rng(seed)
    desk = cv2.resize(rng.integers(90, 150, (18, 32, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC)
    face = card_face(card_id)
    if turn:
        face = face[::-1, ::-1]
    h, w = face.shape[:2]
    dst = np.float32([[480, 140], [800, 155], [790, 590], [470, 580]]) + rng.uniform(-10, 10, (4, 2)).astype(np.float32)
    m = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), dst)
    warped = cv2.warpPerspective(face, m, (1280, 720))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (1280, 720)) > 0
    frame = np.where(mask[..., None], warped, desk)
    return cv2.GaussianBlur(frame, (0, 0), blur) if blur else frame


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return build_edge_bundle(tmp_path_factory.mktemp("edge"), threshold=0.9)


@pytest.fixture(scope="module")
def rec(bundle_dir):
    return Recognizer(Bundle.load(bundle_dir), threads=1)


def test_frame_to_card_id(rec):
    result = rec.identify_frame(scene("sv1-5"))
    assert len(result.cards) == 1
    card = result.cards[0]
    assert card.status == "identified" and card.card_id == "sv1-5" and card.score >= 0.9
    assert card.candidates[0]["name"] == "Cacnea" and card.candidates[0]["number"] == "5"
    assert card.crop.shape[:2] == rec.crop_size and card.quality["ok"]
    corners = np.asarray(card.corners)
    assert corners.min(0)[0] > 440 and corners.max(0)[0] < 830  # found where the card is
    assert {"detect", "rectify", "quality", "preprocess", "embed", "search", "total"} <= set(result.timings_ms)
    assert json.loads(json.dumps(result.to_json()))["cards"][0]["card_id"] == "sv1-5"


def test_upside_down_card_is_matched_after_turning(rec):
    card = rec.identify_frame(scene("sv1-7", turn=True, seed=1)).cards[0]
    assert card.card_id == "sv1-7" and card.score >= 0.9


def test_blurred_frame_is_reported_not_matched(rec):
    result = rec.identify_frame(scene("sv1-5", blur=6.0))
    assert result.cards and all(c.status == "low_quality" and c.card_id is None for c in result.cards)
    assert any("blur" in r for r in result.cards[0].quality["reasons"])
    assert "embed" not in result.timings_ms  # nothing matched


def test_tracker_reports_an_id_once_after_a_majority():
    box = np.float32([[100, 100], [200, 100], [200, 240], [100, 240]])
    t = Tracker(window=5)
    seen = [t.update([(box + i, cid)]) for i, cid in enumerate(["a", "b", "a", None, "a", "a", "a"])]
    assert [len(s) for s in seen] == [0, 0, 0, 0, 1, 0, 0]  # 3 of 5 votes at frame 5, then no repeats
    assert seen[4][0].card_id == "a" and seen[4][0].votes == 3
    other = box + 600  # a second card appears elsewhere: its own track
    out = t.update([(box, "a"), (other, "c")])
    assert out == [] and len(t.tracks) == 2
    for _ in range(7):  # both cards leave the frame
        t.update([])
    assert t.tracks == []


def test_tracker_never_reports_a_flickering_id():
    box = np.float32([[0, 0], [10, 0], [10, 14], [0, 14]])
    t = Tracker(window=5)
    assert all(t.update([(box, cid)]) == [] for cid in ["a", "b", "c", "a", "b", "c", "d"])


def test_identify_cli_json_and_annotated_images(bundle_dir, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "desk.jpg"), cv2.cvtColor(scene("sv1-3", seed=2), cv2.COLOR_RGB2BGR))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code = main(["identify", "--bundle", str(bundle_dir), "--json", "--threads", "1", "--annotate",
                 str(tmp_path / "out"), str(tmp_path)])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1  # the broken file
    broken, desk = sorted(lines, key=lambda x: x["file"])
    assert broken["error"] == "corrupt PNG: its header has no readable image size"
    assert desk["cards"][0]["card_id"] == "sv1-3" and desk["cards"][0]["status"] == "identified"
    annotated = cv2.imread(str(tmp_path / "out" / "desk.annotated.jpg"))
    assert annotated.shape == (720, 1280, 3)
    original = cv2.imread(str(tmp_path / "desk.jpg"))
    assert np.abs(annotated.astype(int) - original).max() > 100  # the quad and label are drawn


@pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos not present")
def test_identify_cli_on_real_phone_photos(bundle_dir, capsys):
    assert main(["identify", "--bundle", str(bundle_dir), "--threads", "1", str(PHOTOS)]) == 0
    out = capsys.readouterr().out
    assert out.count("photo_") >= 16 and "no card found" not in out  # none of them is in the bundle


def test_watch_prints_one_stable_identification_from_a_video(bundle_dir, tmp_path):
    video = tmp_path / "desk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1280, 720))
    for i in range(8):
        writer.write(cv2.cvtColor(scene("sv1-9", seed=10 + i), cv2.COLOR_RGB2BGR))
    writer.release()
    out = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", "watch", str(video), "--bundle", str(bundle_dir),
                          "--json", "--threads", "1", "--window", "3"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    events = [json.loads(x) for x in out.stdout.splitlines()]
    assert [e["card_id"] for e in events] == ["sv1-9"] and events[0]["votes"] == "2/2"
    missing = subprocess.run([sys.executable, "-m", "cardrec_edge.cli", "watch", str(tmp_path / "nope.mp4"),
                              "--bundle", str(bundle_dir)], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "no such video file" in missing.stderr and "Traceback" not in missing.stderr


def test_bench_reports_every_stage(bundle_dir, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "f.jpg"), cv2.cvtColor(scene("sv1-1"), cv2.COLOR_RGB2BGR))
    assert main(["bench", "--bundle", str(bundle_dir), "--runs", "3", "--warmup", "1", "--threads", "1", "--json",
                 str(tmp_path / "f.jpg")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"detect", "rectify", "embed", "search", "total"} <= set(report["stages"]) and report["fps"] > 0


def test_hef_manifest_must_match_device_and_runtime():
    manifest = {"hw_arch": "hailo8l", "hailort_version": "4.23.0"}
    check_hailo_manifest(manifest, "4.23.1", "HAILO8L")
    with pytest.raises(BundleError, match="compiled for hailo8l, this device is hailo8"):
        check_hailo_manifest(manifest, "4.23.0", "HAILO8")
    with pytest.raises(BundleError, match="HailoRT 4.23.0, this machine has HailoRT 4.20.0"):
        check_hailo_manifest(manifest, "4.20.0", "HAILO8L")


def test_backend_choice_without_hailort(bundle_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hailo_platform", None)  # HailoRT not installed
    plain = Bundle.load(bundle_dir)
    assert isinstance(open_backend(plain, "auto"), OnnxEmbedder)
    with pytest.raises(BundleError, match="has no HEF"):
        open_backend(plain, "hailo")
    from cardrec.deploy.bundle import write_bundle  # a bundle that ships a HEF beside the ONNX model
    hef = tmp_path / "student.hef"
    hef.write_bytes(b"HEF bytes from hailo_compile")
    files = {k: str(bundle_dir / plain.manifest["files"][k]["path"]) for k in ("model", "embeddings", "index", "cards")}
    write_bundle(tmp_path / "hef_bundle", {**files, "hef": str(hef)}, plain.contract.to_dict(), 0.9, "int8",
                 "hailo8l", {"hailo": {"hw_arch": "hailo8l", "hailort_version": "4.23.0"}})
    with_hef = Bundle.load(tmp_path / "hef_bundle")
    assert isinstance(open_backend(with_hef, "auto"), OnnxEmbedder)  # falls back to the CPU
    with pytest.raises(BundleError, match="hailo_platform is not installed"):
        open_backend(with_hef, "hailo")
