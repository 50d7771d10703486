"""INT8 ONNX for CPU-only devices: onnxruntime static QDQ quantisation with a quality gate."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
from cardrec_edge.preprocess import Preprocess
from cardrec_edge.runtime import OnnxEmbedder
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

log = logging.getLogger(__name__)


class QualityGateError(RuntimeError):
    """The INT8 model drifted too far from FP32 on held-out queries."""


class _CalibReader(CalibrationDataReader):
    def __init__(self, calib: np.ndarray, contract: Preprocess, input_name: str):
        self._items = iter([{input_name: contract.normalize(img)} for img in calib])

    def get_next(self):
        return next(self._items, None)


def quantize(fp32_path: str, out_path: str, calib: np.ndarray, contract: Preprocess, per_channel: bool) -> None:
    """QDQ INT8 (activations uint8, weights int8, MinMax) calibrated on the NHWC uint8 calibration set."""
    with tempfile.TemporaryDirectory() as tmp:
        prepped = str(Path(tmp) / "prepped.onnx")
        quant_pre_process(fp32_path, prepped, skip_symbolic_shape=True)
        quantize_static(prepped, out_path, _CalibReader(calib, contract, "input"), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def gate(fp32_path: str, int8_path: str, queries: np.ndarray, contract: Preprocess, min_cosine: float) -> dict:
    """Mean and worst cosine(FP32, INT8) on held-out queries; raise past ``min_cosine``."""
    a = OnnxEmbedder(fp32_path, contract).embed_letterboxed(queries)
    b = OnnxEmbedder(int8_path, contract).embed_letterboxed(queries)
    cos = np.sum(a * b, axis=1)
    report = {"queries": int(len(queries)), "mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
              "gate_min_mean_cosine": min_cosine, "fp32_bytes": Path(fp32_path).stat().st_size,
              "int8_bytes": Path(int8_path).stat().st_size}
    log.info("INT8 gate %s", report)
    if report["mean_cosine"] < min_cosine:
        raise QualityGateError(f"mean cosine(FP32, INT8) {report['mean_cosine']:.4f} < quantize.min_cosine="
                               f"{min_cosine} on {len(queries)} held-out queries")
    return report
