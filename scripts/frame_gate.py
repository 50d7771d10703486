"""Entry point of rule frame_gate: INT8 against FP32 on the cards of the held-out test frames, cut as the runtime
cuts a detection, and on the query crops (cardrec.export.gate); the bundle waits for it."""
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.data.shards import EvalSet
from cardrec.export.gate import FrameCrops, QualityGateError, drift_report, enforce
from cardrec.workflow import contract, fail, start, write_json

start(snakemake)
gate, c, inp = snakemake.params.gate, contract(snakemake), snakemake.input
fp32, int8 = (OnnxEmbedder(p, c, snakemake.threads) for p in (inp.fp32, inp.int8))
report = drift_report(fp32.embed_letterboxed, int8.embed_letterboxed, EvalSet.load(inp.gallery, inp.queries),
                      snakemake.params.unknown_fraction, FrameCrops.load(inp.frames, c))
try:
    enforce(report, gate["min_cosine"], gate["max_top1_drop"], "INT8")
except QualityGateError as e:
    fail(f"frame_gate: {e}")
write_json(snakemake.output.report, report)
