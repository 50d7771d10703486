"""Entry point of rule export_onnx; the logic lives in cardrec.export.onnx."""
import numpy as np

from cardrec.export.onnx import ParityError, export_with_parity
from cardrec.workflow import contract, fail, start, write_json

start(snakemake)
images = np.concatenate([np.load(f, mmap_mode="r")[:8] for f in snakemake.input.gallery])  # real preprocessed cards
try:
    report = export_with_parity(snakemake.input.model, snakemake.output.fixed, snakemake.output.dynamic, images,
                                contract(snakemake), snakemake.params.opset, snakemake.params.atol,
                                snakemake.params.simplify)
except ParityError as e:
    fail(f"export_onnx: {e}")
write_json(snakemake.output.report, report)
