"""Edge runtime pieces without a workflow run: matcher agreement, bundle verification, CLI errors."""
import json

import numpy as np
import pytest
from cardrec_edge.bundle import Bundle, BundleError
from cardrec_edge.cli import main
from cardrec_edge.matcher import Matcher, Projection, decide, l2_normalize
from edge_support import INDEX_CFG

from cardrec.deploy.bundle import write_bundle
from cardrec.deploy.index import build_index, fit_projection, recall_at_1, save_projection


def unit(n, d, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_usearch_and_exact_agree_on_scores(tmp_path):
    gal = unit(200, 32)
    index = build_index(gal, INDEX_CFG)
    index.save(str(tmp_path / "g.usearch"))
    assert recall_at_1(Matcher(gal, index)) >= 0.98
    build_index(gal, INDEX_CFG).save(str(tmp_path / "again.usearch"))
    assert (tmp_path / "g.usearch").read_bytes() == (tmp_path / "again.usearch").read_bytes()  # reproducible
    q = gal[:10] + 0.05 * unit(10, 32, 1)
    exact = Matcher(gal).search(q, 3)
    hnsw = Matcher(gal, str(tmp_path / "g.usearch")).search(q, 3)
    for e, h in zip(exact, hnsw):
        assert e[0].index == h[0].index
        assert abs(e[0].score - h[0].score) < 1e-5  # one score definition: cosine
    assert decide(0.8, 0.8) and not decide(0.79, 0.8)


def test_int8_index_candidates_are_rescored_in_float32(tmp_path):
    """An i8 graph only proposes candidates: returned scores are the float32 cosines, best first."""
    gal = unit(500, 64, 2)
    build_index(gal, {**INDEX_CFG, "dtype": "i8"}).save(str(tmp_path / "i8.usearch"))
    q = gal[:50] + 0.3 * unit(50, 64, 3)
    m = Matcher(gal, tmp_path / "i8.usearch", expansion_search=96, candidates=8)
    assert m._index.expansion_search == 96  # not kept by the file: set from the bundle manifest
    exact = Matcher(gal).search(q, 3)
    for e, h in zip(exact, m.search(q, 3)):
        assert [x.index for x in h] == [x.index for x in e]
        np.testing.assert_allclose([x.score for x in h], [x.score for x in e], atol=1e-6)
    raw = m._index.search(l2_normalize(q[:1]), 1)  # the i8 distance itself is only approximate
    assert abs((1 - float(raw.distances[0])) - exact[0][0].score) > 1e-6


def test_projected_graph_finds_what_exact_search_finds(tmp_path):
    """Gallery with few directions of real variation plus small noise in all 256 dims (like embeddings):
    the graph in 16 principal directions proposes, full-dimensional cosines decide."""
    rng = np.random.default_rng(4)
    basis = unit(12, 256, 5)
    gal = l2_normalize(rng.dirichlet(np.ones(12), 3000).astype(np.float32) @ basis
                       + 0.02 * rng.standard_normal((3000, 256)).astype(np.float32))
    proj = fit_projection(gal, 16)
    assert proj.components.shape == (16, 256)
    save_projection(proj, 256, tmp_path / "p.npz")
    loaded = Projection.load(tmp_path / "p.npz")
    np.testing.assert_array_equal(loaded.components, proj.components)
    index = build_index(gal, INDEX_CFG, projection=loaded)
    assert index.ndim == 16
    q = l2_normalize(gal[:200] + 0.01 * rng.standard_normal((200, 256)).astype(np.float32))
    exact = [m[0] for m in Matcher(gal).search(q, 1)]
    got = [m[0] for m in Matcher(gal, index, 64, 16, loaded).search(q, 1)]
    assert [m.index for m in got] == [m.index for m in exact]
    np.testing.assert_allclose([m.score for m in got], [m.score for m in exact], atol=1e-6)
    assert fit_projection(gal, 0) is None and fit_projection(gal[:5], 16).components.shape == (4, 256)
    save_projection(None, 256, tmp_path / "none.npz")
    assert Projection.load(tmp_path / "none.npz") is None


def make_bundle(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "emb.npy", unit(4, 8))
    build_index(unit(4, 8), INDEX_CFG).save(str(src / "idx.usearch"))
    (src / "cards.json").write_text(json.dumps([{"id": f"c{i}", "name": f"n{i}"} for i in range(4)]))
    (src / "model.onnx").write_bytes(b"not really a model")
    files = {"model": src / "model.onnx", "embeddings": src / "emb.npy", "index": src / "idx.usearch",
             "cards": src / "cards.json"}
    contract = {"height": 64, "width": 48, "mean": [0.5] * 3, "std": [0.25] * 3, "pad_value": 0}
    write_bundle(tmp_path / "edge", {k: str(v) for k, v in files.items()}, contract, 0.7, "int8", None, {})
    return tmp_path / "edge"


def test_bundle_round_trip_and_tamper_detection(tmp_path, capsys):
    root = make_bundle(tmp_path)
    b = Bundle.load(root)
    assert b.threshold == 0.7 and b.contract.height == 64 and b.verify() == []
    assert main(["verify-bundle", str(root)]) == 0
    data = bytearray((root / "embeddings.npy").read_bytes())
    data[-1] ^= 1  # one changed byte
    (root / "embeddings.npy").write_bytes(bytes(data))
    assert b.verify() == ["embeddings: embeddings.npy sha256 mismatch"]
    assert main(["verify-bundle", str(root)]) == 1
    assert "embeddings.npy sha256 mismatch" in capsys.readouterr().out
    with pytest.raises(BundleError, match="refused.*embeddings.npy sha256 mismatch"):
        Bundle.load(root)
    assert main(["identify", "--bundle", str(root), str(root / "manifest.json")]) == 2
    assert "embeddings.npy" in capsys.readouterr().err


def test_bundle_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert main(["verify-bundle", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    root = make_bundle(tmp_path)
    with pytest.raises(BundleError, match="built for"):
        m = json.loads((root / "manifest.json").read_text())
        m["hw_arch"] = "hailo8"
        (root / "manifest.json").write_text(json.dumps(m))
        Bundle.load(root, device_arch="hailo8l")


def test_edge_imports_without_torch():
    """The runtime must not pull in torch (or the training library) on the Pi."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None; sys.modules['timm'] = None; sys.modules['cardrec'] = None\n"
            "import cardrec_edge.cli, cardrec_edge.runtime, cardrec_edge.matcher, cardrec_edge.bundle\n"
            "import cardrec_edge.pipeline, cardrec_edge.server.app, cardrec_edge.collection\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
