"""Entry point of rule frame_gate: INT8 against FP32 on the cards of the held-out test frames, cut as the runtime
cuts a detection (cardrec.export.gate.frame_gate); the bundle waits for it."""
from cardrec_edge.runtime import OnnxEmbedder

from cardrec.export.gate import QualityGateError, frame_gate
from cardrec.workflow import contract, fail, start, write_json

start(snakemake)
c, inp = contract(snakemake), snakemake.input
fp32, int8 = (OnnxEmbedder(p, c, snakemake.threads) for p in (inp.fp32, inp.int8))
try:
    report = frame_gate(fp32.embed_letterboxed, int8.embed_letterboxed, inp.gallery, inp.frames, c,
                        snakemake.params.unknown_fraction, snakemake.params.gate, "INT8")
except QualityGateError as e:
    fail(f"frame_gate: {e}")
write_json(snakemake.output.report, report)
