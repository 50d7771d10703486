"""The edge-model quality gate shared by INT8 ONNX and the Hailo emulator: a compressed model must
stay close to its FP32 reference on held-out queries (mean cosine) and lose at most a little top-1."""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from cardrec.evaluation.metrics import embedding_similarity, evaluate_similarity, unknown_ids
from cardrec.data.shards import EvalSet
from cardrec.errors import CardrecError

log = logging.getLogger(__name__)
Embed = Callable[[np.ndarray], np.ndarray]  # uint8 (N,H,W,3) letterboxed -> (N,D) unit-norm


class QualityGateError(CardrecError):
    """A compressed model drifted too far from FP32 on held-out queries."""


def drift_report(reference: Embed, candidate: Embed, data: EvalSet, unknown_fraction: float) -> dict:
    """Cosine(reference, candidate) on the test queries, and each model's top-1 against its own gallery.

    The gallery and the known/unknown split are those of rule ``evaluate``, so the figures match the
    evaluation summary.
    """
    rows, card_ids = data.rows, data.card_ids
    test = np.asarray([i for i, r in enumerate(rows) if r["split"] == "test"], int)
    unknown = unknown_ids(card_ids, unknown_fraction)
    out: dict = {"queries": int(len(test))}
    embs = {}
    for name, fn in (("reference", reference), ("candidate", candidate)):
        g, q = fn(data.gallery), fn(data.queries)
        embs[name] = q
        m = evaluate_similarity(embedding_similarity(g, q), card_ids, rows, unknown, 0.02, 1)
        out[f"top1_{name}"] = m["top1"]
    cos = np.sum(embs["reference"][test] * embs["candidate"][test], axis=1)
    out.update({"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min()),
                "p05_cosine": float(np.percentile(cos, 5)),
                "top1_drop": out["top1_reference"] - out["top1_candidate"]})
    return out


def enforce(report: dict, min_cosine: float, max_top1_drop: float, what: str) -> dict:
    """Record the thresholds in ``report``; raise ``QualityGateError`` with the figures when either fails."""
    report.update({"gate_min_mean_cosine": min_cosine, "gate_max_top1_drop": max_top1_drop})
    log.info("%s gate %s", what, {k: v for k, v in report.items() if not isinstance(v, (list, dict))})
    problems = []
    if report["mean_cosine"] < min_cosine:
        problems.append(f"mean cosine(FP32, {what}) {report['mean_cosine']:.4f} < gate.min_cosine={min_cosine}")
    if report["top1_drop"] > max_top1_drop:
        problems.append(f"top-1 {report['top1_reference']:.3f} -> {report['top1_candidate']:.3f} drops "
                        f"{report['top1_drop']:.3f} > gate.max_top1_drop={max_top1_drop}")
    if problems:
        raise QualityGateError(f"{what} quality gate failed on {report['queries']} held-out queries: "
                               + "; ".join(problems))
    return report
