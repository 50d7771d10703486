"""Entry point of rule quantize_onnx; the logic lives in cardrec.export.quantize and cardrec.export.gate."""
from pathlib import Path

import numpy as np
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.export.gate import QualityGateError, drift_report, enforce
from cardrec.export.quantize import quantize
from cardrec.data.shards import EvalSet
from cardrec.workflow import contract, fail, start, write_json

start(snakemake)
cfg, gate, c, inp = snakemake.params.quantize, snakemake.params.gate, contract(snakemake), snakemake.input
settings = quantize(inp.fp32, snakemake.output.int8, np.load(inp.calib), c, cfg["per_channel"], cfg["reduce_range"],
                    cfg["method"], cfg["keep_float"])
fp32, int8 = (OnnxEmbedder(p, c, snakemake.threads) for p in (inp.fp32, snakemake.output.int8))
report = drift_report(fp32.embed_letterboxed, int8.embed_letterboxed, EvalSet.load(inp.gallery, inp.queries),
                      snakemake.params.unknown_fraction)
try:
    enforce(report, gate["min_cosine"], gate["max_top1_drop"], "INT8")
except QualityGateError as e:
    Path(snakemake.output.int8).unlink()
    fail(f"quantize_onnx: {e}")
write_json(snakemake.output.report, {**settings, **report})
