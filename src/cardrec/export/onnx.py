"""ONNX export (opset 17, one file): fixed 1x3xHxW for Hailo, dynamic batch for CPU; parity enforced."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from cardrec_edge.preprocess import Preprocess

from cardrec.models.embedder import load_checkpoint
from cardrec.errors import CardrecError

log = logging.getLogger(__name__)
INPUT, OUTPUT = "input", "embedding"


class ParityError(CardrecError):
    """ONNX output differs from torch beyond the configured tolerance."""


def export_onnx(checkpoint: str, out_path: str, contract: Preprocess, opset: int, dynamic_batch: bool,
                simplify: bool = True) -> dict:
    """Export with the TorchScript-based exporter (``dynamo=False``): a single opset-``opset`` file.

    With ``simplify``, onnx-simplifier folds constants and shape arithmetic (``Shape``/``Expand`` of the
    L2 normalisation) into initialisers; the Hailo parser handles fewer, static ops better.

    Returns:
        Node counts by op type before and after simplification.
    """
    model, _ = load_checkpoint(checkpoint)
    dummy = torch.zeros(1, 3, contract.height, contract.width)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (dummy,), out_path, input_names=[INPUT], output_names=[OUTPUT], opset_version=opset,
                      dynamo=False, do_constant_folding=True,
                      dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}} if dynamic_batch else None)
    info = {"nodes": _op_counts(onnx.load(out_path))}
    if simplify:
        info.update(simplify_onnx(out_path, out_path, "set export.simplify: false"))
    onnx.checker.check_model(onnx.load(out_path), full_check=True)
    return info


def simplify_onnx(src: str | Path, out: str | Path, otherwise: str) -> dict:
    """onnx-simplifier on ``src``, written to ``out``: constants and shape arithmetic folded into initialisers (the
    Hailo parser handles fewer, static ops better); ``otherwise``: what to do when it cannot validate the result.

    Returns:
        Node counts by op type after simplification and onnxsim's version.
    """
    import onnxsim

    graph, ok = onnxsim.simplify(onnx.load(str(src)))
    if not ok:
        raise ParityError(f"onnx-simplifier could not validate the simplified {src}; {otherwise}")
    onnx.save(graph, str(out))
    return {"simplified_nodes": _op_counts(graph), "onnxsim": onnxsim.__version__}


def _op_counts(graph: onnx.ModelProto) -> dict:
    return dict(sorted(Counter(n.op_type for n in graph.graph.node).items()))


def parity(checkpoint: str, onnx_path: str, images: np.ndarray, contract: Preprocess) -> float:
    """Max |torch - onnxruntime| over ``images`` (uint8 letterboxed NHWC), one at a time for fixed models."""
    model, _ = load_checkpoint(checkpoint)
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.inference_mode():
        for img in images:
            x = contract.normalize(img)
            ref = model(torch.from_numpy(x)).numpy()
            out = sess.run(None, {INPUT: x})[0]
            worst = max(worst, float(np.abs(ref - out).max()))
    return worst


def export_with_parity(checkpoint: str, fixed_out: str, dynamic_out: str, images: np.ndarray, contract: Preprocess,
                       opset: int, atol: float, simplify: bool = True) -> dict:
    """Write both variants; raise ``ParityError`` when either exceeds ``atol`` on real images."""
    report = {"opset": opset, "atol": atol, "images": int(len(images)), "preprocess": contract.to_dict()}
    for name, path, dyn in (("fixed", fixed_out, False), ("dynamic", dynamic_out, True)):
        report[name] = export_onnx(checkpoint, path, contract, opset, dyn, simplify)
        err = parity(checkpoint, path, images, contract)
        report[f"{name}_max_abs_diff"] = err
        log.info("%s ONNX parity: max |torch - ort| = %.2e (atol %.0e)", name, err, atol)
        if err > atol:
            raise ParityError(f"{name} ONNX differs from torch by {err:.2e} > export.parity_atol={atol}")
    return report
