"""The pairing a Pi runs when the bundle ships a HEF: queries embedded by the HEF, matched against the bundle's
gallery and threshold, which the deployed CPU model (``deploy.model``, INT8 ONNX by default) made.

The bundle keeps one gallery and one threshold for both backends (the HEF on a Hailo device, the ONNX model
wherever HailoRT or the device is missing), so this mixed pairing is evaluated and gated explicitly: rule
evaluate's ``hef`` variant measures it with the HEF's bit-exact emulator, and rule edge_bundle refuses a
HEF that loses more than ``gate.max_top1_drop`` against the deployed model's own figures.
"""
from __future__ import annotations

import numpy as np

from cardrec.evaluation.metrics import embedding_similarity, evaluate_similarity
from cardrec.export.gate import QualityGateError

# figure -> True when higher is better; each may move by at most gate.max_top1_drop the wrong way
FIGURES = {"top1": True, "false_reject_rate": False, "unknown_reject_rate": True}


def deployed_pairing(hef_queries: np.ndarray, deployed_gallery: np.ndarray, card_ids: list[str], rows: list[dict],
                     unknown: set[str], deployed: dict, top_k: int) -> dict:
    """Metrics of HEF query embeddings against the deployed model's gallery at the deployed threshold.

    Args:
        deployed: rule evaluate's metrics of the deployed model (its ``variant`` and ``threshold``).
    """
    m = evaluate_similarity(embedding_similarity(deployed_gallery, hef_queries), card_ids, rows, unknown, 0.0,
                            top_k, threshold=deployed["threshold"])
    keep = ("top1", f"top{top_k}", "threshold", "false_reject_rate", "unknown_reject_rate", "mean_cosine_true",
            "queries_test", "queries_unknown")
    return {"query_model": "hef", "gallery_model": deployed["variant"], **{k: m[k] for k in keep}}


def enforce_pairing(deployed: dict, pairing: dict, max_drop: float) -> dict:
    """The pairing's figures against the deployed model's own; raise ``QualityGateError`` naming each figure
    that moved more than ``max_drop`` the wrong way. Returns ``pairing`` with the gate recorded."""
    problems = []
    for key, higher_is_better in FIGURES.items():
        own, mixed = deployed.get(key), pairing.get(key)
        if own is None or mixed is None:
            continue
        loss = (own - mixed) if higher_is_better else (mixed - own)
        if loss > max_drop:
            problems.append(f"{key} {own:.3f} -> {mixed:.3f}")
    if problems:
        raise QualityGateError(
            f"HEF queries against the {deployed['variant']} gallery at its threshold {deployed['threshold']:.4f} "
            f"(what the Pi runs) lose more than gate.max_top1_drop={max_drop}: {'; '.join(problems)} "
            f"on {pairing['queries_test']} held-out queries")
    return {**pairing, "gate_max_drop": max_drop}
