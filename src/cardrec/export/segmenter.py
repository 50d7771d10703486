"""The card segmenter's exports: how well a quantised one keeps the FP32 one's mask (the gate of its INT8 model, rule
quantize_segmenter, and of its HEF in the Dataflow Compiler's emulator, rule hailo_segmenter, on the scenes both are
calibrated on) and the static graph the Hailo parser takes (rule simplify_segmenter)."""
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


def fixed_graph(model: Path | str, out: Path | str, scenes: np.ndarray, contract: Preprocess, atol: float) -> dict:
    """The segmenter's graph with its upsampling sizes folded to constants (``simplify_onnx``: its ``Shape``, ``Slice``
    and ``Concat`` arithmetic leaves only Conv, Relu, Resize and Concat), held to the trained graph on ``scenes``.

    Raises:
        ParityError: the logits differ by more than ``atol`` anywhere.
    """
    from cardrec.export.onnx import ParityError, simplify_onnx  # torch: on the host only (the DFC steps import this)

    info = simplify_onnx(model, out, "the Hailo parser needs a static graph: report this segmenter's ONNX")
    worst = float(np.abs(onnx_logits(out, scenes, contract) - onnx_logits(model, scenes, contract)).max())
    if worst > atol:
        raise ParityError(f"the simplified segmenter's logits differ from the trained one's by {worst:.3g} > "
                          f"export.parity_atol={atol} on {len(scenes)} scenes")
    return {**info, "scenes": len(scenes), "max_abs_diff": worst, "atol": atol}
