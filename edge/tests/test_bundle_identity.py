"""The edge bundle's identity (``bundle_id`` over the canonical manifest), the manifest field checks, and
byte-identical rebuilds from the same inputs."""
from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cardrec_edge.bundle import Bundle, BundleError
from cardrec_edge.cli import main
from cardrec_edge.manifest import bundle_id

from cardrec.deploy.bundle import write_bundle
from cardrec.deploy.index import build_index, write_thumbnails

from edge_support import INDEX_CFG

CONTRACT = {"height": 64, "width": 48, "mean": [0.5] * 3, "std": [0.25] * 3, "pad_value": 0}


def inputs(tmp_path: Path) -> dict[str, str]:
    """Bundle inputs for 4 cards (the model is not a real one: these tests never embed)."""
    src = tmp_path / "src"
    src.mkdir(parents=True)
    emb = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    np.save(src / "emb.npy", emb)
    build_index(emb, INDEX_CFG).save(str(src / "idx.usearch"))
    cards = [{"id": f"c{i}", "name": f"n{i}"} for i in (3, 1, 2, 0)]
    (src / "cards.json").write_text(json.dumps(cards))
    (src / "model.onnx").write_bytes(b"not really a model")
    np.save(src / "gallery.npy", np.random.default_rng(1).integers(0, 255, (4, 64, 48, 3), dtype=np.uint8))
    write_thumbnails(cards, [str(src / "gallery.npy")], src / "thumbnails.zip")
    return {"model": str(src / "model.onnx"), "embeddings": str(src / "emb.npy"), "index": str(src / "idx.usearch"),
            "cards": str(src / "cards.json"), "thumbnails": str(src / "thumbnails.zip")}


def build(tmp_path: Path, name: str = "edge", files: dict | None = None) -> Path:
    write_bundle(tmp_path / name, files or inputs(tmp_path), CONTRACT, 0.7, "int8", None, {"index": {"candidates": 16}})
    return tmp_path / name


def edit(root: Path, change, resign: bool = False) -> None:
    """Apply ``change(manifest)``; with ``resign``, recompute its bundle_id (a bad manifest from a bad tool)."""
    m = json.loads((root / "manifest.json").read_text())
    change(m)
    if resign:
        m["bundle_id"] = bundle_id(m)
    (root / "manifest.json").write_text(json.dumps(m, indent=1))


def test_verify_bundle_shows_the_id_of_the_canonical_manifest(tmp_path, capsys):
    root = build(tmp_path)
    m = json.loads((root / "manifest.json").read_text())
    body = {k: v for k, v in m.items() if k != "bundle_id"}
    expected = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert m["bundle_id"] == expected and Bundle.load(root).bundle_id == expected
    assert main(["verify-bundle", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{root}: bundle_id {expected}",
                                                    f"{root}: manifest and 5 files verified"]
    edit(root, lambda m: None)                       # reformatting (indent) keeps the identity
    assert main(["verify-bundle", str(root)]) == 0


def test_editing_the_threshold_is_detected(tmp_path, capsys):
    root = build(tmp_path)
    edit(root, lambda m: m.update(threshold=0.2))
    assert main(["verify-bundle", str(root)]) == 1
    assert "manifest.json: its content does not match its bundle_id" in capsys.readouterr().out
    with pytest.raises(BundleError, match="refused.*manifest.json: its content does not match its bundle_id"):
        Bundle.load(root)
    assert main(["identify", "--bundle", str(root), str(root / "cards.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cardrec-edge identify: bundle") and "bundle_id" in err and err.count("\n") == 1


BAD_FIELDS = {
    "threshold text": (lambda m: m.update(threshold="abc"), 'threshold must be a number between -1 and 1'),
    "threshold null": (lambda m: m.update(threshold=None), "threshold must be a number between -1 and 1"),
    "threshold missing": (lambda m: m.pop("threshold"), "threshold must be a number between -1 and 1 (a cosine "
                                                        "similarity), missing"),
    "threshold bool": (lambda m: m.update(threshold=True), "threshold must be a number"),
    "threshold 2": (lambda m: m.update(threshold=2.0), "threshold must be a number between -1 and 1"),
    "height": (lambda m: m["preprocess"].update(height="224"), "preprocess.height must be a positive integer"),
    "std zero": (lambda m: m["preprocess"].update(std=[0.2, 0, 0.2]), "preprocess.std must be a list of 3 positive"),
    "no preprocess": (lambda m: m.pop("preprocess"), "preprocess must be an object"),
    "no model": (lambda m: m["files"].pop("model"), "files.model must be present"),
    "escaping path": (lambda m: m["files"]["cards"].update(path="../cards.json"), "files.cards.path must be a "
                                                                                  "relative path inside"),
    "sha256": (lambda m: m["files"]["index"].update(sha256=None), "files.index.sha256 must be 64 lowercase hex"),
    "expansion": (lambda m: m.update(index={"expansion_search": "64"}), "index.expansion_search must be a positive"),
    "no id": (lambda m: m.pop("bundle_id"), "manifest.json has no bundle_id"),
    "art inliers": (lambda m: m.update(verify={"art_inliers": -1}), "verify.art_inliers must be an integer >= 0"),
    "art box": (lambda m: m.update(verify={"art_box": [0.9, 0.1, 0.1, 0.5]}), "verify.art_box must be [x0, y0, x1,"),
    "segmenter band": (lambda m: m.update(segmenter={"height": 144, "width": 256, "band": 0}),
                       "segmenter.band must be a positive integer"),
    "segmenter file": (lambda m: m.update(segmenter={"height": 144, "width": 256, "band": 8}),
                       "files.segmenter must be present"),
}


@pytest.mark.parametrize("resign", [True, False], ids=["re-signed", "edited"])
@pytest.mark.parametrize("case", list(BAD_FIELDS))
def test_bad_manifest_fields_are_one_line_errors_naming_the_key(tmp_path, capsys, case, resign):
    change, message = BAD_FIELDS[case]
    root = build(tmp_path)
    edit(root, change, resign=resign and case != "no id")
    for argv in (["verify-bundle", str(root)], ["identify", "--bundle", str(root), str(root / "cards.json")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"cardrec-edge {argv[0]}: manifest.json") and message in err and err.count("\n") == 1, err


def test_a_rebuild_from_the_same_inputs_is_byte_identical(tmp_path):
    first = inputs(tmp_path / "a")
    time.sleep(2.1)                                  # zip entry times have a 2 s resolution
    second = inputs(tmp_path / "b")
    assert Path(first["thumbnails"]).read_bytes() == Path(second["thumbnails"]).read_bytes()
    a, b = build(tmp_path, "edge_a", first), build(tmp_path, "edge_b", second)
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "thumbnails.zip" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert Bundle.load(a).bundle_id == Bundle.load(b).bundle_id


def test_the_held_out_bundle_is_byte_identical_at_every_rebuild(tmp_path):
    """The frames' bundle without the unknown cards (rule frames_bundle) rebuilt from the same bundle: the same
    bytes and bundle_id, whatever the time of the rebuild (its thumbnail entries keep the source's date)."""
    from cardrec.evaluation.frames import subset_bundle

    files = inputs(tmp_path)
    write_bundle(tmp_path / "edge", files, CONTRACT, 0.7, "int8", None, {"index": {**INDEX_CFG, "candidates": 16}})
    first = subset_bundle(tmp_path / "edge", tmp_path / "held_a", {"c2"})
    time.sleep(2.1)                                  # zip entry times have a 2 s resolution
    second = subset_bundle(tmp_path / "edge", tmp_path / "held_b", {"c2"})
    assert first["bundle_id"] == second["bundle_id"]
    assert Bundle.load(tmp_path / "held_a").bundle_id == first["bundle_id"]
    with zipfile.ZipFile(tmp_path / "held_a" / "thumbnails.zip") as zf:
        assert [i.filename for i in zf.infolist()] == ["c0.jpg", "c1.jpg", "c3.jpg"]


def test_thumbnail_entries_are_sorted_with_a_fixed_date_and_mode(tmp_path):
    files = inputs(tmp_path)
    with zipfile.ZipFile(files["thumbnails"]) as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["c0.jpg", "c1.jpg", "c2.jpg", "c3.jpg"]
    assert {(i.date_time, i.external_attr >> 16, i.compress_type) for i in infos} == \
        {((1980, 1, 1, 0, 0, 0), 0o644, zipfile.ZIP_STORED)}
