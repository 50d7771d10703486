"""INT8 ONNX for CPU-only devices: onnxruntime static QDQ quantisation, calibrated on the calibration set.

Weights are int8 per output channel, activations uint8 per tensor (MinMax). ``reduce_range`` keeps
weights to 7 bits: onnxruntime's x86-64 U8S8 kernels without VNNI multiply-add pairs into a
saturating int16 (``vpmaddubsw``), which on this student costs more than the lost bit (measured on
the sv1 student: mean cosine 0.909 without, 0.992 with). ARM64 (the Pi 5) uses dot-product
instructions and loses nothing by it either way.

``keep_float`` leaves chosen nodes in FP32 (onnxruntime ``nodes_to_exclude``). On the ImageNet-initialised
student the stem and first block carry BN-folded channels whose tiny weights sit beside large biases, so
onnxruntime widens those channels' weight scales (up to 64x) to fit the bias: kept in FP32 they cost little
compute (few channels) and the INT8 gate holds (see config.yaml). A HEF quantises every layer regardless.
"""
from __future__ import annotations

import fnmatch
import logging
import platform
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from cardrec_edge.preprocess import Preprocess
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from cardrec.errors import ConfigError

log = logging.getLogger(__name__)
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}


class _CalibReader(CalibrationDataReader):
    def __init__(self, calib: np.ndarray, normalize: Callable[[np.ndarray], np.ndarray], input_name: str):
        self._items = iter([{input_name: normalize(img)} for img in calib])

    def get_next(self):
        return next(self._items, None)


def cpu_int8_features() -> dict:
    """What decides U8S8 saturation on this machine (recorded in the quantisation report)."""
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    return {"machine": platform.machine(), "vnni": bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"}),
            "arm_dotprod": "asimddp" in flags}


def float_nodes(model_path: str, patterns: list[str]) -> list[str]:
    """The graph's node names that match any of the ``quantize.keep_float`` glob patterns."""
    import onnx

    names = [n.name for n in onnx.load(model_path).graph.node]
    for p in patterns:
        if not any(fnmatch.fnmatchcase(n, p) for n in names):
            raise ConfigError(f"quantize.keep_float: {p!r} matches no node of the exported student")
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def quantize(fp32_path: str, out_path: str, calib: np.ndarray, contract: Preprocess | None, per_channel: bool = True,
             reduce_range: bool = True, method: str = "minmax", keep_float: list[str] = (),
             input_name: str = "input", normalize: Callable[[np.ndarray], np.ndarray] | None = None) -> dict:
    """QDQ INT8 calibrated on the NHWC uint8 calibration set (at the contract's size, normalised by it, or by
    ``normalize``: one image -> the graph's input) fed to the graph's ``input_name``; nodes matching ``keep_float``
    stay FP32.

    Returns the settings used."""
    if method not in METHODS:
        raise ConfigError(f"quantize.method must be one of {sorted(METHODS)}, got {method!r}")
    with tempfile.TemporaryDirectory() as tmp:
        prepped = str(Path(tmp) / "prepped.onnx")
        quant_pre_process(fp32_path, prepped, skip_symbolic_shape=True)
        excluded = float_nodes(prepped, list(keep_float))
        reader = _CalibReader(calib, normalize or contract.normalize, input_name)
        quantize_static(prepped, out_path, reader, quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range, calibrate_method=METHODS[method],
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    return {"float_nodes": excluded, "format": "QDQ", "activations": "uint8 per tensor", "weights": "int8 " + (
        "per channel" if per_channel else "per tensor"), "reduce_range": reduce_range, "method": method,
        "calibration_images": int(len(calib)), "cpu": cpu_int8_features(),
        "fp32_bytes": Path(fp32_path).stat().st_size, "int8_bytes": Path(out_path).stat().st_size}
