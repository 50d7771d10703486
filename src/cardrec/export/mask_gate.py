"""How well a quantised card segmenter keeps the FP32 one's mask: the gate of its INT8 model (rule
quantize_segmenter) and of its HEF in the Dataflow Compiler's emulator (rule hailo_segmenter), on the scenes both
are calibrated on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.segment import INPUT_NAME, normalized

from cardrec.export.gate import QualityGateError

FP32_FIX = "ship FP32 (deploy.model: fp32)"


def onnx_logits(model: Path | str, scenes: np.ndarray, contract: Preprocess) -> np.ndarray:
    """An ONNX segmenter's logits (N, h, w) on uint8 (N, H, W, 3) scenes at its input size, one scene at a time."""
    import onnxruntime as ort

    run = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.stack([run.run(None, {INPUT_NAME: normalized(img[None], contract).copy()})[0].reshape(
        run.get_outputs()[0].shape[-2:]) for img in scenes])


def agreement(logits: np.ndarray, reference: np.ndarray) -> float:
    """The share of mask pixels (logits > 0) on which two segmenters agree (any layout with one channel)."""
    a, b = np.asarray(logits).reshape(len(reference), -1), np.asarray(reference).reshape(len(reference), -1)
    return float(np.mean((a > 0) == (b > 0)))


def mask_gate(agreement: float, minimum: float, scenes: int, what: str = "the INT8 segmenter",
              fix: str = FP32_FIX) -> None:
    """Raise ``QualityGateError`` when ``what``'s mask agrees with the FP32 one on under ``minimum`` of the pixels of
    the calibration scenes; ``fix``: the last thing it suggests."""
    if agreement < minimum:
        raise QualityGateError(
            f"{what}'s mask agrees with FP32 on {agreement:.4f} of the pixels of {scenes} calibration scenes, under "
            f"segmenter.min_mask_agreement={minimum}: calibrate on more scenes (segmenter.calibration), train longer "
            f"(segmenter.steps) or {fix}")
