"""Entry point of rule simplify_segmenter; the logic lives in cardrec.export.segmenter."""
import json
from pathlib import Path

import numpy as np

from cardrec.errors import CardrecError
from cardrec.export.segmenter import fixed_graph
from cardrec.workflow import contract, fail, start

log = start(snakemake)
try:
    report = fixed_graph(snakemake.input.model, snakemake.output.fixed, np.load(snakemake.input.scenes),
                         contract(snakemake), snakemake.params.atol)
except CardrecError as e:
    fail(f"simplify_segmenter: {e}")
Path(snakemake.output.report).write_text(json.dumps(report, indent=1))
log.info("segmenter graph for the Hailo parser: %s", report)
