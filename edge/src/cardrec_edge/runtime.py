"""Embedding backends behind one interface: RGB crops in, unit-norm embeddings out."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .matcher import l2_normalize
from .preprocess import Preprocess


def cpu_session(path: str | Path, threads: int | None = None):
    """An onnxruntime session on the CPU, one inter-op thread, ``threads`` intra-op threads (default onnxruntime's)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """onnxruntime on the CPU (FP32 or INT8 QDQ models); input "input" NCHW float32."""

    def __init__(self, model: str | Path, contract: Preprocess, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])
        self.contract = contract
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None

    def embed_letterboxed(self, nhwc: np.ndarray) -> np.ndarray:
        """uint8 (N,H,W,3) letterboxed crops -> float32 (N,D) unit-norm embeddings."""
        x = self.contract.normalize(nhwc)
        step = self.fixed_batch or len(x)
        outs = [self.session.run(None, {self.input_name: x[i:i + step]})[0] for i in range(0, len(x), max(step, 1))]
        return l2_normalize(np.concatenate(outs, axis=0))

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 crops of any size -> float32 (N,D) unit-norm embeddings."""
        return self.embed_letterboxed(np.stack([self.contract.letterbox(im) for im in images]))
