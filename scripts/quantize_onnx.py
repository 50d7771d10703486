"""Entry point of rule quantize_onnx; the logic lives in cardrec.quantize."""
from pathlib import Path

import numpy as np

from cardrec.quantize import QualityGateError, gate, quantize
from cardrec.shards import load_queries
from cardrec.snakescript import contract, fail, start, write_json

start(snakemake)
cfg, c = snakemake.params.quantize, contract(snakemake)
quantize(snakemake.input.fp32, snakemake.output.int8, np.load(snakemake.input.calib), c, cfg["per_channel"])
rows, images = load_queries([str(Path(f).parent) for f in snakemake.input.queries])
test = images[[i for i, r in enumerate(rows) if r["split"] == "test"]]
try:
    report = gate(snakemake.input.fp32, snakemake.output.int8, test, c, cfg["min_cosine"])
except QualityGateError as e:
    Path(snakemake.output.int8).unlink()
    fail(f"quantize_onnx: {e}")
write_json(snakemake.output.report, report)
