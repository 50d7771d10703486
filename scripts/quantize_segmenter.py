"""Entry point of rule quantize_segmenter; the logic lives in cardrec.training.segmenter."""
import json
from pathlib import Path

from cardrec.errors import CardrecError
from cardrec.training.segmenter import quantize_segmenter
from cardrec.workflow import contract, fail, start

log = start(snakemake)
p = snakemake.params
try:
    report = quantize_segmenter(Path(snakemake.input.model), [Path(f).parent for f in snakemake.input.faces],
                                contract(snakemake), p.segmenter, tuple(p.frame), p.seed, p.unknown_fraction,
                                Path(snakemake.output.int8), snakemake.threads,
                                Path(snakemake.output.scenes))
except CardrecError as e:
    fail(f"quantize_segmenter: {e}")
Path(snakemake.output.report).write_text(json.dumps(report, indent=1))
log.info("segmenter INT8: %s", report)
