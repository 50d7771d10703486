"""Embedding images with a torch checkpoint or an ONNX model, in batches, with progress."""
from __future__ import annotations

import numpy as np
import torch
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder
from tqdm import tqdm

from cardrec.models.embedder import load_checkpoint


class TorchEmbedder:
    """A checkpoint behind the same ``embed_letterboxed`` interface as the edge's ``OnnxEmbedder``."""

    def __init__(self, checkpoint: str, contract: Preprocess, threads: int = 1):
        torch.set_num_threads(max(1, threads))
        self.model, self.ckpt = load_checkpoint(checkpoint)
        self.contract = contract

    @torch.inference_mode()
    def embed_letterboxed(self, nhwc: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(self.contract.normalize(nhwc))).numpy()


def open_embedder(model_path: str, contract: Preprocess, threads: int = 1):
    """A ``.pt`` checkpoint or an ``.onnx`` model -> an object with ``embed_letterboxed``."""
    if str(model_path).endswith(".onnx"):
        return OnnxEmbedder(model_path, contract, threads)
    return TorchEmbedder(model_path, contract, threads)


def embed_images(embedder, nhwc: np.ndarray, batch: int = 64, desc: str = "embed") -> np.ndarray:
    """uint8 (N,H,W,3) letterboxed images -> float32 (N,D) unit-norm embeddings."""
    out = [embedder.embed_letterboxed(np.asarray(nhwc[i:i + batch]))
           for i in tqdm(range(0, len(nhwc), batch), desc=desc, mininterval=5)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)
