"""Entry point of rule quantize_corner_refiner; the logic lives in cardrec.training.corners."""
import json
from pathlib import Path

from cardrec.errors import CardrecError
from cardrec.training.corners import quantize_corner_refiner
from cardrec.workflow import fail, start

log = start(snakemake)
p = snakemake.params
try:
    report = quantize_corner_refiner(Path(snakemake.input.model), [Path(f).parent for f in snakemake.input.faces],
                                     p.corners, tuple(p.frame), p.seed, p.unknown_fraction,
                                     Path(snakemake.output.int8), snakemake.threads, Path(snakemake.output.patches))
except CardrecError as e:
    fail(f"quantize_corner_refiner: {e}")
Path(snakemake.output.report).write_text(json.dumps(report, indent=1))
log.info("corner refiner INT8: %s", report)
